#include "printers.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace minik8s::cli {
namespace {

using api::Json;

Json sample_table() {
  return Json::parse(R"({
    "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "7"},
    "columnDefinitions": [
      {"name": "Name", "type": "string", "format": "name", "priority": 0},
      {"name": "Ready", "type": "string", "priority": 0},
      {"name": "Status", "type": "string", "priority": 0},
      {"name": "IP", "type": "string", "priority": 1},
      {"name": "Age", "type": "string", "priority": 0}],
    "rows": [
      {"cells": ["web-1", "1/1", "Running", "10.0.0.5", "5m"],
       "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web", "tier": "fe"}}}},
      {"cells": ["db", "0/1", "Pending", null, "10s"],
       "object": {"kind": "PartialObjectMetadata", "metadata": {"name": "db", "namespace": "prod"}}}]
  })");
}

TEST(TablePrinter, DefaultColumnsAlignedWithThreeSpaces) {
  auto out = format_columns(table_rows(sample_table(), {}));
  EXPECT_EQ(out,
            "NAME    READY   STATUS    AGE\n"
            "web-1   1/1     Running   5m\n"
            "db      0/1     Pending   10s\n");
}

TEST(TablePrinter, WideNamespaceLabels) {
  TableOptions o;
  o.wide = true;
  o.with_namespace = true;
  o.show_labels = true;
  auto out = format_columns(table_rows(sample_table(), o));
  EXPECT_EQ(out,
            "NAMESPACE   NAME    READY   STATUS    IP         AGE   LABELS\n"
            "default     web-1   1/1     Running   10.0.0.5   5m    app=web,tier=fe\n"
            "prod        db      0/1     Pending   <none>     10s   <none>\n");
}

TEST(TablePrinter, NoHeadersAndNamePrefix) {
  TableOptions o;
  o.no_headers = true;
  o.name_prefix = "pod/";
  auto rows = table_rows(sample_table(), o);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "pod/web-1");
}

TEST(TablePrinter, MalformedTableDoesNotCrash) {
  EXPECT_EQ(table_rows(Json("x"), {}).size(), 1u);
  EXPECT_EQ(format_columns(table_rows(Json::parse(R"({"columnDefinitions": 3, "rows": [1, {"cells": 2}]})"), {})),
            "\n\n\n");
}

TEST(ThreeWayPatch, NewObjectFieldsAndChanges) {
  Json original = Json::parse(R"({"metadata": {"name": "a"}, "spec": {"replicas": 1, "image": "x:1"}})");
  Json modified = Json::parse(R"({"metadata": {"name": "a"}, "spec": {"replicas": 2, "image": "x:1"}})");
  Json current = Json::parse(
      R"({"metadata": {"name": "a", "uid": "u", "resourceVersion": "5"}, "spec": {"replicas": 1, "image": "x:1", "defaulted": true}, "status": {"ok": true}})");
  EXPECT_EQ(three_way_merge_patch(original, modified, current), Json::parse(R"({"spec": {"replicas": 2}})"));
}

TEST(ThreeWayPatch, RemovedFromFileIsDeletedButOthersFieldsKept) {
  Json original = Json::parse(R"({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1, "y": {"z": 1}}})");
  Json modified = Json::parse(R"({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}})");
  Json current = Json::parse(R"({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}, "spec": {"x": 1, "y": {"z": 1}, "w": 0}})");
  EXPECT_EQ(three_way_merge_patch(original, modified, current),
            Json::parse(R"({"metadata": {"labels": {"b": null}}, "spec": {"y": null}})"));
}

TEST(ThreeWayPatch, UnchangedIsEmptyAndListsReplacedWhole) {
  Json obj = Json::parse(R"({"spec": {"containers": [{"name": "c", "image": "i:1"}]}})");
  EXPECT_TRUE(three_way_merge_patch(obj, obj, obj).empty());
  Json modified = Json::parse(R"({"spec": {"containers": [{"name": "c", "image": "i:2"}]}})");
  EXPECT_EQ(three_way_merge_patch(obj, modified, obj), modified);
}

TEST(ThreeWayPatch, ServerDefaultsInsideListsAreNotChanges) {
  Json file = Json::parse(R"({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}})");
  Json live = Json::parse(
      R"({"spec": {"containers": [{"name": "c", "imagePullPolicy": "Always", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}})");
  EXPECT_TRUE(three_way_merge_patch(file, file, live).empty());
  // But a list the file changed since the last apply is sent whole.
  Json edited = Json::parse(R"({"spec": {"containers": [{"name": "c"}]}})");
  EXPECT_EQ(three_way_merge_patch(file, edited, live), edited);
}

TEST(ThreeWayPatch, WithoutLastAppliedNothingIsDeleted) {
  Json modified = Json::parse(R"({"spec": {"x": 1}})");
  Json current = Json::parse(R"({"spec": {"x": 1, "y": 2}})");
  EXPECT_TRUE(three_way_merge_patch(Json(), modified, current).empty());
}

TEST(HumanAge, KubectlUnits) {
  long long t0 = 1700000000;  // 2023-11-14T22:13:20Z
  EXPECT_EQ(human_age("2023-11-14T22:13:20Z", t0 + 5), "5s");
  EXPECT_EQ(human_age("2023-11-14T22:13:20Z", t0 + 150), "2m30s");
  EXPECT_EQ(human_age("2023-11-14T22:13:20Z", t0 + 3600), "60m");
  EXPECT_EQ(human_age("2023-11-14T22:13:20Z", t0 + 5 * 3600), "5h");
  EXPECT_EQ(human_age("2023-11-14T22:13:20Z", t0 + 3 * 86400), "3d");
  EXPECT_EQ(human_age("garbage", t0), "<unknown>");
}

TEST(Describe, PodSections) {
  Json pod = Json::parse(R"({"kind": "Pod", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}, "creationTimestamp": "2023-11-14T22:13:20Z"},
    "spec": {"nodeName": "n1", "containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
      "resources": {"limits": {"cpu": "500m"}}}]},
    "status": {"phase": "Running", "podIP": "10.1.0.4", "conditions": [{"type": "Ready", "status": "True"}],
      "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "state": {"running": {}}}]}})");
  std::string out = describe_object(pod);
  EXPECT_NE(out.find("Name:               web\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Labels:             app=web\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Annotations:        <none>\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Node:               n1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("    Image:          nginx:1.25\n"), std::string::npos) << out;
  EXPECT_NE(out.find("    Port:           80/TCP\n"), std::string::npos) << out;
  EXPECT_NE(out.find("    State:          Running\n"), std::string::npos) << out;
  EXPECT_NE(out.find("    Limits:         cpu: 500m\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  Ready   True\n"), std::string::npos) << out;
}

TEST(Describe, EventsTableOrNone) {
  EXPECT_EQ(describe_events(Json::object(), 0), "Events:              <none>\n");
  Json list = Json::parse(R"({"items": [{"type": "Normal", "reason": "Scheduled", "message": "assigned to n1",
     "source": {"component": "default-scheduler"}, "lastTimestamp": "2023-11-14T22:13:20Z"}]})");
  EXPECT_EQ(describe_events(list, 1700000000 + 30),
            "Events:\n"
            "  Type     Reason      Age    From                Message\n"
            "  ----     ------      ----   ----                -------\n"
            "  Normal   Scheduled   30s    default-scheduler   assigned to n1\n");
}

TEST(TablePrinter, AlignsByCodePointsNotBytes) {
  // The DNS PATHS cell carries "→" (3 bytes in UTF-8, one column wide).
  std::vector<std::vector<std::string>> rows{{"NAME", "PATHS", "AGE"},
                                             {"routes", "/a\u2192svc-a:80", "5m"}};
  EXPECT_EQ(display_width("/a\u2192svc-a:80"), 11u);
  EXPECT_EQ(format_columns(rows),
            "NAME     PATHS         AGE\n"
            "routes   /a\u2192svc-a:80   5m\n");
}

Json sample_node() {
  return Json::parse(R"({"kind": "Node", "metadata": {"name": "node-1", "creationTimestamp": "2023-11-14T22:13:20Z",
      "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-1"}},
    "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "unschedulable": true,
      "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
    "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
      "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
      "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
        "lastHeartbeatTime": "2023-11-14T22:13:20Z", "lastTransitionTime": "2023-11-14T22:13:20Z"}],
      "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}, {"type": "Hostname", "address": "node-1"}],
      "nodeInfo": {"kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "containerd://1.6",
        "kubeletVersion": "v1.32.0-minik8s", "operatingSystem": "linux", "architecture": "amd64"}}})");
}

TEST(Describe, NodeSectionsPodsAndAllocation) {
  DescribeRelated rel;
  rel.now_unix = 1700000000 + 120;
  Json pods = Json::parse(R"({"items": [
    {"metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2023-11-14T22:13:20Z"},
     "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1"}}},
                             {"name": "b", "resources": {"requests": {"cpu": "500m"}}}]}},
    {"metadata": {"name": "db", "namespace": "prod", "creationTimestamp": "2023-11-14T22:13:20Z"},
     "spec": {"containers": [{"name": "c"}]}}]})");
  Json lease = Json::parse(R"({"spec": {"holderIdentity": "node-1", "renewTime": "2023-11-14T22:15:00.000000Z"}})");
  rel.pods = &pods;
  rel.lease = &lease;
  std::string out = describe_object(sample_node(), rel);
  EXPECT_NE(out.find("Name:               node-1\nRoles:              control-plane\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Taints:             node.kubernetes.io/unschedulable:NoSchedule\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Unschedulable:      true\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  HolderIdentity:   node-1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  Ready   True     2023-11-14T22:13:20Z"), std::string::npos) << out;
  EXPECT_NE(out.find("KubeletReady   kubelet is posting ready status\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  InternalIP:  10.0.0.11\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Capacity:\n  cpu:              4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Allocatable:\n  cpu:              4\n  memory:           8Gi\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  Kernel Version:  6.1.0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("PodCIDR:            10.244.1.0/24\nPodCIDRs:           10.244.1.0/24\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Non-terminated Pods:  (2 in total)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  default     web    1 (25%)        1 (25%)      512Mi (6%)        0 (0%)          2m\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("  prod        db     0 (0%)"), std::string::npos) << out;
  EXPECT_NE(out.find("  cpu        1 (25%)      1 (25%)\n  memory     512Mi (6%)   0 (0%)\n"), std::string::npos) << out;
}

TEST(Describe, NodeWithoutPodsOrLease) {
  std::string out = describe_object(sample_node());
  EXPECT_NE(out.find("Non-terminated Pods:  (0 in total)\nAllocated resources:\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Lease:"), std::string::npos) << out;
  EXPECT_NE(out.find("  cpu        0 (0%)     0 (0%)\n"), std::string::npos) << out;
}

Json sample_service() {
  return Json::parse(R"({"kind": "Service", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
      "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
      "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]}})");
}

TEST(Describe, ServiceEndpointsFromSlices) {
  DescribeRelated rel;
  Json slices = Json::parse(R"({"items": [{"addressType": "IPv4",
    "endpoints": [{"addresses": ["10.244.1.2"]}, {"addresses": ["10.244.2.3"]}],
    "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]}]})");
  rel.endpoint_slices = &slices;
  std::string out = describe_object(sample_service(), rel);
  EXPECT_NE(out.find("Selector:           app=web\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Type:               NodePort\n"), std::string::npos) << out;
  EXPECT_NE(out.find("IP:                 10.96.0.10\nIPs:                10.96.0.10\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Port:               http  80/TCP\nTargetPort:         8080/TCP\n"
                     "NodePort:           http  30080/TCP\nEndpoints:          10.244.1.2:8080,10.244.2.3:8080\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("TargetPort:         metrics/TCP\nEndpoints:          10.244.1.2:9090,10.244.2.3:9090\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("Session Affinity:   None\n"), std::string::npos) << out;
}

TEST(Describe, ServiceEndpointsFromEndpointsAndNone) {
  DescribeRelated rel;
  Json eps = Json::parse(R"({"subsets": [{"addresses": [{"ip": "10.244.1.2"}, {"ip": "10.244.2.3"},
    {"ip": "10.244.3.4"}, {"ip": "10.244.4.5"}], "ports": [{"name": "http", "port": 8080}]}]})");
  rel.endpoints = &eps;
  std::string out = describe_object(sample_service(), rel);
  EXPECT_NE(out.find("Endpoints:          10.244.1.2:8080,10.244.2.3:8080,10.244.3.4:8080 + 1 more...\n"),
            std::string::npos) << out;
  // The metrics port has no endpoints in the Endpoints object: empty, as kubectl prints.
  EXPECT_NE(out.find("TargetPort:         metrics/TCP\nEndpoints:          \n"), std::string::npos) << out;
  out = describe_object(sample_service());
  EXPECT_NE(out.find("NodePort:           http  30080/TCP\nEndpoints:          <none>\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace minik8s::cli
