// The kubelet server's authentication and authorization
// (minik8s/kubelet/server_auth.h): Kubernetes' attribute mapping, the
// decisions and their caches over a fake reviewer and a fake clock, the
// HTTPS server with certificates issued here (minik8s/auth/pki.h), and the
// real reviewer against an in-process API server with authentication on.
#include "minik8s/kubelet/server_auth.h"

#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "minik8s/auth/pki.h"
#include "minik8s/auth/tls.h"
#include "minik8s/stream/websocket.h"
#include "server_internal.h"
#include "test/fakes/eventually.h"
#include "test/fakes/fake_clock.h"
#include "test/fakes/fake_runtime.h"
#include "test/fakes/local_api.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::kubelet {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

auth::UserInfo alice() { return auth::UserInfo{"alice", "", {"devs"}, {}}; }

// ---------------------------------------------------------------- attributes

TEST(KubeletAttributes, KubernetesMapping) {
  struct Case {
    const char* method;
    const char* path;
    const char* verb;
    const char* sub;
  } cases[] = {
      {"GET", "/stats/summary", "get", "stats"},
      {"GET", "/stats", "get", "stats"},
      {"GET", "/stats/", "get", "stats"},
      {"GET", "/statsz", "get", "proxy"},
      {"GET", "/metrics", "get", "metrics"},
      {"GET", "/metrics/cadvisor", "get", "metrics"},
      {"GET", "/metricsx", "get", "proxy"},
      {"GET", "/logs/", "get", "log"},
      {"GET", "/logs/messages", "get", "log"},
      {"GET", "/spec/", "get", "spec"},
      {"HEAD", "/spec", "get", "spec"},
      {"GET", "/containerLogs/default/web/main", "get", "proxy"},
      {"POST", "/exec/default/web/main", "create", "proxy"},
      {"GET", "/exec/default/web/main", "get", "proxy"},
      {"POST", "/attach/default/web/main", "create", "proxy"},
      {"POST", "/portForward/default/web", "create", "proxy"},
      {"POST", "/run/default/web/main", "create", "proxy"},
      {"GET", "/pods", "get", "proxy"},
      {"GET", "/healthz", "get", "proxy"},
      {"PUT", "/pods", "update", "proxy"},
      {"PATCH", "/pods", "patch", "proxy"},
      {"DELETE", "/pods", "delete", "proxy"},
      {"OPTIONS", "/pods", "options", "proxy"},
  };
  for (const auto& c : cases) {
    auth::Attributes a = kubelet_request_attributes(alice(), c.method, c.path, "node-1");
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    EXPECT_EQ(a.verb, c.verb);
    EXPECT_EQ(a.subresource, c.sub);
    EXPECT_TRUE(a.resource_request);
    EXPECT_EQ(a.resource, "nodes");
    EXPECT_EQ(a.api_group, "");
    EXPECT_EQ(a.api_version, "v1");
    EXPECT_EQ(a.name, "node-1");
    EXPECT_EQ(a.ns, "");
    EXPECT_EQ(a.path, c.path);
    EXPECT_EQ(a.user.name, "alice");
  }
}

// ---------------------------------------------------------------- decisions

class FakeReviewer : public AuthReviewer {
 public:
  Result<std::optional<auth::UserInfo>> review_token(const std::string& token) override {
    std::lock_guard l(mu);
    ++token_calls;
    if (fail) return Status(Code::kUnavailable, "API server down");
    auto it = tokens.find(token);
    if (it == tokens.end()) return std::optional<auth::UserInfo>();
    return std::optional<auth::UserInfo>(it->second);
  }
  Result<auth::Decision> review_access(const auth::Attributes& a) override {
    std::lock_guard l(mu);
    ++access_calls;
    last = a;
    if (fail) return Status(Code::kUnavailable, "API server down");
    bool ok = allowed.count(a.user.name + " " + a.verb + " " + a.subresource) > 0;
    return auth::Decision{ok ? auth::Decision::Kind::kAllow : auth::Decision::Kind::kDeny,
                          ok ? "" : "no RBAC policy matched"};
  }

  std::mutex mu;
  std::map<std::string, auth::UserInfo> tokens;
  std::set<std::string> allowed;  // "user verb subresource"
  bool fail = false;
  int token_calls = 0, access_calls = 0;
  auth::Attributes last;
};

class KubeletAuthTest : public ::testing::Test {
 protected:
  KubeletAuthTest()
      : clock_(std::chrono::system_clock::now()), auth_(reviewer_, "node-1", {}, clock_) {
    reviewer_.tokens["tok-alice"] = alice();
    reviewer_.allowed.insert("alice get stats");
  }
  AuthVerdict check(const std::string& method, const std::string& path, const std::string& authz,
                    std::optional<PeerIdentity> peer = std::nullopt) {
    return auth_.check(method, path, authz, peer);
  }

  FakeReviewer reviewer_;
  testing::FakeClock clock_;
  KubeletAuth auth_;
};

TEST_F(KubeletAuthTest, NoCredentialIs401WithoutAskingTheApiServer) {
  auto v = check("GET", "/stats/summary", "");
  EXPECT_EQ(v.code, 401);
  EXPECT_EQ(v.message, "Unauthorized");
  v = check("GET", "/stats/summary", "Basic YWxpY2U6cHc=");
  EXPECT_EQ(v.code, 401);
  v = check("GET", "/stats/summary", "Bearer ");
  EXPECT_EQ(v.code, 401);
  EXPECT_EQ(reviewer_.token_calls, 0);
  EXPECT_EQ(reviewer_.access_calls, 0);
}

TEST_F(KubeletAuthTest, AClientCertificateIsCnAndOrgsPlusAuthenticated) {
  reviewer_.allowed.insert("kube-apiserver-kubelet-client create proxy");
  auto v = check("POST", "/exec/default/web/main", "Bearer tok-alice",
                 PeerIdentity{"kube-apiserver-kubelet-client", {"ops"}});
  EXPECT_EQ(v.code, 200) << v.message;
  EXPECT_EQ(reviewer_.token_calls, 0);  // the certificate wins
  EXPECT_EQ(reviewer_.last.user.name, "kube-apiserver-kubelet-client");
  EXPECT_EQ(reviewer_.last.user.groups, (std::vector<std::string>{"ops", "system:authenticated"}));
  EXPECT_EQ(reviewer_.last.verb, "create");
  EXPECT_EQ(reviewer_.last.resource, "nodes");
  EXPECT_EQ(reviewer_.last.subresource, "proxy");
  EXPECT_EQ(reviewer_.last.name, "node-1");
}

TEST_F(KubeletAuthTest, TokenReviewsAreCachedTwoMinutes) {
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 200);
  EXPECT_EQ(check("GET", "/stats/summary", "bearer  tok-alice ").code, 200);
  EXPECT_EQ(reviewer_.token_calls, 1);
  EXPECT_EQ(reviewer_.last.user.groups, (std::vector<std::string>{"devs", "system:authenticated"}));
  // An unknown token: 401, and the answer is cached too.
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer nope").code, 401);
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer nope").code, 401);
  EXPECT_EQ(reviewer_.token_calls, 2);
  clock_.advance(119s);
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 200);
  EXPECT_EQ(reviewer_.token_calls, 2);
  clock_.advance(2s);
  // The token was revoked meanwhile: seen once the cache entry expired.
  reviewer_.tokens.erase("tok-alice");
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 401);
  EXPECT_EQ(reviewer_.token_calls, 3);
}

TEST_F(KubeletAuthTest, DenyIs403CachedThirtySecondsAllowFiveMinutes) {
  auto v = check("POST", "/exec/default/web/main", "Bearer tok-alice");
  EXPECT_EQ(v.code, 403);
  EXPECT_EQ(v.message, "Forbidden (user=alice, verb=create, resource=nodes, subresource=proxy)");
  EXPECT_EQ(check("POST", "/exec/default/web/other", "Bearer tok-alice").code, 403);
  EXPECT_EQ(reviewer_.access_calls, 1);
  // Other attributes are another question.
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 200);
  EXPECT_EQ(reviewer_.access_calls, 2);
  reviewer_.allowed.insert("alice create proxy");
  reviewer_.allowed.erase("alice get stats");
  clock_.advance(29s);
  EXPECT_EQ(check("POST", "/exec/default/web/main", "Bearer tok-alice").code, 403);
  EXPECT_EQ(reviewer_.access_calls, 2);
  clock_.advance(2s);
  EXPECT_EQ(check("POST", "/exec/default/web/main", "Bearer tok-alice").code, 200);
  EXPECT_EQ(reviewer_.access_calls, 3);
  // The allow of stats (31 s old) still holds though RBAC changed ...
  clock_.advance(60s);
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 200);
  EXPECT_EQ(reviewer_.access_calls, 3);
  // ... until it is 5 minutes old.
  clock_.advance(210s);
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 403);
  EXPECT_EQ(reviewer_.access_calls, 4);
}

TEST_F(KubeletAuthTest, ReviewFailuresAreNotCached) {
  reviewer_.fail = true;
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 401);
  auto v = check("GET", "/stats/summary", "", PeerIdentity{"alice", {}});
  EXPECT_EQ(v.code, 500);
  EXPECT_EQ(v.message,
            "Authorization error (user=alice, verb=get, resource=nodes, subresource=stats)");
  reviewer_.fail = false;
  EXPECT_EQ(check("GET", "/stats/summary", "Bearer tok-alice").code, 200);
  EXPECT_EQ(check("GET", "/stats/summary", "", PeerIdentity{"alice", {"devs"}}).code, 200);
}

TEST(KubeletAuthCache, IsBounded) {
  FakeReviewer reviewer;
  testing::FakeClock clock(std::chrono::system_clock::now());
  KubeletAuthOptions o;
  o.max_entries = 8;
  KubeletAuth auth(reviewer, "n", o, clock);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(auth.check("GET", "/pods", "Bearer t" + std::to_string(i), std::nullopt).code, 401);
  }
  EXPECT_EQ(reviewer.token_calls, 100);
  // Still answers, and from the cache for what it kept.
  EXPECT_EQ(auth.check("GET", "/pods", "Bearer t99", std::nullopt).code, 401);
  EXPECT_EQ(reviewer.token_calls, 100);
}

// ---------------------------------------------------------------- the HTTPS server

class OneLocator : public ContainerLocator {
 public:
  Result<ContainerRef> find_container(const std::string&, const std::string& pod,
                                      const std::string&, bool) override {
    return Status(Code::kNotFound, "container of pod " + pod + " is not running");
  }
  std::vector<PodUsage> pod_usage() override { return {}; }
  std::string node_name() override { return "node-1"; }
  size_t running_pods() override { return 0; }
};

class KubeletHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = auth::CertificateAuthority::create("test-ca");
    ASSERT_TRUE(ca.is_ok()) << ca.status().to_string();
    ca_ = std::make_unique<auth::CertificateAuthority>(std::move(*ca));
    auth::CertSpec serving;
    serving.common_name = "system:node:node-1";
    serving.organizations = {"system:nodes"};
    serving.ip_addresses = {"127.0.0.1"};
    serving.usage = auth::KeyUsage::kServer;
    auto pair = ca_->issue(serving);
    ASSERT_TRUE(pair.is_ok());
    const std::string cert = dir_.path() + "/kubelet.crt", key = dir_.path() + "/kubelet.key";
    ASSERT_TRUE(auth::write_key_pair(cert, key, *pair).is_ok());
    auth::KeyPair ca_only{ca_->cert_pem(), ""};
    ASSERT_TRUE(auth::write_key_pair(dir_.path() + "/ca.crt", "", ca_only).is_ok());
    auto layer = auth::make_tls_server_layer({cert, key, dir_.path() + "/ca.crt"});
    ASSERT_TRUE(layer.is_ok()) << layer.status().to_string();
    reviewer_.tokens["tok-alice"] = alice();
    reviewer_.allowed.insert("kube-apiserver-kubelet-client get stats");
    reviewer_.allowed.insert("kube-apiserver-kubelet-client get proxy");
    auth_ = std::make_unique<KubeletAuth>(reviewer_, "node-1");
    server_ = std::make_unique<KubeletHttpServer>(locator_, runtime_, "127.0.0.1:0", ConnLimits{},
                                                  nullptr,
                                                  KubeletHttpServer::Security{*layer, auth_.get()});
    ASSERT_TRUE(server_->start().is_ok());
  }

  auth::TlsClientConfig client(const std::string& cn,
                               const auth::CertificateAuthority* issuer = nullptr) {
    auth::TlsClientConfig c;
    c.ca_pem = ca_->cert_pem();
    if (!cn.empty()) {
      auth::CertSpec s;
      s.common_name = cn;
      auto p = (issuer ? issuer : ca_.get())->issue(s);
      EXPECT_TRUE(p.is_ok());
      c.cert_pem = p->cert_pem;
      c.key_pem = p->key_pem;
    }
    return c;
  }

  struct Resp {
    int code = 0;
    std::string body;
  };
  Resp get(const auth::TlsClientConfig& tls, const std::string& target,
           const std::string& bearer = "") {
    net::io_context ioc;
    auto s = stream::dial(ioc, "127.0.0.1", std::to_string(server_->port()), &tls, 5s);
    if (!s) return {0, s.status().message()};
    http::request<http::string_body> r{http::verb::get, target, 11};
    r.set(http::field::host, "127.0.0.1");
    if (!bearer.empty()) r.set(http::field::authorization, "Bearer " + bearer);
    beast::error_code ec;
    http::write(*s, r, ec);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    if (!ec) http::read(*s, b, res, ec);
    if (ec) return {0, ec.message()};
    return {static_cast<int>(res.result_int()), res.body()};
  }

  testing::TempDir dir_{"khttps"};
  std::unique_ptr<auth::CertificateAuthority> ca_;
  FakeReviewer reviewer_;
  OneLocator locator_;
  testing::FakeRuntime runtime_;
  std::unique_ptr<KubeletAuth> auth_;
  std::unique_ptr<KubeletHttpServer> server_;
};

TEST_F(KubeletHttpsTest, AnonymousIs401ForbiddenIs403AllowedIsServed) {
  Resp r = get(client(""), "/stats/summary");
  EXPECT_EQ(r.code, 401) << r.body;
  json j = json::parse(r.body, nullptr, false);
  EXPECT_EQ(j.value("kind", ""), "Status");
  EXPECT_EQ(j.value("reason", ""), "Unauthorized");

  r = get(client("alice"), "/containerLogs/default/web/main");
  EXPECT_EQ(r.code, 403) << r.body;
  j = json::parse(r.body, nullptr, false);
  EXPECT_EQ(j.value("reason", ""), "Forbidden");
  EXPECT_EQ(j.value("message", ""),
            "Forbidden (user=alice, verb=get, resource=nodes, subresource=proxy)");

  r = get(client("kube-apiserver-kubelet-client"), "/stats/summary");
  EXPECT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(json::parse(r.body, nullptr, false)["node"].value("nodeName", ""), "node-1");
  // Past authorization the endpoint's own answers come back as before.
  r = get(client("kube-apiserver-kubelet-client"), "/containerLogs/default/web/main");
  EXPECT_EQ(r.code, 404) << r.body;

  // A bearer token (reviewed), allowed stats but not logs.
  reviewer_.allowed.insert("alice get stats");
  EXPECT_EQ(get(client(""), "/stats/summary", "tok-alice").code, 200);
  EXPECT_EQ(get(client(""), "/containerLogs/default/web/main", "tok-alice").code, 403);
  EXPECT_EQ(get(client(""), "/stats/summary", "bogus").code, 401);
}

TEST_F(KubeletHttpsTest, ACertificateOfAnotherCaIsAnonymous) {
  auto other = auth::CertificateAuthority::create("other-ca");
  ASSERT_TRUE(other.is_ok());
  Resp r = get(client("kube-apiserver-kubelet-client", &*other), "/stats/summary");
  EXPECT_EQ(r.code, 401) << r.body;
}

TEST_F(KubeletHttpsTest, PlainHttpIsNotServedAndTheServerIsVerified) {
  // A plain request to the TLS port gets no HTTP answer.
  net::io_context ioc;
  auto plain = stream::dial(ioc, "127.0.0.1", std::to_string(server_->port()), nullptr, 5s);
  ASSERT_TRUE(plain.is_ok());
  http::request<http::string_body> r{http::verb::get, "/stats/summary", 11};
  r.set(http::field::host, "127.0.0.1");
  beast::error_code ec;
  http::write(*plain, r, ec);
  beast::flat_buffer b;
  http::response<http::string_body> res;
  if (!ec) http::read(*plain, b, res, ec);
  EXPECT_TRUE(ec) << res.result_int();
  // A client that trusts another CA refuses the kubelet's certificate.
  auto other = auth::CertificateAuthority::create("other-ca");
  ASSERT_TRUE(other.is_ok());
  auth::TlsClientConfig c = client("kube-apiserver-kubelet-client");
  c.ca_pem = other->cert_pem();
  Resp bad = get(c, "/stats/summary");
  EXPECT_EQ(bad.code, 0);
  EXPECT_NE(bad.body.find("certificate verify failed"), std::string::npos) << bad.body;
}

TEST_F(KubeletHttpsTest, ExecIsAuthorizedBeforeTheUpgrade) {
  net::io_context ioc;
  auth::TlsClientConfig c = client("alice");
  std::string chosen;
  stream::UpgradeRefused refused;
  auto ws = stream::connect_ws(ioc, "127.0.0.1", std::to_string(server_->port()),
                               "/exec/default/web/main?command=true", {"v5.channel.k8s.io"},
                               &chosen, &refused, &c);
  ASSERT_FALSE(ws.is_ok());
  EXPECT_EQ(refused.code, 403);
  EXPECT_NE(refused.body.find("subresource=proxy"), std::string::npos) << refused.body;
  EXPECT_EQ(reviewer_.last.verb, "get");  // a WebSocket GET, as Kubernetes' kubelet sees it
}

// ---------------------------------------------------------------- the real reviewer

TEST(KubeletApiReviewer, AsksTheApiServer) {
  testing::TempDir dir("kreview");
  const std::string tokens = dir.path() + "/tokens.csv";
  std::ofstream(tokens) << "tok-alice,alice,u-1,\"devs\"\n"
                        << "tok-node,system:node:node-1,u-2,\"system:nodes\"\n"
                        << "tok-kac,kube-apiserver-kubelet-client,u-3,\n";
  apiserver::ApiServerOptions o;
  o.auth.enabled = true;
  o.auth.token_file = tokens;
  o.auth.loopback_token = "loopback-" + std::to_string(std::random_device{}());
  testing::LocalApi api;
  ASSERT_NO_FATAL_FAILURE(api.start(o, "kreview"));
  // The kubelet asks with its node credential (the Node authorizer lets it).
  client::HttpRestClientOptions ro;
  ro.server = api.url();
  ro.bearer_token = "tok-node";
  auto rest = client::make_http_rest_client(ro);
  ASSERT_TRUE(rest.is_ok());
  auto reviewer = make_api_reviewer(**rest);

  auto u = reviewer->review_token("tok-alice");
  ASSERT_TRUE(u.is_ok()) << u.status().to_string();
  ASSERT_TRUE(u->has_value());
  EXPECT_EQ((*u)->name, "alice");
  EXPECT_EQ((*u)->uid, "u-1");
  EXPECT_TRUE((*u)->in_group("devs"));
  auto none = reviewer->review_token("bogus");
  ASSERT_TRUE(none.is_ok()) << none.status().to_string();
  EXPECT_FALSE(none->has_value());

  auth::UserInfo kac{"kube-apiserver-kubelet-client", "u-3", {"system:authenticated"}, {}};
  // system:kubelet-api-admin is bound to the API server's kubelet client
  // (the defaults are reconciled as the server starts).
  EXPECT_TRUE(testing::eventually(
      [&] {
        auto d = reviewer->review_access(
            kubelet_request_attributes(kac, "POST", "/exec/a/b/c", "node-1"));
        return d.is_ok() && d->allowed();
      },
      10s));
  for (const char* path :
       {"/stats/summary", "/metrics", "/containerLogs/a/b/c", "/logs/x", "/spec/"}) {
    auto d = reviewer->review_access(kubelet_request_attributes(kac, "GET", path, "node-1"));
    ASSERT_TRUE(d.is_ok()) << d.status().to_string();
    EXPECT_TRUE(d->allowed()) << path;
  }
  auth::UserInfo a = **u;
  auto d =
      reviewer->review_access(kubelet_request_attributes(a, "GET", "/stats/summary", "node-1"));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_FALSE(d->allowed());

  // A credential that may not create reviews gets an error, not an answer.
  ro.bearer_token = "tok-alice";
  auto rest_alice = client::make_http_rest_client(ro);
  ASSERT_TRUE(rest_alice.is_ok());
  auto as_alice = make_api_reviewer(**rest_alice);
  auto refused =
      as_alice->review_access(kubelet_request_attributes(kac, "GET", "/stats/summary", "node-1"));
  EXPECT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kForbidden) << refused.status().to_string();
}

}  // namespace
}  // namespace minik8s::kubelet
