// Test support for the controller suites (src/controllers/*_test.cc): the
// in-process control plane (test/fakes/local_api.h) and polling helpers.
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
#include "test/fakes/local_api.h"

namespace minik8s::controllers::testing_support {

using api::Json;
using namespace std::chrono_literals;

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    apiserver::ApiServerOptions opts;
    opts.node_port_min = 30000;
    opts.node_port_max = 30100;
    ASSERT_NO_FATAL_FAILURE(local_.start(opts, "ctrl"));
    client_ = &local_.client();
  }
  // Subclasses stop their controllers first.
  void TearDown() override {
    client_ = nullptr;
    local_.stop();
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

  minik8s::testing::LocalApi local_;
  client::Client* client_ = nullptr;
};

}  // namespace minik8s::controllers::testing_support
