// The client decodes what a server sends with the one bounded parser
// (api::parse_json_response): an object at the server's depth limit reads
// back inside a List or a watch event, and anything deeper is an error, never
// a crash of the agent or controller that asked.
#include <gtest/gtest.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;

// Answers every request with `body` and every watch with `lines`.
class CannedRestClient final : public RestClient {
 public:
  std::string body;
  std::deque<std::string> lines;

  Result<HttpResponse> request(const std::string&, const std::string&, const std::string&,
                               const std::string&, const std::string&) override {
    return HttpResponse{200, "application/json", body};
  }
  Result<std::unique_ptr<LineStream>> watch(const std::string&, const std::string&) override {
    return std::unique_ptr<LineStream>(std::make_unique<Lines>(lines));
  }

 private:
  class Lines final : public LineStream {
   public:
    explicit Lines(std::deque<std::string> l) : lines_(std::move(l)) {}
    std::optional<std::string> next(std::chrono::milliseconds) override {
      if (lines_.empty()) return std::nullopt;
      std::string l = std::move(lines_.front());
      lines_.pop_front();
      return l;
    }
    bool ended() const override { return lines_.empty(); }
    Status status() const override { return Status::ok(); }
    void close() override { lines_.clear(); }

   private:
    std::deque<std::string> lines_;
  };
};

// A ConfigMap whose x is `depth` arrays deep (the object: depth + 1 levels).
std::string cm(int depth) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","namespace":"default"},)"
         R"("x":)" +
         std::string(depth, '[') + "1" + std::string(depth, ']') + "}";
}

class ClientDecodeTest : public ::testing::Test {
 protected:
  CannedRestClient rest_;
  Client client_{rest_};
  const api::ResourceType& cms_ = *api::find_by_user_name("configmaps");
};

TEST_F(ClientDecodeTest, AnObjectAtTheLimitReadsBackInAListAndAWatchEvent) {
  const std::string obj = cm(api::kMaxJsonDepth - 1);
  rest_.body = R"({"kind":"ConfigMapList","metadata":{},"items":[)" + obj + "]}";
  auto list = client_.list(cms_, "default", {});
  ASSERT_TRUE(list.is_ok()) << list.status().to_string();
  EXPECT_EQ((*list)["items"].size(), 1u);
  rest_.lines = {R"({"type":"ADDED","object":)" + obj + "}"};
  auto w = client_.watch(cms_, "default", {});
  ASSERT_TRUE(w.is_ok());
  auto ev = (*w)->next(1s);
  ASSERT_TRUE(ev) << (*w)->status().to_string();
  EXPECT_EQ(ev->type, "ADDED");
}

TEST_F(ClientDecodeTest, DeeperThanAnyServerSendsIsAnErrorNotACrash) {
  const std::string deep = cm(100000);
  rest_.body = deep;
  auto got = client_.get(cms_, "default", "d");
  ASSERT_FALSE(got.is_ok());
  EXPECT_NE(got.status().message().find("nesting deeper than"), std::string::npos)
      << got.status().message();
  rest_.body = R"({"kind":"ConfigMapList","metadata":{},"items":[)" + deep + "]}";
  EXPECT_FALSE(client_.list(cms_, "default", {}).is_ok());
  rest_.lines = {R"({"type":"ADDED","object":)" + deep + "}"};
  auto w = client_.watch(cms_, "default", {});
  ASSERT_TRUE(w.is_ok());
  EXPECT_FALSE((*w)->next(1s));
  EXPECT_TRUE((*w)->ended());
  EXPECT_FALSE((*w)->status().is_ok());
  // An error body that deep falls back to its raw text.
  Status s = status_from_response(500, deep);
  EXPECT_EQ(s.code(), Code::kInternal);
}

}  // namespace
}  // namespace minik8s::client
