// The shared address/path rules (address_rules.h) and the kind validators
// that use them: Endpoints and EndpointSlice addresses, Node status
// addresses and kubelet port, DNS hosts and paths.
#include "minik8s/api/address_rules.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/resource.h"

namespace minik8s::api {
namespace {

// The field errors a kind's validator reports for obj (create).
FieldErrors validate(const std::string& api_version, const std::string& kind, const Json& obj) {
  const ResourceType* t = find_kind(api_version, kind);
  EXPECT_NE(t, nullptr);
  FieldErrors errs;
  if (t && t->validate) t->validate(obj, nullptr, errs);
  return errs;
}

std::string joined(const FieldErrors& errs) {
  std::string s;
  for (const auto& e : errs) s += e.field + ": " + e.message + "\n";
  return s;
}

TEST(AddressRulesTest, ParsesAndClassifiesIps) {
  EXPECT_TRUE(parse_ip("10.1.2.3"));
  EXPECT_TRUE(parse_ip("2001:db8::1"));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.4 ", "fe80::1%eth0", "x::y",
                          "localhost"}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
  }
  // IPv4-mapped IPv6 is classified as the IPv4 address (Go's To4).
  auto mapped = parse_ip("::ffff:127.0.0.1");
  ASSERT_TRUE(mapped);
  EXPECT_FALSE(mapped->v6);
  EXPECT_TRUE(is_loopback(*mapped));

  EXPECT_EQ(non_special_ip_error("10.244.1.5"), "");
  EXPECT_EQ(non_special_ip_error("192.168.0.1"), "");
  EXPECT_EQ(non_special_ip_error("2001:db8::5"), "");
  EXPECT_EQ(non_special_ip_error("nope"), "must be a valid IP address");
  EXPECT_EQ(non_special_ip_error("0.0.0.0"), "may not be unspecified (0.0.0.0)");
  EXPECT_EQ(non_special_ip_error("::"), "may not be unspecified (::)");
  for (const char* lo : {"127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.2"}) {
    EXPECT_EQ(non_special_ip_error(lo), "may not be in the loopback range (127.0.0.0/8, ::1/128)") << lo;
  }
  for (const char* ll : {"169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"}) {
    EXPECT_EQ(non_special_ip_error(ll), "may not be in the link-local range (169.254.0.0/16, fe80::/10)") << ll;
  }
  EXPECT_EQ(non_special_ip_error("fec0::1"), "");  // just outside fe80::/10
  for (const char* mc : {"224.0.0.251", "ff02::1"}) {
    EXPECT_EQ(non_special_ip_error(mc), "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        << mc;
  }
  for (const char* mc : {"239.1.2.3", "224.0.1.1", "ff05::2"}) {
    EXPECT_EQ(non_special_ip_error(mc), "may not be a multicast address (224.0.0.0/4, ff00::/8)") << mc;
  }
  EXPECT_EQ(non_special_ip_error("240.0.0.1"), "");  // class E is not multicast
}

TEST(AddressRulesTest, CidrOverlap) {
  auto c = [](const char* s) {
    auto r = parse_cidr(s);
    EXPECT_TRUE(r) << s;
    return r.value_or(IpCidr{});
  };
  EXPECT_TRUE(cidrs_overlap(c("10.244.1.0/24"), c("10.244.1.0/24")));
  EXPECT_TRUE(cidrs_overlap(c("10.244.0.0/16"), c("10.244.7.0/24")));
  EXPECT_TRUE(cidrs_overlap(c("10.244.7.0/24"), c("10.244.0.0/16")));
  EXPECT_TRUE(cidrs_overlap(c("10.244.1.128/25"), c("10.244.1.0/24")));
  EXPECT_FALSE(cidrs_overlap(c("10.244.1.0/24"), c("10.244.2.0/24")));
  EXPECT_FALSE(cidrs_overlap(c("10.244.1.0/25"), c("10.244.1.128/25")));
  EXPECT_TRUE(cidrs_overlap(c("fd00::/64"), c("fd00::/48")));
  EXPECT_FALSE(cidrs_overlap(c("fd00::/64"), c("fd00:0:0:1::/64")));
  EXPECT_FALSE(cidrs_overlap(c("0.0.0.0/0"), c("::/0")));  // families never overlap
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "fd00::/129", "x/8", "10.0.0.0/1a"}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
}

TEST(AddressRulesTest, IngressPathGrammar) {
  EXPECT_EQ(normalize_ingress_path("/"), "/");
  EXPECT_EQ(normalize_ingress_path("//"), "/");
  EXPECT_EQ(normalize_ingress_path("/a/"), "/a");
  EXPECT_EQ(normalize_ingress_path("/a//b/"), "/a/b");
  EXPECT_TRUE(is_ingress_path("/api/v1.2_x-y~z"));
  EXPECT_TRUE(is_ingress_path("/a@b:c+d,e=f%20"));
  for (const char* bad : {"", "a", "/a b", "/a{", "/a\"b", "/a#b", "/$host", "/a;b", "/a\\b", "/a?q", "/é"}) {
    EXPECT_FALSE(is_ingress_path(bad)) << bad;
  }
}

TEST(AddressRulesTest, EndpointsRefuseSpecialAddresses) {
  Json ep = Json::parse(R"({"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"e","namespace":"default"},
    "subsets":[{"addresses":[{"ip":"10.244.1.5"},{"ip":"127.0.0.1"}],
                "notReadyAddresses":[{"ip":"169.254.169.254"},{"ip":"0.0.0.0"},{"ip":"224.0.0.1"},{"ip":"::1"}],
                "ports":[{"port":80}]}]})");
  FieldErrors errs = validate("v1", "Endpoints", ep);
  ASSERT_EQ(errs.size(), 5u) << joined(errs);
  EXPECT_EQ(errs[0].field, "subsets[0].addresses[1].ip");
  EXPECT_EQ(errs[0].message,
            "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)");
  EXPECT_EQ(errs[1].field, "subsets[0].notReadyAddresses[0].ip");
  EXPECT_NE(errs[1].message.find("link-local range"), std::string::npos);
  EXPECT_EQ(errs[2].message, "Invalid value: \"0.0.0.0\": may not be unspecified (0.0.0.0)");
  EXPECT_NE(errs[3].message.find("link-local multicast"), std::string::npos);
  EXPECT_EQ(errs[4].field, "subsets[0].notReadyAddresses[3].ip");

  ep["subsets"][0]["addresses"][1]["ip"] = "10.244.2.6";
  ep["subsets"][0].erase("notReadyAddresses");
  EXPECT_TRUE(validate("v1", "Endpoints", ep).empty());
}

TEST(AddressRulesTest, EndpointSlicesRefuseSpecialAddresses) {
  Json es = Json::parse(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"s","namespace":"default"},"addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.1.5"]},{"addresses":["169.254.1.1"]},{"addresses":["239.0.0.1"]}],
    "ports":[{"port":80,"protocol":"TCP"}]})");
  FieldErrors errs = validate("discovery.k8s.io/v1", "EndpointSlice", es);
  ASSERT_EQ(errs.size(), 2u) << joined(errs);
  EXPECT_EQ(errs[0].field, "endpoints[1].addresses[0]");
  EXPECT_EQ(errs[0].message,
            "Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)");
  EXPECT_EQ(errs[1].field, "endpoints[2].addresses[0]");
  es["addressType"] = "IPv6";
  es["endpoints"] = Json::parse(R"([{"addresses":["fd00::5"]},{"addresses":["::1"]}])");
  errs = validate("discovery.k8s.io/v1", "EndpointSlice", es);
  ASSERT_EQ(errs.size(), 1u) << joined(errs);
  EXPECT_EQ(errs[0].field, "endpoints[1].addresses[0]");
}

TEST(AddressRulesTest, NodeAddressesAndKubeletPort) {
  Json node = Json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},
    "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.7"},{"type":"Hostname","address":"n1"}],
              "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}})");
  EXPECT_TRUE(validate("v1", "Node", node).empty());
  node["status"]["addresses"] = Json::parse(R"([{"type":"InternalIP","address":"my-host"},
    {"type":"ExternalIP","address":"1.2.3"},{"type":"Bogus","address":"x"},{"type":"Hostname"},
    {"type":"Hostname","address":"n1"},{"type":"Hostname","address":"n1"}])");
  node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 70000;
  FieldErrors errs = validate("v1", "Node", node);
  ASSERT_EQ(errs.size(), 6u) << joined(errs);
  EXPECT_EQ(errs[0].field, "status.addresses[0].address");
  EXPECT_EQ(errs[0].message, "Invalid value: \"my-host\": must be a valid IP address");
  EXPECT_EQ(errs[1].field, "status.addresses[1].address");
  EXPECT_EQ(errs[2].field, "status.addresses[2].type");
  EXPECT_EQ(errs[3].field, "status.addresses[3].address");
  EXPECT_EQ(errs[3].message, "Required value");
  EXPECT_EQ(errs[4].field, "status.addresses[5]");
  EXPECT_EQ(errs[5].field, "status.daemonEndpoints.kubeletEndpoint.Port");
}

TEST(AddressRulesTest, DnsHostsAndPaths) {
  auto dns = [](const std::string& host, const Json& paths) {
    return Json{{"apiVersion", "minik8s.io/v1"},
                {"kind", "DNS"},
                {"metadata", {{"name", "d"}, {"namespace", "default"}}},
                {"spec", {{"host", host}, {"paths", paths}}}};
  };
  Json one = Json::array({{{"path", "/a"}, {"serviceName", "svc"}, {"servicePort", 80}}});
  EXPECT_TRUE(validate("minik8s.io/v1", "DNS", dns("example.com", one)).empty());
  EXPECT_TRUE(validate("minik8s.io/v1", "DNS", dns("my-localhost.example", one)).empty());
  for (const char* host : {"localhost", "a.localhost", "10.0.0.1", "127.0.0.1"}) {
    FieldErrors errs = validate("minik8s.io/v1", "DNS", dns(host, one));
    ASSERT_EQ(errs.size(), 1u) << host << "\n" << joined(errs);
    EXPECT_EQ(errs[0].field, "spec.host") << host;
  }
  // A path the ingress renderer would skip is refused, naming it; "/a" and
  // "/a/" are one route.
  Json paths = Json::array({{{"path", "/ok"}, {"serviceName", "svc"}, {"servicePort", 80}},
                            {{"path", "/a b"}, {"serviceName", "svc"}, {"servicePort", 80}},
                            {{"path", "/x;return 302 http://evil"}, {"serviceName", "svc"}, {"servicePort", 80}},
                            {{"path", "/ok/"}, {"serviceName", "svc"}, {"servicePort", 80}}});
  FieldErrors errs = validate("minik8s.io/v1", "DNS", dns("example.com", paths));
  ASSERT_EQ(errs.size(), 3u) << joined(errs);
  EXPECT_EQ(errs[0].field, "spec.paths[1].path");
  EXPECT_NE(errs[0].message.find("may contain only letters, digits"), std::string::npos) << errs[0].message;
  EXPECT_EQ(errs[1].field, "spec.paths[2].path");
  EXPECT_EQ(errs[2].field, "spec.paths[3].path");
  EXPECT_EQ(errs[2].message, "Duplicate value: \"/ok/\"");
}

}  // namespace
}  // namespace minik8s::api
