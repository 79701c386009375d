// mkctl top: kubectl's table layout and numbers, and run_top against a fake
// API server on 127.0.0.1:0 (canned discovery and metrics answers).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "top_format.h"
#include "workload_cmds.h"

namespace minik8s::cli {
namespace {

client::HttpRestClientOptions server_at(const std::string& url) {
  client::HttpRestClientOptions o;
  o.server = url;
  return o;
}

using api::Json;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

// Answers GET target (path + query) from a map; 404 Status otherwise.
class FakeApi {
 public:
  FakeApi() : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeApi() {
    stopping_ = true;
    beast::error_code ec;
    asio::io_context ioc;
    asio::ip::tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set(const std::string& target, const Json& body, int code = 200) {
    std::lock_guard lock(mu_);
    answers_[target] = {code, body.dump()};
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void serve() {
    while (!stopping_) {
      beast::error_code ec;
      asio::ip::tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec || stopping_) continue;
      beast::flat_buffer buf;
      while (true) {  // keep-alive
        http::request<http::string_body> req;
        http::read(s, buf, req, ec);
        if (ec) break;
        http::response<http::string_body> res;
        res.version(11);
        {
          std::lock_guard lock(mu_);
          std::string target(req.target());
          seen_.push_back(target);
          auto it = answers_.find(target);
          if (it == answers_.end()) {
            res.result(404);
            res.body() = R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server could not )"
                         R"(find the requested resource","reason":"NotFound","code":404})";
          } else {
            res.result(it->second.first);
            res.body() = it->second.second;
          }
        }
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec || !req.keep_alive()) break;
      }
    }
  }

  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::map<std::string, std::pair<int, std::string>> answers_;  // guarded by mu_
  std::vector<std::string> seen_;                               // guarded by mu_
};

Json node_metrics(const std::string& name, const std::string& cpu, const std::string& mem) {
  return {{"metadata", {{"name", name}}}, {"usage", {{"cpu", cpu}, {"memory", mem}}}};
}
Json node(const std::string& name, const std::string& cpu, const std::string& mem) {
  return {{"metadata", {{"name", name}}}, {"status", {{"allocatable", {{"cpu", cpu}, {"memory", mem}}}}}};
}
Json pod_metrics(const std::string& ns, const std::string& name, Json containers) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}}, {"containers", std::move(containers)}};
}
Json cont(const std::string& name, const std::string& cpu, const std::string& mem) {
  return {{"name", name}, {"usage", {{"cpu", cpu}, {"memory", mem}}}};
}
const Json kGroups = {{"kind", "APIGroupList"},
                      {"groups",
                       {{{"name", "apps"}, {"versions", {{{"groupVersion", "apps/v1"}, {"version", "v1"}}}}},
                        {{"name", "metrics.k8s.io"},
                         {"versions", {{{"groupVersion", "metrics.k8s.io/v1beta1"}, {"version", "v1beta1"}}}}}}}};

TEST(TopFormat, Quantities) {
  EXPECT_EQ(cpu_millis("250m"), 250);
  EXPECT_EQ(cpu_millis("1"), 1000);
  EXPECT_EQ(cpu_millis("2.5"), 2500);
  EXPECT_EQ(cpu_millis("500000000n"), 500);
  EXPECT_EQ(cpu_millis("500000001n"), 501);  // rounded up, as Quantity.MilliValue
  EXPECT_EQ(cpu_millis("0"), 0);
  EXPECT_EQ(cpu_millis("bogus"), 0);
  EXPECT_EQ(memory_bytes("12345Ki"), 12345 * 1024);
  EXPECT_EQ(memory_bytes("1Gi"), 1073741824);
  EXPECT_EQ(memory_bytes("1000"), 1000);
  EXPECT_EQ(memory_bytes("1M"), 1000000);
  EXPECT_EQ(memory_bytes("x1"), 0);
}

TEST(TopFormat, NodesLikeKubectl) {
  Json metrics = {{"items",
                   {node_metrics("node-1", "250000000n", "1048576Ki"), node_metrics("node-10", "1500m", "2Gi")}}};
  Json nodes = {{"items", {node("node-1", "2", "4Gi"), node("node-10", "4", "8Gi"), node("node-3", "1", "1Gi")}}};
  TopOptions o;
  o.what = "nodes";
  EXPECT_EQ(format_top_nodes(metrics, nodes, o),
            "NAME      CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   \n"
            "node-1    250m         12%         1024Mi          25%         \n"
            "node-10   1500m        37%         2048Mi          25%         \n"
            "node-3    <unknown>    <unknown>   <unknown>       <unknown>   \n");
  o.sort_by = "cpu";
  o.no_headers = true;
  std::string sorted = format_top_nodes(metrics, nodes, o);
  EXPECT_EQ(sorted.rfind("node-10 ", 0), 0u) << sorted;
  EXPECT_EQ(sorted.find("NAME"), std::string::npos);
}

TEST(TopFormat, PodsLikeKubectl) {
  Json metrics = {{"items",
                   {pod_metrics("default", "burn", {cont("c", "499999000n", "1024Ki")}),
                    pod_metrics("kube-system", "two", {cont("a", "1m", "10Mi"), cont("b", "2m", "20Mi")})}}};
  TopOptions o;
  o.what = "pods";
  EXPECT_EQ(format_top_pods(metrics, o),
            "NAME      CPU(cores)   MEMORY(bytes)   \n"
            "burn      500m         1Mi             \n"
            "two       3m           30Mi            \n");
  o.all_namespaces = true;
  o.sort_by = "memory";
  EXPECT_EQ(format_top_pods(metrics, o),
            "NAMESPACE     NAME      CPU(cores)   MEMORY(bytes)   \n"
            "kube-system   two       3m           30Mi            \n"
            "default       burn      500m         1Mi             \n");
  o.all_namespaces = false;
  o.sort_by.clear();
  o.containers = true;
  EXPECT_EQ(format_top_pods(metrics, o),
            "POD       NAME      CPU(cores)   MEMORY(bytes)   \n"
            "burn      c         500m         1Mi             \n"
            "two       a         1m           10Mi            \n"
            "two       b         2m           20Mi            \n");
}

TEST(TopRun, MetricsApiNotAvailable) {
  FakeApi api;
  api.set("/apis", {{"kind", "APIGroupList"}, {"groups", Json::array()}});
  TopOptions o;
  o.what = "nodes";
  std::ostringstream out, err;
  EXPECT_EQ(run_top(server_at(api.url()), "default", o, out, err), 1);
  EXPECT_EQ(err.str(), "error: Metrics API not available\n");
  EXPECT_EQ(out.str(), "");
}

TEST(TopRun, NodesAndPods) {
  FakeApi api;
  api.set("/apis", kGroups);
  api.set("/apis/metrics.k8s.io/v1beta1/nodes", {{"items", {node_metrics("n1", "100m", "512Mi")}}});
  api.set("/api/v1/nodes", {{"items", {node("n1", "1", "1Gi")}}});
  api.set("/apis/metrics.k8s.io/v1beta1/namespaces/web/pods?labelSelector=app%3Dx",
          {{"items", {pod_metrics("web", "x-1", {cont("c", "20m", "4Mi")})}}});
  TopOptions o;
  o.what = "nodes";
  std::ostringstream out, err;
  ASSERT_EQ(run_top(server_at(api.url()), "default", o, out, err), 0) << err.str();
  EXPECT_EQ(out.str(),
            "NAME      CPU(cores)   CPU(%)    MEMORY(bytes)   MEMORY(%)   \n"
            "n1        100m         10%       512Mi           50%         \n");

  TopOptions p;
  p.what = "pods";
  p.selector = "app=x";
  std::ostringstream pout, perr;
  ASSERT_EQ(run_top(server_at(api.url()), "web", p, pout, perr), 0) << perr.str();
  EXPECT_EQ(pout.str(),
            "NAME      CPU(cores)   MEMORY(bytes)   \n"
            "x-1       20m          4Mi             \n");
}

TEST(TopRun, EmptyAndMissing) {
  FakeApi api;
  api.set("/apis", kGroups);
  api.set("/apis/metrics.k8s.io/v1beta1/nodes", {{"items", Json::array()}});
  api.set("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", {{"items", Json::array()}});
  api.set("/api/v1/namespaces/default/pods", {{"items", {{{"metadata", {{"name", "new"}}}}}}});
  api.set("/apis/metrics.k8s.io/v1beta1/namespaces/empty/pods", {{"items", Json::array()}});
  api.set("/api/v1/namespaces/empty/pods", {{"items", Json::array()}});
  api.set("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/gone",
          {{"kind", "Status"},
           {"status", "Failure"},
           {"reason", "NotFound"},
           {"code", 404},
           {"message", "podmetrics.metrics.k8s.io \"gone\" not found"}},
          404);
  auto run = [&](const std::string& what, const std::string& ns, const std::string& name, std::string* err_text) {
    TopOptions o;
    o.what = what;
    o.name = name;
    std::ostringstream out, err;
    int rc = run_top(server_at(api.url()), ns, o, out, err);
    *err_text = err.str();
    return rc;
  };
  std::string err;
  EXPECT_EQ(run("nodes", "default", "", &err), 1);
  EXPECT_EQ(err, "error: metrics not available yet\n");
  EXPECT_EQ(run("pods", "default", "", &err), 1);
  EXPECT_EQ(err, "error: metrics not available yet\n");
  EXPECT_EQ(run("pods", "empty", "", &err), 0);
  EXPECT_EQ(err, "No resources found in empty namespace.\n");
  EXPECT_EQ(run("pods", "default", "gone", &err), 1);
  EXPECT_EQ(err, "Error from server (NotFound): podmetrics.metrics.k8s.io \"gone\" not found\n");
}

}  // namespace
}  // namespace minik8s::cli
