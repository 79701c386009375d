// PrivateContainerdTest: the gtest fixture of the C++ e2e tests that need a
// containerd of their own (cri_containerd_test, images_containerd_import_test).
//
// SetUp skips (GTEST_SKIP) without root, containerd, ctr, runc, tar, gzip,
// gcc (the image builder's), the suite's extra tools or /bin/busybox
// (busybox-static); otherwise it makes a temp dir
// /tmp/minik8s-test-<pid>-<tag>-XXXXXX and fills options_ for a
// ManagedContainerd living under it: data_dir <dir>/node, the mk_images pause
// image as sandbox image, a pod CIDR 10.251.<pid % 250>.0/24 unlikely to
// clash with other bridges on the host, a 20 s ready timeout. A test may
// change options_ before start_containerd().
//
// TearDown removes everything, also after a failure: containerd stopped (and
// SIGKILLed if it lingers), extra_pids_ killed, the CNI bridge deleted, the
// cgroup parent /minik8s-test-<pid>-<tag> removed from every hierarchy,
// leftover mounts under the dir lazily unmounted, the dir deleted. A suite
// that holds a runtime client removes its containers and sandboxes first,
// then calls PrivateContainerdTest::TearDown().
//
// Header-only; link mk_cri and mk_images. One test thread.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "minik8s/cri/containerd.h"
#include "minik8s/images/images.h"

namespace minik8s::testing {

inline bool on_path(const std::string& prog) {
  return std::system(("command -v " + prog + " >/dev/null 2>&1").c_str()) == 0;
}

// The whole file, or "" when it cannot be read.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Alive and not a zombie (a containerd spawned by the test process stays a
// zombie child of it until reaped).
inline bool process_alive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) return false;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto rp = stat.rfind(')');
  return rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] != 'Z' && stat[rp + 2] != 'X';
}

// Lazily unmounts whatever is still mounted under dir (deepest first).
inline void unmount_under(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> points;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point;
    f >> id >> parent >> devno >> root >> point;
    if (point.rfind(dir + "/", 0) == 0) points.push_back(point);
  }
  std::sort(points.begin(), points.end(), [](auto& a, auto& b) { return a.size() > b.size(); });
  for (const auto& p : points) ::umount2(p.c_str(), MNT_DETACH);
}

class PrivateContainerdTest : public ::testing::Test {
 protected:
  // tag names the temp dir and the cgroup parent; extra_tools are checked
  // on PATH beside the common ones.
  explicit PrivateContainerdTest(std::string tag, std::vector<std::string> extra_tools = {})
      : tag_(std::move(tag)), extra_tools_(std::move(extra_tools)) {}

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run containerd";
    std::vector<std::string> tools = {"containerd", "ctr", "runc", "tar", "gzip", "gcc"};
    tools.insert(tools.end(), extra_tools_.begin(), extra_tools_.end());
    for (const auto& p : tools) {
      if (!on_path(p)) GTEST_SKIP() << p << " not installed";
    }
    if (!std::filesystem::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static not installed";
    std::string t = "/tmp/minik8s-test-" + std::to_string(::getpid()) + "-" + tag_ + "-XXXXXX";
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    cgroup_parent_ = "/minik8s-test-" + std::to_string(::getpid()) + "-" + tag_;
    options_.data_dir = dir_ + "/node";
    options_.sandbox_image = images::image_ref("pause");
    options_.pod_cidr = "10.251." + std::to_string(::getpid() % 250) + ".0/24";
    options_.ready_timeout = std::chrono::seconds(20);
  }

  void TearDown() override {
    if (dir_.empty()) return;
    std::string bridge;
    if (containerd_) {
      bridge = containerd_->cni_bridge();
      int pid = containerd_->pid();
      containerd_->stop();
      if (process_alive(pid)) ::kill(pid, SIGKILL);
      containerd_.reset();
    }
    for (int pid : extra_pids_) {
      if (process_alive(pid)) ::kill(pid, SIGKILL);
    }
    if (!bridge.empty() && std::filesystem::exists("/sys/class/net/" + bridge)) {
      EXPECT_EQ(std::system(("ip link del " + bridge).c_str()), 0);
    }
    for (const auto& h : std::filesystem::directory_iterator("/sys/fs/cgroup")) {
      std::filesystem::path p = h.path() / cgroup_parent_.substr(1);
      if (std::filesystem::is_directory(p)) ::rmdir(p.c_str());
    }
    unmount_under(dir_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts containerd_ from options_ and waits for its socket.
  void start_containerd() {
    containerd_ = std::make_unique<cri::ManagedContainerd>(options_);
    Status s = containerd_->start();
    ASSERT_TRUE(s.is_ok()) << s.to_string() << "\n" << containerd_log();
  }

  std::string containerd_log() const { return slurp(options_.data_dir + "/containerd/containerd.log"); }

  std::string dir_, cgroup_parent_;
  cri::ContainerdOptions options_;
  std::unique_ptr<cri::ManagedContainerd> containerd_;
  std::vector<int> extra_pids_;  // processes a test left behind on purpose (killed in TearDown)

 private:
  std::string tag_;
  std::vector<std::string> extra_tools_;
};

}  // namespace minik8s::testing
