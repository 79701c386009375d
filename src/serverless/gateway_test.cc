// The gateway in-process against fake runtime instances: tiny HTTP servers on
// 127.0.0.1 (a ConnectionServer with Beast) answering /invoke the way
// runtimes/python/server.py does, registered in the InstanceTable.
#include "minik8s/serverless/gateway.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "../util/http_read.h"

namespace minik8s::serverless {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kKey = "default/hello";

template <typename F>
bool eventually(F cond, std::chrono::milliseconds limit = 10s) {
  auto deadline = SteadyClock::now() + limit;
  while (SteadyClock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

std::string query_param(const std::string& target, const std::string& name) {
  auto q = target.find('?');
  if (q == std::string::npos) return "";
  std::string qs = target.substr(q + 1);
  size_t pos = 0;
  while (pos <= qs.size()) {
    auto amp = qs.find('&', pos);
    std::string kv = qs.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name) return eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

// A runtime instance: POST /invoke?mode=echo|slow&ms=N|fail|close.
class FakeInstance {
 public:
  explicit FakeInstance(std::string pod)
      : pod_(std::move(pod)),
        server_(ConnectionServer::Options{"fake-" + pod_, ConnLimits{}, {}, nullptr},
                [this](Connection& c) { serve(c); }) {
    EXPECT_TRUE(server_.listen("127.0.0.1", 0).is_ok());
    server_.start();
  }
  ~FakeInstance() { server_.stop(); }
  InstanceRef ref(const std::string& revision = "1") const {
    return InstanceRef{pod_, "node-1", "127.0.0.1", server_.port(), revision};
  }
  const std::string& pod() const { return pod_; }

  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> served{0};
  std::atomic<int> connections{0};
  std::atomic<bool> saw_request_id{true};

 private:
  void serve(Connection& c) {
    ++connections;
    net::io_context ioc;
    tcp::socket s(ioc);
    beast::error_code ec;
    http_read::adopt(s, c.fd(), ec);
    if (ec) return;
    http_read::Release release(s);
    beast::flat_buffer buf;
    for (bool first = true; !server_.stopping(); first = false) {
      http::request_parser<http::string_body> p;
      p.body_limit(64 * 1024 * 1024);
      http_read::read_request(s, buf, p, server_.limits(), first, c.accepted_at(), ec);
      if (ec) break;
      auto& req = p.get();
      std::string target(req.target());
      std::string mode = query_param(target, "mode");
      int now = ++in_flight;
      for (int m = max_in_flight; now > m && !max_in_flight.compare_exchange_weak(m, now);) {
      }
      if (req[http::field::content_type] != "application/json" || req["X-Request-Id"].empty() ||
          req["X-Deadline-Ms"].empty() || !target.starts_with("/invoke")) {
        saw_request_id = false;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      if (mode == "close" || (mode == "dropreused" && !first)) {
        --in_flight;
        break;  // no answer
      }
      if (mode == "slow") {
        // Simulated work; returns early when the gateway hangs up.
        int ms = std::atoi(query_param(target, "ms").c_str());
        pollfd pfd{s.native_handle(), POLLRDHUP, 0};
        ::poll(&pfd, 1, ms);
        if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) {
          --in_flight;
          break;
        }
      }
      if (mode == "fail") {
        res.result(http::status::internal_server_error);
        res.body() = R"({"error":"ValueError","message":"boom","traceback":"..."})";
      } else if (mode == "text") {
        res.set(http::field::content_type, "text/plain");
        res.body() = "hello " + pod_;
      } else {
        res.body() = json{{"pod", pod_},
                          {"body", req.body()},
                          {"target", target},
                          {"request_id", std::string(req["X-Request-Id"])},
                          {"deadline_ms", std::string(req["X-Deadline-Ms"])}}
                         .dump();
      }
      --in_flight;
      ++served;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(s, res, ec);
      if (ec || !req.keep_alive() || mode == "closeafter") break;
    }
    s.shutdown(tcp::socket::shutdown_both, ec);
  }

  std::string pod_;
  ConnectionServer server_;
};

struct Response {
  int code = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string error;  // transport failure
};

// One request on a fresh connection, everything within 20 s.
Response call(uint16_t port, http::verb method, const std::string& target,
              const std::string& body = "", std::map<std::string, std::string> headers = {}) {
  Response out;
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "gateway");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(false);
  http::write(s, req, ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  http_read::DeadlineReader r(s);
  r.expires_at(SteadyClock::now() + 20s);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 * 1024 * 1024);
  http::read(r, buf, p, ec);
  if (ec) {
    out.error = ec.message();
    return out;
  }
  out.code = static_cast<int>(p.get().result_int());
  for (const auto& f : p.get()) out.headers[std::string(f.name_string())] = std::string(f.value());
  out.body = p.get().body();
  return out;
}

Response invoke(uint16_t port, const std::string& query = "", const std::string& body = "{}") {
  return call(port, http::verb::post, "/functions/default/hello" + query, body);
}

size_t open_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  while (::readdir(d)) ++n;
  ::closedir(d);
  return n;
}

FunctionConfig fn(const std::string& rev = "1", int target = 1,
                  std::chrono::milliseconds timeout = 30s) {
  FunctionConfig f;
  f.ns = "default";
  f.name = "hello";
  f.revision = rev;
  f.target_concurrency = target;
  f.timeout = timeout;
  return f;
}

// A table, a gateway on 127.0.0.1:0 and the functions that "exist".
struct Env {
  explicit Env(GatewayOptions opts = {})
      : table([this](const std::string& key) {
          std::lock_guard l(mu);
          ++demands[key];
        }) {
    opts.listen = "127.0.0.1:0";
    gateway = std::make_unique<Gateway>(table, opts, [this](const std::string& key) {
      std::lock_guard l(mu);
      return existing.count(key) > 0;
    });
    EXPECT_TRUE(gateway->start().is_ok());
    std::lock_guard l(mu);
    existing.insert(kKey);
  }
  ~Env() { gateway->stop(); }
  int demand(const std::string& key) {
    std::lock_guard l(mu);
    return demands[key];
  }
  uint16_t port() const { return gateway->port(); }

  std::mutex mu;
  std::set<std::string> existing;      // guarded by mu
  std::map<std::string, int> demands;  // guarded by mu
  InstanceTable table;
  std::unique_ptr<Gateway> gateway;
};

TEST(GatewayTest, InvokeAnswersWithInstanceHeaderAndForwardsQueryAndHeaders) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  Response r = call(env.port(), http::verb::post, "/functions/default/hello?x=1&y=two",
                    R"({"n": 3})", {{"X-Request-Id", "req-42"}});
  ASSERT_EQ(r.code, 200) << r.error << r.body;
  EXPECT_EQ(r.headers["X-Instance"], "hello-a");
  EXPECT_EQ(r.headers["Content-Type"], "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["pod"], "hello-a");
  EXPECT_EQ(j["body"], R"({"n": 3})");
  EXPECT_EQ(j["target"], "/invoke?x=1&y=two");
  EXPECT_EQ(j["request_id"], "req-42");
  EXPECT_GT(std::stoi(j["deadline_ms"].get<std::string>()), 29000);
  EXPECT_TRUE(a.saw_request_id);

  // GET works too, with a generated request id; a text answer is relayed as is.
  Response g = call(env.port(), http::verb::get, "/functions/default/hello?mode=text");
  ASSERT_EQ(g.code, 200) << g.body;
  EXPECT_EQ(g.headers["Content-Type"], "text/plain");
  EXPECT_EQ(g.body, "hello hello-a");
  EXPECT_EQ(g.headers["X-Request-Id"].size(), 32u);

  // The handler raising is relayed as the runtime's 500.
  Response f = invoke(env.port(), "?mode=fail");
  EXPECT_EQ(f.code, 500);
  EXPECT_EQ(json::parse(f.body)["error"], "ValueError");
  EXPECT_EQ(env.table.load(kKey).ready, 1);  // not the instance's fault

  // Kept alive: three requests, one upstream connection.
  EXPECT_EQ(a.connections, 1);
  EXPECT_EQ(env.table.load(kKey).in_flight, 0);
  EXPECT_EQ(env.demand(kKey), 0);
}

TEST(GatewayTest, HoldsRequestUntilAnInstanceIsAdded) {
  Env env;
  env.table.set_function(fn());
  auto fut =
      std::async(std::launch::async, [&] { return invoke(env.port(), "", R"({"cold": true})"); });
  ASSERT_TRUE(eventually([&] { return env.table.load(kKey).queued == 1; }));
  ASSERT_TRUE(eventually([&] { return env.demand(kKey) == 1; }));
  EXPECT_EQ(fut.wait_for(0s), std::future_status::timeout);
  FakeInstance a("hello-a");
  env.table.add_instance(kKey, a.ref());
  Response r = fut.get();
  ASSERT_EQ(r.code, 200) << r.error << r.body;
  EXPECT_EQ(r.headers["X-Instance"], "hello-a");
  EXPECT_EQ(env.demand(kKey), 1);
  EXPECT_NE(env.gateway->metrics_text().find(
                R"(minik8s_function_cold_starts_total{namespace="default",function="hello"} 1)"),
            std::string::npos)
      << env.gateway->metrics_text();
}

TEST(GatewayTest, QueueTimeoutIs503) {
  GatewayOptions opts;
  opts.queue_timeout = 200ms;
  Env env(opts);
  env.table.set_function(fn());
  auto start = SteadyClock::now();
  Response r = invoke(env.port());
  EXPECT_GE(SteadyClock::now() - start, 200ms);
  ASSERT_EQ(r.code, 503) << r.error;
  EXPECT_NE(r.body.find("no instance of default/hello became ready within 200ms"),
            std::string::npos)
      << r.body;
  EXPECT_EQ(env.table.load(kKey).queued, 0);
}

TEST(GatewayTest, FunctionExistingButNotYetInTableIsWaitedFor) {
  GatewayOptions opts;
  opts.queue_timeout = 10s;
  Env env(opts);
  auto fut = std::async(std::launch::async, [&] { return invoke(env.port()); });
  EXPECT_EQ(fut.wait_for(50ms), std::future_status::timeout);
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  Response r = fut.get();
  ASSERT_EQ(r.code, 200) << r.error << r.body;
}

TEST(GatewayTest, BalancesByFewestInFlightWithTargetOne) {
  Env env;
  FakeInstance a("hello-a"), b("hello-b");
  env.table.set_function(fn("1", 1));
  env.table.add_instance(kKey, a.ref());
  env.table.add_instance(kKey, b.ref());
  constexpr int kRequests = 6;
  std::vector<std::future<Response>> futs;
  for (int i = 0; i < kRequests; ++i) {
    futs.push_back(
        std::async(std::launch::async, [&] { return invoke(env.port(), "?mode=slow&ms=150"); }));
  }
  std::map<std::string, int> per_pod;
  for (auto& f : futs) {
    Response r = f.get();
    ASSERT_EQ(r.code, 200) << r.error << r.body;
    ++per_pod[r.headers["X-Instance"]];
  }
  EXPECT_EQ(a.max_in_flight, 1);  // never two at once on one instance
  EXPECT_EQ(b.max_in_flight, 1);
  EXPECT_GE(per_pod["hello-a"], 1);
  EXPECT_GE(per_pod["hello-b"], 1);
  EXPECT_EQ(per_pod["hello-a"] + per_pod["hello-b"], kRequests);
  EXPECT_EQ(a.served + b.served, kRequests);
}

TEST(GatewayTest, FunctionTimeoutIs504AndInstanceStays) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn("1", 1, 200ms));
  env.table.add_instance(kKey, a.ref());
  auto start = SteadyClock::now();
  Response r = invoke(env.port(), "?mode=slow&ms=10000");
  EXPECT_LT(SteadyClock::now() - start, 5s);
  ASSERT_EQ(r.code, 504) << r.error << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["error"], "Timeout");
  EXPECT_NE(j["message"].get<std::string>().find("200ms"), std::string::npos);
  EXPECT_EQ(env.table.load(kKey).ready, 1);
  EXPECT_EQ(env.table.load(kKey).in_flight, 0);
  EXPECT_TRUE(env.table.take_failed().empty());
  // The instance serves the next request (on a new connection: the timed-out one was dropped).
  Response ok = invoke(env.port());
  EXPECT_EQ(ok.code, 200) << ok.body;
  EXPECT_EQ(a.connections, 2);
}

TEST(GatewayTest, InstanceClosingIs502AndMarkedFailed) {
  Env env;
  FakeInstance a("hello-a"), b("hello-b");
  env.table.set_function(fn("1", 1));
  env.table.add_instance(kKey, a.ref());
  Response r = invoke(env.port(), "?mode=close");
  ASSERT_EQ(r.code, 502) << r.error << r.body;
  EXPECT_NE(r.body.find("hello-a"), std::string::npos) << r.body;
  auto failed = env.table.take_failed();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].second, "hello-a");
  EXPECT_EQ(env.table.load(kKey).ready, 0);
  // New requests go elsewhere.
  env.table.add_instance(kKey, b.ref());
  Response ok = invoke(env.port());
  ASSERT_EQ(ok.code, 200) << ok.body;
  EXPECT_EQ(ok.headers["X-Instance"], "hello-b");
}

TEST(GatewayTest, ConnectionRefusedIs502) {
  Env env;
  InstanceRef dead;
  {
    FakeInstance gone("hello-gone");
    dead = gone.ref();
  }
  env.table.set_function(fn());
  env.table.add_instance(kKey, dead);
  Response r = invoke(env.port());
  ASSERT_EQ(r.code, 502) << r.error << r.body;
  EXPECT_NE(r.body.find("hello-gone"), std::string::npos);
  EXPECT_EQ(env.table.take_failed().size(), 1u);
}

// The instance closes a kept-alive connection after answering (an idle
// timeout on its side): the next request still succeeds (the pooled
// connection is found dead, or fails before any byte and is retried once),
// and the instance is not blamed.
TEST(GatewayTest, InstanceClosingIdleConnectionIsNotAFailure) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  for (int i = 0; i < 5; ++i) {
    Response r = invoke(env.port(), "?mode=closeafter");
    ASSERT_EQ(r.code, 200) << r.error << r.body;
  }
  EXPECT_EQ(a.connections, 5);
  EXPECT_TRUE(env.table.take_failed().empty());
  EXPECT_EQ(env.table.load(kKey).ready, 1);
}

// A kept-alive connection that the instance drops on its next request
// without a byte of answer (it closed it while idle, as the request went out):
// the gateway retries once on a fresh connection and does not blame it.
TEST(GatewayTest, StalePooledConnectionIsRetriedOnce) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  ASSERT_EQ(invoke(env.port()).code, 200);
  EXPECT_EQ(a.connections, 1);
  Response r = invoke(env.port(), "?mode=dropreused");
  ASSERT_EQ(r.code, 200) << r.error << r.body;
  EXPECT_EQ(a.connections, 2);
  EXPECT_EQ(a.served, 2);
  EXPECT_TRUE(env.table.take_failed().empty());
  EXPECT_EQ(env.table.load(kKey).ready, 1);
}

TEST(GatewayTest, UnknownFunctionIs404Status) {
  Env env;
  Response r = call(env.port(), http::verb::post, "/functions/default/nope", "{}");
  ASSERT_EQ(r.code, 404);
  json j = json::parse(r.body);
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["reason"], "NotFound");
  EXPECT_EQ(j["code"], 404);
  EXPECT_EQ(j["message"], "function \"default/nope\" not found");
  EXPECT_EQ(call(env.port(), http::verb::get, "/nothing/here").code, 404);
  EXPECT_EQ(call(env.port(), http::verb::delete_, "/functions/default/hello").code, 405);
}

TEST(GatewayTest, BadJsonIs400) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  Response r = invoke(env.port(), "", "{not json");
  ASSERT_EQ(r.code, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"], "BadRequest");
  EXPECT_EQ(a.served, 0);
  // Empty and scalar bodies are JSON enough.
  EXPECT_EQ(invoke(env.port(), "", "").code, 200);
  EXPECT_EQ(invoke(env.port(), "", "42").code, 200);
}

TEST(GatewayTest, BodyOverTheLimitIs413WithoutReadingIt) {
  GatewayOptions opts;
  opts.max_body_bytes = 1024;
  Env env(opts);
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  std::string big = "\"" + std::string(4096, 'x') + "\"";
  Response r = invoke(env.port(), "", big);
  ASSERT_EQ(r.code, 413) << r.error << r.body;
  EXPECT_EQ(a.served, 0);

  // A client announcing 100 MB gets its answer without sending any of it.
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), env.port()), ec);
  ASSERT_FALSE(ec);
  std::string head =
      "POST /functions/default/hello HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
      "Content-Length: 100000000\r\n\r\n";
  net::write(s, net::buffer(head), ec);
  ASSERT_FALSE(ec);
  http_read::DeadlineReader rd(s);
  rd.expires_at(SteadyClock::now() + 10s);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  http::read(rd, buf, p, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.get().result_int(), 413u);
  EXPECT_NE(p.get().body().find("1024"), std::string::npos);
}

TEST(GatewayTest, RevisionSwitchDrainsOldInstance) {
  Env env;
  FakeInstance old_inst("hello-old"), new_inst("hello-new");
  env.table.set_function(fn("1", 1));
  env.table.add_instance(kKey, old_inst.ref("1"));
  auto slow =
      std::async(std::launch::async, [&] { return invoke(env.port(), "?mode=slow&ms=300"); });
  ASSERT_TRUE(eventually([&] { return old_inst.in_flight == 1; }));
  env.table.set_function(fn("2", 1));
  env.table.add_instance(kKey, new_inst.ref("2"));
  Response r = invoke(env.port());
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.headers["X-Instance"], "hello-new");
  Response s = slow.get();
  ASSERT_EQ(s.code, 200) << s.body;
  EXPECT_EQ(s.headers["X-Instance"], "hello-old");
  // Idle and old: it gets nothing more.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(invoke(env.port()).headers["X-Instance"], "hello-new");
  EXPECT_EQ(old_inst.served, 1);
}

TEST(GatewayTest, MetricsAndHealthz) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn());
  env.table.add_instance(kKey, a.ref());
  ASSERT_EQ(invoke(env.port()).code, 200);
  ASSERT_EQ(invoke(env.port()).code, 200);
  ASSERT_EQ(invoke(env.port(), "?mode=fail").code, 500);
  ASSERT_EQ(invoke(env.port(), "", "{bad").code, 400);
  Response h = call(env.port(), http::verb::get, "/healthz");
  EXPECT_EQ(h.code, 200);
  Response m = call(env.port(), http::verb::get, "/metrics");
  ASSERT_EQ(m.code, 200);
  EXPECT_NE(m.headers["Content-Type"].find("text/plain"), std::string::npos);
  const std::string& t = m.body;
  for (
      const char* want : {
          R"(minik8s_function_requests_total{namespace="default",function="hello",code="200"} 2)",
          R"(minik8s_function_requests_total{namespace="default",function="hello",code="500"} 1)",
          R"(minik8s_function_requests_total{namespace="default",function="hello",code="400"} 1)",
          R"(minik8s_function_request_duration_seconds_count{namespace="default",function="hello"} 4)",
          R"(minik8s_function_request_duration_seconds_bucket{namespace="default",function="hello",le="+Inf"} 4)",
          R"(minik8s_function_queue_depth{namespace="default",function="hello"} 0)",
          R"(minik8s_function_in_flight{namespace="default",function="hello"} 0)",
          "# TYPE minik8s_function_request_duration_seconds histogram",
          "# TYPE minik8s_function_cold_starts_total counter",
      }) {
    EXPECT_NE(t.find(want), std::string::npos) << want << "\n" << t;
  }
  EXPECT_EQ(t.find("cold_starts_total{"), std::string::npos);  // none was cold
  EXPECT_EQ(t, env.gateway->metrics_text());
  // Unknown functions leave no series behind.
  ASSERT_EQ(call(env.port(), http::verb::post, "/functions/x/y").code, 404);
  EXPECT_EQ(env.gateway->metrics_text().find("function=\"y\""), std::string::npos);
}

TEST(GatewayTest, StopWakesHeldRequests) {
  Env env;
  env.table.set_function(fn());
  auto fut = std::async(std::launch::async, [&] { return invoke(env.port()); });
  ASSERT_TRUE(eventually([&] { return env.table.load(kKey).queued == 1; }));
  auto start = SteadyClock::now();
  env.gateway->stop();
  EXPECT_LT(SteadyClock::now() - start, 5s);
  Response r = fut.get();
  EXPECT_TRUE(r.code == 503 || !r.error.empty()) << r.code;
}

// p50 of n sequential requests over one kept-alive client connection.
double p50_ms(uint16_t port, const std::string& target, int n) {
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return 1e9;
  s.set_option(tcp::no_delay(true));
  std::vector<double> ms;
  beast::flat_buffer buf;
  for (int i = 0; i < n; ++i) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, "x");
    req.set(http::field::content_type, "application/json");
    req.body() = R"({"i": )" + std::to_string(i) + "}";
    req.prepare_payload();
    auto t0 = SteadyClock::now();
    http::write(s, req, ec);
    http_read::DeadlineReader r(s);
    r.expires_at(SteadyClock::now() + 10s);
    http::response<http::string_body> res;
    if (!ec) http::read(r, buf, res, ec);
    if (ec || res.result_int() != 200) return 1e9;
    ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// The gateway adds little to a call (the target is <= 1 ms p50; the bound
// here is loose for loaded CI machines, but Nagle or a per-request
// connection would blow it: 40 ms delayed ACKs).
TEST(GatewayTest, AddedLatencyIsSmall) {
  Env env;
  FakeInstance a("hello-a");
  env.table.set_function(fn("1", 8));
  env.table.add_instance(kKey, a.ref());
  constexpr int kN = 300;
  p50_ms(env.port(), "/functions/default/hello", 20);  // warm up
  double direct = p50_ms(a.ref().port, "/invoke", kN);
  double via = p50_ms(env.port(), "/functions/default/hello", kN);
  std::printf("p50 direct %.3f ms, via gateway %.3f ms, added %.3f ms\n", direct, via,
              via - direct);
  EXPECT_LT(via - direct, 5.0);
  EXPECT_EQ(a.connections, 2);  // the direct client's and the gateway's one pooled connection
}

// 200 clients at once with random bodies, some not JSON, some over the
// limit: every one is answered as it should be, and nothing leaks.
TEST(GatewayTest, ParallelClientsRandomBodiesNoLeak) {
  size_t fds_before = open_fds();
  {
    GatewayOptions opts;
    opts.max_body_bytes = 64 * 1024;
    opts.queue_timeout = 20s;
    Env env(opts);
    FakeInstance a("hello-a"), b("hello-b"), c("hello-c");
    env.table.set_function(fn("1", 4));
    env.table.add_instance(kKey, a.ref());
    env.table.add_instance(kKey, b.ref());
    env.table.add_instance(kKey, c.ref());
    constexpr int kClients = 200;
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0}, ok{0}, bad{0}, big{0};
    std::mutex mu;
    std::vector<std::string> errors;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        std::mt19937 rng(static_cast<unsigned>(i));
        int kind = i % 5;
        std::string body;
        int want = 200;
        if (kind == 0) {
          body = "{\"unterminated\": " + std::to_string(rng());
          want = 400;
        } else if (kind == 1) {
          body = std::string(1 + rng() % 64, static_cast<char>('a' + rng() % 26));  // bare word
          want = 400;
        } else if (kind == 2) {
          body = "\"" + std::string(70 * 1024, 'z') + "\"";
          want = 413;
        } else {
          json j;
          j["i"] = i;
          j["pad"] = std::string(rng() % 2048, 'p');
          body = j.dump();
        }
        Response r = invoke(env.port(), "", body);
        if (r.code == 200) ++ok;
        if (r.code == 400) ++bad;
        if (r.code == 413) ++big;
        if (r.code != want) {
          ++wrong;
          std::lock_guard l(mu);
          errors.push_back(std::to_string(i) + ": want " + std::to_string(want) + " got " +
                           std::to_string(r.code) + " " + r.error + " " + r.body.substr(0, 200));
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong, 0) << (errors.empty() ? "" : errors.front());
    EXPECT_EQ(ok, kClients * 2 / 5);
    EXPECT_EQ(bad, kClients * 2 / 5);
    EXPECT_EQ(big, kClients / 5);
    EXPECT_EQ(call(env.port(), http::verb::get, "/healthz").code, 200);
    EXPECT_EQ(env.table.load(kKey).in_flight, 0);
    EXPECT_LE(a.max_in_flight, 4);
  }
  // Everything the gateway, its pool and the instances opened is closed.
  EXPECT_TRUE(eventually([&] { return open_fds() == fds_before; }, 5s))
      << "before " << fds_before << " after " << open_fds();
}

}  // namespace
}  // namespace minik8s::serverless

namespace minik8s::serverless {
namespace {

TEST(GatewayStartTest, BadListenAddressIsAnErrorAndStopWithoutStartIsSafe) {
  InstanceTable table;
  for (const char* bad : {"nonsense", "127.0.0.1:99999", "127.0.0.1:x", "not-an-ip:80"}) {
    GatewayOptions opts;
    opts.listen = bad;
    Gateway g(table, opts);
    EXPECT_FALSE(g.start().is_ok()) << bad;
  }
  GatewayOptions opts;
  opts.listen = "127.0.0.1:0";
  Gateway never_started(table, opts);
  never_started.stop();
}

}  // namespace
}  // namespace minik8s::serverless
