// Regression tests for API server defects found in review: invalid UTF-8,
// Service type changes, namespace deletion races, delete options, resource
// version strictness, HTTP framing, metrics labels.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/storage/storage.h"
#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

using testing::ApiServerFixture;
using testing::Resp;

class ApiFixTest : public ApiServerFixture {
 protected:
  // Sends raw bytes, half-closes, and returns everything the server answers
  // until it closes (at most 5 s of silence).
  std::string raw(const std::string& bytes) {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), local_.port()));
    net::write(s, net::buffer(bytes));
    beast::error_code sec;
    s.shutdown(tcp::socket::shutdown_send, sec);  // the server sees EOF after the bytes
    timeval tv{5, 0};  // never hang the test
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    beast::error_code ec;
    while (true) {
      size_t n = s.read_some(net::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
    return out;
  }
};

const std::string kPods = "/api/v1/namespaces/default/pods";
const std::string kCms = "/api/v1/namespaces/default/configmaps";

json cm(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
}

TEST_F(ApiFixTest, InvalidUtf8InQueryOrBodyIsBadRequestAndNeverKillsTheServer) {
  for (const char* q : {"labelSelector=%ff", "resourceVersion=%ff", "fieldSelector=spec.x%ff%3D1"}) {
    auto w = req("GET", kCms + "?watch=1&" + q);
    EXPECT_EQ(w.code, 400) << q << " " << w.body;
    EXPECT_NE(w.body.find("invalid UTF-8 in query parameter"), std::string::npos) << w.body;
    auto l = req("GET", kCms + "?" + q);
    EXPECT_EQ(l.code, 400) << q << " " << l.body;
    EXPECT_TRUE(l.j().is_object()) << l.body;
  }
  auto b = req("POST", kCms, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"},"
                              "\"data\":{\"k\":\"\xff\"}}");
  EXPECT_EQ(b.code, 400) << b.body;
  EXPECT_NE(b.body.find("invalid UTF-8 in the request body"), std::string::npos) << b.body;
  // An object name with invalid UTF-8 echoed in a 404 message still gives JSON.
  auto nf = req("GET", kCms + "/x%ff");
  EXPECT_EQ(nf.code, 404);
  EXPECT_TRUE(nf.j().is_object()) << nf.body;
  // The server is still alive.
  EXPECT_EQ(req("GET", "/readyz").code, 200);
  EXPECT_EQ(post(kCms, cm("alive")).code, 201);
}

json svc(const std::string& name, const std::string& type, json ports) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}}},
          {"spec", {{"type", type}, {"selector", {{"app", "web"}}}, {"ports", ports}}}};
}
const std::string kSvcs = "/api/v1/namespaces/default/services";

TEST_F(ApiFixTest, ServiceFromNodePortToClusterIPDropsAndReleasesNodePorts) {
  for (const char* type : {"NodePort", "LoadBalancer"}) {
    auto c = post(kSvcs, svc("s", type, {{{"port", 80}, {"protocol", "TCP"}, {"nodePort", 30050}}}));
    ASSERT_EQ(c.code, 201) << c.body;
    EXPECT_EQ(c.j()["spec"]["externalTrafficPolicy"], "Cluster");
    for (const char* ct : {"application/merge-patch+json", "application/strategic-merge-patch+json"}) {
      auto p = req("PATCH", kSvcs + "/s", R"({"spec":{"type":"ClusterIP"}})", ct);
      ASSERT_EQ(p.code, 200) << type << " " << ct << " " << p.body;
      EXPECT_EQ(p.j()["spec"]["type"], "ClusterIP");
      EXPECT_FALSE(p.j()["spec"]["ports"][0].contains("nodePort")) << p.body;
      EXPECT_FALSE(p.j()["spec"].contains("externalTrafficPolicy")) << p.body;
      // The port went back to the pool: another Service can take it.
      auto o = post(kSvcs, svc("other", "NodePort", {{{"port", 81}, {"nodePort", 30050}}}));
      EXPECT_EQ(o.code, 201) << o.body;
      ASSERT_EQ(req("DELETE", kSvcs + "/other").code, 200);
      auto back = req("PATCH", kSvcs + "/s", std::string(R"({"spec":{"type":")") + type + R"("}})",
                      "application/merge-patch+json");
      ASSERT_EQ(back.code, 200) << back.body;
      ASSERT_EQ(req("PATCH", kSvcs + "/s", R"({"spec":{"ports":[{"port":80,"protocol":"TCP","nodePort":30050}]}})",
                    "application/merge-patch+json").code, 200);
    }
    // A nodePort that changed in the same update is still an error.
    auto bad = req("PATCH", kSvcs + "/s",
                   R"({"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":30051}]}})",
                   "application/merge-patch+json");
    EXPECT_EQ(bad.code, 422) << bad.body;
    ASSERT_EQ(req("DELETE", kSvcs + "/s").code, 200);
  }
}

TEST_F(ApiFixTest, OneNodePortForTcpAndUdpOfTheSamePort) {
  auto c = post(kSvcs, svc("dns", "NodePort",
                           {{{"name", "t"}, {"port", 80}, {"protocol", "TCP"}, {"nodePort", 30081}},
                            {{"name", "u"}, {"port", 80}, {"protocol", "UDP"}, {"nodePort", 30081}}}));
  ASSERT_EQ(c.code, 201) << c.body;
  // Updates keep it; another Service cannot take it.
  auto u = req("PATCH", kSvcs + "/dns", R"({"metadata":{"labels":{"x":"y"}}})",
               "application/merge-patch+json");
  EXPECT_EQ(u.code, 200) << u.body;
  EXPECT_EQ(post(kSvcs, svc("x", "NodePort", {{{"port", 80}, {"nodePort", 30081}}})).code, 422);
  // Auto-allocation gives the pair one port.
  auto a = post(kSvcs, svc("auto", "NodePort",
                           {{{"name", "t"}, {"port", 53}, {"protocol", "TCP"}},
                            {{"name", "u"}, {"port", 53}, {"protocol", "UDP"}}}));
  ASSERT_EQ(a.code, 201) << a.body;
  EXPECT_EQ(a.j()["spec"]["ports"][0]["nodePort"], a.j()["spec"]["ports"][1]["nodePort"]);
  // The same nodePort for two different port numbers is still refused.
  auto bad = post(kSvcs, svc("bad", "NodePort",
                             {{{"name", "a"}, {"port", 80}, {"protocol", "TCP"}, {"nodePort", 30090}},
                              {{"name", "b"}, {"port", 81}, {"protocol", "UDP"}, {"nodePort", 30090}}}));
  EXPECT_EQ(bad.code, 422) << bad.body;
  // Deleting releases it once, for good.
  ASSERT_EQ(req("DELETE", kSvcs + "/dns").code, 200);
  EXPECT_EQ(post(kSvcs, svc("x", "NodePort", {{{"port", 80}, {"nodePort", 30081}}})).code, 201);
  EXPECT_EQ(post(kSvcs, svc("bad", "NodePort", {{{"port", 80}, {"nodePort", 30090}}})).code, 201);
}

TEST_F(ApiFixTest, NoObjectOutlivesItsNamespaceUnderConcurrentCreates) {
  // The namespace controller over HTTP (the fixture's client), as `minik8s
  // server` runs it. No grace before the first pass: the creates race the
  // controller's passes from the moment of the DELETE, the hardest case.
  controllers::NamespaceController nc(*client_, controllers::NamespaceOptions{0ms});
  ASSERT_TRUE(nc.start().is_ok());
  for (int trial = 0; trial < 5; ++trial) {
    std::string ns = "race" + std::to_string(trial);
    ASSERT_EQ(post("/api/v1/namespaces",
                   json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
                  .code,
              201);
    std::string coll = "/api/v1/namespaces/" + ns + "/configmaps";
    std::atomic<int> created{0};
    std::atomic<bool> gone{false};
    std::vector<std::thread> threads;
    // Creates keep coming until the namespace is gone, so some land while the
    // namespace controller makes its final pass.
    for (int th = 0; th < 24; ++th) {
      threads.emplace_back([&, th] {
        for (int i = 0; !gone && i < 2000; ++i) {
          if (post(coll, cm("c" + std::to_string(th) + "-" + std::to_string(i))).code == 201) ++created;
        }
      });
    }
    while (created < 20) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(req("DELETE", "/api/v1/namespaces/" + ns).code, 200);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int code = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      code = req("GET", "/api/v1/namespaces/" + ns).code;
      if (code == 404) break;
      std::this_thread::sleep_for(10ms);
    }
    gone = true;
    for (auto& th : threads) th.join();
    ASSERT_EQ(code, 404) << "trial " << trial;
    auto left = store().list("/registry/configmaps/" + ns + "/", "", 0, 0);
    ASSERT_TRUE(left.is_ok());
    EXPECT_TRUE(left->items.empty()) << "trial " << trial << ": " << left->items.size()
                                     << " ConfigMaps outlived namespace " << ns;
  }
  nc.stop();
}

TEST_F(ApiFixTest, SecondDeleteShortensGracePeriodAndFinishedPodsGoAtOnce) {
  json p = pod("g");
  p["spec"]["nodeName"] = "n1";
  ASSERT_EQ(post(kPods, p).code, 201);
  ASSERT_EQ(req("DELETE", kPods + "/g").code, 200);
  auto first = req("GET", kPods + "/g").j();
  ASSERT_EQ(first["metadata"]["deletionGracePeriodSeconds"], 30);
  std::string ts30 = first["metadata"]["deletionTimestamp"];
  auto d = req("DELETE", kPods + "/g", R"({"gracePeriodSeconds":5})");
  ASSERT_EQ(d.code, 200) << d.body;
  auto second = req("GET", kPods + "/g").j();
  EXPECT_EQ(second["metadata"]["deletionGracePeriodSeconds"], 5);
  EXPECT_LT(second["metadata"]["deletionTimestamp"].get<std::string>(), ts30);
  // Never lengthened.
  ASSERT_EQ(req("DELETE", kPods + "/g", R"({"gracePeriodSeconds":60})").code, 200);
  auto third = req("GET", kPods + "/g").j();
  EXPECT_EQ(third["metadata"]["deletionGracePeriodSeconds"], 5);
  EXPECT_EQ(third["metadata"]["deletionTimestamp"], second["metadata"]["deletionTimestamp"]);
  EXPECT_EQ(req("DELETE", kPods + "/g?gracePeriodSeconds=0").code, 200);
  EXPECT_EQ(req("GET", kPods + "/g").code, 404);

  for (const std::string phase : {"Succeeded", "Failed"}) {
    std::string name = phase == "Failed" ? "done-failed" : "done-ok";
    json q = pod(name);
    q["spec"]["nodeName"] = "n1";
    std::string path = kPods + "/" + name;
    ASSERT_EQ(post(kPods, q).code, 201);
    auto st = req("PATCH", path + "/status",
                  std::string(R"({"status":{"phase":")") + phase + R"("}})",
                  "application/merge-patch+json");
    ASSERT_EQ(st.code, 200) << st.body;
    ASSERT_EQ(req("DELETE", path).code, 200);
    EXPECT_EQ(req("GET", path).code, 404) << phase;
  }
}

TEST_F(ApiFixTest, DeleteOptionsAndDryRunAreValidated) {
  ASSERT_EQ(post(kCms, cm("keep")).code, 201);
  auto bad = req("DELETE", kCms + "/keep", R"({"propagationPolicy":"Sideways"})");
  EXPECT_EQ(bad.code, 422) << bad.body;
  EXPECT_EQ(bad.j()["reason"], "Invalid");
  EXPECT_EQ(req("DELETE", kCms + "/keep?propagationPolicy=Sideways").code, 422);
  EXPECT_EQ(req("DELETE", kCms + "?propagationPolicy=Sideways").code, 422);
  EXPECT_EQ(req("GET", kCms + "/keep").code, 200);
  auto dry = req("POST", kCms + "?dryRun=Bogus", cm("ghost").dump());
  EXPECT_EQ(dry.code, 400) << dry.body;
  EXPECT_EQ(req("GET", kCms + "/ghost").code, 404);
  EXPECT_EQ(req("DELETE", kCms + "/keep?dryRun=Bogus").code, 400);
  EXPECT_EQ(req("DELETE", kCms + "/keep", R"({"dryRun":["Bogus"]})").code, 400);
  EXPECT_EQ(req("GET", kCms + "/keep").code, 200);
  // Valid values still work; dryRun=All (query or body) deletes nothing.
  EXPECT_EQ(req("DELETE", kCms + "/keep?dryRun=All").code, 200);
  EXPECT_EQ(req("DELETE", kCms + "/keep", R"({"dryRun":["All"]})").code, 200);
  EXPECT_EQ(req("GET", kCms + "/keep").code, 200);
  EXPECT_EQ(req("DELETE", kCms + "/keep", R"({"propagationPolicy":"Orphan"})").code, 200);
}

TEST_F(ApiFixTest, NoNewFinalizersOnATerminatingObject) {
  json f = cm("held");
  f["metadata"]["finalizers"] = {"example.com/a"};
  ASSERT_EQ(post(kCms, f).code, 201);
  ASSERT_EQ(req("DELETE", kCms + "/held").code, 200);
  auto add = req("PATCH", kCms + "/held",
                 R"({"metadata":{"finalizers":["example.com/a","example.com/b"]}})",
                 "application/merge-patch+json");
  EXPECT_EQ(add.code, 422) << add.body;
  EXPECT_NE(add.body.find("metadata.finalizers: Forbidden: no new finalizers can be added if the "
                          "object is being deleted"),
            std::string::npos)
      << add.body;
  // Removing is fine, and the object goes.
  auto rm = req("PATCH", kCms + "/held", R"({"metadata":{"finalizers":[]}})",
                "application/merge-patch+json");
  EXPECT_EQ(rm.code, 200) << rm.body;
  EXPECT_EQ(req("GET", kCms + "/held").code, 404);
}

TEST_F(ApiFixTest, ResourceVersionAndIntegerParametersAreStrict) {
  auto c = post(kCms, cm("rv"));
  ASSERT_EQ(c.code, 201);
  json o = c.j();
  o["metadata"]["resourceVersion"] = "abc";
  auto p1 = req("PUT", kCms + "/rv", o.dump());
  EXPECT_EQ(p1.code, 400) << p1.body;
  o["metadata"]["resourceVersion"] = 5;
  auto p2 = req("PUT", kCms + "/rv", o.dump());
  EXPECT_EQ(p2.code, 400) << p2.body;
  o["metadata"]["resourceVersion"] = "1";
  EXPECT_EQ(req("PUT", kCms + "/rv", o.dump()).code, 409);
  for (const std::string q : {"/rv?resourceVersion=abc", "?resourceVersion=-1", "?resourceVersion=abc",
                              "?limit=abc", "?limit=5x", "?watch=1&timeoutSeconds=abc",
                              "?watch=1&resourceVersion=x1"}) {
    auto r = req("GET", kCms + q);
    EXPECT_EQ(r.code, 400) << q << " " << r.body;
    if (q.find("resourceVersion") != std::string::npos) {
      EXPECT_NE(r.body.find("Invalid value for resourceVersion"), std::string::npos) << r.body;
    }
  }
  EXPECT_EQ(req("GET", kCms + "/rv?resourceVersion=0").code, 200);
  EXPECT_EQ(req("GET", kCms + "?limit=1&resourceVersion=0").code, 200);
}

TEST_F(ApiFixTest, BadHttpFramingGetsAnAnswerBeforeClose) {
  auto garbage = raw("\x01\x02 nonsense\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
  auto negative = raw("POST " + kCms + " HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  EXPECT_EQ(negative.rfind("HTTP/1.1 400", 0), 0u) << negative;
  auto huge = raw("GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') +
                  "\r\n\r\n");
  EXPECT_EQ(huge.rfind("HTTP/1.1 431", 0), 0u) << huge.substr(0, 200);
  // A clean close without a request gets nothing, and the server lives on.
  EXPECT_EQ(raw(""), "");
  EXPECT_EQ(req("GET", "/readyz").code, 200);
}

TEST_F(ApiFixTest, Http10WatchIsNotChunked) {
  ASSERT_EQ(post(kCms, cm("w")).code, 201);
  auto out = raw("GET " + kCms + "?watch=1&timeoutSeconds=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.0 200", 0), 0u) << out;
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;
  auto body = out.substr(out.find("\r\n\r\n") + 4);
  // The body is bare JSON lines, no chunk sizes.
  ASSERT_FALSE(body.empty());
  EXPECT_EQ(body[0], '{') << body;
  auto ev = json::parse(body.substr(0, body.find('\n')), nullptr, false);
  EXPECT_EQ(ev["type"], "ADDED") << body;
}

TEST_F(ApiFixTest, MetricsResourceLabelIsNeverAnObjectName) {
  ASSERT_EQ(post(kCms, cm("secretname1")).code, 201);
  EXPECT_EQ(req("GET", kCms + "/secretname1").code, 200);
  EXPECT_EQ(req("GET", kCms + "/secretname1/secretsub2").code, 404);
  EXPECT_EQ(req("GET", kPods + "/p/status").code, 404);
  auto m = req("GET", "/metrics").body;
  EXPECT_EQ(m.find("secretname1"), std::string::npos) << m;
  EXPECT_EQ(m.find("secretsub2"), std::string::npos) << m;
  EXPECT_NE(m.find("resource=\"configmaps\",code=\"200\""), std::string::npos) << m;
  EXPECT_NE(m.find("resource=\"pods/status\""), std::string::npos) << m;
}

TEST_F(ApiFixTest, NamespacesHaveNoDeleteCollection) {
  auto d = req("GET", "/api/v1").j();
  bool found = false;
  for (const auto& r : d["resources"]) {
    if (r["name"] == "namespaces") {
      found = true;
      for (const auto& v : r["verbs"]) EXPECT_NE(v, "deletecollection");
    }
    if (r["name"] == "configmaps") {
      EXPECT_NE(std::find(r["verbs"].begin(), r["verbs"].end(), "deletecollection"),
                r["verbs"].end());
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(req("DELETE", "/api/v1/namespaces").code, 405);
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default").code, 200);
}

TEST_F(ApiFixTest, BookmarksAlsoOnABusyWatch) {
  ASSERT_EQ(post(kCms, cm("busy")).code, 201);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      req("PATCH", kCms + "/busy", json{{"data", {{"i", std::to_string(i)}}}}.dump(),
          "application/merge-patch+json");
      std::this_thread::sleep_for(100ms);
    }
  });
  auto events = watch(kCms + "?watch=1&allowWatchBookmarks=true", 100000, 11500ms);
  stop = true;
  writer.join();
  int64_t last_rv = 0;
  int bookmarks = 0;
  for (const auto& e : events) {
    int64_t rv = std::stoll(e["object"]["metadata"]["resourceVersion"].get<std::string>());
    EXPECT_GE(rv, last_rv) << "a bookmark ran ahead of an event";
    last_rv = rv;
    if (e["type"] == "BOOKMARK") ++bookmarks;
  }
  EXPECT_GT(events.size(), 50u);
  EXPECT_GE(bookmarks, 1);
}

}  // namespace
}  // namespace minik8s::apiserver
