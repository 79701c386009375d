#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "minik8s/proxy/proxy.h"
#include "src/proxy/model.h"
#include "src/proxy/test_objects.h"

namespace minik8s::proxy {
namespace {

using nlohmann::json;

using test_objects::endpoints;
using test_objects::service;

ServicePort sp(const std::string& name, const std::string& port_name, const std::string& proto = "tcp") {
  ServicePort s;
  s.ns = "default";
  s.name = name;
  s.port_name = port_name;
  s.protocol = proto;
  return s;
}

std::string svc_name(const std::string& name, const std::string& port_name = "") {
  return svc_chain("MK", sp(name, port_name));
}
std::string sep_name(const std::string& name, const std::string& ip, int port, const std::string& port_name = "") {
  return sep_chain("MK", sp(name, port_name), {ip, port});
}

// The lines of `text` that start with `prefix`, in order.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
    pos = end + 1;
  }
  return out;
}

TEST(ChainNames, MatchKubeProxyHashes) {
  // Values from Kubernetes pkg/proxy/iptables/proxier_test.go.
  EXPECT_EQ(chain_hash("ns1/svc1:p80tcp"), "XPGD46QRK7WJZT7O");
  EXPECT_EQ(chain_hash("ns1/svc1:p80tcp10.180.0.1:80"), "SXIVWICOYRO3J4NJ");
  EXPECT_LE(svc_name("a-very-long-service-name-that-is-long", "http").size(), 28u);
  EXPECT_EQ(svc_name("web").size(), std::string("MK-SVC-").size() + 16);
}

TEST(RenderRuleset, ClusterIpThreeEndpointsRandom) {
  ProxyOptions o;
  auto text = render_ruleset({service("web", "10.96.0.10", json::array({{{"port", 80}, {"protocol", "TCP"}}}))},
                             {endpoints("web", {"10.244.1.3", "10.244.1.2", "10.244.2.2"},
                                        json::array({{{"port", 8080}, {"protocol", "TCP"}}}))},
                             o);
  std::string svc = svc_name("web");
  std::string e1 = sep_name("web", "10.244.1.2", 8080), e2 = sep_name("web", "10.244.1.3", 8080),
              e3 = sep_name("web", "10.244.2.2", 8080);
  EXPECT_EQ(lines_with(text, "-A MK-SERVICES"),
            (std::vector<std::string>{
                "-A MK-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web: cluster IP\" -m tcp "
                "--dport 80 -j " + svc,
                "-A MK-SERVICES -m comment --comment \"minik8s service nodeports; NOTE: this must be the last rule "
                "in this chain\" -m addrtype --dst-type LOCAL -j MK-NODEPORTS"}));
  EXPECT_EQ(lines_with(text, "-A " + svc + " "),
            (std::vector<std::string>{
                "-A " + svc + " ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web: "
                              "cluster IP\" -m tcp --dport 80 -j MK-MARK-MASQ",
                "-A " + svc + " -m comment --comment \"default/web: -> 10.244.1.2:8080\" -m statistic --mode random "
                              "--probability 0.3333333333 -j " + e1,
                "-A " + svc + " -m comment --comment \"default/web: -> 10.244.1.3:8080\" -m statistic --mode random "
                              "--probability 0.5000000000 -j " + e2,
                "-A " + svc + " -m comment --comment \"default/web: -> 10.244.2.2:8080\" -j " + e3}));
  EXPECT_EQ(lines_with(text, "-A " + e1 + " "),
            (std::vector<std::string>{
                "-A " + e1 + " -s 10.244.1.2/32 -m comment --comment \"default/web:\" -j MK-MARK-MASQ",
                "-A " + e1 + " -p tcp -m comment --comment \"default/web:\" -m tcp -j DNAT --to-destination "
                             "10.244.1.2:8080"}));
  EXPECT_EQ(lines_with(text, "-A MK-POSTROUTING"),
            (std::vector<std::string>{
                "-A MK-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                "-A MK-POSTROUTING -j MARK --xor-mark 0x4000",
                "-A MK-POSTROUTING -m comment --comment \"minik8s service traffic requiring SNAT\" -j MASQUERADE"}));
  EXPECT_EQ(lines_with(text, "-A MK-MARK-MASQ"),
            std::vector<std::string>{"-A MK-MARK-MASQ -j MARK --or-mark 0x4000"});
  // Both tables, each declared before use, committed.
  EXPECT_EQ(lines_with(text, "*"), (std::vector<std::string>{"*filter", "*nat"}));
  EXPECT_EQ(lines_with(text, "COMMIT").size(), 2u);
  EXPECT_EQ(lines_with(text, ":" + svc).size(), 1u);
  EXPECT_EQ(lines_with(text, ":MK-SEP-").size(), 3u);
  EXPECT_TRUE(lines_with(text, "-A MK-NODEPORTS").empty());
  EXPECT_TRUE(lines_with(text, "-X").empty());
}

TEST(RenderRuleset, RoundRobinByAnnotationAndByOption) {
  auto svc = service("rr", "10.96.0.11", json::array({{{"port", 80}}}), "ClusterIP",
                     {{kBalanceAnnotation, "round-robin"}});
  auto ep = endpoints("rr", {"10.244.0.2", "10.244.0.3", "10.244.0.4"}, json::array({{{"port", 80}}}));
  std::string chain = svc_name("rr");
  auto expect_rr = [&](const std::string& text) {
    auto rules = lines_with(text, "-A " + chain + " -m comment");
    ASSERT_EQ(rules.size(), 3u);
    EXPECT_NE(rules[0].find(" -m statistic --mode nth --every 3 --packet 0 -j MK-SEP-"), std::string::npos) << rules[0];
    EXPECT_NE(rules[1].find(" -m statistic --mode nth --every 2 --packet 0 -j MK-SEP-"), std::string::npos) << rules[1];
    EXPECT_EQ(rules[2].find("statistic"), std::string::npos) << rules[2];
  };
  expect_rr(render_ruleset({svc}, {ep}, ProxyOptions{}));
  // The option applies where the annotation is absent; an unknown annotation value falls back to it.
  svc["metadata"]["annotations"] = {{kBalanceAnnotation, "bogus"}};
  ProxyOptions o;
  o.balance = Balance::kRoundRobin;
  expect_rr(render_ruleset({svc}, {ep}, o));
  svc["metadata"]["annotations"] = {{kBalanceAnnotation, "random"}};
  auto text = render_ruleset({svc}, {ep}, o);
  EXPECT_EQ(text.find("--mode nth"), std::string::npos);
  EXPECT_NE(text.find("--mode random --probability 0.3333333333"), std::string::npos);
}

TEST(RenderRuleset, NodePort) {
  auto text = render_ruleset(
      {service("np", "10.96.0.12", json::array({{{"name", "http"}, {"port", 80}, {"nodePort", 30080}}}), "NodePort")},
      {endpoints("np", {"10.244.1.5"}, json::array({{{"name", "http"}, {"port", 8080}}}))}, ProxyOptions{});
  std::string svc = svc_name("np", "http");
  EXPECT_EQ(lines_with(text, "-A MK-NODEPORTS"),
            (std::vector<std::string>{
                "-A MK-NODEPORTS -p tcp -m comment --comment \"default/np:http\" -m tcp --dport 30080 -j MK-MARK-MASQ",
                "-A MK-NODEPORTS -p tcp -m comment --comment \"default/np:http\" -m tcp --dport 30080 -j " + svc}));
  // A single endpoint: unconditional jump.
  EXPECT_EQ(lines_with(text, "-A " + svc + " -m comment"),
            std::vector<std::string>{"-A " + svc + " -m comment --comment \"default/np:http -> 10.244.1.5:8080\" -j " +
                                     sep_name("np", "10.244.1.5", 8080, "http")});
  // The NodePort jump is the last rule of MK-SERVICES.
  auto services = lines_with(text, "-A MK-SERVICES");
  ASSERT_EQ(services.size(), 2u);
  EXPECT_NE(services[1].find("--dst-type LOCAL -j MK-NODEPORTS"), std::string::npos);
}

TEST(RenderRuleset, NoEndpointsRejectsInFilter) {
  auto text = render_ruleset(
      {service("empty", "10.96.0.13", json::array({{{"port", 53}, {"protocol", "UDP"}, {"nodePort", 30053}}}),
               "NodePort")},
      {endpoints("empty", {}, json::array({{{"port", 53}, {"protocol", "UDP"}}}))}, ProxyOptions{});
  auto filter = text.substr(0, text.find("*nat"));
  EXPECT_EQ(lines_with(filter, "-A MK-SERVICES"),
            std::vector<std::string>{"-A MK-SERVICES -d 10.96.0.13/32 -p udp -m comment --comment \"default/empty: "
                                     "has no endpoints\" -m udp --dport 53 -j REJECT --reject-with "
                                     "icmp-port-unreachable"});
  EXPECT_EQ(lines_with(filter, "-A MK-EXTERNAL-SERVICES"),
            std::vector<std::string>{"-A MK-EXTERNAL-SERVICES -p udp -m comment --comment \"default/empty: has no "
                                     "endpoints\" -m addrtype --dst-type LOCAL -m udp --dport 30053 -j REJECT "
                                     "--reject-with icmp-port-unreachable"});
  EXPECT_EQ(text.find("MK-SVC-"), std::string::npos);
  EXPECT_EQ(text.find("MK-SEP-"), std::string::npos);
  EXPECT_TRUE(lines_with(text, "-A MK-NODEPORTS").empty());
  // A Service without an Endpoints object at all rejects too.
  auto none = render_ruleset({service("x", "10.96.0.14", json::array({{{"port", 80}}}))}, {}, ProxyOptions{});
  EXPECT_EQ(lines_with(none, "-A MK-SERVICES -d 10.96.0.14/32").size(), 1u);
  EXPECT_NE(none.find("REJECT"), std::string::npos);
}

TEST(RenderRuleset, NamedPortsMatchEndpointPortsByName) {
  auto svc = service("multi", "10.96.0.15",
                     json::array({{{"name", "http"}, {"port", 80}}, {{"name", "metrics"}, {"port", 9090}}}));
  json ep = endpoints("multi", {"10.244.3.2"},
                      json::array({{{"name", "metrics"}, {"port", 9100}}, {{"name", "http"}, {"port", 8080}}}));
  // A second subset with only the http port on another pod.
  ep["subsets"].push_back({{"addresses", json::array({{{"ip", "10.244.3.3"}}})},
                           {"notReadyAddresses", json::array({{{"ip", "10.244.3.9"}}})},
                           {"ports", json::array({{{"name", "http"}, {"port", 8081}}})}});
  auto text = render_ruleset({svc}, {ep}, ProxyOptions{});
  auto dnat = lines_with(text, "-A MK-SEP-");
  std::vector<std::string> targets;
  for (const auto& l : dnat)
    if (auto p = l.find("--to-destination "); p != std::string::npos) targets.push_back(l.substr(p + 17));
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, (std::vector<std::string>{"10.244.3.2:8080", "10.244.3.2:9100", "10.244.3.3:8081"}));
  EXPECT_EQ(lines_with(text, "-A " + svc_name("multi", "metrics") + " -m comment").size(), 1u);
  EXPECT_EQ(lines_with(text, "-A " + svc_name("multi", "http") + " -m comment").size(), 2u);
  EXPECT_EQ(text.find("10.244.3.9"), std::string::npos);  // not ready: no rule
}

TEST(RenderRuleset, StaleChainsAreFlushedAndDeleted) {
  auto text = render_ruleset({service("web", "10.96.0.10", json::array({{{"port", 80}}}))},
                             {endpoints("web", {"10.244.1.2"}, json::array({{{"port", 80}}}))}, ProxyOptions{},
                             {"MK-SVC-AAAAAAAAAAAAAAAA", "MK-SEP-BBBBBBBBBBBBBBBB", "OTHER-CHAIN", svc_name("web")});
  auto nat = text.substr(text.find("*nat"));
  EXPECT_EQ(lines_with(nat, "-X "),
            (std::vector<std::string>{"-X MK-SEP-BBBBBBBBBBBBBBBB", "-X MK-SVC-AAAAAAAAAAAAAAAA"}));
  EXPECT_EQ(lines_with(nat, ":MK-SVC-AAAAAAAAAAAAAAAA - [0:0]").size(), 1u);  // flushed before -X
  EXPECT_EQ(text.find("OTHER-CHAIN"), std::string::npos);  // never touch chains without our prefix
  // The X lines come after every rule (nothing may still reference them by then).
  EXPECT_GT(nat.find("-X "), nat.rfind("-A "));
}

TEST(RenderRuleset, DeterministicWhateverTheInputOrder) {
  std::vector<json> svcs, eps;
  for (int i = 0; i < 20; ++i) {
    std::string name = "s" + std::to_string(i);
    svcs.push_back(service(name, "10.96.1." + std::to_string(i + 1), json::array({{{"port", 80}}})));
    eps.push_back(endpoints(name, {"10.244.5." + std::to_string(i + 2), "10.244.6." + std::to_string(i + 2)},
                            json::array({{{"port", 80}}})));
  }
  ProxyOptions o;
  auto a = render_ruleset(svcs, eps, o);
  std::mt19937 rng(7);
  std::shuffle(svcs.begin(), svcs.end(), rng);
  std::shuffle(eps.begin(), eps.end(), rng);
  for (auto& e : eps) {
    auto& addrs = e["subsets"][0]["addresses"];
    std::reverse(addrs.begin(), addrs.end());
  }
  EXPECT_EQ(render_ruleset(svcs, eps, o), a);
  EXPECT_EQ(build_ruleset(svcs, eps, o).rule_count(), 4u + 20 * (1 + 1 + 2 + 4) + 1);
}

TEST(RenderRuleset, UntrustedFieldsNeverReachTheRules) {
  std::vector<json> svcs = {
      service("inject", "10.96.0.1 -j ACCEPT", json::array({{{"port", 80}}})),
      service("bad name", "10.96.0.2", json::array({{{"port", 80}}})),
      service("badport", "10.96.0.3", json::array({{{"port", 70000}}, {{"port", "80"}}, {{"protocol", 5}}})),
      service("headless", "None", json::array({{{"port", 80}}})),
      service("ok", "10.96.0.4", json::array({{{"port", 80}, {"protocol", "SCTP"}}, {{"port", 81}}})),
      json("not an object"),
      json{{"metadata", 3}, {"spec", {{"ports", "x"}}}},
  };
  std::vector<json> eps = {endpoints("ok", {"10.244.0.5\n-A X", "10.244.0.6"}, json::array({{{"port", 81}}})),
                           json::array({1, 2}), json{{"subsets", 7}}};
  std::string text;
  ASSERT_NO_THROW(text = render_ruleset(svcs, eps, ProxyOptions{}));
  EXPECT_EQ(text.find("ACCEPT"), std::string::npos);
  EXPECT_EQ(text.find("bad name"), std::string::npos);
  EXPECT_EQ(text.find("10.96.0.3"), std::string::npos);
  EXPECT_EQ(text.find("None"), std::string::npos);
  EXPECT_EQ(text.find("sctp"), std::string::npos);
  EXPECT_EQ(text.find("-A X"), std::string::npos);
  EXPECT_NE(text.find("--to-destination 10.244.0.6:81"), std::string::npos);
  EXPECT_EQ(text.find("10.96.0.2/"), std::string::npos);
}

TEST(RenderRestore, PartialWritesOnlyChangedChains) {
  ProxyOptions o;
  std::vector<json> svcs = {service("a", "10.96.0.20", json::array({{{"port", 80}}})),
                            service("b", "10.96.0.21", json::array({{{"port", 80}}}))};
  std::vector<json> eps = {endpoints("a", {"10.244.0.2", "10.244.0.3"}, json::array({{{"port", 80}}})),
                           endpoints("b", {"10.244.0.4"}, json::array({{{"port", 80}}}))};
  Ruleset before = build_ruleset(svcs, eps, o);
  eps[0] = endpoints("a", {"10.244.0.2", "10.244.0.7"}, json::array({{{"port", 80}}}));
  Ruleset after = build_ruleset(svcs, eps, o);
  auto text = render_restore(after, &before, {}, o);
  auto declared = lines_with(text, ":");
  // Only the changed chains: not the base chains (unchanged), not service b, no filter table.
  EXPECT_EQ(lines_with(text, "*"), std::vector<std::string>{"*nat"});
  std::vector<std::string> expected = {":" + sep_name("a", "10.244.0.7", 80) + " - [0:0]",
                                       ":" + svc_name("a") + " - [0:0]",
                                       ":" + sep_name("a", "10.244.0.3", 80) + " - [0:0]"};
  EXPECT_EQ(declared, expected);
  EXPECT_EQ(lines_with(text, "-X "), std::vector<std::string>{"-X " + sep_name("a", "10.244.0.3", 80)});
  EXPECT_EQ(text.find(svc_name("b") + " - [0:0]"), std::string::npos);
  EXPECT_EQ(text.find("MK-SERVICES"), std::string::npos);
  // Nothing changed: nothing to write.
  EXPECT_EQ(render_restore(after, &after, {}, o), "");
  // Deleting every service removes its chains.
  auto gone = render_restore(build_ruleset({}, {}, o), &after, {}, o);
  EXPECT_EQ(lines_with(gone, "-X ").size(), 5u);  // 2 SVC + 3 SEP chains
  EXPECT_EQ(lines_with(gone, ":MK-SERVICES - [0:0]").size(), 1u);  // rewritten: it referenced them
}

TEST(ParseSavedChains, FindsOnlyPrefixedChainsPerTable) {
  std::string save =
      "# Generated by iptables-save\n*nat\n:PREROUTING ACCEPT [0:0]\n:MK-SERVICES - [0:0]\n:MKX-OTHER - [0:0]\n:MK-NET-POSTROUTING - [0:0]\n"
      ":MK-SVC-ABC - [0:0]\n-A MK-SERVICES -j MK-SVC-ABC\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n"
      ":MK-EXTERNAL-SERVICES - [0:0]\nCOMMIT\n";
  auto chains = parse_saved_chains(save, "MK");
  EXPECT_EQ(chains["nat"], (std::vector<std::string>{"MK-SERVICES", "MK-SVC-ABC"}));
  EXPECT_EQ(chains["filter"], std::vector<std::string>{"MK-EXTERNAL-SERVICES"});
}

TEST(Options, Validation) {
  ProxyOptions o;
  EXPECT_TRUE(validate_options(o).is_ok());
  o.chain_prefix = "TOOLONGX";
  EXPECT_EQ(validate_options(o).code(), Code::kInvalid);
  o.chain_prefix = "mk";
  EXPECT_FALSE(validate_options(o).is_ok());
  o.chain_prefix = "MKT1";
  o.cluster_cidr = "10.244.0.0/33";
  EXPECT_FALSE(validate_options(o).is_ok());
  o.cluster_cidr = "10.244.0.0/16 -j ACCEPT";
  EXPECT_FALSE(validate_options(o).is_ok());
  o.cluster_cidr = "10.0.0.0/8";
  o.masquerade_mark = "16384";
  EXPECT_FALSE(validate_options(o).is_ok());
  o.masquerade_mark = "0x8000";
  EXPECT_TRUE(validate_options(o).is_ok());
  EXPECT_EQ(parse_balance("round-robin").value(), Balance::kRoundRobin);
  EXPECT_EQ(parse_balance("random").value(), Balance::kRandom);
  EXPECT_FALSE(parse_balance("least-conn").is_ok());
}

}  // namespace
}  // namespace minik8s::proxy
