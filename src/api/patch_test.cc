#include "minik8s/api/patch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace minik8s::api {
namespace {

Json J(const char* text) { return Json::parse(text); }

Json smp(const Json& doc, const char* patch, const std::string& kind) {
  auto r = apply_strategic_merge_patch(doc, J(patch), kind);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string() << " patch: " << patch;
  return r.is_ok() ? *r : Json();
}

const char* kPod = R"({
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"],
               "ownerReferences": [{"uid": "u1", "name": "rs1", "kind": "ReplicaSet"}]},
  "spec": {
    "containers": [
      {"name": "nginx", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
       "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
       "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
       "volumeMounts": [{"mountPath": "/data", "name": "data"}]},
      {"name": "sidecar", "image": "busybox"}
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "tolerations": [{"key": "a"}, {"key": "b"}]
  },
  "status": {"conditions": [{"type": "Ready", "status": "False"},
                            {"type": "Initialized", "status": "True"}]}
})";

TEST(MergePatchTest, Rfc7386) {
  Json doc = J(R"({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]})");
  auto r = apply_merge_patch(doc, J(R"({"a": "z", "c": {"f": null, "n": 1}, "l": [3]})"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, J(R"({"a": "z", "c": {"d": "e", "n": 1}, "l": [3]})"));
  // Non-object patch replaces; object patch onto a scalar starts from {}.
  EXPECT_EQ(*apply_merge_patch(doc, J("[1]")), J("[1]"));
  EXPECT_EQ(*apply_merge_patch(J("5"), J(R"({"a": {"b": null, "c": 1}})")),
            J(R"({"a": {"c": 1}})"));
  EXPECT_EQ(*apply_merge_patch(doc, J(R"({"spec": {"replicas": 3}})"))
                 .value()["spec"]["replicas"].get_ptr<const int64_t*>(),
            3);
}

TEST(JsonPatchTest, AllOperations) {
  Json doc = J(R"({"a": {"b": [1, 2, 3]}, "x~y": 1, "p/q": 2})");
  auto r = apply_json_patch(doc, J(R"([
      {"op": "add", "path": "/a/b/1", "value": 9},
      {"op": "add", "path": "/a/b/-", "value": 10},
      {"op": "remove", "path": "/a/b/0"},
      {"op": "replace", "path": "/x~0y", "value": "r"},
      {"op": "copy", "from": "/p~1q", "path": "/c"},
      {"op": "move", "from": "/c", "path": "/a/m"},
      {"op": "test", "path": "/a/m", "value": 2},
      {"op": "add", "path": "/new", "value": {"k": []}}
  ])"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, J(R"({"a": {"b": [9, 2, 3, 10], "m": 2}, "x~y": "r", "p/q": 2,
                      "new": {"k": []}})"));
}

TEST(JsonPatchTest, ErrorsAreValues) {
  Json doc = J(R"({"a": [1], "s": "x"})");
  struct Case {
    const char* patch;
    Code code;
  } cases[] = {
      {R"([{"op": "test", "path": "/s", "value": "y"}])", Code::kInvalid},
      {R"([{"op": "remove", "path": "/nope"}])", Code::kBadRequest},
      {R"([{"op": "replace", "path": "/a/5", "value": 1}])", Code::kBadRequest},
      {R"([{"op": "add", "path": "/a/01", "value": 1}])", Code::kBadRequest},
      {R"([{"op": "add", "path": "/a/2", "value": 1}])", Code::kBadRequest},
      {R"([{"op": "add", "path": "/s/x", "value": 1}])", Code::kBadRequest},
      {R"([{"op": "add", "path": "a", "value": 1}])", Code::kBadRequest},
      {R"([{"op": "add", "path": "/~2", "value": 1}])", Code::kBadRequest},
      {R"([{"op": "add", "path": "/x"}])", Code::kBadRequest},
      {R"([{"op": "frob", "path": "/x"}])", Code::kBadRequest},
      {R"([{"op": "move", "from": "/a", "path": "/a/0"}])", Code::kBadRequest},
      {R"([{"path": "/x"}])", Code::kBadRequest},
      {R"({"op": "add"})", Code::kBadRequest},
      {R"([1])", Code::kBadRequest},
  };
  for (const auto& c : cases) {
    auto r = apply_json_patch(doc, J(c.patch));
    EXPECT_FALSE(r.is_ok()) << c.patch;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), c.code) << c.patch << ": " << r.status().message();
    }
  }
}

TEST(JsonPatchTest, RolloutUndoShape) {
  Json deploy = J(R"({"metadata": {"annotations": {"a": "1"}},
                      "spec": {"template": {"metadata": {"labels": {"app": "v2"}}}}})");
  auto r = apply_json_patch(deploy, J(R"([
      {"op": "replace", "path": "/spec/template",
       "value": {"metadata": {"creationTimestamp": null, "labels": {"app": "v1"}},
                 "spec": {"containers": [{"name": "c", "resources": {}}]}}},
      {"op": "replace", "path": "/metadata/annotations", "value": {"b": "2"}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["spec"]["template"]["metadata"]["labels"]["app"], "v1");
  EXPECT_EQ((*r)["metadata"]["annotations"], J(R"({"b": "2"})"));
}

TEST(StrategicMergePatchTest, KubectlApplyContainerImage) {
  Json out = smp(J(kPod),
                 R"({"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
                     "containers":[{"image":"nginx:1.26","name":"nginx"}]}})",
                 "Pod");
  const Json& c = out["spec"]["containers"];
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["name"], "nginx");
  EXPECT_EQ(c[0]["image"], "nginx:1.26");
  EXPECT_EQ(c[0]["imagePullPolicy"], "IfNotPresent");  // other fields kept
  EXPECT_EQ(c[0]["ports"].size(), 2u);
  EXPECT_EQ(c[1]["name"], "sidecar");
  EXPECT_FALSE(out["spec"].contains("$setElementOrder/containers"));
}

TEST(StrategicMergePatchTest, SetElementOrderReorders) {
  Json out = smp(J(kPod),
                 R"({"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}})",
                 "Pod");
  EXPECT_EQ(out["spec"]["containers"][0]["name"], "sidecar");
  EXPECT_EQ(out["spec"]["containers"][1]["name"], "nginx");
}

TEST(StrategicMergePatchTest, NestedListsByKey) {
  Json out = smp(J(kPod), R"({"spec":{"containers":[{"name":"nginx",
      "env":[{"name":"B","value":"20"},{"name":"C","value":"3"}],
      "ports":[{"containerPort":80,"name":"http"},{"containerPort":8080}],
      "volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}})",
                 "Pod");
  const Json& c = out["spec"]["containers"][0];
  EXPECT_EQ(c["env"], J(R"([{"name":"A","value":"1"},{"name":"B","value":"20"},
                            {"name":"C","value":"3"}])"));
  EXPECT_EQ(c["ports"], J(R"([{"containerPort":80,"protocol":"TCP","name":"http"},
                              {"containerPort":443},{"containerPort":8080}])"));
  EXPECT_EQ(c["volumeMounts"], J(R"([{"mountPath":"/data","name":"data","readOnly":true}])"));
  // Lists without a merge key are replaced.
  Json t = smp(J(kPod), R"({"spec":{"tolerations":[{"key":"c"}]}})", "Pod");
  EXPECT_EQ(t["spec"]["tolerations"], J(R"([{"key":"c"}])"));
}

TEST(StrategicMergePatchTest, DeleteDirectivesAndNull) {
  Json out = smp(J(kPod), R"({"spec":{"containers":[{"name":"sidecar","$patch":"delete"},
      {"name":"nginx","env":[{"name":"A","$patch":"delete"}],"imagePullPolicy":null}]}})",
                 "Pod");
  ASSERT_EQ(out["spec"]["containers"].size(), 1u);
  const Json& c = out["spec"]["containers"][0];
  EXPECT_EQ(c["env"], J(R"([{"name":"B","value":"2"}])"));
  EXPECT_FALSE(c.contains("imagePullPolicy"));
  // $patch: delete on a map removes it; replace swaps it wholesale.
  Json d = smp(J(kPod), R"({"metadata":{"labels":{"$patch":"delete"}}})", "Pod");
  EXPECT_FALSE(d["metadata"].contains("labels"));
  Json r = smp(J(kPod), R"({"metadata":{"labels":{"$patch":"replace","x":"y"}}})", "Pod");
  EXPECT_EQ(r["metadata"]["labels"], J(R"({"x":"y"})"));
  // $patch: replace inside a list replaces the list.
  Json l = smp(J(kPod), R"({"spec":{"containers":[{"$patch":"replace"},{"name":"only"}]}})",
               "Pod");
  EXPECT_EQ(l["spec"]["containers"], J(R"([{"name":"only"}])"));
}

TEST(StrategicMergePatchTest, RetainKeysAndPrimitiveLists) {
  Json doc = J(R"({"spec":{"strategy":{"type":"RollingUpdate",
      "rollingUpdate":{"maxSurge":1}}},"metadata":{"finalizers":["a","b"]}})");
  Json out = smp(doc, R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})",
                 "Deployment");
  EXPECT_EQ(out["spec"]["strategy"], J(R"({"type":"Recreate"})"));
  Json f = smp(doc, R"({"metadata":{"finalizers":["c","a"]}})", "Deployment");
  EXPECT_EQ(f["metadata"]["finalizers"], J(R"(["a","b","c"])"));
  Json del = smp(doc, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})",
                 "Deployment");
  EXPECT_EQ(del["metadata"]["finalizers"], J(R"(["b"])"));
  Json ord = smp(doc, R"({"metadata":{"$setElementOrder/finalizers":["b","a"]}})", "Deployment");
  EXPECT_EQ(ord["metadata"]["finalizers"], J(R"(["b","a"])"));
}

TEST(StrategicMergePatchTest, DeploymentTemplateAndOwnerRefs) {
  Json dep = J(R"({"kind":"Deployment","spec":{"replicas":1,"template":{"spec":{
      "containers":[{"name":"app","image":"v1","env":[{"name":"X","value":"1"}]}]}}},
      "metadata":{"ownerReferences":[{"uid":"a","name":"x"}]}})");
  Json out = smp(dep, R"({"spec":{"template":{"spec":{"containers":[
      {"name":"app","image":"v2","env":[{"name":"Y","value":"2"}]}]}}},
      "metadata":{"ownerReferences":[{"uid":"b","name":"y"}]}})",
                 "Deployment");
  const Json& c = out["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["image"], "v2");
  EXPECT_EQ(c[0]["env"].size(), 2u);
  EXPECT_EQ(out["metadata"]["ownerReferences"].size(), 2u);
  EXPECT_EQ(out["spec"]["replicas"], 1);
  // Unknown kinds: template containers are replaced like a merge patch.
  Json custom = smp(dep, R"({"spec":{"template":{"spec":{"containers":[{"name":"z"}]}}}})",
                    "Function");
  EXPECT_EQ(custom["spec"]["template"]["spec"]["containers"], J(R"([{"name":"z"}])"));
}

TEST(StrategicMergePatchTest, ServiceNodeAndConditions) {
  Json svc = J(R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443}]}})");
  Json s = smp(svc, R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})", "Service");
  EXPECT_EQ(s["spec"]["ports"], J(R"([{"port":80,"targetPort":9090},{"port":443}])"));

  Json node = J(R"({"spec":{},"status":{
      "conditions":[{"type":"Ready","status":"True"},{"type":"MemoryPressure","status":"False"}],
      "addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n1"}]}})");
  Json cordon = smp(node, R"({"spec":{"unschedulable":true}})", "Node");
  EXPECT_EQ(cordon["spec"]["unschedulable"], true);
  Json uncordon = smp(cordon, R"({"spec":{"unschedulable":null}})", "Node");
  EXPECT_FALSE(uncordon["spec"].contains("unschedulable"));
  Json st = smp(node, R"({"status":{"conditions":[{"type":"Ready","status":"False"}],
      "addresses":[{"type":"InternalIP","address":"10.0.0.2"}]}})",
                "Node");
  EXPECT_EQ(st["status"]["conditions"][0], J(R"({"type":"Ready","status":"False"})"));
  EXPECT_EQ(st["status"]["conditions"].size(), 2u);
  EXPECT_EQ(st["status"]["addresses"][0]["address"], "10.0.0.2");
  EXPECT_EQ(st["status"]["addresses"].size(), 2u);
  Json pod = smp(J(kPod), R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
                 "Pod");
  EXPECT_EQ(pod["status"]["conditions"].size(), 2u);
  EXPECT_EQ(pod["status"]["conditions"][0]["status"], "True");
}

TEST(StrategicMergePatchTest, BadPatches) {
  for (const char* bad : {R"([1])", R"({"spec":{"containers":[{"image":"x"}]}})",
                          R"({"spec":{"containers":["x"]}})", R"({"metadata":{"$patch":"frob"}})",
                          R"({"metadata":{"$retainKeys":"x"}})",
                          R"({"spec":{"$setElementOrder/containers":{}}})"}) {
    auto r = apply_strategic_merge_patch(J(kPod), J(bad), "Pod");
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kBadRequest) << bad;
    }
  }
}

}  // namespace
}  // namespace minik8s::api
