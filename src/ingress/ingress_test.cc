// Ingress end to end on one machine: an in-process API server (service CIDR
// 127.0.0.0/24, so that a Service's clusterIP:port can be a loopback backend
// standing in for kube-proxy), the real nginx on a free loopback port, a temp
// hosts file. Skipped when the machine has no nginx.
#include "minik8s/ingress/ingress.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/storage/storage.h"
#include "test/fakes/local_api.h"
#include "nginx.h"
#include "render.h"
#include "test_http.h"

namespace minik8s::ingress {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using testing::http_get;
using testing::poll_until;

const std::string kHostsOriginal = "127.0.0.1 localhost\n# keep me\n10.1.2.3 db.internal\n";

class IngressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("ingress");
    if (!Nginx("nginx", dir_.string()).find_binary()) GTEST_SKIP() << "no nginx binary";
    apiserver::ApiServerOptions ao;
    ao.service_cidr = "127.0.0.0/24";
    ASSERT_NO_FATAL_FAILURE(local_.start(ao, "ingress-api"));
    client_ = &local_.client();
    dns_ = api::find_kind("minik8s.io/v1", "DNS");
    svc_ = api::find_kind("v1", "Service");
    ASSERT_NE(dns_, nullptr);

    hosts_ = (dir_ / "hosts").string();
    std::ofstream(hosts_) << kHostsOriginal;
    opts_.prefix_dir = (dir_ / "nginx").string();
    opts_.listen_address = "127.0.0.1";
    opts_.port = testing::free_port();
    opts_.hosts_file = hosts_;
    opts_.block_tag = "test-" + std::to_string(::getpid());
    ASSERT_GT(opts_.port, 0);
  }
  void TearDown() override {
    ingress_.reset();
    if (!opts_.prefix_dir.empty()) (void)Ingress::cleanup(opts_);
    client_ = nullptr;
    local_.stop();
    fs::remove_all(dir_);
  }

  void create_service(const std::string& name, const std::string& ip, int port) {
    json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"clusterIP", ip},
                  {"ports", {{{"name", "http"}, {"port", port}, {"targetPort", port}}}}}}};
    auto r = client_->create(*svc_, svc);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void create_dns(const std::string& name, const std::string& host, const json& paths) {
    json d = {{"apiVersion", "minik8s.io/v1"},
              {"kind", "DNS"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"host", host}, {"paths", paths}}}};
    auto r = client_->create(*dns_, d);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  testing::HttpAnswer get(const std::string& host, const std::string& target) {
    return http_get("127.0.0.1", opts_.port, host, target);
  }
  bool answers(const std::string& host, const std::string& target, int code,
               const std::string& body_part, std::chrono::milliseconds limit = 30s) {
    testing::HttpAnswer last;
    bool ok = poll_until(
        [&] {
          last = get(host, target);
          return last.code == code && last.body.find(body_part) != std::string::npos;
        },
        limit);
    if (!ok)
      ADD_FAILURE() << host << target << ": want " << code << " '" << body_part << "', got "
                    << last.code << " '" << last.body << "'";
    return ok;
  }
  std::string hosts_text() {
    std::ifstream in(hosts_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  minik8s::testing::LocalApi local_;
  client::Client* client_ = nullptr;
  const api::ResourceType* dns_ = nullptr;
  const api::ResourceType* svc_ = nullptr;
  IngressOptions opts_;
  std::string hosts_;
  std::unique_ptr<Ingress> ingress_;
};

TEST_F(IngressTest, PathsReachTheirServicesAndFollowChanges) {
  testing::Backend a("backend-A", "127.0.0.2");
  testing::Backend b("backend-B", "127.0.0.3");
  testing::Backend c("backend-C", "127.0.0.4");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  create_service("svc-a", "127.0.0.2", a.port());
  create_service("svc-b", "127.0.0.3", b.port());
  create_dns("example", "example.com",
             json::array({{{"path", "/a"}, {"serviceName", "svc-a"}, {"servicePort", a.port()}},
                          {{"path", "/b"}, {"serviceName", "svc-b"}, {"servicePort", b.port()}}}));

  ingress_ = std::make_unique<Ingress>(*client_, opts_);
  ASSERT_TRUE(ingress_->start().is_ok());
  ASSERT_TRUE(answers("example.com", "/a", 200, "backend-A GET /\n"));
  EXPECT_TRUE(answers("example.com", "/b/x/y?z=1", 200, "backend-B GET /x/y?z=1\n"));
  EXPECT_TRUE(answers("example.com", "/c", 404, ""));
  EXPECT_TRUE(answers("unknown.test", "/a", 404, "no DNS object"));
  // (the hosts file and the reload counter follow nginx's new configuration)
  const std::string want_hosts = kHostsOriginal + "# BEGIN minik8s " + opts_.block_tag +
                                 "\n127.0.0.1 example.com\n# END minik8s " + opts_.block_tag + "\n";
  EXPECT_TRUE(poll_until([&] { return hosts_text() == want_hosts; }, 30s)) << hosts_text();
  EXPECT_TRUE(poll_until([&] { return ingress_->reloads() >= 1u; }, 30s));

  // A path whose Service is missing answers 503 naming it, with an Event on
  // the DNS object.
  create_dns("later", "later.test",
             json::array({{{"path", "/"}, {"serviceName", "svc-c"}, {"servicePort", 80}}}));
  EXPECT_TRUE(answers("later.test", "/anything", 503, "service default/svc-c not found", 2s));
  const api::ResourceType* events = api::find_kind("v1", "Event");
  EXPECT_TRUE(poll_until(
      [&] {
        auto list = client_->list(*events, "default");
        if (!list) return false;
        for (const auto& e : (*list)["items"]) {
          if (e["involvedObject"].value("name", "") == "later" &&
              e.value("reason", "") == "ServiceNotFound")
            return true;
        }
        return false;
      },
      3s));
  // The Service appears (its clusterIP known): the path starts working.
  create_service("svc-c", "127.0.0.4", c.port());
  auto r = client_->patch(
      *dns_, "default", "later", client::PatchType::kMerge,
      json{{"spec",
            {{"paths", {{{"path", "/"}, {"serviceName", "svc-c"}, {"servicePort", c.port()}}}}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(answers("later.test", "/anything", 200, "backend-C GET /anything\n", 2s));
  EXPECT_TRUE(poll_until(
      [&] { return hosts_text().find("127.0.0.1 later.test\n") != std::string::npos; }, 30s));

  // stop() leaves nginx serving; the next start adopts it (same pid).
  int pid = Nginx("nginx", opts_.prefix_dir).running_pid();
  ASSERT_GT(pid, 0);
  ingress_->stop();
  ingress_.reset();
  EXPECT_EQ(get("example.com", "/a").code, 200);
  EXPECT_EQ(Nginx("nginx", opts_.prefix_dir).running_pid(), pid);
  ingress_ = std::make_unique<Ingress>(*client_, opts_);
  ASSERT_TRUE(ingress_->start().is_ok());

  // Deleting the DNS object removes its routes and its host (the deadline only
  // bounds a failure; how fast belongs in a benchmark).
  ASSERT_TRUE(client_->remove(*dns_, "default", "example").is_ok());
  ASSERT_TRUE(poll_until([&] { return get("example.com", "/a").code == 404; }, 30s));
  EXPECT_EQ(Nginx("nginx", opts_.prefix_dir).running_pid(), pid);
  EXPECT_TRUE(
      poll_until([&] { return hosts_text().find("example.com") == std::string::npos; }, 30s));
  EXPECT_TRUE(poll_until(
      [&] { return hosts_text().find("127.0.0.1 later.test\n") != std::string::npos; }, 30s));

  // cleanup(): nginx stopped by PID, the hosts file as it was.
  ingress_->stop();
  ingress_.reset();
  ASSERT_TRUE(Ingress::cleanup(opts_).is_ok());
  EXPECT_FALSE(process_running(pid));
  EXPECT_EQ(hosts_text(), kHostsOriginal);
  EXPECT_EQ(get("later.test", "/").code, 0);
  EXPECT_FALSE(fs::exists(opts_.prefix_dir));
}

TEST_F(IngressTest, NoDnsObjectsMeansNoHostsBlockAndA404) {
  // A block left by an earlier run goes away on the first pass.
  std::ofstream(hosts_, std::ios::app)
      << "# BEGIN minik8s " << opts_.block_tag << "\n127.0.0.1 stale.test\n# END minik8s "
      << opts_.block_tag << "\n";
  ingress_ = std::make_unique<Ingress>(*client_, opts_);
  ASSERT_TRUE(ingress_->start().is_ok());
  EXPECT_TRUE(answers("stale.test", "/", 404, "no DNS object"));
  EXPECT_TRUE(poll_until([&] { return hosts_text() == kHostsOriginal; }, 30s)) << hosts_text();
}

// examples/dns/dns-example.yaml is accepted by the API server as written and
// its DNS object resolves to the two Services it creates.
TEST_F(IngressTest, ExampleManifestsApplyAndResolve) {
  std::ifstream in(std::string(MINIK8S_SOURCE_DIR) + "/examples/dns/dns-example.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto docs = api::parse_manifests(ss.str());
  ASSERT_TRUE(docs.is_ok()) << docs.status().to_string();
  ASSERT_EQ(docs->size(), 6u);
  for (const json& d : *docs) {
    const api::ResourceType* t = api::find_kind(d.value("apiVersion", ""), d.value("kind", ""));
    ASSERT_NE(t, nullptr) << d.dump();
    auto r = client_->create(*t, d);
    ASSERT_TRUE(r.is_ok()) << d["metadata"].value("name", "") << ": " << r.status().to_string();
  }
  auto dns = client_->get(*dns_, "dns-demo", "example");
  ASSERT_TRUE(dns.is_ok());
  auto a = client_->get(*svc_, "dns-demo", "svc-a");
  auto b = client_->get(*svc_, "dns-demo", "svc-b");
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto built = build_routes(
      {std::make_shared<const json>(*dns)},
      [&](const std::string& ns, const std::string& name) -> std::shared_ptr<const json> {
        EXPECT_EQ(ns, "dns-demo");
        if (name == "svc-a") return std::make_shared<const json>(*a);
        if (name == "svc-b") return std::make_shared<const json>(*b);
        return nullptr;
      });
  ASSERT_EQ(built.hosts.size(), 1u);
  EXPECT_EQ(built.hosts[0].host, "example.com");
  ASSERT_EQ(built.hosts[0].routes.size(), 2u);
  EXPECT_EQ(built.hosts[0].routes[0].upstream,
            (*a)["spec"]["clusterIP"].get<std::string>() + ":80");
  EXPECT_EQ(built.hosts[0].routes[1].upstream,
            (*b)["spec"]["clusterIP"].get<std::string>() + ":8080");
  EXPECT_TRUE(built.problems.empty());
}

TEST(IngressOptionsTest, StartRefusesBadOptions) {
  client::HttpRestClientOptions ro;
  ro.server = "http://127.0.0.1:1";
  ro.timeout = std::chrono::milliseconds(100);
  ro.max_idle_connections = 1;
  auto rc = client::make_http_rest_client(ro);
  ASSERT_TRUE(rc.is_ok());
  client::Client c(**rc);
  IngressOptions o;
  Ingress no_prefix(c, o);
  EXPECT_EQ(no_prefix.start().code(), Code::kInvalid);
  o.prefix_dir = "/tmp/unused-ingress";
  o.nginx = "/nonexistent/nginx";
  Ingress no_binary(c, o);
  EXPECT_EQ(no_binary.start().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace minik8s::ingress
