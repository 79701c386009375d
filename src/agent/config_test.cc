#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "node.h"

namespace minik8s::agent {
namespace {

TEST(NodeConfig, ParsesEveryKey) {
  auto c = parse_node_config(R"(
server: http://10.0.0.1:6443
kubeconfig: /etc/k.yaml
nodeName: node-a
nodeIP: 10.0.0.5
labels: {zone: a, gpu: ""}
taints:
- {key: dedicated, value: infra, effect: NoSchedule}
- {key: flaky, effect: NoExecute}
roles: [worker, control-plane]
dataDir: /tmp/agent-a
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
netns: node-a
listen: 127.0.0.1:0
leaseRenewIntervalSeconds: 0.5
statusUpdateIntervalSeconds: 4
clusterDNS: [10.96.0.10]
maxPods: 30
podCIDR: 10.244.7.0/24
clusterCIDR: 10.244.0.0/16
networkBackend: vxlan
cniBridge: mk-a
clusterDomain: corp.local
dnsUpstream: [10.0.0.2, "10.0.0.3:5353"]
dnsPort: 5353
proxyBalance: round-robin
chainPrefix: MKA
ingressPort: 8080
hostsFile: /etc/netns/a/hosts
disable: [ingress]
)");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->server, "http://10.0.0.1:6443");
  EXPECT_EQ(c->kubeconfig, "/etc/k.yaml");
  EXPECT_EQ(c->node_name, "node-a");
  EXPECT_EQ(c->node_ip, "10.0.0.5");
  EXPECT_EQ(c->labels.at("zone"), "a");
  EXPECT_EQ(c->labels.at("gpu"), "");
  ASSERT_EQ(c->taints.size(), 2u);
  EXPECT_EQ(c->taints[0].key, "dedicated");
  EXPECT_EQ(c->taints[0].value, "infra");
  EXPECT_EQ(c->taints[0].effect, "NoSchedule");
  EXPECT_EQ(c->taints[1].value, "");
  EXPECT_EQ(c->taints[1].effect, "NoExecute");
  EXPECT_EQ(c->roles, (std::vector<std::string>{"worker", "control-plane"}));
  EXPECT_EQ(c->data_dir, "/tmp/agent-a");
  EXPECT_EQ(c->container_runtime_endpoint, "unix:///run/containerd/containerd.sock");
  EXPECT_EQ(c->netns, "node-a");
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->lease_renew_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(c->status_update_interval, std::chrono::milliseconds(4000));
  EXPECT_EQ(c->cluster_dns, (std::vector<std::string>{"10.96.0.10"}));
  EXPECT_EQ(c->max_pods, 30);
  EXPECT_EQ(c->pod_cidr, "10.244.7.0/24");
  EXPECT_EQ(c->cluster_cidr, "10.244.0.0/16");
  EXPECT_EQ(c->network_backend, "vxlan");
  EXPECT_EQ(c->cni_bridge, "mk-a");
  EXPECT_EQ(c->cluster_domain, "corp.local");
  EXPECT_EQ(c->dns_upstream, (std::vector<std::string>{"10.0.0.2", "10.0.0.3:5353"}));
  EXPECT_EQ(c->dns_port, 5353);
  EXPECT_EQ(c->proxy_balance, "round-robin");
  EXPECT_EQ(c->chain_prefix, "MKA");
  EXPECT_EQ(c->ingress_port, 8080);
  EXPECT_EQ(c->hosts_file, "/etc/netns/a/hosts");
  EXPECT_FALSE(c->enabled("ingress"));
  EXPECT_TRUE(c->enabled("dns"));
}

TEST(NodeConfig, DocumentedExampleParses) {
  std::ifstream f(std::string(MINIK8S_SOURCE_DIR) + "/deploy/node.yaml");
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  auto c = parse_node_config(ss.str());
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->node_name, "node-1");
  EXPECT_EQ(c->roles, (std::vector<std::string>{"worker"}));
  EXPECT_EQ(c->labels.at("topology.kubernetes.io/zone"), "zone-a");
  EXPECT_TRUE(c->taints.empty());
  EXPECT_EQ(c->container_runtime_endpoint, "managed");
  EXPECT_EQ(c->status_update_interval, std::chrono::milliseconds(10000));
}

TEST(NodeConfig, EmptyDocumentGivesDefaults) {
  auto c = parse_node_config("");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->container_runtime_endpoint, "managed");
  EXPECT_EQ(c->data_dir, "/var/lib/minik8s/agent");
  EXPECT_EQ(c->max_pods, 110);
  EXPECT_EQ(c->gpus, NodeConfig::kGpusAuto);
  EXPECT_EQ(c->lease_renew_interval, std::chrono::milliseconds(2000));
}

TEST(NodeConfig, UnknownKeyIsNamed) {
  auto c = parse_node_config("nodeName: a\nnodeIp: 1.2.3.4\n");
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kInvalid);
  EXPECT_NE(c.status().message().find("\"nodeIp\""), std::string::npos) << c.status().message();
}

TEST(NodeConfig, BadValuesNameTheField) {
  struct Case {
    const char* yaml;
    const char* field;
  } cases[] = {
      {"maxPods: lots", "maxPods"},
      {"maxPods: 2.5", "maxPods"},
      {"gpus: some", "gpus"},
      {"gpus: -1", "gpus"},
      {"gpus: 2000", "gpus"},
      {"gpus: [1]", "gpus"},
      {"nodeIP: 300.1.1.1", "nodeIP"},
      {"leaseRenewIntervalSeconds: -1", "leaseRenewIntervalSeconds"},
      {"taints: [{key: a, effect: Sometimes}]", "taints[0].effect"},
      {"taints: [{value: a, effect: NoSchedule}]", "taints[0].key"},
      {"taints: [{key: a, effect: NoSchedule, color: red}]", "taints[0]"},
      {"labels: [a, b]", "labels"},
      {"roles: worker", "roles"},
      {"listen: nowhere", "listen"},
      {"clusterDNS: [dns.example]", "clusterDNS"},
      {"server: {a: 1}", "server"},
      {"podCIDR: 10.244.1.0", "podCIDR"},
      {"clusterCIDR: everything", "clusterCIDR"},
      {"networkBackend: flannel", "networkBackend"},
      {"proxyBalance: least-conn", "proxyBalance"},
      {"chainPrefix: MUCHTOOLONG", "chainPrefix"},
      {"chainPrefix: mk", "chainPrefix"},
      {"cniBridge: 'br;x'", "cniBridge"},
      {"clusterDomain: 'a b'", "clusterDomain"},
      {"dnsPort: 70000", "dnsPort"},
      {"disable: [kubelet]", "disable"},
      {"dnsUpstream: [resolver]", "dnsUpstream"},
  };
  for (const auto& tc : cases) {
    auto c = parse_node_config(tc.yaml);
    ASSERT_FALSE(c.is_ok()) << tc.yaml;
    EXPECT_NE(c.status().message().find(std::string("\"") + tc.field + "\""), std::string::npos)
        << tc.yaml << " → " << c.status().message();
  }
}

TEST(NodeConfig, MalformedYamlIsAnErrorNotACrash) {
  for (const char* y : {"a: [1, 2", "- just\n- a list", "{{{", "key: \"unterminated", "\t\tx: y"}) {
    auto c = parse_node_config(y);
    EXPECT_FALSE(c.is_ok()) << y;
  }
}

TEST(NodeConfig, ParseTaint) {
  auto t = parse_taint("gpu=true:NoSchedule");
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->key, "gpu");
  EXPECT_EQ(t->value, "true");
  EXPECT_EQ(t->effect, "NoSchedule");
  auto k = parse_taint("maint:NoExecute");
  ASSERT_TRUE(k.is_ok());
  EXPECT_EQ(k->key, "maint");
  EXPECT_EQ(k->value, "");
  EXPECT_FALSE(parse_taint("gpu=true").is_ok());
  EXPECT_FALSE(parse_taint("=x:NoSchedule").is_ok());
  EXPECT_FALSE(parse_taint("a=b:Never").is_ok());
}

class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : args_(std::move(args)) {
    for (auto& a : args_) ptrs_.push_back(a.data());
  }
  int argc() { return static_cast<int>(ptrs_.size()); }
  char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> args_;
  std::vector<char*> ptrs_;
};

TEST(AgentFlags, FlagsOverrideYaml) {
  auto path = std::filesystem::temp_directory_path() /
              ("mk-agent-cfg-" + std::to_string(std::random_device{}()));
  {
    std::ofstream f(path);
    f << "nodeName: from-yaml\nnodeIP: 10.0.0.1\nmaxPods: 20\nlabels: {zone: a}\nroles: [worker]\n"
         "taints: [{key: a, effect: NoSchedule}]\n";
  }
  Argv a({"agent", "--config", path.string(), "--node-name", "from-flag", "--label", "rack=r1",
          "--taint", "b=c:NoExecute", "--lease-renew-interval", "0.25", "--cluster-dns",
          "10.96.0.10", "--max-pods", "7", "--image-cache", "/tmp/ic", "--listen", "127.0.0.1:0"});
  AgentFlags extra;
  auto c = parse_agent_flags(a.argc(), a.argv(), &extra);
  std::filesystem::remove(path);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->node_name, "from-flag");
  EXPECT_EQ(c->node_ip, "10.0.0.1");  // from YAML, no flag
  EXPECT_EQ(c->max_pods, 7);
  EXPECT_EQ(c->labels.at("zone"), "a");
  EXPECT_EQ(c->labels.at("rack"), "r1");
  EXPECT_EQ(c->roles, (std::vector<std::string>{"worker"}));
  ASSERT_EQ(c->taints.size(), 1u);  // --taint replaces the YAML taints
  EXPECT_EQ(c->taints[0].key, "b");
  EXPECT_EQ(c->taints[0].effect, "NoExecute");
  EXPECT_EQ(c->lease_renew_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(extra.image_cache, "/tmp/ic");
}

TEST(AgentFlags, Errors) {
  {
    Argv a({"agent", "--config", "/nonexistent/node.yaml"});
    auto c = parse_agent_flags(a.argc(), a.argv(), nullptr);
    ASSERT_FALSE(c.is_ok());
    EXPECT_EQ(c.status().code(), Code::kNotFound);
  }
  {
    Argv a({"agent", "--taint", "oops"});
    EXPECT_FALSE(parse_agent_flags(a.argc(), a.argv(), nullptr).is_ok());
  }
  {
    Argv a({"agent", "--label", "novalue"});
    EXPECT_FALSE(parse_agent_flags(a.argc(), a.argv(), nullptr).is_ok());
  }
  {
    Argv a({"agent", "--no-such-flag"});
    int code = 0;
    auto c = parse_agent_flags(a.argc(), a.argv(), nullptr, &code);
    EXPECT_FALSE(c.is_ok());
    EXPECT_NE(code, 0);
  }
}

TEST(AgentFlags, KubeletServingCertificateAndClientCa) {
  auto y = parse_node_config(
      "tlsCertFile: /a/k.crt\ntlsPrivateKeyFile: /a/k.key\nclientCAFile: /a/ca.crt\n");
  ASSERT_TRUE(y.is_ok()) << y.status().to_string();
  EXPECT_EQ(y->tls_cert_file, "/a/k.crt");
  EXPECT_EQ(y->tls_key_file, "/a/k.key");
  EXPECT_EQ(y->client_ca_file, "/a/ca.crt");
  Argv a({"agent", "--tls-cert-file", "/b/k.crt", "--tls-private-key-file", "/b/k.key",
          "--client-ca-file", "/b/ca.crt"});
  auto c = parse_agent_flags(a.argc(), a.argv(), nullptr);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->tls_cert_file, "/b/k.crt");
  EXPECT_EQ(c->tls_key_file, "/b/k.key");
  EXPECT_EQ(c->client_ca_file, "/b/ca.crt");
  // The certificate without its key (or the key alone) names the missing one.
  Argv half({"agent", "--tls-cert-file", "/b/k.crt"});
  auto e = parse_agent_flags(half.argc(), half.argv(), nullptr);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("tlsPrivateKeyFile"), std::string::npos)
      << e.status().message();
  auto e2 = parse_node_config("tlsPrivateKeyFile: /a/k.key\n");
  ASSERT_FALSE(e2.is_ok());
  EXPECT_NE(e2.status().message().find("tlsCertFile"), std::string::npos) << e2.status().message();
}

TEST(AgentFlags, DefaultsFilled) {
  NodeConfig c;
  fill_defaults(c);
  EXPECT_FALSE(c.node_name.empty());
  EXPECT_FALSE(c.node_ip.empty());
  for (char ch : c.node_name) EXPECT_FALSE(std::isupper(static_cast<unsigned char>(ch)));
}

TEST(NodeConfig, Gpus) {
  EXPECT_EQ(parse_node_config("gpus: auto")->gpus, NodeConfig::kGpusAuto);
  EXPECT_EQ(parse_node_config("gpus: 0")->gpus, 0);
  EXPECT_EQ(parse_node_config("gpus: \"8\"")->gpus, 8);
  Argv a({"agent", "--gpus", "2"});
  auto c = parse_agent_flags(a.argc(), a.argv(), nullptr);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->gpus, 2);
  Argv bad({"agent", "--gpus", "all"});
  auto e = parse_agent_flags(bad.argc(), bad.argv(), nullptr);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("--gpus"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace minik8s::agent
