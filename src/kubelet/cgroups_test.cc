#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "minik8s/kubelet/parts.h"

extern char** environ;

namespace fs = std::filesystem;

namespace minik8s::kubelet {
namespace {

constexpr const char* kFs = "/sys/fs/cgroup";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

bool write_text(const std::string& path, const std::string& v) {
  std::ofstream out(path);
  out << v;
  out.flush();
  return static_cast<bool>(out);
}

class PodCgroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
    if (fs::exists(std::string(kFs) + "/cgroup.controllers")) {
      v2_ = true;
    } else if (!fs::exists(std::string(kFs) + "/memory/cgroup.procs")) {
      GTEST_SKIP() << "no cgroup v1 memory hierarchy at " << kFs;
    }
    root_ = "/minik8s-test-" + std::to_string(::getpid()) + "/node1";
  }
  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
    if (root_.empty()) return;
    PodCgroups cg(kFs, root_);
    for (const auto& uid : cg.list()) (void)cg.remove(uid);
    // The test's own root levels, deepest first, in every hierarchy.
    std::string top = "/minik8s-test-" + std::to_string(::getpid());
    std::vector<std::string> dirs = {kFs + root_, kFs + top};
    for (const auto& e : fs::directory_iterator(kFs)) {
      if (e.is_symlink()) continue;
      ::rmdir((e.path().string() + root_).c_str());
      ::rmdir((e.path().string() + top).c_str());
    }
    for (const auto& d : dirs) ::rmdir(d.c_str());
  }
  std::string dir(const std::string& ctrl, const std::string& uid) const {
    return std::string(kFs) + (v2_ ? "" : "/" + ctrl) + root_ + "/pod" + uid;
  }
  pid_t spawn_sleep() {
    char arg0[] = "sleep", arg1[] = "600";
    char* argv[] = {arg0, arg1, nullptr};
    pid_t pid = 0;
    if (posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ) != 0) return -1;
    return pid;
  }

  bool v2_ = false;
  std::string root_;
  pid_t child_ = -1;
};

TEST_F(PodCgroupsTest, ParentPath) {
  PodCgroups cg(kFs, "/minik8s/node1/");
  EXPECT_EQ(cg.parent_for("abc"), "/minik8s/node1/podabc");
  PodCgroups rel(kFs, "minik8s/n2");
  EXPECT_EQ(rel.parent_for("u"), "/minik8s/n2/podu");
}

TEST_F(PodCgroupsTest, CreateMoveProcessRemove) {
  PodCgroups cg(kFs, root_);
  std::string uid = "1234-abcd";
  EXPECT_FALSE(cg.exists(uid));
  ASSERT_TRUE(cg.create(uid).is_ok());
  ASSERT_TRUE(cg.create(uid).is_ok());  // idempotent
  EXPECT_TRUE(cg.exists(uid));
  EXPECT_EQ(cg.list(), std::vector<std::string>{uid});

  if (!v2_) {
    for (const char* ctrl : {"cpu", "cpuacct", "memory", "cpuset", "pids"}) {
      if (!fs::exists(std::string(kFs) + "/" + ctrl + "/cgroup.procs")) continue;
      EXPECT_TRUE(fs::is_directory(dir(ctrl, uid))) << ctrl;
    }
    std::string want_cpus = read_text(std::string(kFs) + "/cpuset/cpuset.cpus");
    ASSERT_FALSE(want_cpus.empty());
    EXPECT_EQ(read_text(dir("cpuset", uid) + "/cpuset.cpus"), want_cpus);
    EXPECT_EQ(read_text(dir("cpuset", uid) + "/cpuset.mems"), read_text(std::string(kFs) + "/cpuset/cpuset.mems"));
    EXPECT_EQ(read_text(std::string(kFs) + "/cpuset" + root_ + "/cpuset.cpus"), want_cpus);
  }

  // A process in a nested (container-like) cgroup of the pod, in every
  // controller that matters — the cpuset write fails unless cpus/mems were copied.
  child_ = spawn_sleep();
  ASSERT_GT(child_, 0);
  std::vector<std::string> ctrls = v2_ ? std::vector<std::string>{""} : std::vector<std::string>{"cpu", "memory", "cpuset"};
  for (const auto& ctrl : ctrls) {
    std::string nested = dir(ctrl, uid) + "/ctr1";
    ASSERT_TRUE(fs::create_directory(nested)) << nested;
    if (ctrl == "cpuset") {
      ASSERT_TRUE(write_text(nested + "/cpuset.cpus", read_text(dir(ctrl, uid) + "/cpuset.cpus")));
      ASSERT_TRUE(write_text(nested + "/cpuset.mems", read_text(dir(ctrl, uid) + "/cpuset.mems")));
    }
    ASSERT_TRUE(write_text(nested + "/cgroup.procs", std::to_string(child_))) << nested;
    EXPECT_EQ(read_text(nested + "/cgroup.procs"), std::to_string(child_));
  }

  ASSERT_TRUE(cg.remove(uid).is_ok());
  EXPECT_FALSE(cg.exists(uid));
  for (const auto& ctrl : ctrls) EXPECT_FALSE(fs::exists(dir(ctrl, uid))) << ctrl;
  EXPECT_TRUE(cg.list().empty());
  // The leftover task was killed.
  int status = 0;
  ASSERT_EQ(::waitpid(child_, &status, 0), child_);
  child_ = -1;
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  EXPECT_TRUE(cg.remove(uid).is_ok());  // gone already: fine
}

TEST_F(PodCgroupsTest, ListsSeveralPodsAndRejectsBadUids) {
  PodCgroups cg(kFs, root_);
  ASSERT_TRUE(cg.create("a").is_ok());
  ASSERT_TRUE(cg.create("b").is_ok());
  auto uids = cg.list();
  std::sort(uids.begin(), uids.end());
  EXPECT_EQ(uids, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(cg.remove("a").is_ok());
  EXPECT_EQ(cg.list(), std::vector<std::string>{"b"});
  EXPECT_FALSE(cg.create("../x").is_ok());
  EXPECT_FALSE(cg.remove("").is_ok());
  EXPECT_FALSE(cg.exists("../.."));
}

}  // namespace
}  // namespace minik8s::kubelet
