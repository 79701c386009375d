// The in-process control plane every component and API suite tests against:
// a real ApiServer over SqliteStorage in a fresh temp dir on port 0, plus an
// HTTP client::Client to it.
//
// LocalApi is the plane itself, for suites with their own fixture (the
// controller, scheduler, DNS, ingress and metrics tests). Header-only; link
// mk_apiserver, mk_storage and mk_client. start() and restart() assert
// (gtest) on failure: call them with ASSERT_NO_FATAL_FAILURE. The destructor
// stops the server and removes the directory; stop anything using client()
// first.
//
// ApiServerFixture is a gtest fixture around one LocalApi with the API
// suites' options (64 KiB bodies, NodePorts 30000-30100, a 50-event watch
// cache) and raw HTTP helpers that see status codes and headers as a client
// would (req, post, watch). Its out-of-line parts live in local_api.cc: link
// mk_test_fakes (test/CMakeLists.txt).
//
// Not thread-safe: one test thread drives set-up and tear-down; the client
// and the server are themselves safe to use from any thread in between.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/storage/storage.h"

namespace minik8s::testing {

class LocalApi {
 public:
  LocalApi() = default;
  LocalApi(const LocalApi&) = delete;
  LocalApi& operator=(const LocalApi&) = delete;
  ~LocalApi() { stop(); }

  // Options other than port (always 0) are the caller's.
  void start(apiserver::ApiServerOptions opts = {}, const std::string& tag = "api") {
    dir_ = std::filesystem::temp_directory_path() /
           ("mk-" + tag + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    storage::SqliteOptions so;
    so.path = (dir_ / "store.db").string();
    auto s = storage::open_sqlite_storage(so);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s.value());
    ASSERT_NO_FATAL_FAILURE(start_server(std::move(opts)));
  }

  // A new server with these options over the same store (and a new client:
  // references from client() before this call dangle).
  void restart(apiserver::ApiServerOptions opts) {
    stop_server();
    ASSERT_NO_FATAL_FAILURE(start_server(std::move(opts)));
  }

  // Idempotent; also safe when start() never ran or failed half-way.
  void stop() {
    stop_server();
    store_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  client::Client& client() { return *client_; }
  apiserver::ApiServer& api() { return *api_; }
  storage::Storage& store() { return *store_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string url() const { return api_->url(); }
  uint16_t port() const { return api_->port(); }

 private:
  void start_server(apiserver::ApiServerOptions opts) {
    opts.port = 0;
    auto a = apiserver::ApiServer::start(*store_, opts);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    api_ = std::move(a.value());
    client::HttpRestClientOptions ro;
    ro.server = api_->url();
    ro.bearer_token = opts.auth.loopback_token;  // the client() acts as system:apiserver
    auto r = client::make_http_rest_client(ro);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    rest_ = std::move(r.value());
    client_ = std::make_unique<client::Client>(*rest_);
  }
  void stop_server() {
    client_.reset();
    rest_.reset();
    if (api_) api_->stop();
    api_.reset();
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Storage> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<client::Client> client_;
};

// One raw HTTP exchange; code 0 when the connection or the read failed.
struct Resp {
  int code = 0;
  std::string body;
  std::string content_type;
  nlohmann::json j() const { return nlohmann::json::parse(body, nullptr, false); }
};

class ApiServerFixture : public ::testing::Test {
 protected:
  // Starts the plane with options(): the suite defaults, then configure().
  void SetUp() override;
  // Idempotent: a suite that stops its own components first may call it early.
  void TearDown() override;
  // A suite's own server options, applied last (e.g. a non-loopback bind).
  virtual void configure(apiserver::ApiServerOptions&) {}

  // The options the server was started with (restart from a copy of them).
  const apiserver::ApiServerOptions& options() const { return options_; }
  // A new server with these options over the same store.
  void restart(const apiserver::ApiServerOptions& opts) {
    client_ = nullptr;
    options_ = opts;
    ASSERT_NO_FATAL_FAILURE(local_.restart(opts));
    client_ = &local_.client();
  }
  apiserver::ApiServer& api() { return local_.api(); }
  storage::Storage& store() { return local_.store(); }
  const std::filesystem::path& dir() const { return local_.dir(); }

  // One request on a fresh connection to the server.
  // bearer: sent as "Authorization: Bearer <bearer>" when not empty.
  Resp req(const std::string& method, const std::string& target, const std::string& body = "",
           const std::string& ct = "application/json", const std::string& accept = "");
  std::string bearer;
  Resp post(const std::string& path, const nlohmann::json& obj) { return req("POST", path, obj.dump()); }
  static nlohmann::json pod(const std::string& name, const std::string& app = "web");
  // Reads watch lines until n events arrived or the limit passed; after_start
  // runs once the response headers are in.
  std::vector<nlohmann::json> watch(const std::string& target, size_t n, std::chrono::milliseconds limit,
                                    const std::function<void()>& after_start = nullptr);

  LocalApi local_;
  client::Client* client_ = nullptr;  // &local_.client() between SetUp and TearDown

 private:
  apiserver::ApiServerOptions options_;
};

}  // namespace minik8s::testing
