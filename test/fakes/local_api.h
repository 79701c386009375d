// LocalApi: a real ApiServer over SqliteStorage in a fresh temp dir on
// 127.0.0.1 port 0, plus an HTTP client::Client to it — the in-process
// control plane the component suites (controllers, DNS, ingress) test
// against. Header-only; link mk_apiserver, mk_storage and mk_client.
// start() asserts (gtest) on failure; the destructor stops the server and
// removes the directory. Stop anything using client() first.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

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

  // Options other than port (always 0) are the caller's; call with ASSERT_NO_FATAL_FAILURE.
  void start(apiserver::ApiServerOptions opts = {}, const std::string& tag = "api") {
    dir_ = std::filesystem::temp_directory_path() /
           ("mk-" + tag + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    storage::SqliteOptions so;
    so.path = (dir_ / "store.db").string();
    auto s = storage::open_sqlite_storage(so);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s.value());
    opts.port = 0;
    auto a = apiserver::ApiServer::start(*store_, opts);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    api_ = std::move(a.value());
    client::HttpRestClientOptions ro;
    ro.server = api_->url();
    auto r = client::make_http_rest_client(ro);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    rest_ = std::move(r.value());
    client_ = std::make_unique<client::Client>(*rest_);
  }

  void stop() {
    client_.reset();
    rest_.reset();
    if (api_) api_->stop();
    api_.reset();
    store_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  client::Client& client() { return *client_; }
  apiserver::ApiServer& api() { return *api_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string url() const { return api_->url(); }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<storage::Storage> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace minik8s::testing
