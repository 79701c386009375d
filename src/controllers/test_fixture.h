// Test support for the controller suites: a real ApiServer over SqliteStorage
// in a temp dir on port 0, an HTTP client to it, and polling helpers.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/storage/storage.h"

namespace minik8s::controllers::testing_support {

using api::Json;
using namespace std::chrono_literals;

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("mk-ctrl-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    storage::SqliteOptions so;
    so.path = (dir_ / "store.db").string();
    auto s = storage::open_sqlite_storage(so);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s.value());
    apiserver::ApiServerOptions opts;
    opts.port = 0;
    opts.node_port_min = 30000;
    opts.node_port_max = 30100;
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
  // Subclasses stop their controllers first.
  void TearDown() override {
    client_.reset();
    rest_.reset();
    if (api_) api_->stop();
    api_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static const api::ResourceType& kind(const char* api_version, const char* k) {
    const api::ResourceType* t = api::find_kind(api_version, k);
    EXPECT_NE(t, nullptr) << k;
    return *t;
  }

  // Polls fn every 10 ms until it holds or the deadline passes.
  static bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (fn()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return fn();
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Storage> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace minik8s::controllers::testing_support
