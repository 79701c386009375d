#include "minik8s/client/event_recorder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::client {
namespace {

using api::Json;

Json pod() {
  return Json{{"metadata", {{"name", "web"}, {"namespace", "prod"}, {"uid", "u1"}, {"resourceVersion", "7"}}}};
}

TEST(MakeEventTest, ControllerFormHasTheLegacyFieldsAndAUniqueName) {
  Json a = make_event(pod(), "v1", "Pod", "Normal", "Scheduled", "assigned", "scheduler");
  Json b = make_event(pod(), "v1", "Pod", "Normal", "Scheduled", "assigned", "scheduler");
  EXPECT_EQ(a["apiVersion"], "v1");
  EXPECT_EQ(a["kind"], "Event");
  EXPECT_EQ(a["metadata"]["namespace"], "prod");
  EXPECT_EQ(a["metadata"]["name"].get<std::string>().rfind("web.", 0), 0u);
  EXPECT_NE(a["metadata"]["name"], b["metadata"]["name"]);
  EXPECT_EQ(a["involvedObject"],
            (Json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "web"}, {"namespace", "prod"}, {"uid", "u1"},
                  {"resourceVersion", "7"}}));
  EXPECT_EQ(a["reason"], "Scheduled");
  EXPECT_EQ(a["message"], "assigned");
  EXPECT_EQ(a["type"], "Normal");
  EXPECT_EQ(a["source"], (Json{{"component", "scheduler"}}));
  EXPECT_EQ(a["reportingComponent"], "scheduler");
  EXPECT_FALSE(a.contains("reportingInstance"));
  EXPECT_EQ(a["count"], 1);
  EXPECT_EQ(a["firstTimestamp"], a["lastTimestamp"]);
  EXPECT_FALSE(a["eventTime"].get<std::string>().empty());
}

TEST(MakeEventTest, NodeSourceAndFieldPath) {
  Json e = make_event(pod(), "v1", "Pod", "Warning", "BackOff", "m", EventSource{"kubelet", "node1"},
                      "spec.containers{app}");
  EXPECT_EQ(e["source"], (Json{{"component", "kubelet"}, {"host", "node1"}}));
  EXPECT_EQ(e["reportingComponent"], "kubelet");
  EXPECT_EQ(e["reportingInstance"], "node1");
  EXPECT_EQ(e["involvedObject"]["fieldPath"], "spec.containers{app}");
}

TEST(MakeEventTest, ClusterScopedObjectsGoToDefault) {
  Json node = {{"metadata", {{"name", "n1"}, {"uid", "u2"}}}};
  Json e = make_event(node, "v1", "Node", "Normal", "RegisteredNode", "m", "node-controller");
  EXPECT_EQ(e["metadata"]["namespace"], "default");
  EXPECT_FALSE(e["involvedObject"].contains("namespace"));
}

TEST(EventRecorderTest, StopSendsWhatIsQueued) {
  testing::FakeRestClient fake;
  Client client(fake);
  EventRecorder rec(client, EventSource{"kubelet", "node1"});
  rec.record(pod(), "v1", "Pod", "Normal", "Pulling", "one");
  rec.record(pod(), "v1", "Pod", "Normal", "Pulled", "two");
  rec.record(Json{{"metadata", {{"namespace", "prod"}}}}, "v1", "Pod", "Normal", "Nameless", "dropped");
  rec.start();
  rec.stop();
  auto list = client.list(*api::find_kind("v1", "Event"), "prod");
  ASSERT_TRUE(list.is_ok()) << list.status().to_string();
  std::vector<std::string> reasons;
  for (const auto& e : (*list)["items"]) reasons.push_back(e["reason"].get<std::string>());
  std::sort(reasons.begin(), reasons.end());
  EXPECT_EQ(reasons, (std::vector<std::string>{"Pulled", "Pulling"}));
}

}  // namespace
}  // namespace minik8s::client
