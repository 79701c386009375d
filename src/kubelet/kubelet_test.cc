// The kubelet against a real in-process API server and the in-memory
// FakeRuntime: pods reach Running with Kubernetes-shaped status, restarts,
// back-off, image errors, init containers, probes, graceful deletion and
// adoption after a kubelet restart.
#include "minik8s/kubelet/kubelet.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/rest_client.h"
#include "test/fakes/fake_runtime.h"
#include "test/fakes/local_api.h"

namespace minik8s::kubelet {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using testing::FakeRuntime;

constexpr const char* kNode = "node1";

class KubeletTest : public testing::ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    if (HasFatalFailure()) return;
    pods_ = api::find_kind("v1", "Pod");
    events_ = api::find_kind("v1", "Event");
    // A fake cgroupfs: two v1 hierarchies.
    cgroup_fs_ = dir() / "cgroup";
    for (const char* h : {"cpu", "memory"}) {
      std::filesystem::create_directories(cgroup_fs_ / h);
      std::ofstream(cgroup_fs_ / h / "cgroup.procs") << "";
    }
    runtime_.add_image("busybox:1.36");
    runtime_.add_image("pause:3.9");
    start_kubelet();
  }
  void TearDown() override {
    kubelet_.reset();
    ApiServerFixture::TearDown();
  }

  KubeletOptions options() {
    KubeletOptions o;
    o.node_name = kNode;
    o.node_ip = "192.168.7.7";
    o.root_dir = (dir() / "kubelet").string();
    o.pod_log_dir = (dir() / "logs").string();
    o.cgroup_fs = cgroup_fs_.string();
    o.cgroup_root = "/minik8s/node1";
    o.relist_period = 50ms;
    o.backoff_initial = 300ms;
    o.backoff_max = 1200ms;
    o.status_resync = 500ms;
    o.cluster_dns = {"10.96.0.10"};
    return o;
  }
  void start_kubelet() { start_kubelet(options()); }
  void start_kubelet(const KubeletOptions& o) {
    kubelet_.reset();
    kubelet_ = std::make_unique<Kubelet>(*client_, runtime_, o);
    ASSERT_TRUE(kubelet_->start().is_ok());
  }
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  static json make_pod(const std::string& name, json containers, json extra_spec = json::object()) {
    json spec = {{"nodeName", kNode}, {"containers", std::move(containers)}, {"terminationGracePeriodSeconds", 3}};
    spec.update(extra_spec);
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", name}}}}},
            {"spec", spec}};
  }
  static json container(const std::string& name, const std::string& image = "busybox:1.36") {
    return {{"name", name}, {"image", image}, {"command", {"sleep", "3600"}}};
  }
  json create(const json& pod) {
    auto r = client_->create(*pods_, pod);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r.value() : json();
  }
  json get(const std::string& name) {
    auto r = client_->get(*pods_, "default", name);
    return r.is_ok() ? r.value() : json();
  }
  // Polls the pod until pred holds; returns the last pod seen.
  json wait_pod(const std::string& name, const std::function<bool(const json&)>& pred,
                std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    json p;
    while (std::chrono::steady_clock::now() < end) {
      p = get(name);
      if (!p.is_null() && pred(p)) return p;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "timed out waiting for pod " << name << "; last: " << p.dump(2);
    return p;
  }
  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }
  static const json* cstatus(const json& pod, const std::string& name, const char* list = "containerStatuses") {
    if (!pod.contains("status") || !pod["status"].contains(list)) return nullptr;
    for (const auto& c : pod["status"][list]) {
      if (c.value("name", "") == name) return &c;
    }
    return nullptr;
  }
  static std::string waiting_reason(const json& pod, const std::string& name) {
    const json* c = cstatus(pod, name);
    if (!c || !(*c)["state"].contains("waiting")) return "";
    return (*c)["state"]["waiting"].value("reason", "");
  }
  static int restarts(const json& pod, const std::string& name) {
    const json* c = cstatus(pod, name);
    return c ? (*c).value("restartCount", -1) : -1;
  }
  static std::string condition(const json& pod, const std::string& type) {
    for (const auto& c : pod["status"].value("conditions", json::array())) {
      if (c.value("type", "") == type) return c.value("status", "");
    }
    return "";
  }
  static bool running(const json& pod) { return pod["status"].value("phase", "") == "Running"; }
  std::vector<std::string> event_reasons(const std::string& pod) {
    std::vector<std::string> out;
    auto r = client_->list(*events_, "default");
    if (!r.is_ok()) return out;
    for (const auto& e : r.value()["items"]) {
      if (e["involvedObject"].value("name", "") == pod) out.push_back(e.value("reason", ""));
    }
    return out;
  }
  bool has_event(const std::string& pod, const std::string& reason) {
    return wait_for([&] {
      auto v = event_reasons(pod);
      return std::find(v.begin(), v.end(), reason) != v.end();
    });
  }

  const api::ResourceType* pods_ = nullptr;
  const api::ResourceType* events_ = nullptr;
  std::filesystem::path cgroup_fs_;
  FakeRuntime runtime_;
  std::unique_ptr<Kubelet> kubelet_;
};

TEST_F(KubeletTest, PodRunsWithKubernetesShapedStatus) {
  json pod = make_pod("web", {container("main"), container("side")});
  pod["spec"]["containers"][0]["ports"] = {{{"containerPort", 80}, {"hostPort", 8080}}};
  json created = create(pod);
  std::string uid = created["metadata"]["uid"];
  json p = wait_pod("web", [](const json& p) { return running(p) && condition(p, "Ready") == "True"; });

  const json& st = p["status"];
  EXPECT_EQ(st["hostIP"], "192.168.7.7");
  EXPECT_EQ(st["podIP"].get<std::string>().rfind("10.88.0.", 0), 0u) << st.dump();
  EXPECT_EQ(st["podIPs"][0]["ip"], st["podIP"]);
  EXPECT_FALSE(st.value("startTime", "").empty());
  EXPECT_EQ(st["qosClass"], "BestEffort");
  EXPECT_EQ(condition(p, "Initialized"), "True");
  EXPECT_EQ(condition(p, "ContainersReady"), "True");
  EXPECT_EQ(condition(p, "PodScheduled"), "True");
  for (const char* name : {"main", "side"}) {
    const json* c = cstatus(p, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_TRUE((*c)["state"].contains("running")) << c->dump();
    EXPECT_FALSE((*c)["state"]["running"].value("startedAt", "").empty());
    EXPECT_TRUE((*c)["ready"].get<bool>());
    EXPECT_TRUE((*c)["started"].get<bool>());
    EXPECT_EQ((*c)["restartCount"], 0);
    EXPECT_EQ((*c)["image"], "busybox:1.36");
    EXPECT_EQ((*c)["containerID"].get<std::string>(), "containerd://" + runtime_.running_id(name));
    EXPECT_EQ((*c)["lastState"], json::object());
  }

  // What the runtime was asked for.
  auto sbs = runtime_.sandboxes();
  ASSERT_EQ(sbs.size(), 1u);
  const auto& cfg = sbs.begin()->second.config;
  EXPECT_EQ(cfg.hostname, "web");
  EXPECT_EQ(cfg.labels.at("io.kubernetes.pod.uid"), uid);
  EXPECT_EQ(cfg.labels.at("io.kubernetes.pod.name"), "web");
  EXPECT_EQ(cfg.labels.at("minik8s.io/node"), kNode);
  EXPECT_EQ(cfg.labels.at("app"), "web");
  EXPECT_EQ(cfg.cgroup_parent, "/minik8s/node1/pod" + uid);
  EXPECT_TRUE(std::filesystem::is_directory(cgroup_fs_ / "memory/minik8s/node1" / ("pod" + uid)));
  EXPECT_EQ(cfg.log_directory, (dir() / "logs").string() + "/default_web_" + uid);
  EXPECT_EQ(cfg.dns.servers, std::vector<std::string>{"10.96.0.10"});
  EXPECT_EQ(cfg.dns.searches,
            (std::vector<std::string>{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}));
  EXPECT_EQ(cfg.dns.options, std::vector<std::string>{"ndots:5"});
  ASSERT_EQ(cfg.port_mappings.size(), 1u);
  EXPECT_EQ(cfg.port_mappings[0].host_port, 8080);
  EXPECT_EQ(cfg.port_mappings[0].container_port, 80);
  auto cts = runtime_.containers();
  ASSERT_EQ(cts.size(), 2u);
  for (const auto& [id, c] : cts) {
    EXPECT_EQ(c.config.log_path, c.config.name + "/0.log");
    EXPECT_EQ(c.config.labels.at("io.kubernetes.container.name"), c.config.name);
    EXPECT_EQ(c.config.annotations.at("io.kubernetes.container.restartCount"), "0");
    EXPECT_FALSE(c.config.annotations.at("io.kubernetes.container.hash").empty());
    EXPECT_EQ(c.config.command, (std::vector<std::string>{"sleep", "3600"}));
  }
  EXPECT_TRUE(has_event("web", "Pulled"));
  EXPECT_TRUE(has_event("web", "Created"));
  EXPECT_TRUE(has_event("web", "Started"));
  EXPECT_EQ(kubelet_->running_pods(), 1u);

  auto ref = kubelet_->find_container("default", "web", "side");
  ASSERT_TRUE(ref.is_ok()) << ref.status().to_string();
  EXPECT_EQ(ref->container_id, runtime_.running_id("side"));
  EXPECT_EQ(ref->pod_uid, uid);
  EXPECT_EQ(ref->log_path, cfg.log_directory + "/side/0.log");
  auto first = kubelet_->find_container("default", "web", "");
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(first->container_id, runtime_.running_id("main"));
  EXPECT_FALSE(kubelet_->find_container("default", "web", "main", true).is_ok());
  EXPECT_FALSE(kubelet_->find_container("default", "nope", "").is_ok());
}

TEST_F(KubeletTest, KilledContainerIsRestartedWithLastState) {
  create(make_pod("k", {container("c")}));
  wait_pod("k", running);
  std::string id = runtime_.running_id("c");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(runtime_.kill(id, 137));
  json p = wait_pod("k", [](const json& p) { return restarts(p, "c") == 1 && running(p) && cstatus(p, "c")->at("state").contains("running"); });
  const json* c = cstatus(p, "c");
  ASSERT_NE(c, nullptr);
  const json& last = (*c)["lastState"]["terminated"];
  EXPECT_EQ(last["exitCode"], 137);
  EXPECT_EQ(last["reason"], "Error");
  EXPECT_EQ(last["containerID"], "containerd://" + id);
  EXPECT_FALSE(last.value("finishedAt", "").empty());
  EXPECT_NE(runtime_.running_id("c"), id);
  auto cts = runtime_.containers();
  EXPECT_EQ(cts.at(runtime_.running_id("c")).config.log_path, "c/1.log");
  // logs --previous finds the dead one.
  auto prev = kubelet_->find_container("default", "k", "c", true);
  ASSERT_TRUE(prev.is_ok()) << prev.status().to_string();
  EXPECT_EQ(prev->container_id, id);
}

TEST_F(KubeletTest, OomKilledReason) {
  create(make_pod("oom", {container("c")}));
  wait_pod("oom", running);
  ASSERT_TRUE(runtime_.kill(runtime_.running_id("c"), 137, "OOMKilled"));
  json p = wait_pod("oom", [](const json& p) { return restarts(p, "c") == 1; });
  EXPECT_EQ((*cstatus(p, "c"))["lastState"]["terminated"]["reason"], "OOMKilled");
  EXPECT_EQ((*cstatus(p, "c"))["lastState"]["terminated"]["exitCode"], 137);
}

TEST_F(KubeletTest, CrashLoopBackOff) {
  runtime_.exit_on_start("c", 1);
  create(make_pod("crash", {container("c")}));
  json p = wait_pod("crash", [](const json& p) { return waiting_reason(p, "c") == "CrashLoopBackOff"; });
  const json& w = (*cstatus(p, "c"))["state"]["waiting"];
  EXPECT_NE(w.value("message", "").find("back-off 300ms restarting failed container=c pod=crash"), std::string::npos)
      << w.dump();
  EXPECT_EQ((*cstatus(p, "c"))["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(p["status"]["phase"], "Running");  // restartPolicy Always
  EXPECT_EQ(condition(p, "Ready"), "False");
  EXPECT_TRUE(has_event("crash", "BackOff"));
  // Restarts continue, spaced by the growing back-off.
  p = wait_pod("crash", [](const json& p) { return restarts(p, "c") >= 3; }, 8s);
  auto starts = runtime_.count_calls("start_container:c");
  EXPECT_GE(starts, 4u);
  EXPECT_LE(starts, 6u);  // not a tight loop
  // Only the newest two instances are kept (state + lastState / logs --previous).
  EXPECT_LE(runtime_.container_ids("c").size(), 2u);
}

TEST_F(KubeletTest, OnFailureCompletesAndNeverFails) {
  runtime_.exit_on_start("ok", 0);
  create(make_pod("done", {container("ok")}, {{"restartPolicy", "OnFailure"}}));
  json p = wait_pod("done", [](const json& p) { return p["status"].value("phase", "") == "Succeeded"; });
  EXPECT_EQ((*cstatus(p, "ok"))["state"]["terminated"]["reason"], "Completed");
  EXPECT_EQ(restarts(p, "ok"), 0);
  // A finished pod gives back its sandbox (and IP); the exited container stays.
  EXPECT_TRUE(wait_for([&] {
    for (const auto& [id, sb] : runtime_.sandboxes()) {
      if (sb.sandbox.name == "done") return sb.sandbox.state == cri::SandboxState::kNotReady;
    }
    return false;
  }));
  EXPECT_EQ(runtime_.container_ids("ok").size(), 1u);

  runtime_.exit_on_start("bad", 2);
  create(make_pod("failed", {container("bad")}, {{"restartPolicy", "Never"}}));
  p = wait_pod("failed", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  EXPECT_EQ((*cstatus(p, "bad"))["state"]["terminated"]["exitCode"], 2);
  EXPECT_EQ((*cstatus(p, "bad"))["state"]["terminated"]["reason"], "Error");
  // Stays failed: no restarts.
  std::this_thread::sleep_for(400ms);  // would be enough for a restart with a 300 ms back-off
  EXPECT_EQ(runtime_.count_calls("start_container:bad"), 1u);
  EXPECT_EQ(runtime_.count_calls("start_container:ok"), 1u);

  // OnFailure restarts a failing container.
  runtime_.exit_on_start("flaky", 3);
  create(make_pod("flaky", {container("flaky")}, {{"restartPolicy", "OnFailure"}}));
  wait_pod("flaky", [](const json& p) { return restarts(p, "flaky") >= 1; });
}

TEST_F(KubeletTest, MissingImageErrImagePullThenImagePullBackOff) {
  create(make_pod("img", {container("c", "nosuch:1.0")}));
  json p = wait_pod("img", [](const json& p) { return waiting_reason(p, "c") == "ErrImagePull"; });
  std::string msg = (*cstatus(p, "c"))["state"]["waiting"].value("message", "");
  EXPECT_NE(msg.find("failed to pull and unpack image"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
  EXPECT_EQ(p["status"]["phase"], "Pending");
  p = wait_pod("img", [](const json& p) { return waiting_reason(p, "c") == "ImagePullBackOff"; });
  msg = (*cstatus(p, "c"))["state"]["waiting"].value("message", "");
  EXPECT_NE(msg.find("failed to pull and unpack image"), std::string::npos) << msg;
  EXPECT_TRUE(has_event("img", "Failed"));
  EXPECT_TRUE(has_event("img", "BackOff"));
  EXPECT_EQ(runtime_.count_calls("create_container"), 0u);
  // Once the image can be pulled, the pod starts.
  runtime_.pullable("nosuch:1.0");
  wait_pod("img", running, 5s);
}

TEST_F(KubeletTest, AlwaysPolicyFallsBackToLocalImageOffline) {
  runtime_.add_image("tool:latest");
  create(make_pod("offline", {container("c", "tool")}));  // no tag → Always
  wait_pod("offline", running);
  EXPECT_GE(runtime_.count_calls("pull_image:tool"), 1u);
  EXPECT_TRUE(has_event("offline", "FailedPullUsingLocal"));
}

TEST_F(KubeletTest, CreateAndStartErrors) {
  runtime_.set_create_error("c", "failed to create containerd container: mount source missing");
  create(make_pod("cerr", {container("c")}));
  json p = wait_pod("cerr", [](const json& p) { return waiting_reason(p, "c") == "CreateContainerError"; });
  EXPECT_NE((*cstatus(p, "c"))["state"]["waiting"].value("message", "").find("mount source missing"),
            std::string::npos);
  runtime_.clear_errors();
  runtime_.set_start_error("c", "failed to create shim task: exec: \"nope\": executable file not found");
  p = wait_pod("cerr", [](const json& p) { return waiting_reason(p, "c") == "RunContainerError"; });
  EXPECT_NE((*cstatus(p, "c"))["state"]["waiting"].value("message", "").find("executable file not found"),
            std::string::npos);
  runtime_.clear_errors();
  wait_pod("cerr", running);
}

TEST_F(KubeletTest, MissingConfigMapIsCreateContainerConfigError) {
  json c = container("c");
  c["env"] = {{{"name", "X"}, {"valueFrom", {{"configMapKeyRef", {{"name", "nocm"}, {"key", "k"}}}}}}};
  create(make_pod("cfgerr", {c}));
  json p = wait_pod("cfgerr", [](const json& p) { return waiting_reason(p, "c") == "CreateContainerConfigError"; });
  EXPECT_NE((*cstatus(p, "c"))["state"]["waiting"].value("message", "").find("nocm"), std::string::npos);
}

TEST_F(KubeletTest, EnvFieldRefs) {
  json c = container("c");
  c["env"] = {{{"name", "LIT"}, {"value", "v"}},
              {{"name", "POD"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
              {{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
              {{"name", "IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
              {{"name", "NODE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}}};
  create(make_pod("env", {c}));
  json p = wait_pod("env", running);
  auto cts = runtime_.containers();
  ASSERT_EQ(cts.size(), 1u);
  std::map<std::string, std::string> env;
  for (const auto& kv : cts.begin()->second.config.envs) env[kv.key] = kv.value;
  EXPECT_EQ(env["LIT"], "v");
  EXPECT_EQ(env["POD"], "env");
  EXPECT_EQ(env["NS"], "default");
  EXPECT_EQ(env["IP"], p["status"]["podIP"]);
  EXPECT_EQ(env["NODE"], kNode);
}

TEST_F(KubeletTest, InitContainersRunInOrder) {
  runtime_.exit_on_start("init1", 0);
  runtime_.exit_on_start("init2", 0);
  json pod = make_pod("init", {container("main")});
  pod["spec"]["initContainers"] = {container("init1"), container("init2")};
  create(pod);
  json p = wait_pod("init", running);
  auto calls = runtime_.calls();
  auto pos = [&](const std::string& s) { return std::find(calls.begin(), calls.end(), s) - calls.begin(); };
  EXPECT_LT(pos("start_container:init1"), pos("start_container:init2"));
  EXPECT_LT(pos("start_container:init2"), pos("start_container:main"));
  EXPECT_LT(pos("start_container:main"), static_cast<long>(calls.size()));
  EXPECT_EQ(condition(p, "Initialized"), "True");
  const json* i1 = cstatus(p, "init1", "initContainerStatuses");
  ASSERT_NE(i1, nullptr);
  EXPECT_EQ((*i1)["state"]["terminated"]["reason"], "Completed");
}

TEST_F(KubeletTest, FailingInitContainerBlocksAndRetries) {
  runtime_.exit_on_start("init1", 1);
  json pod = make_pod("initfail", {container("main")});
  pod["spec"]["initContainers"] = {container("init1")};
  create(pod);
  json p = wait_pod("initfail", [](const json& p) {
    const json* c = cstatus(p, "init1", "initContainerStatuses");
    return c && (*c).value("restartCount", 0) >= 1;
  });
  EXPECT_EQ(p["status"]["phase"], "Pending");
  EXPECT_EQ(condition(p, "Initialized"), "False");
  EXPECT_EQ(waiting_reason(p, "main"), "PodInitializing");
  EXPECT_EQ(runtime_.count_calls("start_container:main"), 0u);
}

TEST_F(KubeletTest, LivenessFailureRestarts) {
  std::atomic<bool> healthy{false};
  runtime_.set_exec([&](const std::string&, const std::string& name, const std::vector<std::string>&) {
    cri::ExecSyncResult r;
    r.exit_code = (name == "c" && !healthy) ? 1 : 0;
    return r;
  });
  json c = container("c");
  c["livenessProbe"] = {{"exec", {{"command", {"true"}}}}, {"periodSeconds", 1}, {"failureThreshold", 1}};
  create(make_pod("live", {c}));
  json p = wait_pod("live", [](const json& p) { return restarts(p, "c") >= 1; }, 6s);
  healthy = true;
  EXPECT_TRUE(has_event("live", "Unhealthy"));
  EXPECT_TRUE(has_event("live", "Killing"));
}

TEST_F(KubeletTest, ReadinessGatesReady) {
  std::atomic<bool> ready{false};
  runtime_.set_exec([&](const std::string&, const std::string&, const std::vector<std::string>&) {
    cri::ExecSyncResult r;
    r.exit_code = ready ? 0 : 1;
    return r;
  });
  json c = container("c");
  c["readinessProbe"] = {{"exec", {{"command", {"check"}}}}, {"periodSeconds", 1}, {"failureThreshold", 1}};
  create(make_pod("ready", {c}));
  json p = wait_pod("ready", running);
  // Running, but not Ready while the probe fails.
  std::this_thread::sleep_for(300ms);
  p = get("ready");
  EXPECT_EQ(condition(p, "Ready"), "False");
  EXPECT_EQ(condition(p, "ContainersReady"), "False");
  EXPECT_FALSE((*cstatus(p, "c"))["ready"].get<bool>());
  ready = true;
  p = wait_pod("ready", [](const json& p) { return condition(p, "Ready") == "True"; }, 4s);
  EXPECT_TRUE((*cstatus(p, "c"))["ready"].get<bool>());
  EXPECT_EQ(restarts(p, "c"), 0);
}

TEST_F(KubeletTest, GracefulDeleteRemovesEverythingThenTheObject) {
  json created = create(make_pod("del", {container("a"), container("b")}));
  std::string uid = created["metadata"]["uid"];
  wait_pod("del", running);
  ASSERT_TRUE(std::filesystem::exists(cgroup_fs_ / "cpu/minik8s/node1" / ("pod" + uid)));
  auto r = client_->remove(*pods_, "default", "del");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(wait_for([&] { return client_->get(*pods_, "default", "del").status().code() == Code::kNotFound; }))
      << "pod object not removed";
  EXPECT_TRUE(runtime_.sandboxes().empty());
  EXPECT_TRUE(runtime_.containers().empty());
  EXPECT_GE(runtime_.count_calls("stop_container:a"), 1u);
  EXPECT_GE(runtime_.count_calls("stop_pod_sandbox:del"), 1u);
  EXPECT_GE(runtime_.count_calls("remove_pod_sandbox:del"), 1u);
  EXPECT_FALSE(std::filesystem::exists(cgroup_fs_ / "cpu/minik8s/node1" / ("pod" + uid)));
  EXPECT_FALSE(std::filesystem::exists(dir() / "kubelet/pods" / uid));
  EXPECT_TRUE(has_event("del", "Killing"));
  EXPECT_TRUE(wait_for([&] { return kubelet_->running_pods() == 0; }));
}

TEST_F(KubeletTest, GraceFromTheSpecIsPassedToTheRuntime) {
  create(make_pod("grace", {container("c")}, {{"terminationGracePeriodSeconds", 7}}));
  wait_pod("grace", running);
  ASSERT_TRUE(client_->remove(*pods_, "default", "grace").is_ok());
  ASSERT_TRUE(wait_for([&] { return client_->get(*pods_, "default", "grace").status().code() == Code::kNotFound; }));
  EXPECT_EQ(runtime_.last_stop_timeout("c"), 7);
}

TEST_F(KubeletTest, PreStopExecRunsBeforeTheStopWithinTheGracePeriod) {
  std::mutex mu;
  std::vector<std::string> seen;  // "exec:<cmd>" then "stop" (from the runtime's call log)
  runtime_.set_exec([&](const std::string&, const std::string& name, const std::vector<std::string>& cmd) {
    std::lock_guard l(mu);
    seen.push_back(name + ":" + (cmd.empty() ? "" : cmd.back()));
    seen.push_back("stops-before-hook=" + std::to_string(runtime_.count_calls("stop_container:" + name)));
    return cri::ExecSyncResult{};
  });
  json c = container("c");
  c["lifecycle"] = {{"preStop", {{"exec", {{"command", {"sh", "-c", "drain"}}}}}}};
  create(make_pod("hook", {c, container("plain")}, {{"terminationGracePeriodSeconds", 9}}));
  wait_pod("hook", running);
  ASSERT_TRUE(client_->remove(*pods_, "default", "hook").is_ok());
  ASSERT_TRUE(wait_for([&] { return client_->get(*pods_, "default", "hook").status().code() == Code::kNotFound; }));
  std::lock_guard l(mu);
  ASSERT_EQ(seen.size(), 2u) << "the hook runs once, only for the container that has one";
  EXPECT_EQ(seen[0], "c:drain");
  EXPECT_EQ(seen[1], "stops-before-hook=0");
  EXPECT_GE(runtime_.last_stop_timeout("c"), 2);
  EXPECT_LE(runtime_.last_stop_timeout("c"), 9);
  EXPECT_EQ(runtime_.last_stop_timeout("plain"), 9);
}

TEST_F(KubeletTest, FailingPreStopHookIsReportedAndTheContainerStillStops) {
  runtime_.set_exec([](const std::string&, const std::string&, const std::vector<std::string>&) {
    cri::ExecSyncResult r;
    r.exit_code = 3;
    return r;
  });
  json c = container("c");
  c["lifecycle"] = {{"preStop", {{"exec", {{"command", {"false"}}}}}}};
  create(make_pod("badhook", {c}, {{"terminationGracePeriodSeconds", 5}}));
  wait_pod("badhook", running);
  ASSERT_TRUE(client_->remove(*pods_, "default", "badhook").is_ok());
  ASSERT_TRUE(wait_for([&] { return has_event("badhook", "FailedPreStopHook"); }));
  ASSERT_TRUE(
      wait_for([&] { return client_->get(*pods_, "default", "badhook").status().code() == Code::kNotFound; }));
  EXPECT_GE(runtime_.count_calls("stop_container:c"), 1u);
}

TEST_F(KubeletTest, ShorterDeleteGraceWins) {
  create(make_pod("short", {container("c")}, {{"terminationGracePeriodSeconds", 60}}));
  wait_pod("short", running);
  json opts = {{"gracePeriodSeconds", 2}};
  ASSERT_TRUE(client_->remove(*pods_, "default", "short", &opts).is_ok());
  ASSERT_TRUE(wait_for([&] { return client_->get(*pods_, "default", "short").status().code() == Code::kNotFound; }));
  EXPECT_EQ(runtime_.last_stop_timeout("c"), 2);
}

TEST_F(KubeletTest, RestartedKubeletAdoptsRunningContainers) {
  create(make_pod("adopt", {container("a"), container("b")}));
  json before = wait_pod("adopt", [](const json& p) { return running(p) && condition(p, "Ready") == "True"; });
  auto creates = runtime_.count_calls("create_container");
  auto sandboxes = runtime_.count_calls("run_pod_sandbox");
  kubelet_->stop();
  kubelet_.reset();
  // The containers keep running without a kubelet.
  EXPECT_FALSE(runtime_.running_id("a").empty());
  start_kubelet();
  ASSERT_TRUE(wait_for([&] { return kubelet_->running_pods() == 1; }));
  // Give it a few relists and a status resync; nothing may be recreated.
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(runtime_.count_calls("create_container"), creates);
  EXPECT_EQ(runtime_.count_calls("run_pod_sandbox"), sandboxes);
  EXPECT_EQ(runtime_.count_calls("stop_container"), 0u);
  json after = get("adopt");
  EXPECT_EQ(restarts(after, "a"), 0);
  EXPECT_EQ(after["status"]["podIP"], before["status"]["podIP"]);
  EXPECT_EQ(condition(after, "Ready"), "True");
  // The adopted pod is still managed: a kill is noticed and restarted.
  ASSERT_TRUE(runtime_.kill(runtime_.running_id("b"), 137));
  wait_pod("adopt", [](const json& p) { return restarts(p, "b") == 1; });
}

TEST_F(KubeletTest, OrphanedSandboxesAreRemoved) {
  cri::SandboxConfig cfg;
  cfg.name = "ghost";
  cfg.namespace_ = "default";
  cfg.uid = "ghost-uid";
  cfg.labels = {{"io.kubernetes.pod.uid", "ghost-uid"},
                {"io.kubernetes.pod.name", "ghost"},
                {"io.kubernetes.pod.namespace", "default"},
                {"minik8s.io/node", kNode}};
  auto other = cfg;
  other.uid = "other-uid";
  other.labels["io.kubernetes.pod.uid"] = "other-uid";
  other.labels["minik8s.io/node"] = "node2";  // another node's: not ours to touch
  ASSERT_TRUE(runtime_.run_pod_sandbox(cfg).is_ok());
  ASSERT_TRUE(runtime_.run_pod_sandbox(other).is_ok());
  EXPECT_TRUE(wait_for([&] { return runtime_.sandboxes().size() == 1; }));
  auto left = runtime_.sandboxes();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left.begin()->second.sandbox.uid, "other-uid");
}

TEST_F(KubeletTest, UsageFromRuntimeStats) {
  create(make_pod("stats", {container("c")}));
  wait_pod("stats", running);
  std::string id = runtime_.running_id("c");
  runtime_.set_stats(id, 1'000'000'000, 4096);
  ASSERT_TRUE(wait_for([&] {
    auto u = kubelet_->pod_usage();
    return u.size() == 1 && u[0].memory_working_set_bytes == 4096;
  }));
  std::this_thread::sleep_for(100ms);
  runtime_.set_stats(id, 2'000'000'000, 8192);
  ASSERT_TRUE(wait_for([&] {
    auto u = kubelet_->pod_usage();
    return u.size() == 1 && u[0].memory_working_set_bytes == 8192 && u[0].cpu_usage_nano_cores > 0;
  }));
  auto u = kubelet_->pod_usage();
  EXPECT_EQ(u[0].name, "stats");
  EXPECT_EQ(u[0].namespace_, "default");
  ASSERT_EQ(u[0].containers.size(), 1u);
  EXPECT_EQ(u[0].containers[0].name, "c");
  EXPECT_EQ(u[0].containers[0].cpu_usage_core_nanos, 2'000'000'000u);
}

// A worker that computed the status of pod uid1 must not write it onto a pod
// re-created under the same name (uid2) meanwhile: pods/<name>/status is
// addressed by name only.
TEST_F(KubeletTest, StatusIsNotWrittenOntoARecreatedPodOfTheSameName) {
  std::mutex gm;
  std::condition_variable gcv;
  bool held = false, release = false;
  runtime_.set_status_hook([&](const std::string&) {
    std::unique_lock l(gm);
    held = true;
    gcv.notify_all();
    gcv.wait(l, [&] { return release; });
  });
  auto unblock = [&] {
    {
      std::lock_guard l(gm);
      release = true;
    }
    gcv.notify_all();
    runtime_.set_status_hook(nullptr);
  };
  struct Guard {
    std::function<void()> f;
    ~Guard() { f(); }
  } guard{unblock};

  json first = create(make_pod("same", {container("c")}));
  // The worker started the pod and is computing its status (container_status).
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard l(gm);
    return held;
  }));
  json opts = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0}};
  ASSERT_TRUE(client_->remove(*pods_, "default", "same", &opts).is_ok());
  ASSERT_TRUE(wait_for([&] { return kubelet_->running_pods() == 0; }));  // the kubelet saw it go
  json again = make_pod("same", {container("c")});
  again["spec"]["nodeName"] = "node2";  // another node's pod now
  json second = create(again);
  ASSERT_NE(first["metadata"]["uid"], second["metadata"]["uid"]);
  unblock();
  // The old worker went past its status write and cleaned up its pod.
  ASSERT_TRUE(wait_for([&] { return runtime_.count_calls("remove_pod_sandbox:same") >= 1; }));
  ASSERT_TRUE(wait_for([&] { return runtime_.sandboxes().empty(); }));
  json p = get("same");
  EXPECT_EQ(p["metadata"]["uid"], second["metadata"]["uid"]);
  json st = p.value("status", json::object());
  EXPECT_FALSE(st.contains("containerStatuses")) << st.dump();
  EXPECT_NE(st.value("hostIP", ""), "192.168.7.7") << st.dump();
}

// A container that ran for longer than 2 * backoff_max starts over without
// back-off when it dies (Kubernetes forgets the back-off entry).
TEST_F(KubeletTest, CrashBackOffResetsAfterALongRun) {
  KubeletOptions o = options();
  o.backoff_initial = 500ms;
  o.backoff_max = 1000ms;
  start_kubelet(o);
  runtime_.exit_on_start("c", 1);
  create(make_pod("flaky", {container("c")}));
  wait_pod("flaky", [](const json& p) { return restarts(p, "c") >= 2; }, 8s);  // back-off now 1 s (max)
  runtime_.clear_exit_on_start("c");
  ASSERT_TRUE(wait_for([&] { return !runtime_.running_id("c").empty(); }, 5s));
  std::string id = runtime_.running_id("c");
  int64_t started = runtime_.containers().at(id).status.started_at;
  ASSERT_TRUE(wait_for([&] { return now_ns() - started > 2'200'000'000LL; }, 5s));  // > 2 * backoff_max
  ASSERT_TRUE(runtime_.kill(id, 1));
  int64_t finished = runtime_.containers().at(id).status.finished_at;
  ASSERT_TRUE(wait_for([&] {
    std::string now_id = runtime_.running_id("c");
    return !now_id.empty() && now_id != id;
  }, 5s));
  int64_t restarted = runtime_.containers().at(runtime_.running_id("c")).status.started_at;
  // Without the reset the kubelet waits the full 1 s back-off from finishedAt.
  EXPECT_LT(restarted - finished, 1'000'000'000LL);
}

TEST_F(KubeletTest, CommandAndArgsExpandEnv) {
  json c = container("c");
  c["env"] = {{{"name", "GREETING"}, {"value", "hello"}},
              {{"name", "POD"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}}};
  c["command"] = {"sh", "-c", "echo $(GREETING) $(POD)"};
  c["args"] = {"$(GREETING)", "$$(GREETING)", "$(NOPE)", "a$$b", "$(POD"};
  create(make_pod("cmdexp", {c}));
  wait_pod("cmdexp", running);
  auto cts = runtime_.containers();
  ASSERT_EQ(cts.size(), 1u);
  const auto& cfg = cts.begin()->second.config;
  EXPECT_EQ(cfg.command, (std::vector<std::string>{"sh", "-c", "echo hello cmdexp"}));
  EXPECT_EQ(cfg.args, (std::vector<std::string>{"hello", "$(GREETING)", "$(NOPE)", "a$b", "$(POD"}));
}

// configMap volume contents follow the ConfigMap on the periodic resync; a
// refresh failure after the first setup keeps the pod (and its last contents).
TEST_F(KubeletTest, ConfigMapVolumeIsRefreshed) {
  const api::ResourceType* cms = api::find_kind("v1", "ConfigMap");
  ASSERT_NE(cms, nullptr);
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "cfg"}, {"namespace", "default"}}},
             {"data", {{"k", "v1"}}}};
  ASSERT_TRUE(client_->create(*cms, cm).is_ok());
  json c = container("c");
  c["volumeMounts"] = {{{"name", "cfg"}, {"mountPath", "/etc/cfg"}}};
  create(make_pod("cfgvol", {c}, {{"volumes", {{{"name", "cfg"}, {"configMap", {{"name", "cfg"}}}}}}}));
  wait_pod("cfgvol", running);
  std::string host;
  auto cts = runtime_.containers();
  ASSERT_EQ(cts.size(), 1u);
  for (const auto& m : cts.begin()->second.config.mounts) {
    if (m.container_path == "/etc/cfg") host = m.host_path;
  }
  ASSERT_FALSE(host.empty());
  auto read = [&] {
    std::ifstream in(host + "/k");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  EXPECT_EQ(read(), "v1");
  ASSERT_TRUE(client_->patch(*cms, "default", "cfg", client::PatchType::kMerge, {{"data", {{"k", "v2"}}}}).is_ok());
  EXPECT_TRUE(wait_for([&] { return read() == "v2"; }));
  ASSERT_TRUE(client_->remove(*cms, "default", "cfg").is_ok());
  EXPECT_TRUE(has_event("cfgvol", "FailedMount"));
  json p = get("cfgvol");
  EXPECT_TRUE(running(p));
  EXPECT_EQ(restarts(p, "c"), 0);
  EXPECT_EQ(read(), "v2");
  EXPECT_EQ(runtime_.count_calls("run_pod_sandbox:cfgvol"), 1u);
}

// find_container (HTTP threads) while the kubelet starts and stops: the
// informer it reads must never be torn down under it.
TEST_F(KubeletTest, FindContainerRacesStartStop) {
  create(make_pod("race", {container("c")}));
  wait_pod("race", running);
  std::atomic<bool> stop{false};
  std::atomic<int> found{0};
  std::thread reader([&] {
    while (!stop) {
      auto r = kubelet_->find_container("default", "race", "");
      if (r.is_ok()) ++found;
    }
  });
  for (int i = 0; i < 20; ++i) {
    kubelet_->stop();
    ASSERT_TRUE(kubelet_->start().is_ok());
  }
  stop = true;
  reader.join();
  EXPECT_GT(found.load(), 0);
  auto r = kubelet_->find_container("default", "race", "");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->container_id, runtime_.running_id("c"));
}

TEST_F(KubeletTest, PodsBeyondMaxPodsAreRejectedOutOfpods) {
  KubeletOptions o = options();
  o.max_pods = 1;
  start_kubelet(o);
  create(make_pod("first", {container("c")}));
  wait_pod("first", running);
  create(make_pod("second", {container("c2")}));
  json p = wait_pod("second", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  EXPECT_EQ(p["status"].value("reason", ""), "OutOfpods");
  EXPECT_NE(p["status"].value("message", "").find(
                "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1"),
            std::string::npos)
      << p["status"].dump();
  EXPECT_TRUE(has_event("second", "OutOfpods"));
  EXPECT_EQ(runtime_.count_calls("run_pod_sandbox:second"), 0u);
  EXPECT_EQ(kubelet_->running_pods(), 1u);
  // Rejected stays rejected, also for a restarted kubelet.
  start_kubelet(o);
  wait_pod("first", running);
  EXPECT_TRUE(wait_for([&] { return kubelet_->running_pods() == 1; }));
  EXPECT_EQ(runtime_.count_calls("run_pod_sandbox:second"), 0u);
  EXPECT_EQ(get("second")["status"].value("reason", ""), "OutOfpods");
}

// GPUs (gpu.h): each pod asking for nvidia.com/gpu gets its own device
// nodes, the driver files and NVIDIA_VISIBLE_DEVICES; one pod too many is
// refused OutOfnvidia.com/gpu; a restarted kubelet rebuilds the table from
// the running containers; a deleted pod gives its GPU back.
TEST_F(KubeletTest, GpuPodsGetDisjointDevicesAndGiveThemBack) {
  KubeletOptions o = options();
  o.gpus = {{0, 0, "NVIDIA H100", "GPU-a"}, {1, 1, "NVIDIA H100", "GPU-b"}};
  o.gpu_files.control_devices = {"/dev/nvidiactl", "/dev/nvidia-uvm"};
  o.gpu_files.libraries = {"/usr/lib64/libcuda.so.1"};
  o.gpu_files.nvidia_smi = "/usr/bin/nvidia-smi";
  start_kubelet(o);
  auto gpu_container = [](const std::string& name, int n) {
    json c = container(name);
    c["resources"] = {{"limits", {{"nvidia.com/gpu", std::to_string(n)}}}};
    return c;
  };
  // The config the runtime got for the running container of this pod.
  auto config_of = [&](const std::string& pod) {
    for (const auto& [id, c] : runtime_.containers()) {
      if (c.config.labels.at("io.kubernetes.pod.name") == pod &&
          c.status.container.state == cri::ContainerState::kRunning) {
        return c.config;
      }
    }
    ADD_FAILURE() << "no running container of " << pod;
    return cri::ContainerConfig{};
  };
  auto visible = [](const cri::ContainerConfig& cc) {
    std::string v = "<unset>";
    for (const auto& e : cc.envs) {
      if (e.key == "NVIDIA_VISIBLE_DEVICES") v = e.value;
    }
    return v;
  };
  auto devices = [](const cri::ContainerConfig& cc) {
    std::vector<std::string> out;
    for (const auto& d : cc.devices) out.push_back(d.host_path + ":" + d.container_path + ":" + d.permissions);
    return out;
  };
  create(make_pod("gpu-a", {gpu_container("c", 1), container("plain")}));
  wait_pod("gpu-a", running);
  create(make_pod("gpu-b", {gpu_container("c", 1)}));
  wait_pod("gpu-b", running);
  cri::ContainerConfig a = config_of("gpu-a"), b = config_of("gpu-b");
  EXPECT_EQ(devices(a), (std::vector<std::string>{"/dev/nvidia0:/dev/nvidia0:rwm", "/dev/nvidiactl:/dev/nvidiactl:rwm",
                                                  "/dev/nvidia-uvm:/dev/nvidia-uvm:rwm"}));
  EXPECT_EQ(devices(b), (std::vector<std::string>{"/dev/nvidia1:/dev/nvidia1:rwm", "/dev/nvidiactl:/dev/nvidiactl:rwm",
                                                  "/dev/nvidia-uvm:/dev/nvidia-uvm:rwm"}));
  EXPECT_EQ(visible(a), "0");
  EXPECT_EQ(visible(b), "1");
  EXPECT_EQ(a.annotations.at("minik8s.io/gpus"), "0");
  bool lib = false, smi = false;
  for (const auto& m : a.mounts) {
    lib = lib || (m.host_path == "/usr/lib64/libcuda.so.1" &&
                  m.container_path == "/usr/lib/x86_64-linux-gnu/libcuda.so.1" && m.readonly);
    smi = smi || (m.host_path == "/usr/bin/nvidia-smi" && m.container_path == "/usr/bin/nvidia-smi" && m.readonly);
  }
  EXPECT_TRUE(lib && smi);
  // The container without a GPU request gets none of it.
  for (const auto& [id, c] : runtime_.containers()) {
    if (c.config.name != "plain") continue;
    EXPECT_TRUE(c.config.devices.empty());
    EXPECT_EQ(visible(c.config), "<unset>");
    EXPECT_EQ(c.config.annotations.count("minik8s.io/gpus"), 0u);
  }

  create(make_pod("gpu-c", {gpu_container("c", 1)}));
  json c = wait_pod("gpu-c", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  EXPECT_EQ(c["status"].value("reason", ""), "OutOfnvidia.com/gpu");
  EXPECT_EQ(c["status"].value("message", ""),
            "Pod was rejected: Node didn't have enough resource: nvidia.com/gpu, requested: 1, used: 2, capacity: 2");
  EXPECT_EQ(runtime_.count_calls("run_pod_sandbox:gpu-c"), 0u);

  // A restarted kubelet knows who holds what from the running containers.
  start_kubelet(o);
  wait_pod("gpu-a", running);
  create(make_pod("gpu-d", {gpu_container("c", 1)}));
  json d = wait_pod("gpu-d", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  EXPECT_EQ(d["status"].value("reason", ""), "OutOfnvidia.com/gpu");

  // gpu-a leaves: its GPU goes to the next pod.
  ASSERT_TRUE(client_->remove(*pods_, "default", "gpu-a").is_ok());
  ASSERT_TRUE(wait_for([&] { return client_->get(*pods_, "default", "gpu-a").status().code() == Code::kNotFound; }));
  create(make_pod("gpu-e", {gpu_container("c", 1)}));
  wait_pod("gpu-e", running);
  EXPECT_EQ(visible(config_of("gpu-e")), "0");
  EXPECT_EQ(devices(config_of("gpu-e"))[0], "/dev/nvidia0:/dev/nvidia0:rwm");
}

// A pod whose containers all completed gives its GPUs back at once.
TEST_F(KubeletTest, CompletedGpuPodReleasesItsGpu) {
  KubeletOptions o = options();
  o.gpus = {{0, 0, "", ""}};
  start_kubelet(o);
  json once = make_pod("gpu-once", {container("c")}, {{"restartPolicy", "Never"}});
  once["spec"]["containers"][0]["resources"] = {{"limits", {{"nvidia.com/gpu", "1"}}}};
  create(once);
  wait_pod("gpu-once", running);
  ASSERT_TRUE(runtime_.kill(runtime_.running_id("c"), 0));
  wait_pod("gpu-once", [](const json& p) { return p["status"].value("phase", "") == "Succeeded"; });
  json next = make_pod("gpu-next", {container("n")});
  next["spec"]["containers"][0]["resources"] = {{"limits", {{"nvidia.com/gpu", "1"}}}};
  create(next);
  wait_pod("gpu-next", running);
}

// The node lifecycle controller marks the pods of an unreachable node
// Ready=False; when the node is back the kubelet must write what really
// runs, although its own view did not change (and long before a resync).
TEST_F(KubeletTest, StatusChangedBehindItsBackIsWrittenAgain) {
  KubeletOptions o = options();
  o.status_resync = 60s;
  start_kubelet(o);
  create(make_pod("behind", {container("c")}));
  json p = wait_pod("behind", [](const json& p) { return running(p) && condition(p, "Ready") == "True"; });
  for (auto& c : p["status"]["conditions"]) {
    if (c["type"] == "Ready") c["status"] = "False";
  }
  auto r = client_->update_status(*pods_, p);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  wait_pod("behind", [](const json& p) { return condition(p, "Ready") == "True"; }, 3s);
  EXPECT_EQ(restarts(get("behind"), "c"), 0);
}

TEST_F(KubeletTest, PodsDeletedWhileTheKubeletWasAwayAreCleanedUpOnReturn) {
  create(make_pod("evicted", {container("a")}));
  create(make_pod("forced", {container("b")}));
  create(make_pod("stays", {container("c")}));
  for (const char* n : {"evicted", "forced", "stays"}) wait_pod(n, running);
  kubelet_->stop();
  kubelet_.reset();
  // Evicted (graceful: stays Terminating for the kubelet) and force-deleted (gone).
  ASSERT_TRUE(client_->remove(*pods_, "default", "evicted").is_ok());
  ASSERT_FALSE(get("evicted").is_null());
  json force = {{"gracePeriodSeconds", 0}};
  ASSERT_TRUE(client_->remove(*pods_, "default", "forced", &force).is_ok());
  ASSERT_TRUE(get("forced").is_null());
  EXPECT_FALSE(runtime_.running_id("a").empty());
  EXPECT_FALSE(runtime_.running_id("b").empty());
  start_kubelet();
  ASSERT_TRUE(wait_for([&] { return client_->get(*pods_, "default", "evicted").status().code() == Code::kNotFound; }))
      << "the evicted pod's deletion was not confirmed";
  ASSERT_TRUE(wait_for([&] { return runtime_.running_id("a").empty() && runtime_.running_id("b").empty(); }));
  for (const auto& [id, c] : runtime_.containers()) EXPECT_EQ(c.config.name, "c") << id;
  EXPECT_FALSE(runtime_.running_id("c").empty());
  EXPECT_EQ(restarts(get("stays"), "c"), 0);
}

}  // namespace
}  // namespace minik8s::kubelet
