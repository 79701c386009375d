// DefaultTolerationSeconds admission: the pure function, and the pod create
// path of the real handler (in-process requests).
#include "default_tolerations.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/apiserver/apiserver.h"
#include "test/fakes/mem_storage.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

json pod_with(json tolerations) {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", "p"}}},
            {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  if (!tolerations.is_null()) p["spec"]["tolerations"] = tolerations;
  return p;
}

json expected(const char* key, int64_t s) {
  return {{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", s}};
}

TEST(DefaultTolerations, AddsBothWhenAbsent) {
  json p = pod_with(nullptr);
  add_default_tolerations(p, 30, 40);
  EXPECT_EQ(p["spec"]["tolerations"], json::array({expected(kNotReadyTaintKey, 30), expected(kUnreachableTaintKey, 40)}));
}

TEST(DefaultTolerations, KeepsThePodsOwn) {
  json own = {{"key", kUnreachableTaintKey}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", 5}};
  json p = pod_with(json::array({own}));
  add_default_tolerations(p, 30, 30);
  EXPECT_EQ(p["spec"]["tolerations"], json::array({own, expected(kNotReadyTaintKey, 30)}));
  // An empty effect covers NoExecute; an empty key covers both keys.
  p = pod_with(json::array({{{"key", kNotReadyTaintKey}, {"operator", "Exists"}}}));
  add_default_tolerations(p, 30, 30);
  EXPECT_EQ(p["spec"]["tolerations"].size(), 2u);
  EXPECT_EQ(p["spec"]["tolerations"][1], expected(kUnreachableTaintKey, 30));
  p = pod_with(json::array({{{"operator", "Exists"}}}));
  add_default_tolerations(p, 30, 30);
  EXPECT_EQ(p["spec"]["tolerations"].size(), 1u);
  // A NoSchedule toleration for the key does not count.
  p = pod_with(json::array({{{"key", kUnreachableTaintKey}, {"operator", "Exists"}, {"effect", "NoSchedule"}}}));
  add_default_tolerations(p, 30, 30);
  EXPECT_EQ(p["spec"]["tolerations"].size(), 3u);
}

TEST(DefaultTolerations, NegativeTurnsOffAndMalformedIsLeftAlone) {
  json p = pod_with(nullptr);
  add_default_tolerations(p, -1, -1);
  EXPECT_FALSE(p["spec"].contains("tolerations"));
  add_default_tolerations(p, -1, 12);
  EXPECT_EQ(p["spec"]["tolerations"], json::array({expected(kUnreachableTaintKey, 12)}));
  json bad = pod_with("nope");
  add_default_tolerations(bad, 30, 30);
  EXPECT_EQ(bad["spec"]["tolerations"], "nope");
  json no_spec = {{"kind", "Pod"}};
  add_default_tolerations(no_spec, 30, 30);
  EXPECT_FALSE(no_spec.contains("spec"));
}

class DefaultTolerationsApiTest : public ::testing::Test {
 protected:
  void start(int64_t not_ready, int64_t unreachable) {
    ApiServerOptions opts;
    opts.port = 0;
    opts.default_not_ready_toleration_seconds = not_ready;
    opts.default_unreachable_toleration_seconds = unreachable;
    auto s = ApiServer::start(store_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(s.value());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  json create(const json& pod) {
    auto r = server_->local_request("POST", "/api/v1/namespaces/default/pods", pod.dump(),
                                    {{"Content-Type", "application/json"}, {"Accept", "application/json"}});
    EXPECT_EQ(r.code, 201) << r.body;
    auto stored = server_->local_request("GET", "/api/v1/namespaces/default/pods/" + pod["metadata"]["name"].get<std::string>(),
                                         "", {{"Accept", "application/json"}});
    EXPECT_EQ(stored.code, 200) << stored.body;
    return json::parse(stored.body, nullptr, false);
  }

  testing::MemStorage store_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(DefaultTolerationsApiTest, PodCreateGetsTheConfiguredSeconds) {
  ASSERT_NO_FATAL_FAILURE(start(7, 9));
  json got = create(pod_with(nullptr));
  EXPECT_EQ(got["spec"]["tolerations"], json::array({expected(kNotReadyTaintKey, 7), expected(kUnreachableTaintKey, 9)}));
}

TEST_F(DefaultTolerationsApiTest, OffWhenNegative) {
  ASSERT_NO_FATAL_FAILURE(start(-1, -1));
  json got = create(pod_with(nullptr));
  EXPECT_FALSE(got["spec"].contains("tolerations")) << got["spec"].dump();
}

}  // namespace
}  // namespace minik8s::apiserver
