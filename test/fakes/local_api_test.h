// A gtest fixture with a real ApiServer over in-memory storage, driven by
// in-process requests (ApiServer::local_request): the handler, strategies
// and validation exactly as over HTTP, without a socket round trip.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/apiserver/apiserver.h"
#include "test/fakes/mem_storage.h"

namespace minik8s::testing {

class LocalApiTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  // Options beyond the defaults (a fixture's blob store, say).
  virtual void configure(apiserver::ApiServerOptions& /*opts*/) {}

  void SetUp() override {
    apiserver::ApiServerOptions opts;
    opts.port = 0;
    configure(opts);
    auto s = apiserver::ApiServer::start(store_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(s.value());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  apiserver::LocalResponse call(const std::string& method, const std::string& target, const json& body = nullptr,
                                const std::string& content_type = "application/json",
                                const std::string& accept = "application/json") {
    return server_->local_request(method, target, body.is_null() ? "" : body.dump(),
                                  {{"Content-Type", content_type}, {"Accept", accept}});
  }
  // A request that must succeed (< 300); its parsed body.
  json ok(const std::string& method, const std::string& target, const json& body = nullptr,
          const std::string& content_type = "application/json") {
    apiserver::LocalResponse r = call(method, target, body, content_type);
    EXPECT_LT(r.code, 300) << method << " " << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }

  MemStorage store_;
  std::unique_ptr<apiserver::ApiServer> server_;
};

}  // namespace minik8s::testing
