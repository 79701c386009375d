#include "minik8s/api/pod_template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace minik8s::api {
namespace {

TEST(PodTemplate, NormalizedFormIgnoresTheHashAndEmptyValues) {
  Json a = Json::parse(R"({"metadata":{"labels":{"app":"web","pod-template-hash":"abc"},"creationTimestamp":null},
                           "spec":{"containers":[{"name":"c","image":"i","resources":{}}]}})");
  Json b = Json::parse(R"({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}})");
  EXPECT_EQ(normalize_pod_template(a), normalize_pod_template(b));
  EXPECT_EQ(normalize_pod_template(a), b);
}

TEST(PodTemplate, ArraysKeepTheirPositionsAndValuesCount) {
  Json a = Json::parse(R"({"spec":{"volumes":[{},{"name":"v"}]}})");
  Json b = Json::parse(R"({"spec":{"volumes":[{"name":"v"}]}})");
  EXPECT_NE(normalize_pod_template(a), normalize_pod_template(b));
  Json c = Json::parse(R"({"metadata":{"labels":{"app":"db"}}})");
  Json d = Json::parse(R"({"metadata":{"labels":{"app":"web"}}})");
  EXPECT_NE(normalize_pod_template(c), normalize_pod_template(d));
}

TEST(PodTemplate, NothingLeftOrNotAnObjectIsEmpty) {
  EXPECT_EQ(normalize_pod_template(Json::parse(R"({"metadata":{"labels":{"pod-template-hash":"x"}}})")),
            Json::object());
  EXPECT_EQ(normalize_pod_template(Json("text")), Json::object());
  EXPECT_EQ(normalize_pod_template(Json()), Json::object());
}

}  // namespace
}  // namespace minik8s::api
