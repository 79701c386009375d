// Test support for the pool and function controller suites: fake runtime
// servers (in-process HTTP on 127.0.0.1, one per pod) and a fake kubelet
// loop that plays scheduler + kubelet through the API: it marks every pod
// Running/Ready with podIP 127.0.0.1, starts a FakeRuntime for it, and
// finishes the deletion of terminating pods (there is no real kubelet to
// wait for). The controllers reach the runtimes through
// FunctionControllerOptions::endpoint = PodLoop::endpoint.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/serverless/controllers.h"
#include "test/fakes/controller_fixture.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::serverless::testing_support {

using api::Json;
using namespace std::chrono_literals;

// One runtime server. handler(target, body) → {status, body}; every request
// is recorded. Threads: one accept thread serving connections in turn.
class FakeRuntime {
 public:
  using Handler = std::function<std::pair<int, std::string>(const std::string& target,
                                                            const std::string& body)>;

  explicit FakeRuntime(Handler h) : handler_(std::move(h)), acceptor_(ioc_) {
    namespace asio = boost::asio;
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }
  ~FakeRuntime() {
    stop_ = true;
    try {  // wake the blocking accept
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    } catch (...) {
    }
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard l(mu_);
    return requests_;
  }
  int count(const std::string& target) {
    int n = 0;
    for (const auto& [t, b] : requests()) n += t == target;
    return n;
  }

 private:
  void run() {
    namespace beast = boost::beast;
    namespace http = beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket sock(ioc_);
      beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) continue;
      beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec) continue;
      std::string target(req.target());
      {
        std::lock_guard l(mu_);
        requests_.emplace_back(target, req.body());
      }
      auto [code, body] = handler_(target, req.body());
      http::response<http::string_body> res{static_cast<http::status>(code), 11};
      res.set(http::field::content_type, "application/json");
      res.set(http::field::connection, "close");
      res.body() = body;
      res.prepare_payload();
      http::write(sock, res, ec);
      sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> requests_;  // guarded by mu_
};

// /healthz 200; /init 200, or 400 CodeInvalid when the base64 code holds
// "SYNTAX" (the payload's code is base64: we look for its encoding's source
// by decoding in the handler).
FakeRuntime::Handler default_runtime_handler();

// Plays scheduler + kubelet (see the file comment). run(false) holds new
// pods Pending until run(true).
class PodLoop {
 public:
  explicit PodLoop(client::Client& c, FakeRuntime::Handler h = default_runtime_handler())
      : client_(c), handler_(std::move(h)) {
    pods_ = api::find_kind("v1", "Pod");
    thread_ = std::thread([this] { loop(); });
  }
  ~PodLoop() {
    stop_ = true;
    thread_.join();
  }
  void run(bool on) { running_ = on; }
  // serve(false): pods run without a runtime server (connections refused)
  // until serve(true). ready(false): Running pods get no Ready condition.
  void serve(bool on) { serve_ = on; }
  void ready(bool on) { ready_ = on; }
  // The runtime of a pod (null when none was started).
  FakeRuntime* runtime(const std::string& pod) {
    std::lock_guard l(mu_);
    auto it = runtimes_.find(pod);
    return it == runtimes_.end() ? nullptr : it->second.get();
  }
  int total_inits() {
    std::lock_guard l(mu_);
    int n = 0;
    for (auto& [name, rt] : runtimes_) n += rt->count("/init");
    return n;
  }
  std::function<RuntimeEndpoint(const Json&)> endpoint() {
    return [this](const Json& pod) {
      RuntimeEndpoint ep;
      ep.ip = "127.0.0.1";
      ep.port = 1;  // refused: no runtime
      if (FakeRuntime* rt = runtime(pod["metadata"]["name"].get<std::string>()))
        ep.port = rt->port();
      return ep;
    };
  }

 private:
  void loop() {
    while (!stop_) {
      auto l = client_.list(*pods_, "");
      if (l) {
        for (const Json& p : (*l)["items"]) step(p);
      }
      std::this_thread::sleep_for(5ms);
    }
  }
  void step(const Json& p) {
    std::string ns = p["metadata"].value("namespace", "");
    std::string name = p["metadata"].value("name", "");
    if (p["metadata"].contains("deletionTimestamp")) {
      Json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0}};
      (void)client_.remove(*pods_, ns, name, &opts);
      return;
    }
    if (!running_) return;
    std::string phase =
        p.contains("status") && p["status"].is_object() ? p["status"].value("phase", "") : "";
    if (serve_ && (phase.empty() || phase == "Pending" || phase == "Running")) {
      std::lock_guard l(mu_);
      if (!runtimes_.count(name)) runtimes_[name] = std::make_unique<FakeRuntime>(handler_);
    }
    if (!phase.empty() && phase != "Pending") return;
    Json status = {{"phase", "Running"}, {"podIP", "127.0.0.1"}};
    if (ready_) status["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
    (void)client_.patch(*pods_, ns, name, client::PatchType::kMerge, {{"status", status}},
                        "status");
  }

  client::Client& client_;
  FakeRuntime::Handler handler_;
  const api::ResourceType* pods_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{true};
  std::atomic<bool> serve_{true};
  std::atomic<bool> ready_{true};
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<FakeRuntime>> runtimes_;  // guarded by mu_
  std::thread thread_;
};

inline FakeRuntime::Handler default_runtime_handler() {
  return [](const std::string& target, const std::string& body) -> std::pair<int, std::string> {
    if (target == "/healthz") return {200, R"({"state":"pool"})"};
    if (target == "/init") {
      auto j = Json::parse(body, nullptr, false);
      std::string code = j.is_object() ? j.value("code", "") : "";
      // base64 of "SYNTAX" at offset 0 is "U1lOVEFY".
      if (code.rfind("U1lOVEFY", 0) == 0) {
        return {400,
                R"({"error":"CodeInvalid","message":"main.py:1: invalid syntax\nTraceback..."})"};
      }
      return {200, R"({"ok":true})"};
    }
    return {404, "{}"};
  };
}

class ServerlessFixture : public controllers::testing_support::ApiFixture {
 protected:
  // The ApiFixture's plane, with a code store.
  void SetUp() override {
    apiserver::ApiServerOptions opts;
    opts.node_port_min = 30000;
    opts.node_port_max = 30100;
    ASSERT_FALSE(code_dir_.path().empty());
    opts.code_dir = code_dir_.path();
    ASSERT_NO_FATAL_FAILURE(local_.start(opts, "sl"));
    client_ = &local_.client();
  }
  minik8s::testing::TempDir code_dir_{"sl-code"};

  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& nodes() { return kind("v1", "Node"); }
  const api::ResourceType& functions() { return kind(kApiVersion, "Function"); }

  void add_node(const std::string& name, bool ready = true) {
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
    auto r = client_->create(nodes(), n, "");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    set_node_ready(name, ready);
  }
  void set_node_ready(const std::string& name, bool ready) {
    Json patch = {
        {"status", {{"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
    auto r = client_->patch(nodes(), "", name, client::PatchType::kMerge, patch, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void add_namespace(const std::string& ns) {
    Json n = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto r = client_->create(kind("v1", "Namespace"), n, "");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  static Json function(const std::string& ns, const std::string& name, const std::string& code,
                       int min_scale = 0, int max_scale = 10) {
    return {{"apiVersion", kApiVersion},
            {"kind", "Function"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec",
             {{"runtime", "python3"},
              {"handler", "main.handler"},
              {"code", {{"inline", code}, {"filename", "main.py"}}},
              {"scale", {{"minScale", min_scale}, {"maxScale", max_scale}}}}}};
  }
  void create_function(const Json& f) {
    auto r = client_->create(functions(), f, f["metadata"]["namespace"].get<std::string>());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  // Applies fn to the stored Function and PUTs it (retrying conflicts).
  void update_function(const std::string& ns, const std::string& name,
                       const std::function<void(Json&)>& fn) {
    for (int i = 0; i < 20; ++i) {
      auto g = client_->get(functions(), ns, name);
      ASSERT_TRUE(g.is_ok()) << g.status().to_string();
      Json f = *g;
      fn(f);
      auto r = client_->update(functions(), f);
      if (r) return;
      ASSERT_EQ(r.status().code(), Code::kConflict) << r.status().to_string();
    }
    FAIL() << "update kept conflicting";
  }
  Json get_function(const std::string& ns, const std::string& name) {
    auto g = client_->get(functions(), ns, name);
    return g ? *g : Json();
  }
  // Live (not terminating) pods in ns matching the label selector.
  std::vector<Json> live_pods(const std::string& ns, const std::string& selector) {
    client::ListOptions o;
    o.label_selector = selector;
    auto l = client_->list(pods(), ns, o);
    std::vector<Json> out;
    if (!l) return out;
    for (const Json& p : (*l)["items"]) {
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p);
    }
    return out;
  }
  std::vector<Json> all_pods(const std::string& ns, const std::string& selector) {
    client::ListOptions o;
    o.label_selector = selector;
    auto l = client_->list(pods(), ns, o);
    std::vector<Json> out;
    if (l) {
      for (const Json& p : (*l)["items"]) out.push_back(p);
    }
    return out;
  }
  static std::string condition(const Json& obj, const std::string& type,
                               const char* what = "status") {
    if (!obj.contains("status") || !obj["status"].contains("conditions")) return "";
    for (const Json& c : obj["status"]["conditions"]) {
      if (c.value("type", "") == type) return c.value(what, "");
    }
    return "";
  }
};

}  // namespace minik8s::serverless::testing_support
