// e2e (real containerd, root): ManagedContainerd starts a private containerd
// in a temp dir; pause + busybox (mk_images, built offline) are imported; a
// pod sandbox and a container run through GrpcRuntime with CPU and memory
// limits checked in the container's cgroup; exec_sync, logs, stats, stop and
// remove; the supervisor restarts a kill -9'd containerd; leave_running +
// adoption through the pid file; stop() leaves no process. Everything
// (containers, then what containerd_fixture.h cleans up: containerd, mounts,
// state dir, cgroups, CNI bridge) is removed in TearDown, also on failure.
// Skips cleanly without root or containerd.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include "test/e2e/cxx/containerd_fixture.h"
#include "minik8s/cri/containerd.h"
#include "minik8s/cri/grpc_runtime.h"
#include "minik8s/images/images.h"

namespace minik8s::cri {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using testing::process_alive;
using testing::slurp;

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return f();
}

class CriContainerdE2E : public testing::PrivateContainerdTest {
 protected:
  CriContainerdE2E() : PrivateContainerdTest("cri", {"ip"}) {}

  void SetUp() override {
    PrivateContainerdTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const char* env_cache = std::getenv("MINIK8S_IMAGE_CACHE");
    cache_ = env_cache && *env_cache ? env_cache : dir_ + "/cache";
  }

  void TearDown() override {
    // Everything in this private containerd is ours.
    if (rt_) {
      if (auto sbs = rt_->list_pod_sandboxes(); sbs.is_ok()) {
        for (const auto& sb : *sbs) {
          if (auto cs =
                  rt_->list_containers(ContainerFilter{std::nullopt, sb.id, std::nullopt, {}});
              cs.is_ok()) {
            for (const auto& c : *cs) {
              (void)rt_->stop_container(c.id, 0);
              (void)rt_->remove_container(c.id);
            }
          }
          (void)rt_->stop_pod_sandbox(sb.id);
          (void)rt_->remove_pod_sandbox(sb.id);
        }
      }
      rt_.reset();
    }
    PrivateContainerdTest::TearDown();
  }

  void start_and_import() {
    ASSERT_NO_FATAL_FAILURE(start_containerd());
    for (const char* name : {"pause", "busybox"}) {
      auto b = images::build_image(name, cache_);
      ASSERT_TRUE(b.is_ok()) << b.status().message();
      Status is = images::import_archive(b->archive, containerd_->socket_path());
      ASSERT_TRUE(is.is_ok()) << is.message();
    }
    auto r = make_grpc_runtime({"unix://" + containerd_->socket_path(), 60s});
    ASSERT_TRUE(r.is_ok());
    rt_ = std::move(*r);
  }

  std::string cache_;
  std::unique_ptr<Runtime> rt_;
};

TEST_F(CriContainerdE2E, SandboxContainerExecStatsStopRemove) {
  ASSERT_NO_FATAL_FAILURE(start_and_import());
  const int pid = containerd_->pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(process_alive(pid));
  EXPECT_EQ(std::stoi(slurp(options_.data_dir + "/containerd/containerd.pid")), pid);

  auto v = rt_->version();
  ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  EXPECT_EQ(v->runtime_name, "containerd");
  EXPECT_EQ(v->runtime_api_version, "v1");

  const std::string busybox = images::image_ref("busybox");
  auto img = rt_->image_status(busybox);
  ASSERT_TRUE(img.is_ok()) << img.status().to_string();
  ASSERT_TRUE(img->has_value()) << busybox << " not listed by CRI";
  auto absent = rt_->image_status("docker.io/library/minik8s-no-such-image:0");
  ASSERT_TRUE(absent.is_ok());
  EXPECT_FALSE(absent->has_value());

  SandboxConfig sc;
  sc.name = "cri-e2e";
  sc.uid = "uid-" + std::to_string(::getpid());
  sc.namespace_ = "default";
  sc.hostname = "cri-e2e";
  sc.log_directory = dir_ + "/logs";
  sc.dns.servers = {"10.96.0.10"};
  sc.dns.searches = {"default.svc.cluster.local"};
  sc.labels = {{"minik8s.io/test", "cri-e2e"}};
  sc.cgroup_parent = cgroup_parent_;
  fs::create_directories(sc.log_directory);
  auto sb = rt_->run_pod_sandbox(sc);
  ASSERT_TRUE(sb.is_ok()) << sb.status().to_string() << "\n"
                          << slurp(options_.data_dir + "/containerd/containerd.log");
  auto sbst = rt_->pod_sandbox_status(*sb);
  ASSERT_TRUE(sbst.is_ok()) << sbst.status().to_string();
  EXPECT_EQ(sbst->sandbox.state, SandboxState::kReady);
  EXPECT_EQ(sbst->sandbox.name, "cri-e2e");
  const std::string prefix = options_.pod_cidr.substr(0, options_.pod_cidr.rfind('.') + 1);
  EXPECT_EQ(sbst->ip.rfind(prefix, 0), 0u)
      << "pod IP " << sbst->ip << " not in " << options_.pod_cidr;
  EXPECT_TRUE(fs::exists("/sys/class/net/" + containerd_->cni_bridge()));
  auto listed = rt_->list_pod_sandboxes({{"minik8s.io/test", "cri-e2e"}});
  ASSERT_TRUE(listed.is_ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, *sb);
  auto none = rt_->list_pod_sandboxes({{"minik8s.io/test", "other"}});
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());

  ContainerConfig cc;
  cc.name = "main";
  cc.image = busybox;
  cc.command = {"sh", "-c"};
  cc.args = {"echo hello-from-cri; exec sleep 1000"};
  cc.envs = {{"FOO", "bar"}};
  cc.labels = {{"minik8s.io/container", "main"}};
  cc.log_path = "main/0.log";
  cc.resources.cpu_period = 100000;
  cc.resources.cpu_quota = 50000;
  cc.resources.cpu_shares = 512;
  cc.resources.memory_limit_bytes = 64 << 20;
  cc.resources.oom_score_adj = -998;  // clamped to 0, or runc would fail here
  // A device the runtime's default allow-list lacks (fuse, 10:229), under
  // another name, as the kubelet passes /dev/nvidia<N> (docs/gpu.md).
  const bool fuse = fs::exists("/dev/fuse");
  if (fuse) cc.devices = {{"/dev/mk-e2e-fuse", "/dev/fuse", "rw"}};
  auto cid = rt_->create_container(*sb, cc, sc);
  ASSERT_TRUE(cid.is_ok()) << cid.status().to_string();
  Status st = rt_->start_container(*cid);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  ASSERT_TRUE(eventually([&] {
    auto s = rt_->container_status(*cid);
    return s.is_ok() && s->container.state == ContainerState::kRunning;
  }));
  auto cst = rt_->container_status(*cid);
  ASSERT_TRUE(cst.is_ok());
  EXPECT_EQ(cst->container.name, "main");
  EXPECT_GT(cst->started_at, 0);
  EXPECT_EQ(cst->log_path, sc.log_directory + "/main/0.log");

  auto ex = rt_->exec_sync(*cid, {"sh", "-c", "echo $FOO; hostname"}, 10);
  ASSERT_TRUE(ex.is_ok()) << ex.status().to_string();
  EXPECT_EQ(ex->stdout_, "bar\ncri-e2e\n");
  EXPECT_EQ(ex->exit_code, 0);
  auto ex7 = rt_->exec_sync(*cid, {"sh", "-c", "echo oops >&2; exit 7"}, 10);
  ASSERT_TRUE(ex7.is_ok());
  EXPECT_EQ(ex7->exit_code, 7);
  EXPECT_EQ(ex7->stderr_, "oops\n");
  // Limits enforced in the container's own cgroup (v1 hierarchies mounted in the container).
  auto lim = rt_->exec_sync(
      *cid,
      {"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
       "/sys/fs/cgroup/cpu/cpu.shares", "/proc/self/oom_score_adj"},
      10);
  ASSERT_TRUE(lim.is_ok());
  EXPECT_EQ(lim->stdout_, "67108864\n50000\n512\n0\n") << lim->stderr_;
  if (fuse) {
    auto dev = rt_->exec_sync(
        *cid, {"sh", "-c", "test -c /dev/mk-e2e-fuse && grep -x 'c 10:229 rw' /sys/fs/cgroup/devices/devices.list"},
        10);
    ASSERT_TRUE(dev.is_ok());
    EXPECT_EQ(dev->exit_code, 0) << "CRI device not created or not allowed: " << dev->stdout_ << dev->stderr_;
  }
  auto dns = rt_->exec_sync(*cid, {"cat", "/etc/resolv.conf"}, 10);
  ASSERT_TRUE(dns.is_ok());
  EXPECT_NE(dns->stdout_.find("nameserver 10.96.0.10"), std::string::npos) << dns->stdout_;

  // The pod cgroup parent holds the container's cgroup.
  bool found = false;
  for (const auto& e : fs::directory_iterator("/sys/fs/cgroup/memory" + cgroup_parent_)) {
    if (e.is_directory() && e.path().filename().string().find(*cid) != std::string::npos)
      found = true;
  }
  EXPECT_TRUE(found) << "no cgroup for " << *cid << " under " << cgroup_parent_;

  EXPECT_TRUE(eventually([&] {
    return slurp(cst->log_path).find(" stdout F hello-from-cri\n") != std::string::npos;
  })) << slurp(cst->log_path);

  auto url = rt_->exec(ExecRequest{*cid, {"sh"}, true, true, true, true});
  ASSERT_TRUE(url.is_ok()) << url.status().to_string();
  EXPECT_EQ(url->rfind("http://127.0.0.1:", 0), 0u) << *url;
  EXPECT_NE(url->find("/exec/"), std::string::npos) << *url;

  ContainerStats mine;
  ASSERT_TRUE(eventually([&] {
    auto stats = rt_->list_container_stats();
    if (!stats.is_ok()) return false;
    for (const auto& s : *stats) {
      if (s.id == *cid) mine = s;
    }
    return mine.id == *cid && mine.memory_working_set_bytes > 0 && mine.cpu_usage_core_nanos > 0;
  })) << "no stats for "
      << *cid;
  EXPECT_EQ(mine.sandbox_id, *sb);
  EXPECT_EQ(mine.name, "main");
  EXPECT_EQ(mine.labels.at("minik8s.io/container"), "main");

  auto byl = rt_->list_containers(ContainerFilter{
      std::nullopt, std::nullopt, ContainerState::kRunning, {{"minik8s.io/container", "main"}}});
  ASSERT_TRUE(byl.is_ok());
  ASSERT_EQ(byl->size(), 1u);
  EXPECT_EQ((*byl)[0].sandbox_id, *sb);

  Status u = rt_->update_container_resources(*cid, Resources{100000, 20000, 256, 32 << 20, 0});
  ASSERT_TRUE(u.is_ok()) << u.to_string();
  auto lim2 = rt_->exec_sync(*cid, {"cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"}, 10);
  ASSERT_TRUE(lim2.is_ok());
  EXPECT_EQ(lim2->stdout_, "20000\n");

  ASSERT_TRUE(rt_->stop_container(*cid, 1).is_ok());
  auto stopped = rt_->container_status(*cid);
  ASSERT_TRUE(stopped.is_ok());
  EXPECT_EQ(stopped->container.state, ContainerState::kExited);
  EXPECT_GT(stopped->finished_at, 0);
  ASSERT_TRUE(rt_->remove_container(*cid).is_ok());
  auto gone = rt_->container_status(*cid);
  ASSERT_FALSE(gone.is_ok());
  EXPECT_EQ(gone.status().code(), Code::kNotFound) << gone.status().to_string();

  ASSERT_TRUE(rt_->stop_pod_sandbox(*sb).is_ok());
  ASSERT_TRUE(rt_->remove_pod_sandbox(*sb).is_ok());
  auto sbgone = rt_->pod_sandbox_status(*sb);
  ASSERT_FALSE(sbgone.is_ok());
  EXPECT_EQ(sbgone.status().code(), Code::kNotFound) << sbgone.status().to_string();

  // An image no registry serves: the runtime's message, not a crash.
  auto pull = rt_->pull_image("minik8s.invalid/no-such-image:0", &sc);
  ASSERT_FALSE(pull.is_ok());
  EXPECT_FALSE(pull.status().message().empty());

  containerd_->stop();
  EXPECT_TRUE(eventually([&] { return !process_alive(pid); }, 5s));
  EXPECT_FALSE(fs::exists(options_.data_dir + "/containerd/containerd.pid"));
  EXPECT_EQ(containerd_->pid(), -1);
}

TEST_F(CriContainerdE2E, SupervisorRestartsAndLeaveRunningIsAdopted) {
  options_.leave_running = true;
  options_.supervise_interval = 50ms;
  ASSERT_NO_FATAL_FAILURE(start_and_import());
  const int first = containerd_->pid();
  ASSERT_GT(first, 0);

  // kill -9: the supervisor notices and starts a new one on the same socket.
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(
      eventually([&] { return containerd_->restarts() == 1 && containerd_->pid() > 0; }, 20s));
  const int second = containerd_->pid();
  EXPECT_NE(second, first);
  ASSERT_TRUE(eventually([&] { return rt_->version().is_ok(); }, 10s))
      << rt_->version().status().to_string();
  // Images survive the restart (they live in the private root).
  auto img = rt_->image_status(images::image_ref("busybox"));
  ASSERT_TRUE(img.is_ok());
  EXPECT_TRUE(img->has_value());

  // leave_running: stop() leaves it up; a new instance adopts it by the pid file.
  extra_pids_.push_back(second);
  containerd_->stop();
  EXPECT_TRUE(process_alive(second));
  options_.leave_running = false;
  containerd_ = std::make_unique<ManagedContainerd>(options_);
  Status s = containerd_->start();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(containerd_->pid(), second);
  EXPECT_TRUE(rt_->version().is_ok());

  // Adopted (not our child): stop() still ends it, by PID.
  containerd_->stop();
  EXPECT_TRUE(eventually([&] { return !process_alive(second); }, 15s));
  EXPECT_FALSE(fs::exists(options_.data_dir + "/containerd/containerd.pid"));
}

}  // namespace
}  // namespace minik8s::cri
