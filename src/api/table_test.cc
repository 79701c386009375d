#include "minik8s/api/table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/util/time.h"

namespace minik8s::api {
namespace {

Json J(const char* text) { return Json::parse(text); }

const ResourceType& kind(const char* api_version, const char* k) {
  return *find_kind(api_version, k);
}

std::string ago(int seconds) {
  return format_rfc3339(real_clock().now() - std::chrono::seconds(seconds));
}

// The row's cells by column name.
std::map<std::string, Json> row(const ResourceType& t, const Json& obj) {
  Json table = make_table(t, {obj}, J(R"({"resourceVersion":"7"})"));
  std::map<std::string, Json> out;
  const Json& cols = table["columnDefinitions"];
  const Json& cells = table["rows"][0]["cells"];
  EXPECT_EQ(cols.size(), cells.size());
  for (size_t i = 0; i < cols.size() && i < cells.size(); ++i) {
    out[cols[i]["name"].get<std::string>()] = cells[i];
  }
  return out;
}

TEST(TableTest, ShapeAndPartialObjectMetadata) {
  Json pod =
      J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"d","uid":"u1",
    "labels":{"app":"web"}},"spec":{"containers":[{"name":"a","image":"x"}]}})");
  pod["metadata"]["creationTimestamp"] = ago(300);
  Json t =
      make_table(kind("v1", "Pod"), {pod, pod}, J(R"({"resourceVersion":"42","continue":"abc"})"));
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t["metadata"], J(R"({"resourceVersion":"42","continue":"abc"})"));
  const Json& cols = t["columnDefinitions"];
  ASSERT_GE(cols.size(), 5u);
  EXPECT_EQ(cols[0]["name"], "NAME");
  EXPECT_EQ(cols[0]["format"], "name");
  EXPECT_EQ(cols[0]["priority"], 0);
  EXPECT_EQ(cols[1]["name"], "READY");
  EXPECT_EQ(cols[4]["name"], "AGE");
  EXPECT_EQ(cols[5]["name"], "IP");
  EXPECT_EQ(cols[5]["priority"], 1);
  ASSERT_EQ(t["rows"].size(), 2u);
  EXPECT_EQ(t["rows"][0]["cells"][0], "web");
  EXPECT_EQ(t["rows"][0]["cells"][4], "5m");
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"], pod["metadata"]);
  Json bare = make_table(kind("v1", "Pod"), {pod}, Json::object(), false);
  EXPECT_FALSE(bare["rows"][0].contains("object"));
  EXPECT_TRUE(make_table(kind("v1", "Pod"), {}, Json::object())["rows"].empty());
}

TEST(TableTest, PodReadyStatusRestarts) {
  const ResourceType& t = kind("v1", "Pod");
  Json pod = J(R"({"metadata":{"name":"p"},
    "spec":{"nodeName":"node-1","containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]},
    "status":{"phase":"Pending","podIP":"10.244.1.5","containerStatuses":[
      {"name":"a","ready":true,"restartCount":1,"state":{"running":{"startedAt":"2024-01-01T00:00:00Z"}}},
      {"name":"b","ready":false,"restartCount":2,"state":{"waiting":{"reason":"ContainerCreating"}}}]}})");
  auto r = row(t, pod);
  EXPECT_EQ(r["READY"], "1/2");
  EXPECT_EQ(r["STATUS"], "ContainerCreating");
  EXPECT_EQ(r["RESTARTS"], "3");
  EXPECT_EQ(r["IP"], "10.244.1.5");
  EXPECT_EQ(r["NODE"], "node-1");
  EXPECT_EQ(r["NOMINATED NODE"], "<none>");
  EXPECT_EQ(r["READINESS GATES"], "<none>");

  pod["status"]["containerStatuses"][1]["state"] =
      J(R"({"waiting":{"reason":"CrashLoopBackOff"}})");
  pod["status"]["containerStatuses"][1]["lastState"]["terminated"]["finishedAt"] = ago(120);
  r = row(t, pod);
  EXPECT_EQ(r["STATUS"], "CrashLoopBackOff");
  EXPECT_EQ(r["RESTARTS"], "3 (2m ago)");

  Json done = J(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"}]},
    "status":{"phase":"Succeeded","containerStatuses":[{"name":"a","ready":false,"restartCount":0,
      "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}})");
  EXPECT_EQ(row(t, done)["STATUS"], "Completed");
  EXPECT_EQ(row(t, done)["READY"], "0/1");

  Json running = J(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"}]},
    "status":{"phase":"Running","containerStatuses":[{"name":"a","ready":true,"restartCount":0,
      "state":{"running":{}}}]}})");
  EXPECT_EQ(row(t, running)["STATUS"], "Running");
  EXPECT_EQ(row(t, running)["READY"], "1/1");
  running["metadata"]["deletionTimestamp"] = ago(1);
  EXPECT_EQ(row(t, running)["STATUS"], "Terminating");

  Json init = J(R"({"metadata":{"name":"p"},"spec":{"initContainers":[{"name":"i","image":"x"}],
    "containers":[{"name":"a","image":"x"}]},
    "status":{"phase":"Pending","initContainerStatuses":[{"name":"i","restartCount":0,
      "state":{"running":{}}}]}})");
  EXPECT_EQ(row(t, init)["STATUS"], "Init:0/1");

  Json evicted = J(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"}]},
    "status":{"phase":"Failed","reason":"Evicted"}})");
  EXPECT_EQ(row(t, evicted)["STATUS"], "Evicted");
}

TEST(TableTest, ServicePorts) {
  const ResourceType& t = kind("v1", "Service");
  Json svc = J(R"({"metadata":{"name":"web"},"spec":{"type":"NodePort","clusterIP":"10.96.0.10",
    "selector":{"app":"web","tier":"a"},
    "ports":[{"port":80,"nodePort":30080,"protocol":"TCP"},{"port":443,"protocol":"TCP"},{"port":53,"protocol":"UDP"}]}})");
  auto r = row(t, svc);
  EXPECT_EQ(r["TYPE"], "NodePort");
  EXPECT_EQ(r["CLUSTER-IP"], "10.96.0.10");
  EXPECT_EQ(r["EXTERNAL-IP"], "<none>");
  EXPECT_EQ(r["PORT(S)"], "80:30080/TCP,443/TCP,53/UDP");
  EXPECT_EQ(r["SELECTOR"], "app=web,tier=a");
  svc["spec"]["clusterIPs"] = J(R"(["10.96.0.12"])");
  EXPECT_EQ(row(t, svc)["CLUSTER-IP"], "10.96.0.12");
  svc["spec"]["externalIPs"] = J(R"(["192.0.2.1","192.0.2.2"])");
  EXPECT_EQ(row(t, svc)["EXTERNAL-IP"], "192.0.2.1,192.0.2.2");
  Json lb = J(
      R"({"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.11","ports":[]}})");
  EXPECT_EQ(row(t, lb)["EXTERNAL-IP"], "<pending>");
  EXPECT_EQ(row(t, lb)["PORT(S)"], "<none>");
  EXPECT_EQ(row(t, lb)["SELECTOR"], "<none>");
}

TEST(TableTest, NodeStatusAndRoles) {
  const ResourceType& t = kind("v1", "Node");
  Json node = J(R"({"metadata":{"name":"n1","labels":{"node-role.kubernetes.io/control-plane":"",
      "node-role.kubernetes.io/worker":"","kubernetes.io/os":"linux"}},
    "spec":{"unschedulable":true},
    "status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}],
      "addresses":[{"type":"Hostname","address":"n1"},{"type":"InternalIP","address":"192.168.1.10"}],
      "nodeInfo":{"kubeletVersion":"v1.30.0-minik8s","osImage":"Debian","kernelVersion":"6.1",
                  "containerRuntimeVersion":"containerd://1.7"}}})");
  auto r = row(t, node);
  EXPECT_EQ(r["STATUS"], "Ready,SchedulingDisabled");
  EXPECT_EQ(r["ROLES"], "control-plane,worker");
  EXPECT_EQ(r["VERSION"], "v1.30.0-minik8s");
  EXPECT_EQ(r["INTERNAL-IP"], "192.168.1.10");
  EXPECT_EQ(r["EXTERNAL-IP"], "<none>");
  EXPECT_EQ(r["CONTAINER-RUNTIME"], "containerd://1.7");
  Json bare = J(
      R"({"metadata":{"name":"n2"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}})");
  // Kubernetes prints NotReady for a Ready condition that is not True
  // (Unknown included) and Unknown only when there is no Ready condition.
  EXPECT_EQ(row(t, bare)["STATUS"], "NotReady");
  EXPECT_EQ(row(t, bare)["ROLES"], "<none>");
  EXPECT_EQ(row(t, bare)["OS-IMAGE"], "<unknown>");
  EXPECT_EQ(row(t, bare)["KERNEL-VERSION"], "<unknown>");
  EXPECT_EQ(row(t, bare)["CONTAINER-RUNTIME"], "<unknown>");
  bare["status"]["conditions"][0]["status"] = "False";
  EXPECT_EQ(row(t, bare)["STATUS"], "NotReady");
  bare["spec"]["unschedulable"] = true;
  EXPECT_EQ(row(t, bare)["STATUS"], "NotReady,SchedulingDisabled");
  bare["status"].erase("conditions");
  EXPECT_EQ(row(t, bare)["STATUS"], "Unknown,SchedulingDisabled");
  bare["spec"]["unschedulable"] = false;
  EXPECT_EQ(row(t, bare)["STATUS"], "Unknown");
}

TEST(TableTest, NodeColumnsInKubernetesOrder) {
  Json table = make_table(kind("v1", "Node"), {}, Json::object());
  std::vector<std::string> names, wide;
  for (const Json& c : table["columnDefinitions"]) {
    (c["priority"] == 0 ? names : wide).push_back(c["name"].get<std::string>());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}));
  EXPECT_EQ(wide, (std::vector<std::string>{"INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                                            "KERNEL-VERSION", "CONTAINER-RUNTIME"}));
}

TEST(TableTest, EndpointsAsKubernetesFormatsThem) {
  const ResourceType& t = kind("v1", "Endpoints");
  // Per port, then per address; the first three, then "+ N more...".
  Json ep = J(R"({"metadata":{"name":"web"},"subsets":[
    {"addresses":[{"ip":"10.244.1.2"},{"ip":"10.244.2.3"}],"ports":[{"name":"http","port":80},{"name":"https","port":443}]}]})");
  EXPECT_EQ(row(t, ep)["ENDPOINTS"], "10.244.1.2:80,10.244.2.3:80,10.244.1.2:443 + 1 more...");
  Json two = J(R"({"metadata":{"name":"web"},"subsets":[
    {"addresses":[{"ip":"10.244.1.2"},{"ip":"10.244.2.3"}],"ports":[{"port":80}]},
    {"addresses":[{"ip":"10.244.3.4"},{"ip":"fd00::5"}],"ports":[{"port":80}]}]})");
  EXPECT_EQ(row(t, two)["ENDPOINTS"], "10.244.1.2:80,10.244.2.3:80,10.244.3.4:80 + 1 more...");
  Json v6 = J(R"({"metadata":{"name":"web"},"subsets":[{"addresses":[{"ip":"fd00::5"}],"ports":[{"port":80}]}]})");
  EXPECT_EQ(row(t, v6)["ENDPOINTS"], "[fd00::5]:80");
  Json headless = J(R"({"metadata":{"name":"h"},"subsets":[{"addresses":[{"ip":"10.244.1.2"}]}]})");
  EXPECT_EQ(row(t, headless)["ENDPOINTS"], "10.244.1.2");
  // Only not-ready addresses: an empty cell, as Kubernetes prints it.
  Json not_ready = J(R"({"metadata":{"name":"n"},"subsets":[{"notReadyAddresses":[{"ip":"10.244.1.2"}],"ports":[{"port":80}]}]})");
  EXPECT_EQ(row(t, not_ready)["ENDPOINTS"], "");
  EXPECT_EQ(row(t, J(R"({"metadata":{"name":"e"},"subsets":[]})"))["ENDPOINTS"], "<none>");
}

TEST(TableTest, EndpointSliceColumnsAndCells) {
  const ResourceType& t = kind("discovery.k8s.io/v1", "EndpointSlice");
  Json table = make_table(t, {}, Json::object());
  std::vector<std::string> names;
  for (const Json& c : table["columnDefinitions"]) names.push_back(c["name"].get<std::string>());
  EXPECT_EQ(names,
            (std::vector<std::string>{"NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"}));
  Json slice = J(R"({"metadata":{"name":"web-abc12"},"addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.1.2"]},{"addresses":["10.244.2.3"]},{"addresses":["10.244.3.4"]},
                 {"addresses":["10.244.4.5"]},{"addresses":["10.244.5.6"]}],
    "ports":[{"name":"http","port":80,"protocol":"TCP"},{"name":"metrics"},{}]})");
  slice["metadata"]["creationTimestamp"] = ago(120);
  auto r = row(t, slice);
  EXPECT_EQ(r["NAME"], "web-abc12");
  EXPECT_EQ(r["ADDRESSTYPE"], "IPv4");
  EXPECT_EQ(r["PORTS"], "80,metrics,*");
  EXPECT_EQ(r["ENDPOINTS"], "10.244.1.2,10.244.2.3,10.244.3.4 + 2 more...");
  EXPECT_EQ(r["AGE"], "2m");
  Json empty = J(R"({"metadata":{"name":"e"},"addressType":"IPv4","endpoints":[]})");
  EXPECT_EQ(row(t, empty)["PORTS"], "<unset>");
  EXPECT_EQ(row(t, empty)["ENDPOINTS"], "<unset>");
}

TEST(TableTest, HpaTargets) {
  const ResourceType& t = kind("autoscaling/v2", "HorizontalPodAutoscaler");
  Json hpa = J(R"({"metadata":{"name":"web"},"spec":{
    "scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
    "minReplicas":2,"maxReplicas":10,
    "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}]},
    "status":{"currentReplicas":3,"currentMetrics":[
      {"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":73,"averageValue":"150m"}}}]}})");
  auto r = row(t, hpa);
  EXPECT_EQ(r["REFERENCE"], "Deployment/web");
  EXPECT_EQ(r["TARGETS"], "cpu: 73%/50%");
  EXPECT_EQ(r["MINPODS"], "2");
  EXPECT_EQ(r["MAXPODS"], 10);
  EXPECT_EQ(r["REPLICAS"], 3);
  hpa["status"].erase("currentMetrics");
  hpa["spec"]["metrics"].push_back(J(
      R"({"type":"Resource","resource":{"name":"memory","target":{"type":"AverageValue","averageValue":"100Mi"}}})"));
  EXPECT_EQ(row(t, hpa)["TARGETS"], "cpu: <unknown>/50%, memory: <unknown>/100Mi");
  hpa["spec"].erase("metrics");
  EXPECT_EQ(row(t, hpa)["TARGETS"], "<none>");
}

TEST(TableTest, WorkloadsAndOthers) {
  Json d =
      J(R"({"metadata":{"name":"web"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
    "template":{"spec":{"containers":[{"name":"a","image":"nginx:1"},{"name":"b","image":"busybox"}]}}},
    "status":{"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}})");
  auto r = row(kind("apps/v1", "Deployment"), d);
  EXPECT_EQ(r["READY"], "2/3");
  EXPECT_EQ(r["UP-TO-DATE"], 3);
  EXPECT_EQ(r["AVAILABLE"], 2);
  EXPECT_EQ(r["CONTAINERS"], "a,b");
  EXPECT_EQ(r["IMAGES"], "nginx:1,busybox");
  EXPECT_EQ(r["SELECTOR"], "app=web");
  r = row(kind("apps/v1", "ReplicaSet"), d);
  EXPECT_EQ(r["DESIRED"], 3);
  EXPECT_EQ(r["CURRENT"], 0);
  EXPECT_EQ(r["READY"], 2);

  Json ep = J(
      R"({"metadata":{"name":"web"},"subsets":[{"addresses":[{"ip":"10.244.1.5"},{"ip":"10.244.2.3"}],
    "ports":[{"port":80}]}]})");
  EXPECT_EQ(row(kind("v1", "Endpoints"), ep)["ENDPOINTS"], "10.244.1.5:80,10.244.2.3:80");
  EXPECT_EQ(row(kind("v1", "Endpoints"), J(R"({"metadata":{"name":"x"}})"))["ENDPOINTS"], "<none>");

  Json dns = J(R"({"metadata":{"name":"d"},"spec":{"host":"example.com","paths":[
    {"path":"/a","serviceName":"svc-a","servicePort":80},{"path":"/b","serviceName":"svc-b","servicePort":8080}]}})");
  r = row(kind("minik8s.io/v1", "DNS"), dns);
  EXPECT_EQ(r["HOST"], "example.com");
  EXPECT_EQ(r["PATHS"], "/a\u2192svc-a:80,/b\u2192svc-b:8080");
  EXPECT_EQ(r["PATHS"], "/a\xe2\x86\x92svc-a:80,/b\xe2\x86\x92svc-b:8080");  // UTF-8 on the wire

  Json cm = J(R"({"metadata":{"name":"c"},"data":{"a":"1","b":"2"},"binaryData":{"c":"AA=="}})");
  EXPECT_EQ(row(kind("v1", "ConfigMap"), cm)["DATA"], 3);
  Json sec = J(R"({"metadata":{"name":"s"},"type":"Opaque","data":{"a":"MQ=="}})");
  EXPECT_EQ(row(kind("v1", "Secret"), sec)["TYPE"], "Opaque");
  EXPECT_EQ(row(kind("v1", "Secret"), sec)["DATA"], 1);
  Json lease = J(R"({"metadata":{"name":"l"},"spec":{"holderIdentity":"node-1"}})");
  EXPECT_EQ(row(kind("coordination.k8s.io/v1", "Lease"), lease)["HOLDER"], "node-1");
  Json ns = J(R"({"metadata":{"name":"dev"},"status":{"phase":"Active"}})");
  EXPECT_EQ(row(kind("v1", "Namespace"), ns)["STATUS"], "Active");
}

TEST(TableTest, EventsLeadWithLastSeenAndHideName) {
  const ResourceType& t = kind("v1", "Event");
  Json ev = J(R"({"metadata":{"name":"web.17a"},"type":"Warning","reason":"BackOff","count":3,
    "message":"Back-off restarting failed container","source":{"component":"kubelet"},
    "involvedObject":{"kind":"Pod","name":"web","namespace":"d"}})");
  ev["lastTimestamp"] = ago(60);
  ev["firstTimestamp"] = ago(600);
  Json table = make_table(t, {ev}, Json::object());
  EXPECT_EQ(table["columnDefinitions"][0]["name"], "LAST SEEN");
  EXPECT_EQ(table["columnDefinitions"].back()["name"], "NAME");
  EXPECT_EQ(table["columnDefinitions"].back()["priority"], 1);
  auto r = row(t, ev);
  EXPECT_EQ(r["LAST SEEN"], "60s (x3 over 10m)");
  EXPECT_EQ(r["TYPE"], "Warning");
  EXPECT_EQ(r["REASON"], "BackOff");
  EXPECT_EQ(r["OBJECT"], "pod/web");
  EXPECT_EQ(r["MESSAGE"], "Back-off restarting failed container");
  EXPECT_EQ(r["NAME"], "web.17a");
}

}  // namespace
}  // namespace minik8s::api
