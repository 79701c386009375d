#include "framework.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace minik8s::scheduler {
namespace {

using api::Json;

Json node(const std::string& name, const std::string& cpu = "4", const std::string& mem = "8Gi") {
  return Json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name +
                     R"(","labels":{"kubernetes.io/hostname":")" + name + R"("}},
      "spec":{},
      "status":{"allocatable":{"cpu":")" + cpu + R"(","memory":")" + mem + R"(","pods":"110"},
                "conditions":[{"type":"Ready","status":"True"}]}})");
}

Json pod(const std::string& name, const std::string& cpu = "", const std::string& mem = "") {
  Json p = Json::parse(R"({"apiVersion":"v1","kind":"Pod",
      "metadata":{"name":")" + name + R"(","namespace":"default","uid":"uid-)" + name + R"(","labels":{}},
      "spec":{"containers":[{"name":"c","image":"busybox"}]}})");
  if (!cpu.empty()) p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = cpu;
  if (!mem.empty()) p["spec"]["containers"][0]["resources"]["requests"]["memory"] = mem;
  return p;
}

std::shared_ptr<const Json> ptr(Json j) { return std::make_shared<const Json>(std::move(j)); }

Json bound(Json p, const std::string& node_name) {
  p["spec"]["nodeName"] = node_name;
  p["status"]["phase"] = "Running";
  return p;
}

Snapshot snapshot(const std::vector<Json>& nodes, const std::vector<Json>& pods = {}) {
  Snapshot s;
  for (const auto& n : nodes) s.nodes.emplace_back(ptr(n));
  std::sort(s.nodes.begin(), s.nodes.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  for (const auto& p : pods) {
    for (auto& ni : s.nodes) {
      if (ni.name == p["spec"].value("nodeName", "") && pod_holds_resources(p)) ni.add_pod(ptr(p));
    }
  }
  return s;
}

std::vector<std::string> reasons(const FilterPlugin& f, const Json& p, const Snapshot& s, const std::string& n) {
  return f.filter(p, *s.find(n), s).reasons;
}

TEST(Requests, SumsContainersMaxesInitContainersAndDefaultsToLimits) {
  Json p = Json::parse(R"({"spec":{
    "containers":[{"name":"a","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}},
                  {"name":"b","resources":{"limits":{"cpu":"200m","memory":"1Gi","nvidia.com/gpu":"1"}}}],
    "initContainers":[{"name":"i","resources":{"requests":{"cpu":"2"}}}],
    "overhead":{"cpu":"10m"}}})");
  Resources r = pod_requests(p);
  EXPECT_EQ(r.cpu_milli, 2010);
  EXPECT_EQ(r.memory, (64 << 20) + (1LL << 30));
  EXPECT_EQ(r.ext("nvidia.com/gpu"), 1);
  EXPECT_EQ(r.extended.size(), 1u);
  EXPECT_EQ(r.pods, 1);
  Resources z = pod_requests_non_zero(pod("x"));
  EXPECT_EQ(z.cpu_milli, 100);
  EXPECT_EQ(z.memory, 200 * 1024 * 1024);
  EXPECT_EQ(pod_requests(pod("x")).cpu_milli, 0);
}

TEST(Requests, MalformedObjectsReadAsEmpty) {
  EXPECT_EQ(pod_requests(Json::parse(R"({"spec":{"containers":"nope"}})")).cpu_milli, 0);
  EXPECT_EQ(pod_requests(Json::parse(R"({"spec":{"containers":[{"resources":{"requests":{"cpu":"12Qi"}}}]}})")).cpu_milli, 0);
  EXPECT_EQ(pod_requests(Json::parse("42")).cpu_milli, 0);
  Resources a = node_allocatable(Json::parse(R"({"status":{"capacity":{"cpu":"2","memory":"1Gi"}}})"));
  EXPECT_EQ(a.cpu_milli, 2000);
  EXPECT_EQ(a.memory, 1LL << 30);
  EXPECT_EQ(a.pods, 110);
}

TEST(NodeReadyFilter, RejectsCordonedAndNotReadyNodes) {
  Json cordoned = node("a");
  cordoned["spec"]["unschedulable"] = true;
  Json not_ready = node("b");
  not_ready["status"]["conditions"][0]["status"] = "False";
  Json no_conditions = node("c");
  no_conditions["status"].erase("conditions");
  auto s = snapshot({cordoned, not_ready, no_conditions, node("d")});
  auto f = make_node_ready_filter();
  EXPECT_EQ(reasons(*f, pod("p"), s, "a"), std::vector<std::string>{"node(s) were unschedulable"});
  EXPECT_EQ(reasons(*f, pod("p"), s, "b"),
            std::vector<std::string>{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"});
  EXPECT_FALSE(f->filter(pod("p"), *s.find("c"), s).fits());
  EXPECT_TRUE(f->filter(pod("p"), *s.find("d"), s).fits());
  Json tolerant = pod("t");
  tolerant["spec"]["tolerations"] = Json::parse(R"([{"operator":"Exists"}])");
  EXPECT_TRUE(f->filter(tolerant, *s.find("a"), s).fits());
  EXPECT_TRUE(f->filter(tolerant, *s.find("b"), s).fits());
}

// The node lifecycle controller marks a node whose Lease expired Ready=Unknown
// and taints it node.kubernetes.io/unreachable:NoSchedule (and NoExecute):
// both keep new pods off it, whichever arrives first; the default
// NoExecute tolerations every pod gets do not tolerate NoSchedule.
TEST(NodeReadyFilter, UnreachableNodeGetsNoPods) {
  Json unknown = node("a");
  unknown["status"]["conditions"][0]["status"] = "Unknown";
  Json tainted = node("b");
  tainted["spec"]["taints"] = Json::parse(
      R"([{"key":"node.kubernetes.io/unreachable","effect":"NoSchedule"},
          {"key":"node.kubernetes.io/unreachable","effect":"NoExecute"}])");
  Json both = unknown;
  both["metadata"]["name"] = "c";
  both["spec"]["taints"] = tainted["spec"]["taints"];
  auto s = snapshot({unknown, tainted, both, node("d")});
  auto ready = make_node_ready_filter();
  auto taints = make_taint_toleration_filter();
  Json p = pod("p");
  p["spec"]["tolerations"] = Json::parse(
      R"([{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":30},
          {"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":30}])");
  EXPECT_EQ(reasons(*ready, p, s, "a"),
            std::vector<std::string>{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"});
  EXPECT_TRUE(ready->filter(p, *s.find("b"), s).fits());  // Ready=True, only tainted
  EXPECT_EQ(reasons(*taints, p, s, "b"),
            std::vector<std::string>{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"});
  EXPECT_TRUE(taints->filter(p, *s.find("a"), s).fits());  // not tainted yet
  // Through the whole framework: only the healthy node is chosen, and the
  // fit error names the reasons.
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kLeastAllocated, 1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(schedule_one(p, s, filters, *score).node, "d");
  auto s2 = snapshot({unknown, tainted, both});
  EXPECT_EQ(schedule_one(p, s2, filters, *score).fit_error(),
            "0/3 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.");
  // A pod tolerating the NoSchedule taint may go there (as in Kubernetes).
  Json tolerant = pod("t");
  tolerant["spec"]["tolerations"] = Json::parse(R"([{"key":"node.kubernetes.io/unreachable","operator":"Exists"}])");
  EXPECT_TRUE(ready->filter(tolerant, *s.find("a"), s).fits());
  EXPECT_TRUE(taints->filter(tolerant, *s.find("b"), s).fits());
  // Back to Ready with the taint removed: schedulable again (set_node keeps pods).
  NodeInfo back(ptr(unknown));
  back.add_pod(ptr(bound(pod("x", "1"), "a")));
  EXPECT_EQ(back.ready, "Unknown");
  back.set_node(ptr(node("a")));
  EXPECT_EQ(back.ready, "True");
  EXPECT_EQ(back.requested.cpu_milli, 1000);
  Snapshot one;
  one.nodes.push_back(back);
  EXPECT_TRUE(ready->filter(p, one.nodes[0], one).fits());
}

TEST(NodeInfo, RemovePodUndoesAddPod) {
  Json hp = pod("hp", "500m", "1Gi");
  hp["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort":80,"hostPort":8080}])");
  hp["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
      Json::parse(R"([{"labelSelector":{"matchLabels":{"app":"x"}},"topologyKey":"kubernetes.io/hostname"}])");
  auto a = PodInfo::make(ptr(bound(hp, "n")));
  auto b = PodInfo::make(ptr(bound(pod("b", "1", "2Gi"), "n")));
  NodeInfo ni(ptr(node("n")));
  ni.add_pod(*a);
  ni.add_pod(*b);
  EXPECT_EQ(ni.requested.cpu_milli, 1500);
  EXPECT_EQ(ni.used_ports.size(), 1u);
  EXPECT_EQ(ni.pods_with_required_anti_affinity.size(), 1u);
  EXPECT_TRUE(ni.remove_pod(*a));
  EXPECT_FALSE(ni.remove_pod(*a));
  EXPECT_EQ(ni.requested.cpu_milli, 1000);
  EXPECT_EQ(ni.requested.memory, 2LL << 30);
  EXPECT_EQ(ni.requested.pods, 1);
  EXPECT_TRUE(ni.used_ports.empty());
  EXPECT_TRUE(ni.pods_with_required_anti_affinity.empty());
  EXPECT_EQ(ni.pods.size(), 1u);
  EXPECT_TRUE(ni.remove_pod(*b));
  EXPECT_EQ(ni.requested.cpu_milli, 0);
  EXPECT_EQ(ni.requested_non_zero.cpu_milli, 0);
  EXPECT_EQ(ni.requested.pods, 0);
}

TEST(PartialScoring, KubernetesNumFeasibleNodesToFind) {
  EXPECT_EQ(num_feasible_nodes_to_find(3, 0), 3u);
  EXPECT_EQ(num_feasible_nodes_to_find(99, 0), 99u);
  EXPECT_EQ(num_feasible_nodes_to_find(100, 0), 100u);   // 50 - 0 = 50 % → 50 → at least 100
  EXPECT_EQ(num_feasible_nodes_to_find(1000, 0), 420u);  // 50 - 8 = 42 %
  EXPECT_EQ(num_feasible_nodes_to_find(5000, 0), 500u);  // 50 - 40 = 10 %
  EXPECT_EQ(num_feasible_nodes_to_find(10000, 0), 500u); // floor of 5 %
  EXPECT_EQ(num_feasible_nodes_to_find(1000, 100), 1000u);
  EXPECT_EQ(num_feasible_nodes_to_find(1000, 20), 200u);
  EXPECT_EQ(num_feasible_nodes_to_find(1000, 1), 100u);
}

TEST(PartialScoring, RotatesTheSearchAndStillSpreadsEvenly) {
  std::vector<Json> nodes;
  for (int i = 0; i < 300; ++i) nodes.push_back(node("n" + std::to_string(1000 + i), "32", "64Gi"));
  auto s = snapshot(nodes);
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kLeastAllocated, 1);
  size_t start = 0;
  ScheduleOptions so;
  so.feasible_to_find = num_feasible_nodes_to_find(s.nodes.size(), 50);  // 150 of 300 (adaptive: 48 %)
  so.next_start_index = &start;
  ASSERT_EQ(so.feasible_to_find, 150u);
  std::map<std::string, int> per_node;
  for (int i = 0; i < 3000; ++i) {
    Json p = pod("p" + std::to_string(i), "100m", "128Mi");
    auto res = schedule_one(CycleState::make(p, s), s, filters, *score, so);
    ASSERT_FALSE(res.node.empty());
    ++per_node[res.node];
    s.find(res.node)->add_pod(ptr(bound(p, res.node)));
  }
  EXPECT_EQ(start, 0u);  // 3000 cycles × 150 nodes = 1500 full turns
  ASSERT_EQ(per_node.size(), 300u);
  for (const auto& [n, k] : per_node) EXPECT_EQ(k, 10) << n;
  // Not enough feasible nodes: every node is filtered and the reasons are complete.
  Json big = pod("big", "31500m");
  s.find("n1000")->add_pod(ptr(bound(pod("hog", "2"), "n1000")));
  auto res = schedule_one(CycleState::make(big, s), s, filters, *score, so);
  EXPECT_TRUE(res.node.empty());
  EXPECT_EQ(res.fit_error(), "0/300 nodes are available: 300 Insufficient cpu.");
  // Round-robin keeps its meaning (over all feasible nodes) even when asked for a subset.
  auto rr = make_score_plugin(Policy::kRoundRobin, 1);
  size_t rr_start = 7;
  so.next_start_index = &rr_start;
  EXPECT_EQ(schedule_one(CycleState::make(pod("q"), s), s, filters, *rr, so).node, "n1000");
  EXPECT_EQ(schedule_one(CycleState::make(pod("q"), s), s, filters, *rr, so).node, "n1001");
}

TEST(ResourcesFitFilter, CountsBoundNonTerminatedPods) {
  Json done = bound(pod("done", "3"), "a");
  done["status"]["phase"] = "Succeeded";
  auto s = snapshot({node("a", "4", "8Gi"), node("b", "1", "1Gi")},
                    {bound(pod("x", "2", "1Gi"), "a"), done});
  auto f = make_resources_fit_filter();
  EXPECT_TRUE(f->filter(pod("p", "2"), *s.find("a"), s).fits());
  EXPECT_EQ(reasons(*f, pod("p", "2100m"), s, "a"), std::vector<std::string>{"Insufficient cpu"});
  EXPECT_EQ(reasons(*f, pod("p", "2", "2Gi"), s, "b"),
            (std::vector<std::string>{"Insufficient cpu", "Insufficient memory"}));
  EXPECT_TRUE(f->filter(pod("p"), *s.find("b"), s).fits());  // no requests always fit
  Json gpu = pod("g");
  gpu["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "1";
  EXPECT_EQ(reasons(*f, gpu, s, "a"), std::vector<std::string>{"Insufficient nvidia.com/gpu"});
  Json full = node("c");
  full["status"]["allocatable"]["pods"] = "1";
  auto s2 = snapshot({full}, {bound(pod("y"), "c")});
  EXPECT_EQ(reasons(*f, pod("p"), s2, "c"), std::vector<std::string>{"Too many pods"});
}

// Extended resources (any name with a domain outside kubernetes.io) fit like
// Kubernetes': whole units, summed over the node's pods against its
// allocatable; a node that does not list one has none.
TEST(ResourcesFitFilter, ExtendedResourcesFitLikeKubernetes) {
  Json gpu_node = node("gpu", "8", "16Gi");
  gpu_node["status"]["allocatable"]["nvidia.com/gpu"] = "2";
  gpu_node["status"]["allocatable"]["example.com/dongle"] = "1";
  auto with = [](Json p, const std::string& name, const std::string& n, const char* where = "limits") {
    p["spec"]["containers"][0]["resources"][where][name] = n;
    return p;
  };
  Json one = with(pod("one"), "nvidia.com/gpu", "1");
  // Two pods on it already use 1 + 0 GPUs (a finished one does not count).
  Json done = bound(with(pod("done"), "nvidia.com/gpu", "2"), "gpu");
  done["status"]["phase"] = "Failed";
  auto s = snapshot({gpu_node, node("cpu", "8", "16Gi")},
                    {bound(with(pod("held"), "nvidia.com/gpu", "1"), "gpu"), bound(pod("plain", "1"), "gpu"), done});
  auto f = make_resources_fit_filter();
  EXPECT_EQ(s.find("gpu")->allocatable.ext("nvidia.com/gpu"), 2);
  EXPECT_EQ(s.find("gpu")->requested.ext("nvidia.com/gpu"), 1);
  EXPECT_TRUE(f->filter(one, *s.find("gpu"), s).fits());
  EXPECT_EQ(reasons(*f, one, s, "cpu"), std::vector<std::string>{"Insufficient nvidia.com/gpu"});
  EXPECT_EQ(reasons(*f, with(pod("two"), "nvidia.com/gpu", "2"), s, "gpu"),
            std::vector<std::string>{"Insufficient nvidia.com/gpu"});
  // Requests count as well as limits; any domain is an extended resource.
  EXPECT_TRUE(f->filter(with(pod("d"), "example.com/dongle", "1", "requests"), *s.find("gpu"), s).fits());
  EXPECT_EQ(reasons(*f, with(pod("d2"), "example.com/dongle", "2"), s, "gpu"),
            std::vector<std::string>{"Insufficient example.com/dongle"});
  Json both = with(with(pod("b", "9"), "nvidia.com/gpu", "3"), "example.com/dongle", "2");
  EXPECT_EQ(reasons(*f, both, s, "gpu"),
            (std::vector<std::string>{"Insufficient cpu", "Insufficient example.com/dongle", "Insufficient nvidia.com/gpu"}));
  // Init containers: the largest one against the sum of the regular ones.
  Json init = with(pod("i"), "nvidia.com/gpu", "1");
  init["spec"]["initContainers"] = Json::parse(R"([{"name":"prep","resources":{"limits":{"nvidia.com/gpu":"2"}}}])");
  EXPECT_EQ(pod_requests(init).ext("nvidia.com/gpu"), 2);
  // Removing a pod gives its units back.
  NodeInfo& gi = *s.find("gpu");
  auto info = PodInfo::make(gi.pods[0]);
  ASSERT_TRUE(gi.remove_pod(*info));
  EXPECT_EQ(gi.requested.ext("nvidia.com/gpu"), 0);
  EXPECT_TRUE(f->filter(with(pod("two"), "nvidia.com/gpu", "2"), gi, s).fits());
  // Not extended: kubernetes.io names, quota names, plain names.
  for (const char* name : {"kubernetes.io/whatever", "requests.nvidia.com/gpu", "hugepages-2Mi", "ephemeral-storage"}) {
    EXPECT_TRUE(pod_requests(with(pod("x"), name, "5")).extended.empty()) << name;
  }
}

TEST(NodeAffinityFilter, NodeSelectorAndMatchExpressions) {
  Json ssd = node("a");
  ssd["metadata"]["labels"]["disk"] = "ssd";
  ssd["metadata"]["labels"]["gen"] = "5";
  auto s = snapshot({ssd, node("b")});
  auto f = make_node_affinity_filter();
  Json p = pod("p");
  p["spec"]["nodeSelector"]["disk"] = "ssd";
  EXPECT_TRUE(f->filter(p, *s.find("a"), s).fits());
  EXPECT_EQ(reasons(*f, p, s, "b"), std::vector<std::string>{"node(s) didn't match Pod's node affinity/selector"});

  auto with_expr = [](const std::string& exprs) {
    Json q = pod("q");
    q["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] =
        Json::parse("[{\"matchExpressions\":" + exprs + "}]");
    return q;
  };
  Json in = with_expr(R"([{"key":"disk","operator":"In","values":["ssd","nvme"]}])");
  EXPECT_TRUE(f->filter(in, *s.find("a"), s).fits());
  EXPECT_FALSE(f->filter(in, *s.find("b"), s).fits());
  Json notin = with_expr(R"([{"key":"disk","operator":"NotIn","values":["ssd"]}])");
  EXPECT_FALSE(f->filter(notin, *s.find("a"), s).fits());
  EXPECT_TRUE(f->filter(notin, *s.find("b"), s).fits());
  Json exists = with_expr(R"([{"key":"disk","operator":"Exists"}])");
  EXPECT_TRUE(f->filter(exists, *s.find("a"), s).fits());
  EXPECT_FALSE(f->filter(exists, *s.find("b"), s).fits());
  Json dne = with_expr(R"([{"key":"disk","operator":"DoesNotExist"}])");
  EXPECT_FALSE(f->filter(dne, *s.find("a"), s).fits());
  EXPECT_TRUE(f->filter(dne, *s.find("b"), s).fits());
  Json gt = with_expr(R"([{"key":"gen","operator":"Gt","values":["4"]}])");
  EXPECT_TRUE(f->filter(gt, *s.find("a"), s).fits());
  Json empty_term = with_expr("[]");
  EXPECT_FALSE(f->filter(empty_term, *s.find("a"), s).fits());
}

TEST(NodeNameFilter, OnlyTheNamedNode) {
  auto s = snapshot({node("a"), node("b")});
  Json p = pod("p");
  p["spec"]["nodeName"] = "b";
  auto f = make_node_name_filter();
  EXPECT_EQ(reasons(*f, p, s, "a"), std::vector<std::string>{"node(s) didn't match the requested node name"});
  EXPECT_TRUE(f->filter(p, *s.find("b"), s).fits());
}

TEST(TaintTolerationFilter, NoScheduleAndNoExecuteNeedTolerations) {
  Json tainted = node("a");
  tainted["spec"]["taints"] = Json::parse(R"([{"key":"dedicated","value":"gpu","effect":"NoSchedule"}])");
  Json soft = node("b");
  soft["spec"]["taints"] = Json::parse(R"([{"key":"x","effect":"PreferNoSchedule"}])");
  Json exec = node("c");
  exec["spec"]["taints"] = Json::parse(R"([{"key":"gone","effect":"NoExecute"}])");
  auto s = snapshot({tainted, soft, exec});
  auto f = make_taint_toleration_filter();
  EXPECT_EQ(reasons(*f, pod("p"), s, "a"), std::vector<std::string>{"node(s) had untolerated taint {dedicated: gpu}"});
  EXPECT_TRUE(f->filter(pod("p"), *s.find("b"), s).fits());
  EXPECT_EQ(reasons(*f, pod("p"), s, "c"), std::vector<std::string>{"node(s) had untolerated taint {gone: }"});

  Json equal = pod("e");
  equal["spec"]["tolerations"] = Json::parse(R"([{"key":"dedicated","operator":"Equal","value":"gpu","effect":"NoSchedule"}])");
  EXPECT_TRUE(f->filter(equal, *s.find("a"), s).fits());
  Json wrong_value = pod("w");
  wrong_value["spec"]["tolerations"] = Json::parse(R"([{"key":"dedicated","value":"cpu"}])");
  EXPECT_FALSE(f->filter(wrong_value, *s.find("a"), s).fits());
  Json wrong_effect = pod("we");
  wrong_effect["spec"]["tolerations"] = Json::parse(R"([{"key":"dedicated","operator":"Exists","effect":"NoExecute"}])");
  EXPECT_FALSE(f->filter(wrong_effect, *s.find("a"), s).fits());
  Json exists = pod("x");
  exists["spec"]["tolerations"] = Json::parse(R"([{"key":"gone","operator":"Exists"}])");
  EXPECT_TRUE(f->filter(exists, *s.find("c"), s).fits());
}

TEST(NodePortsFilter, HostPortConflicts) {
  Json user = pod("u");
  user["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort":80,"hostPort":8080}])");
  auto s = snapshot({node("a"), node("b")}, {bound(user, "a")});
  auto f = make_node_ports_filter();
  Json p = pod("p");
  p["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort":80,"hostPort":8080}])");
  EXPECT_EQ(reasons(*f, p, s, "a"),
            std::vector<std::string>{"node(s) didn't have free ports for the requested pod ports"});
  EXPECT_TRUE(f->filter(p, *s.find("b"), s).fits());
  Json udp = pod("udp");
  udp["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort":80,"hostPort":8080,"protocol":"UDP"}])");
  EXPECT_TRUE(f->filter(udp, *s.find("a"), s).fits());
  Json other = pod("o");
  other["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort":80,"hostPort":8081}])");
  EXPECT_TRUE(f->filter(other, *s.find("a"), s).fits());
  Json plain = pod("n");
  plain["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort":8080}])");
  EXPECT_TRUE(f->filter(plain, *s.find("a"), s).fits());
}

Json with_anti(Json p, const std::string& selector_json, const char* kind = "podAntiAffinity") {
  p["spec"]["affinity"][kind]["requiredDuringSchedulingIgnoredDuringExecution"] =
      Json::array({{{"labelSelector", Json::parse(selector_json)}, {"topologyKey", "kubernetes.io/hostname"}}});
  return p;
}

TEST(InterPodAffinityFilter, AntiAffinityBothDirections) {
  Json a = pod("a");
  a["metadata"]["labels"]["app"] = "a";
  Json b = with_anti(pod("b"), R"({"matchLabels":{"app":"a"}})");
  b["metadata"]["labels"]["app"] = "b";
  auto f = make_inter_pod_affinity_filter();
  // B's own anti-affinity keeps it off A's node.
  auto s = snapshot({node("n1"), node("n2")}, {bound(a, "n1")});
  EXPECT_EQ(reasons(*f, b, s, "n1"), std::vector<std::string>{"node(s) didn't match pod anti-affinity rules"});
  EXPECT_TRUE(f->filter(b, *s.find("n2"), s).fits());
  // B bound first: its anti-affinity repels A.
  auto s2 = snapshot({node("n1"), node("n2")}, {bound(b, "n1")});
  EXPECT_EQ(reasons(*f, a, s2, "n1"),
            std::vector<std::string>{"node(s) didn't satisfy existing pods anti-affinity rules"});
  EXPECT_TRUE(f->filter(a, *s2.find("n2"), s2).fits());
  // Another namespace does not match (namespaces default to the pod's own).
  Json a_other = a;
  a_other["metadata"]["namespace"] = "other";
  auto s3 = snapshot({node("n1")}, {bound(a_other, "n1")});
  EXPECT_TRUE(f->filter(b, *s3.find("n1"), s3).fits());
  // matchExpressions.
  Json c = with_anti(pod("c"), R"({"matchExpressions":[{"key":"app","operator":"In","values":["a","z"]}]})");
  EXPECT_FALSE(f->filter(c, *s.find("n1"), s).fits());
}

TEST(InterPodAffinityFilter, RequiredAffinity) {
  Json db = pod("db");
  db["metadata"]["labels"]["app"] = "db";
  Json web = with_anti(pod("web"), R"({"matchLabels":{"app":"db"}})", "podAffinity");
  auto f = make_inter_pod_affinity_filter();
  auto s = snapshot({node("n1"), node("n2")}, {bound(db, "n2")});
  EXPECT_EQ(reasons(*f, web, s, "n1"), std::vector<std::string>{"node(s) didn't match pod affinity rules"});
  EXPECT_TRUE(f->filter(web, *s.find("n2"), s).fits());
  // No matching pod anywhere: only a pod matching its own term may start the group.
  auto empty = snapshot({node("n1")});
  EXPECT_FALSE(f->filter(web, *empty.find("n1"), empty).fits());
  Json self = with_anti(db, R"({"matchLabels":{"app":"db"}})", "podAffinity");
  EXPECT_TRUE(f->filter(self, *empty.find("n1"), empty).fits());
}

TEST(Scores, LeastAllocatedSpreadsAndBreaksTiesByName) {
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kLeastAllocated, 1);
  std::vector<Json> bound_pods;
  std::map<std::string, int> count;
  for (int i = 0; i < 6; ++i) {
    auto s = snapshot({node("n3"), node("n1"), node("n2")}, bound_pods);
    Json p = pod("p" + std::to_string(i));  // no requests: non-zero defaults spread them
    auto res = schedule_one(p, s, filters, *score);
    ASSERT_FALSE(res.node.empty());
    if (i == 0) {
      EXPECT_EQ(res.node, "n1");
    }
    ++count[res.node];
    bound_pods.push_back(bound(p, res.node));
  }
  EXPECT_EQ(count, (std::map<std::string, int>{{"n1", 2}, {"n2", 2}, {"n3", 2}}));
  // Prefers the node with more room.
  auto s = snapshot({node("small", "2", "2Gi"), node("big", "16", "64Gi")});
  EXPECT_EQ(schedule_one(pod("q", "500m", "256Mi"), s, filters, *score).node, "big");
}

TEST(Scores, RoundRobinRotatesOverFeasibleNodes) {
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kRoundRobin, 1);
  Json cordoned = node("n2");
  cordoned["spec"]["unschedulable"] = true;
  auto s = snapshot({node("n1"), cordoned, node("n3")});
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) got.push_back(schedule_one(pod("p"), s, filters, *score).node);
  EXPECT_EQ(got, (std::vector<std::string>{"n1", "n3", "n1", "n3"}));
}

TEST(Scores, RandomIsSeededAndFeasible) {
  auto filters = default_filters();
  auto s = snapshot({node("n1"), node("n2"), node("n3")});
  auto a = make_score_plugin(Policy::kRandom, 42);
  auto b = make_score_plugin(Policy::kRandom, 42);
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string x = schedule_one(pod("p"), s, filters, *a).node;
    EXPECT_EQ(x, schedule_one(pod("p"), s, filters, *b).node);
    seen.insert(x);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(FitError, KubernetesFormatSortedCounts) {
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kLeastAllocated, 1);
  Json labelled = node("n3", "8");
  labelled["metadata"]["labels"]["zone"] = "x";
  Json n1 = node("n1", "1"), n2 = node("n2", "1");
  n1["metadata"]["labels"]["zone"] = "y";
  n2["metadata"]["labels"]["zone"] = "y";
  auto s = snapshot({n1, n2, labelled});
  Json p = pod("p", "2");
  p["spec"]["nodeSelector"]["zone"] = "y";
  auto res = schedule_one(p, s, filters, *score);
  EXPECT_TRUE(res.node.empty());
  EXPECT_EQ(res.fit_error(),
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.");
  auto none = schedule_one(p, Snapshot{}, filters, *score);
  EXPECT_EQ(none.fit_error(), "no nodes available to schedule pods");
}

TEST(ParsePolicy, KnownNamesOnly) {
  EXPECT_EQ(*parse_policy("least-allocated"), Policy::kLeastAllocated);
  EXPECT_EQ(*parse_policy("round-robin"), Policy::kRoundRobin);
  EXPECT_EQ(*parse_policy("random"), Policy::kRandom);
  EXPECT_EQ(parse_policy("best").status().code(), Code::kInvalid);
}

}  // namespace
}  // namespace minik8s::scheduler

namespace minik8s::scheduler {
namespace {

// One cycle (snapshot of 100 nodes with 3000 bound pods + filters + score)
// stays under the 5 ms per pod target; the asserted bound is looser because
// the test machine is shared.
TEST(Speed, OneCycleOverAHundredNodes) {
  std::vector<Json> nodes, pods;
  for (int i = 0; i < 100; ++i) nodes.push_back(node("n" + std::to_string(1000 + i), "64", "256Gi"));
  for (int i = 0; i < 3000; ++i) pods.push_back(bound(pod("p" + std::to_string(i), "100m", "64Mi"), "n" + std::to_string(1000 + i % 100)));
  std::vector<std::shared_ptr<const Json>> node_ptrs;
  for (auto& n : nodes) node_ptrs.push_back(ptr(n));
  std::vector<PodInfoPtr> infos;  // the scheduler caches these per pod object
  for (auto& p : pods) infos.push_back(PodInfo::make(ptr(p)));
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kLeastAllocated, 1);
  constexpr int kRounds = 20;
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration t_build{};
  for (int r = 0; r < kRounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    Snapshot s;
    for (auto& n : node_ptrs) s.nodes.emplace_back(n);
    std::sort(s.nodes.begin(), s.nodes.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
    for (size_t i = 0; i < infos.size(); ++i) s.nodes[i % 100].add_pod(*infos[i]);
    t_build += std::chrono::steady_clock::now() - t0;
    auto res = schedule_one(pod("new", "1", "1Gi"), s, filters, *score);
    ASSERT_FALSE(res.node.empty());
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count() / kRounds;
  auto build_us = std::chrono::duration_cast<std::chrono::microseconds>(t_build).count() / kRounds;
  std::printf("one scheduling cycle over 100 nodes / 3000 pods: %lld us (snapshot %lld us)\n",
              static_cast<long long>(us), static_cast<long long>(build_us));
  EXPECT_LT(us, 20000);
}

// The incremental path the scheduler runs: one Snapshot kept across cycles,
// CycleState once per pod, 1,000 nodes all scored. Budget for 3,000 pods/s is
// 333 us per pod; the asserted bound is looser because the machine is shared.
TEST(Speed, CycleOverAThousandNodesWithIncrementalSnapshot) {
  Snapshot s;
  for (int i = 0; i < 1000; ++i) s.nodes.emplace_back(ptr(node("n" + std::to_string(10000 + i), "32", "64Gi")));
  auto filters = default_filters();
  auto score = make_score_plugin(Policy::kLeastAllocated, 1);
  ScheduleOptions all;
  constexpr int kPods = 2000;
  std::vector<Json> pods;
  for (int i = 0; i < kPods; ++i) pods.push_back(pod("p" + std::to_string(i), "100m", "128Mi"));
  auto start = std::chrono::steady_clock::now();
  for (const auto& p : pods) {
    auto res = schedule_one(CycleState::make(p, s), s, filters, *score, all);
    ASSERT_FALSE(res.node.empty());
    s.find(res.node)->add_pod(*PodInfo::make(ptr(bound(p, res.node))));
  }
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
  std::printf("one scheduling cycle over 1000 nodes (all scored): %.1f us\n", static_cast<double>(us) / kPods);
  for (const auto& n : s.nodes) EXPECT_EQ(n.pods.size(), 2u) << n.name;
  EXPECT_LT(us / kPods, 3000);
}

}  // namespace
}  // namespace minik8s::scheduler
