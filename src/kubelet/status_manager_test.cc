// The status manager as pure functions: runtime containers + the worker's
// view + the clock in, pod status out (no runtime, no API server).
#include "status_manager.h"

#include <gtest/gtest.h>

#include "labels.h"

namespace minik8s::kubelet {
namespace {

constexpr int64_t kSec = 1000000000LL;

SysTime at_time(const char* rfc3339) {
  SysTime t;
  EXPECT_TRUE(parse_rfc3339(rfc3339, &t));
  return t;
}
int64_t ns_of(const char* rfc3339) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(at_time(rfc3339).time_since_epoch()).count();
}

json pod_with(json containers, const std::string& policy = "Always", json init = json::array()) {
  json spec = {{"containers", std::move(containers)}, {"restartPolicy", policy}};
  if (!init.empty()) spec["initContainers"] = std::move(init);
  return {{"metadata", {{"name", "web"}, {"namespace", "prod"}, {"uid", "u1"}}}, {"spec", spec}};
}
json container(const std::string& name, json extra = json::object()) {
  json c = {{"name", name}, {"image", "busybox:1.36"}};
  c.update(extra);
  return c;
}

class StatusManagerTest : public ::testing::Test {
 protected:
  StatusManagerTest() {
    ctx_.node_ip = "192.168.7.7";
    ctx_.pod_ip = "10.244.0.5";
    ctx_.start_time = "2026-12-07T09:59:00Z";
    ctx_.now = at_time("2026-12-07T10:00:00Z");
  }
  // An instance of container name: restart count, state, and (for a status)
  // start/finish times and exit code.
  void add(const std::string& name, const std::string& id, uint32_t restarts, cri::ContainerState state,
           int64_t started = 0, int64_t finished = 0, int32_t exit_code = 0, const std::string& reason = "") {
    cri::Container c;
    c.id = id;
    c.name = name;
    c.state = state;
    c.image_ref = "sha256:abc";
    c.annotations[kRestartCountAnnotation] = std::to_string(restarts);
    c.created_at = started;
    rt_.containers[name].push_back(c);
    sort_newest_first(rt_.containers[name]);
    cri::ContainerStatus st;
    st.container = c;
    st.started_at = started;
    st.finished_at = finished;
    st.exit_code = exit_code;
    st.reason = reason;
    rt_.statuses[id] = st;
  }
  json status(const json& pod) { return compute_status(pod, rt_, ctx_); }
  static json condition(const json& status, const std::string& type) {
    for (const auto& c : status["conditions"]) {
      if (c["type"] == type) return c;
    }
    ADD_FAILURE() << "no condition " << type;
    return json::object();
  }

  PodRuntimeState rt_;
  StatusContext ctx_;
};

TEST_F(StatusManagerTest, NothingRunYetIsPendingContainerCreating) {
  json s = status(pod_with({container("app")}));
  EXPECT_EQ(s["phase"], "Pending");
  EXPECT_EQ(s["hostIP"], "192.168.7.7");
  EXPECT_EQ(s["hostIPs"], json::parse(R"([{"ip":"192.168.7.7"}])"));
  EXPECT_EQ(s["podIP"], "10.244.0.5");
  EXPECT_EQ(s["startTime"], "2026-12-07T09:59:00Z");
  EXPECT_EQ(s["qosClass"], "BestEffort");
  EXPECT_FALSE(s.contains("initContainerStatuses"));
  const json& cs = s["containerStatuses"][0];
  EXPECT_EQ(cs["name"], "app");
  EXPECT_EQ(cs["state"], json::parse(R"({"waiting":{"reason":"ContainerCreating"}})"));
  EXPECT_EQ(cs["restartCount"], 0);
  EXPECT_EQ(cs["ready"], false);
  EXPECT_EQ(condition(s, "Initialized")["status"], "True");
  json ready = condition(s, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "ContainersNotReady");
  EXPECT_EQ(ready["message"], "containers with unready status: [app]");
  EXPECT_EQ(ready["lastTransitionTime"], "2026-12-07T10:00:00Z");
  EXPECT_EQ(condition(s, "ContainersReady")["status"], "False");
  EXPECT_EQ(condition(s, "PodScheduled")["status"], "True");
  EXPECT_EQ(s["conditions"].size(), 4u);
}

TEST_F(StatusManagerTest, WorkerWaitingReasonShowsBeforeAnyInstance) {
  rt_.views["app"].waiting_reason = "ErrImagePull";
  rt_.views["app"].waiting_message = "pull access denied";
  json s = status(pod_with({container("app")}));
  EXPECT_EQ(s["containerStatuses"][0]["state"],
            json::parse(R"({"waiting":{"reason":"ErrImagePull","message":"pull access denied"}})"));
  EXPECT_EQ(s["phase"], "Pending");
}

TEST_F(StatusManagerTest, RunningWithoutProbesIsReady) {
  add("app", "c1", 0, cri::ContainerState::kRunning, ns_of("2026-12-07T09:59:30Z"));
  json s = status(pod_with({container("app")}));
  EXPECT_EQ(s["phase"], "Running");
  const json& cs = s["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["running"]["startedAt"], "2026-12-07T09:59:30Z");
  EXPECT_EQ(cs["containerID"], "containerd://c1");
  EXPECT_EQ(cs["imageID"], "sha256:abc");
  EXPECT_EQ(cs["started"], true);
  EXPECT_EQ(cs["ready"], true);
  EXPECT_EQ(cs["lastState"], json::object());
  for (const char* t : {"Initialized", "Ready", "ContainersReady", "PodScheduled"}) {
    EXPECT_EQ(condition(s, t)["status"], "True") << t;
    EXPECT_FALSE(condition(s, t).contains("reason")) << t;
  }
}

TEST_F(StatusManagerTest, ReadinessProbeGatesReadyForItsInstanceOnly) {
  add("app", "c1", 0, cri::ContainerState::kRunning, ns_of("2026-12-07T09:59:30Z"));
  json pod = pod_with({container("app", {{"readinessProbe", {{"exec", {{"command", {"true"}}}}}}})});
  EXPECT_EQ(status(pod)["containerStatuses"][0]["ready"], false);  // not probed yet
  ContainerView& v = rt_.views["app"];
  v.probe_cid = "c1";
  v.started = true;
  v.ready = true;
  json s = status(pod);
  EXPECT_EQ(s["containerStatuses"][0]["ready"], true);
  EXPECT_EQ(condition(s, "Ready")["status"], "True");
  v.probe_cid = "c0";  // results of an older instance do not count
  EXPECT_EQ(status(pod)["containerStatuses"][0]["ready"], false);
}

TEST_F(StatusManagerTest, StartupProbeNotPassedIsNotStarted) {
  add("app", "c1", 0, cri::ContainerState::kRunning, ns_of("2026-12-07T09:59:30Z"));
  json s = status(pod_with({container("app", {{"startupProbe", {{"tcpSocket", {{"port", 80}}}}}})}));
  EXPECT_EQ(s["containerStatuses"][0]["started"], false);
  EXPECT_EQ(s["containerStatuses"][0]["ready"], false);
  EXPECT_EQ(s["phase"], "Running");
}

TEST_F(StatusManagerTest, RestartCountAndLastStateFromThePreviousInstance) {
  add("app", "c1", 0, cri::ContainerState::kExited, ns_of("2026-12-07T09:59:00Z"), ns_of("2026-12-07T09:59:10Z"), 137,
      "OOMKilled");
  add("app", "c2", 1, cri::ContainerState::kRunning, ns_of("2026-12-07T09:59:20Z"));
  ASSERT_EQ(status_ids_needed(pod_with({container("app")}), rt_.containers), (std::vector<std::string>{"c2", "c1"}));
  json s = status(pod_with({container("app")}));
  const json& cs = s["containerStatuses"][0];
  EXPECT_EQ(cs["restartCount"], 1);
  EXPECT_EQ(cs["containerID"], "containerd://c2");
  EXPECT_EQ(cs["lastState"]["terminated"],
            json::parse(R"({"exitCode":137,"reason":"OOMKilled","startedAt":"2026-12-07T09:59:00Z",
                            "finishedAt":"2026-12-07T09:59:10Z","containerID":"containerd://c1"})"));
}

TEST_F(StatusManagerTest, CrashLoopBackOffWaitsWithTheLastTermination) {
  add("app", "c1", 3, cri::ContainerState::kExited, ns_of("2026-12-07T09:59:00Z"), ns_of("2026-12-07T09:59:01Z"), 1);
  rt_.views["app"].waiting_reason = "CrashLoopBackOff";
  rt_.views["app"].waiting_message = "back-off 40s restarting failed container=app pod=web_prod(u1)";
  json s = status(pod_with({container("app")}));
  const json& cs = s["containerStatuses"][0];
  EXPECT_EQ(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(cs["state"]["waiting"]["message"], "back-off 40s restarting failed container=app pod=web_prod(u1)");
  EXPECT_EQ(cs["lastState"]["terminated"]["reason"], "Error");
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(cs["restartCount"], 3);
  EXPECT_EQ(s["phase"], "Running");  // restartPolicy Always
  EXPECT_EQ(condition(s, "Ready")["status"], "False");
}

TEST_F(StatusManagerTest, PhasesOfExitedContainersFollowTheRestartPolicy) {
  add("a", "ca", 0, cri::ContainerState::kExited, 10 * kSec, 20 * kSec, 0);
  add("b", "cb", 0, cri::ContainerState::kExited, 10 * kSec, 20 * kSec, 2);
  json both = json::array({container("a"), container("b")});
  EXPECT_EQ(status(pod_with({container("a")}, "Never"))["phase"], "Succeeded");
  EXPECT_EQ(status(pod_with({container("a")}, "OnFailure"))["phase"], "Succeeded");
  EXPECT_EQ(status(pod_with(both, "Never"))["phase"], "Failed");
  EXPECT_EQ(status(pod_with(both, "OnFailure"))["phase"], "Running");  // b restarts
  EXPECT_EQ(status(pod_with(both, "Always"))["phase"], "Running");
  json done = status(pod_with({container("a")}, "Never"));
  EXPECT_EQ(done["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
  json ready = condition(done, "Ready");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "PodCompleted");
  EXPECT_FALSE(ready.contains("message"));
  EXPECT_EQ(condition(done, "Initialized")["status"], "True");
}

TEST_F(StatusManagerTest, RunningInitContainerKeepsThePodInitializing) {
  add("init", "ci", 0, cri::ContainerState::kRunning, 10 * kSec);
  json s = status(pod_with({container("app")}, "Always", {container("init")}));
  EXPECT_EQ(s["phase"], "Pending");
  EXPECT_EQ(s["initContainerStatuses"][0]["ready"], false);
  EXPECT_EQ(s["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing");
  json init = condition(s, "Initialized");
  EXPECT_EQ(init["status"], "False");
  EXPECT_EQ(init["reason"], "ContainersNotInitialized");
  EXPECT_EQ(init["message"], "containers with incomplete status: [init]");
}

TEST_F(StatusManagerTest, SucceededInitContainerLetsTheOthersStart) {
  add("init", "ci", 0, cri::ContainerState::kExited, 10 * kSec, 20 * kSec, 0);
  json s = status(pod_with({container("app")}, "Always", {container("init")}));
  EXPECT_EQ(s["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
  EXPECT_EQ(s["containerStatuses"][0]["state"]["waiting"]["reason"], "ContainerCreating");
  EXPECT_EQ(condition(s, "Initialized")["status"], "True");
  EXPECT_EQ(s["phase"], "Pending");
}

TEST_F(StatusManagerTest, FailedInitContainerFailsThePodUnderNever) {
  add("init", "ci", 0, cri::ContainerState::kExited, 10 * kSec, 20 * kSec, 1);
  json pod = pod_with({container("app")}, "Never", {container("init")});
  json s = status(pod);
  EXPECT_EQ(s["phase"], "Failed");
  EXPECT_EQ(s["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 1);
  // Under Always it is retried: the pod stays Pending.
  EXPECT_EQ(status(pod_with({container("app")}, "Always", {container("init")}))["phase"], "Pending");
}

TEST_F(StatusManagerTest, TransitionTimesAreKeptWhileTheConditionStays) {
  add("app", "c1", 0, cri::ContainerState::kRunning, 10 * kSec);
  ctx_.previous = {{"conditions",
                    {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", "2026-12-07T09:00:00Z"}},
                     {{"type", "ContainersReady"}, {"status", "False"}, {"lastTransitionTime", "2026-12-07T09:00:00Z"}},
                     {{"type", "PodScheduled"}, {"status", "True"}, {"lastTransitionTime", "2026-12-07T08:00:00Z"},
                      {"lastProbeTime", nullptr}}}}};
  json s = status(pod_with({container("app")}));
  EXPECT_EQ(condition(s, "Ready")["lastTransitionTime"], "2026-12-07T09:00:00Z");
  EXPECT_EQ(condition(s, "ContainersReady")["lastTransitionTime"], "2026-12-07T10:00:00Z");  // False → True now
  EXPECT_EQ(condition(s, "Initialized")["lastTransitionTime"], "2026-12-07T10:00:00Z");
  EXPECT_EQ(condition(s, "PodScheduled")["lastTransitionTime"], "2026-12-07T08:00:00Z");
}

TEST_F(StatusManagerTest, HostNetworkPodsHaveTheNodeIP) {
  ctx_.host_network = true;
  EXPECT_EQ(status(pod_with({container("app")}))["podIP"], "192.168.7.7");
  ctx_.host_network = false;
  ctx_.pod_ip.clear();
  EXPECT_FALSE(status(pod_with({container("app")})).contains("podIP"));
}

TEST_F(StatusManagerTest, RejectedAndEssence) {
  json r = rejected_status(pod_with({container("app")}), "OutOfpods", "no room");
  EXPECT_EQ(r["phase"], "Failed");
  EXPECT_EQ(r["reason"], "OutOfpods");
  EXPECT_EQ(r["message"], "Pod was rejected: no room");
  add("app", "c1", 0, cri::ContainerState::kRunning, 10 * kSec);
  json e = status_essence(status(pod_with({container("app")})));
  EXPECT_EQ(e, json::parse(R"({"phase":"Running","podIP":"10.244.0.5","conditions":
              {"Initialized":"True","Ready":"True","ContainersReady":"True","PodScheduled":"True"}})"));
}

}  // namespace
}  // namespace minik8s::kubelet
