#include "render.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

namespace minik8s::ingress {
namespace {

using nlohmann::json;

std::shared_ptr<const json> dns(const std::string& ns, const std::string& name,
                                const std::string& host, const json& paths,
                                const std::string& created = "2026-01-01T00:00:00Z") {
  return std::make_shared<const json>(
      json{{"apiVersion", "minik8s.io/v1"},
           {"kind", "DNS"},
           {"metadata", {{"namespace", ns}, {"name", name}, {"creationTimestamp", created}}},
           {"spec", {{"host", host}, {"paths", paths}}}});
}

json path(const std::string& p, const std::string& svc, const json& port) {
  return {{"path", p}, {"serviceName", svc}, {"servicePort", port}};
}

std::shared_ptr<const json> service(const std::string& ip, const json& ports) {
  return std::make_shared<const json>(json{{"spec", {{"clusterIP", ip}, {"ports", ports}}}});
}

struct Services {
  std::map<std::string, std::shared_ptr<const json>> by_key;
  ServiceLookup lookup() const {
    return [this](const std::string& ns, const std::string& name) -> std::shared_ptr<const json> {
      auto it = by_key.find(ns + "/" + name);
      return it == by_key.end() ? nullptr : it->second;
    };
  }
};

RenderOptions opts() {
  RenderOptions o;
  o.prefix_dir = "/var/lib/mk/ingress";
  o.listen_address = "127.0.0.1";
  o.port = 8081;
  return o;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(RenderTest, TwoPathsProxyToTheirServicesWithThePrefixStripped) {
  Services s;
  s.by_key["default/a"] = service("10.96.0.10", json::array({{{"port", 80}}}));
  s.by_key["default/b"] = service("10.96.0.11", json::array({{{"name", "web"}, {"port", 8080}}}));
  auto built = build_routes({dns("default", "ex", "example.com",
                                 json::array({path("/a", "a", 80), path("/b", "b", 8080)}))},
                            s.lookup());
  ASSERT_EQ(built.hosts.size(), 1u);
  ASSERT_EQ(built.hosts[0].routes.size(), 2u);
  EXPECT_EQ(built.hosts[0].routes[0].upstream, "10.96.0.10:80");
  EXPECT_EQ(built.hosts[0].routes[1].upstream, "10.96.0.11:8080");
  EXPECT_TRUE(built.problems.empty());

  std::string text = render_nginx_config(built.hosts, opts()).text;
  EXPECT_TRUE(contains(text, "    server_name example.com;\n"));
  EXPECT_TRUE(
      contains(text, "    location = /a {\n      proxy_pass http://10.96.0.10:80/;\n    }\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "    location /a/ {\n      proxy_pass http://10.96.0.10:80/;\n    }\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "    location = /b {\n      proxy_pass http://10.96.0.11:8080/;\n    }\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "    location /b/ {\n      proxy_pass http://10.96.0.11:8080/;\n    }\n"))
      << text;
  EXPECT_TRUE(contains(text, "listen 127.0.0.1:8081 default_server;"));
  EXPECT_TRUE(contains(text, "pid /var/lib/mk/ingress/nginx.pid;"));
  EXPECT_TRUE(contains(text, "proxy_temp_path /var/lib/mk/ingress/temp/proxy;"));
  EXPECT_TRUE(contains(text, "proxy_http_version 1.1;"));
  EXPECT_TRUE(contains(text, "proxy_set_header Host $host;"));
  EXPECT_TRUE(contains(text, "worker_processes 1;"));
  EXPECT_FALSE(contains(text, "\nuser "));
}

TEST(RenderTest, TwoHostsGetTwoServersSortedByName) {
  Services s;
  s.by_key["default/a"] = service("10.96.0.10", json::array({{{"port", 80}}}));
  s.by_key["other/a"] = service("10.96.0.20", json::array({{{"port", 80}}}));
  auto built =
      build_routes({dns("other", "z", "zeta.test", json::array({path("/", "a", 80)})),
                    dns("default", "y", "alpha.test", json::array({path("/x/", "a", 80)}))},
                   s.lookup());
  ASSERT_EQ(built.hosts.size(), 2u);
  EXPECT_EQ(built.hosts[0].host, "alpha.test");
  EXPECT_EQ(built.hosts[0].routes[0].path, "/x");  // trailing slash normalized
  EXPECT_EQ(built.hosts[1].host, "zeta.test");
  // The Service is looked up in the DNS object's namespace.
  EXPECT_EQ(built.hosts[1].routes[0].upstream, "10.96.0.20:80");
  std::string text = render_nginx_config(built.hosts, opts()).text;
  size_t a = text.find("server_name alpha.test;"), z = text.find("server_name zeta.test;");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(z, std::string::npos);
  EXPECT_LT(a, z);
  // "/" forwards everything unchanged; no catch-all 404 for that host.
  std::string zeta = text.substr(z);
  EXPECT_TRUE(contains(zeta, "    location / {\n      proxy_pass http://10.96.0.20:80/;\n"))
      << zeta;
  EXPECT_FALSE(contains(zeta, "location = /"));
  // alpha.test has no "/" path: other paths answer 404.
  std::string alpha = text.substr(a, z - a);
  EXPECT_TRUE(contains(alpha, "    location / {\n      return 404")) << alpha;
}

TEST(RenderTest, MissingServiceOrPortAnswers503NamingIt) {
  Services s;
  s.by_key["default/b"] = service("10.96.0.11", json::array({{{"port", 8080}}}));
  s.by_key["default/h"] = service("None", json::array({{{"port", 80}}}));
  auto built = build_routes(
      {dns("default", "ex", "example.com",
           json::array({path("/a", "a", 80), path("/b", "b", 9999), path("/h", "h", 80)}))},
      s.lookup());
  ASSERT_EQ(built.hosts.size(), 1u);
  ASSERT_EQ(built.hosts[0].routes.size(), 3u);
  EXPECT_EQ(built.hosts[0].routes[0].error, "service default/a not found");
  EXPECT_EQ(built.hosts[0].routes[1].error, "service default/b has no port 9999");
  EXPECT_EQ(built.hosts[0].routes[2].error, "service default/h has no cluster IP");
  ASSERT_EQ(built.problems["default/ex"].size(), 3u);
  auto cfg = render_nginx_config(built.hosts, opts());
  EXPECT_TRUE(contains(cfg.text,
                       "    location = /a {\n      return 503 \"minik8s DNS default/ex: service "
                       "default/a not found\\n\";\n"))
      << cfg.text;
  EXPECT_TRUE(contains(cfg.text, "    location /a/ {\n      return 503 "));
  // Every line of the 503 location is attributed to its DNS object.
  size_t line = 0, at = cfg.text.find("return 503");
  for (size_t i = 0; i < at; ++i) line += cfg.text[i] == '\n';
  ASSERT_LT(line, cfg.line_owner.size());
  EXPECT_EQ(cfg.line_owner[line], "default/ex");
  EXPECT_EQ(cfg.line_owner[0], "");
}

TEST(RenderTest, ServicePortMayBeAName) {
  Services s;
  s.by_key["default/b"] = service("10.96.0.11", json::array({{{"name", "web"}, {"port", 8080}}}));
  auto built = build_routes(
      {dns("default", "ex", "example.com", json::array({path("/b", "b", "web")}))}, s.lookup());
  ASSERT_EQ(built.hosts.size(), 1u);
  EXPECT_EQ(built.hosts[0].routes[0].upstream, "10.96.0.11:8080");
}

TEST(RenderTest, OlderObjectWinsAConflictingPath) {
  Services s;
  s.by_key["default/a"] = service("10.96.0.10", json::array({{{"port", 80}}}));
  s.by_key["default/b"] = service("10.96.0.11", json::array({{{"port", 80}}}));
  auto built = build_routes(
      {dns("default", "new", "example.com", json::array({path("/a", "b", 80), path("/c", "b", 80)}),
           "2026-02-01T00:00:00Z"),
       dns("default", "old", "example.com", json::array({path("/a", "a", 80)}),
           "2026-01-01T00:00:00Z")},
      s.lookup());
  ASSERT_EQ(built.hosts.size(), 1u);
  ASSERT_EQ(built.hosts[0].routes.size(), 2u);
  EXPECT_EQ(built.hosts[0].routes[0].path, "/a");
  EXPECT_EQ(built.hosts[0].routes[0].upstream, "10.96.0.10:80");
  EXPECT_EQ(built.hosts[0].routes[0].owner, "default/old");
  EXPECT_EQ(built.hosts[0].routes[1].owner, "default/new");
  ASSERT_EQ(built.problems["default/new"].size(), 1u);
  EXPECT_TRUE(contains(built.problems["default/new"][0], "already served by DNS default/old"));
}

TEST(RenderTest, UnsafePathsAndHostsNeverReachTheConfig) {
  Services s;
  s.by_key["default/a"] = service("10.96.0.10", json::array({{{"port", 80}}}));
  auto built = build_routes(
      {dns("default", "x", "example.com",
           json::array({path("/a;}", "a", 80), path("/ok", "a", 80), path("/b c", "a", 80)})),
       dns("default", "y", "Bad Host;", json::array({path("/a", "a", 80)})),
       std::make_shared<const json>(json("not an object"))},
      s.lookup());
  ASSERT_EQ(built.hosts.size(), 1u);
  ASSERT_EQ(built.hosts[0].routes.size(), 1u);
  EXPECT_EQ(built.hosts[0].routes[0].path, "/ok");
  EXPECT_EQ(built.problems["default/x"].size(), 2u);
  EXPECT_EQ(built.problems["default/y"].size(), 1u);
  std::string text = render_nginx_config(built.hosts, opts()).text;
  EXPECT_FALSE(contains(text, "Bad Host"));
  EXPECT_FALSE(contains(text, "/a;}"));
}

TEST(RenderTest, NoObjectsStillRendersTheDefault404Server) {
  auto text = render_nginx_config({}, opts()).text;
  EXPECT_TRUE(contains(text, "listen 127.0.0.1:8081 default_server;"));
  EXPECT_TRUE(contains(text, "return 404"));
  EXPECT_FALSE(contains(text, "proxy_pass"));
}

}  // namespace
}  // namespace minik8s::ingress
