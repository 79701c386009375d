// The scheduler against a real in-process ApiServer with fake Nodes (status
// with allocatable + Ready, no kubelet): spread, policies, infeasible pods and
// their retry on node/pod changes, and every filter seen through the API.
#include "minik8s/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "test/fakes/local_api.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"

namespace minik8s::scheduler {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kPods = "/api/v1/namespaces/default/pods";

class SchedulerIntegrationTest : public testing::ApiServerFixture {
 protected:
  void TearDown() override {
    if (sched_) sched_->stop();
    sched_.reset();
    ApiServerFixture::TearDown();
  }

  void start(Policy policy = Policy::kLeastAllocated) {
    SchedulerOptions o;
    o.policy = policy;
    o.random_seed = 7;
    sched_ = std::make_unique<Scheduler>(*client_, o);
    ASSERT_TRUE(sched_->start().is_ok());
  }

  static json node(const std::string& name, const std::string& cpu = "4", const std::string& mem = "8Gi") {
    return {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
            {"spec", json::object()},
            {"status",
             {{"capacity", {{"cpu", cpu}, {"memory", mem}, {"pods", "110"}}},
              {"allocatable", {{"cpu", cpu}, {"memory", mem}, {"pods", "110"}}},
              {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  }
  void add_node(const json& n) {
    auto r = post("/api/v1/nodes", n);
    ASSERT_EQ(r.code, 201) << r.body;
  }
  static json spod(const std::string& name, const std::string& cpu = "", const std::string& mem = "") {
    json p = pod(name, name);
    if (!cpu.empty()) p["spec"]["containers"][0]["resources"]["requests"]["cpu"] = cpu;
    if (!mem.empty()) p["spec"]["containers"][0]["resources"]["requests"]["memory"] = mem;
    return p;
  }
  void add_pod(const json& p) {
    auto r = post(kPods, p);
    ASSERT_EQ(r.code, 201) << r.body;
  }
  json get_pod(const std::string& name) { return req("GET", kPods + "/" + name).j(); }
  static std::string node_of(const json& p) {
    return p.contains("spec") && p["spec"].contains("nodeName") ? p["spec"]["nodeName"].get<std::string>() : "";
  }

  // Polls until pred() or the deadline.
  template <typename Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }
  std::string wait_bound(const std::string& name, std::chrono::milliseconds limit = 10s) {
    std::string n;
    eventually([&] { return !(n = node_of(get_pod(name))).empty(); }, limit);
    return n;
  }
  // The PodScheduled condition (null when absent).
  json scheduled_condition(const std::string& name) {
    json p = get_pod(name);
    if (p.contains("status") && p["status"].contains("conditions")) {
      for (auto& c : p["status"]["conditions"]) {
        if (c.value("type", "") == "PodScheduled") return c;
      }
    }
    return nullptr;
  }
  std::string wait_unschedulable(const std::string& name) {
    std::string msg;
    eventually([&] {
      json c = scheduled_condition(name);
      if (c.is_null() || c.value("status", "") != "False" || c.value("reason", "") != "Unschedulable") return false;
      msg = c.value("message", "");
      return true;
    });
    return msg;
  }
  std::vector<json> events_for(const std::string& pod_name) {
    std::vector<json> out;
    json list = req("GET", "/api/v1/namespaces/default/events").j();
    for (auto& e : list["items"]) {
      if (e["involvedObject"].value("name", "") == pod_name) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<Scheduler> sched_;
};

TEST_F(SchedulerIntegrationTest, LeastAllocatedSpreadsSixPodsTwoPerNodeAndRecordsEvents) {
  for (auto n : {"node1", "node2", "node3"}) add_node(node(n));
  start();
  for (int i = 0; i < 6; ++i) add_pod(spod("p" + std::to_string(i), "500m", "256Mi"));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 6; ++i) {
    std::string n = wait_bound("p" + std::to_string(i));
    ASSERT_FALSE(n.empty()) << "p" << i << " was not bound";
    ++per_node[n];
  }
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"node1", 2}, {"node2", 2}, {"node3", 2}}));

  json cond = scheduled_condition("p0");
  EXPECT_EQ(cond.value("status", ""), "True");
  std::string n0 = node_of(get_pod("p0"));
  json ev;
  ASSERT_TRUE(eventually([&] {
    for (auto& e : events_for("p0")) {
      if (e.value("reason", "") == "Scheduled") ev = e;
    }
    return !ev.is_null();
  }));
  EXPECT_EQ(ev["message"], "Successfully assigned default/p0 to " + n0);
  EXPECT_EQ(ev["type"], "Normal");
  EXPECT_EQ(ev["source"]["component"], "default-scheduler");
  EXPECT_EQ(ev["involvedObject"]["kind"], "Pod");
  EXPECT_EQ(ev["involvedObject"]["uid"], get_pod("p0")["metadata"]["uid"]);
}

TEST_F(SchedulerIntegrationTest, RoundRobinSpreadsEvenly) {
  for (auto n : {"node1", "node2", "node3"}) add_node(node(n));
  start(Policy::kRoundRobin);
  for (int i = 0; i < 6; ++i) add_pod(spod("p" + std::to_string(i)));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 6; ++i) ++per_node[wait_bound("p" + std::to_string(i))];
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"node1", 2}, {"node2", 2}, {"node3", 2}}));
}

TEST_F(SchedulerIntegrationTest, RandomBindsEveryPodToSomeNode) {
  for (auto n : {"node1", "node2"}) add_node(node(n));
  start(Policy::kRandom);
  for (int i = 0; i < 4; ++i) add_pod(spod("p" + std::to_string(i)));
  for (int i = 0; i < 4; ++i) {
    std::string n = wait_bound("p" + std::to_string(i));
    EXPECT_TRUE(n == "node1" || n == "node2") << n;
  }
}

TEST_F(SchedulerIntegrationTest, InfeasiblePodStaysPendingUntilABiggerNodeJoins) {
  for (auto n : {"node1", "node2", "node3"}) add_node(node(n, "1", "2Gi"));
  start();
  add_pod(spod("big", "2"));
  EXPECT_EQ(wait_unschedulable("big"), "0/3 nodes are available: 3 Insufficient cpu.");
  EXPECT_EQ(node_of(get_pod("big")), "");
  EXPECT_EQ(get_pod("big")["status"]["phase"], "Pending");
  json warn;
  ASSERT_TRUE(eventually([&] {
    for (auto& e : events_for("big")) {
      if (e.value("reason", "") == "FailedScheduling") warn = e;
    }
    return !warn.is_null();
  }));
  EXPECT_EQ(warn["type"], "Warning");
  EXPECT_EQ(warn["message"], "0/3 nodes are available: 3 Insufficient cpu.");

  add_node(node("node4", "4", "8Gi"));
  EXPECT_EQ(wait_bound("big", 10s), "node4");
  EXPECT_EQ(scheduled_condition("big").value("status", ""), "True");
  // Only one FailedScheduling event for an unchanged message.
  int failed = 0;
  for (auto& e : events_for("big")) failed += e.value("reason", "") == "FailedScheduling";
  EXPECT_EQ(failed, 1);
}

TEST_F(SchedulerIntegrationTest, DeletingABoundPodFreesRoomForAPendingOne) {
  add_node(node("node1", "1", "2Gi"));
  start();
  add_pod(spod("first", "800m"));
  ASSERT_EQ(wait_bound("first"), "node1");
  add_pod(spod("second", "800m"));
  EXPECT_EQ(wait_unschedulable("second"), "0/1 nodes are available: 1 Insufficient cpu.");
  auto d = req("DELETE", kPods + "/first", R"({"gracePeriodSeconds":0})");
  ASSERT_TRUE(d.code == 200 || d.code == 202) << d.body;
  ASSERT_TRUE(eventually([&] { return req("GET", kPods + "/first").code == 404; }));
  EXPECT_EQ(wait_bound("second"), "node1");
}

TEST_F(SchedulerIntegrationTest, NodeSelectorTaintsAndCordonedNodes) {
  json ssd = node("node1");
  ssd["metadata"]["labels"]["disk"] = "ssd";
  json tainted = node("node2");
  tainted["metadata"]["labels"]["role"] = "special";
  tainted["spec"]["taints"] = json::array({{{"key", "dedicated"}, {"value", "x"}, {"effect", "NoSchedule"}}});
  json cordoned = node("node3");
  cordoned["spec"]["unschedulable"] = true;
  add_node(ssd);
  add_node(tainted);
  add_node(cordoned);
  start();

  json sel = spod("sel");
  sel["spec"]["nodeSelector"] = {{"disk", "ssd"}};
  add_pod(sel);
  EXPECT_EQ(wait_bound("sel"), "node1");

  json notol = spod("notol");
  notol["spec"]["nodeSelector"] = {{"role", "special"}};
  add_pod(notol);
  EXPECT_EQ(wait_unschedulable("notol"),
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "1 node(s) had untolerated taint {dedicated: x}, 1 node(s) were unschedulable.");

  json tol = spod("tol");
  tol["spec"]["nodeSelector"] = {{"role", "special"}};
  tol["spec"]["tolerations"] = json::array({{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "x"}, {"effect", "NoSchedule"}}});
  add_pod(tol);
  EXPECT_EQ(wait_bound("tol"), "node2");

  // Unconstrained pods avoid the tainted and the cordoned node.
  for (int i = 0; i < 4; ++i) add_pod(spod("free" + std::to_string(i)));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(wait_bound("free" + std::to_string(i)), "node1");
  EXPECT_EQ(node_of(get_pod("notol")), "");

  // Uncordoning node3 is a node change: nothing pending fits it, but new pods may.
  auto r = req("PATCH", "/api/v1/nodes/node3", R"({"spec":{"unschedulable":false}})", "application/merge-patch+json");
  ASSERT_EQ(r.code, 200) << r.body;
  // A pod only node3 can take is bound there once the scheduler has seen the
  // change (at once, or as a retry of a pod found unschedulable before) ...
  json pinned = spod("pinned");
  pinned["spec"]["nodeSelector"] = {{"kubernetes.io/hostname", "node3"}};
  add_pod(pinned);
  EXPECT_EQ(wait_bound("pinned"), "node3");
  // ... and from then on an unconstrained one prefers it to the fuller node1.
  // (Without the pod above, this one could be scheduled from a node cache
  // that still had node3 cordoned: it went to node1 under CPU load.)
  add_pod(spod("after"));
  EXPECT_EQ(wait_bound("after"), "node3");
}

TEST_F(SchedulerIntegrationTest, PodAntiAffinityKeepsAAndBApart) {
  add_node(node("node1"));
  add_node(node("node2"));
  start();
  add_pod(spod("a", "100m"));  // label app=a
  std::string na = wait_bound("a");
  ASSERT_FALSE(na.empty());
  json b = spod("b", "100m");  // label app=b, never with app=a
  b["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json::array(
      {{{"labelSelector", {{"matchLabels", {{"app", "a"}}}}}, {"topologyKey", "kubernetes.io/hostname"}}});
  add_pod(b);
  std::string nb = wait_bound("b");
  ASSERT_FALSE(nb.empty());
  EXPECT_NE(na, nb);
  // The other direction: b's anti-affinity repels a new app=a pod from b's node,
  // although least-allocated would prefer that (emptier) node.
  for (int i = 0; i < 3; ++i) {
    json a2 = spod("a" + std::to_string(i), "100m");
    a2["metadata"]["labels"]["app"] = "a";
    add_pod(a2);
    EXPECT_EQ(wait_bound("a" + std::to_string(i)), na);
  }
}

TEST_F(SchedulerIntegrationTest, HostPortConflictsSpreadThenBlock) {
  add_node(node("node1"));
  add_node(node("node2"));
  start();
  for (int i = 0; i < 3; ++i) {
    json p = spod("hp" + std::to_string(i));
    p["spec"]["containers"][0]["ports"] = json::array({{{"containerPort", 80}, {"hostPort", 8080}}});
    add_pod(p);
    if (i < 2) {
      ASSERT_FALSE(wait_bound("hp" + std::to_string(i)).empty());
    }
  }
  EXPECT_NE(node_of(get_pod("hp0")), node_of(get_pod("hp1")));
  EXPECT_EQ(wait_unschedulable("hp2"),
            "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.");
}

TEST_F(SchedulerIntegrationTest, OtherSchedulersPodsAreLeftAlone) {
  add_node(node("node1"));
  start();
  json other = spod("other");
  other["spec"]["schedulerName"] = "someone-else";
  add_pod(other);
  add_pod(spod("mine"));
  EXPECT_EQ(wait_bound("mine"), "node1");
  EXPECT_EQ(node_of(get_pod("other")), "");
  EXPECT_TRUE(scheduled_condition("other").is_null());
}

TEST_F(SchedulerIntegrationTest, NotReadyNodeIsSkipped) {
  json down = node("node0");
  down["status"]["conditions"][0]["status"] = "False";
  add_node(down);
  start();
  add_pod(spod("p"));
  EXPECT_EQ(wait_unschedulable("p"),
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.");
  json st = down;
  st["status"]["conditions"][0]["status"] = "True";
  auto r = req("PATCH", "/api/v1/nodes/node0/status", json{{"status", st["status"]}}.dump(),
               "application/merge-patch+json");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(wait_bound("p"), "node0");
}

// How fast a burst is bound is bench/scheduler_bench's question; this test
// asks only where the pods go (30 s per pod is a failure bound, not a goal).
TEST_F(SchedulerIntegrationTest, BurstOfThirtyPodsIsSpread) {
  for (auto n : {"node1", "node2", "node3"}) add_node(node(n));
  start();
  add_pod(spod("warm"));
  ASSERT_FALSE(wait_bound("warm", 30s).empty());
  for (int i = 0; i < 30; ++i) add_pod(spod("b" + std::to_string(i), "100m", "64Mi"));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 30; ++i) {
    std::string name = "b" + std::to_string(i);
    std::string n = wait_bound(name, 30s);
    ASSERT_FALSE(n.empty()) << name << " was not bound";
    ++per_node[n];
  }
  // The assumed cache keeps a burst from piling onto one node.
  ASSERT_EQ(per_node.size(), 3u);
  for (auto& [n, c] : per_node) EXPECT_GE(c, 9) << n;
}

}  // namespace
}  // namespace minik8s::scheduler
