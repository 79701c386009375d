// e2e (real containerd): builds pause + busybox, imports them into a private
// containerd started in a temp dir, checks both busybox names and the pause
// name are listed, and runs a busybox container through `ctr run`.
// Needs root, containerd, ctr and runc; skips otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "src/images/process.h"
#include "minik8s/images/images.h"

namespace minik8s::images {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool on_path(const std::string& prog) {
  auto r = run_process({"sh", "-c", "command -v " + prog});
  return r && r->exit_code == 0;
}

// Lazily unmounts whatever is still mounted under dir (deepest first).
void unmount_under(const std::string& dir) {
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

class ImagesE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run containerd";
    for (const char* p : {"containerd", "ctr", "runc", "tar", "gzip", "gcc"}) {
      if (!on_path(p)) GTEST_SKIP() << p << " not installed";
    }
    if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static not installed";
    std::string t = "/tmp/minik8s-test-" + std::to_string(::getpid()) + "-images-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(t.data()), nullptr);
    dir_ = t;
    socket_ = dir_ + "/containerd.sock";
    fs::create_directories(dir_ + "/cni/net.d");
    std::ofstream(dir_ + "/config.toml")
        << "version = 2\n"
        << "root = \"" << dir_ << "/root\"\n"
        << "state = \"" << dir_ << "/state\"\n"
        << "[grpc]\n  address = \"" << socket_ << "\"\n"
        << "[ttrpc]\n  address = \"" << socket_ << ".ttrpc\"\n"
        << "[debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n"
        << "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
        << "  stream_server_port = \"0\"\n"
        << "  restrict_oom_score_adj = true\n"
        << "  sandbox_image = \"minik8s.io/pause:1.0\"\n"
        << "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
        << "    snapshotter = \"overlayfs\"\n"
        << "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
        << "    bin_dir = \"/usr/lib/cni\"\n"
        << "    conf_dir = \"" << dir_ << "/cni/net.d\"\n";
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      std::string log = dir_ + "/containerd.log";
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f) ::dup2(::fileno(stdout), 2);
      ::execlp("containerd", "containerd", "--config", (dir_ + "/config.toml").c_str(), nullptr);
      ::_exit(127);
    }
    auto deadline = Clock::now() + std::chrono::seconds(15);
    bool ready = false;
    while (Clock::now() < deadline) {
      auto r = run_process({"ctr", "--address", socket_, "version"});
      if (r && r->exit_code == 0) {
        ready = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(ready) << "containerd did not come up; log:\n" << read_log();
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      auto deadline = Clock::now() + std::chrono::seconds(10);
      int st = 0;
      while (::waitpid(pid_, &st, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &st, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (!dir_.empty()) {
      unmount_under(dir_);
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  std::string read_log() {
    std::ifstream in(dir_ + "/containerd.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_, socket_;
  pid_t pid_ = -1;
};

TEST_F(ImagesE2E, ImportPauseAndBusyboxAndRunBusybox) {
  for (const char* name : {"pause", "busybox"}) {
    auto b = build_image(name, dir_ + "/cache");
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    Status s = import_archive(b->archive, "unix://" + socket_);
    ASSERT_TRUE(s.is_ok()) << s.message();
  }
  auto images = list_images(socket_);
  ASSERT_TRUE(images.is_ok()) << images.status().message();
  std::string joined;
  for (const auto& l : *images) joined += l + "\n";
  for (const char* ref : {"minik8s.io/pause:1.0\t", "docker.io/library/busybox:1.36\t",
                          "docker.io/library/busybox:latest\t"}) {
    EXPECT_NE(joined.find(ref), std::string::npos) << ref << " missing in:\n" << joined;
  }
  EXPECT_EQ(joined.find("sha256:"), std::string::npos) << "by-ID aliases are hidden:\n" << joined;

  // Unpacked for overlayfs: a container runs straight from the imported image.
  std::string id = "minik8s-test-" + std::to_string(::getpid()) + "-bb";
  auto run =
      run_process({"timeout", "60", "ctr", "--address", socket_, "--namespace", "k8s.io", "run",
                   "--rm", "--snapshotter", "overlayfs", "docker.io/library/busybox:latest", id,
                   "sh", "-c", "echo hi from $(readlink /bin/sh); cat /etc/passwd | head -1"});
  ASSERT_TRUE(run.is_ok()) << run.status().message();
  EXPECT_EQ(run->exit_code, 0) << run->err << "\n" << read_log();
  EXPECT_EQ(run->out, "hi from /bin/busybox\nroot:x:0:0:root:/root:/bin/sh\n");

  auto pause =
      run_process({"timeout", "60", "ctr", "--address", socket_, "--namespace", "k8s.io", "run",
                   "--rm", "minik8s.io/pause:1.0", id + "-pause", "/pause", "--version"});
  ASSERT_TRUE(pause.is_ok());
  EXPECT_EQ(pause->out, "minik8s pause 1.0\n") << pause->err;

  // A second import of an unchanged, cached build is harmless.
  auto again = build_image("busybox", dir_ + "/cache");
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->cached);
  EXPECT_TRUE(import_archive(again->archive, socket_).is_ok());
}

TEST_F(ImagesE2E, ImportOfGarbageFailsWithCtrMessage) {
  std::ofstream(dir_ + "/garbage.tar") << "this is not a tar archive";
  Status s = import_archive(dir_ + "/garbage.tar", socket_);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("garbage.tar"), std::string::npos) << s.message();
}

// Slow (about a minute: mmdebstrap downloads and installs python3 from the
// Debian mirror). $MINIK8S_IMAGE_CACHE points it at a persistent cache dir.
TEST_F(ImagesE2E, PythonImageBuildsImportsAndRuns) {
  if (!on_path("mmdebstrap")) GTEST_SKIP() << "mmdebstrap not installed";
  const char* env_cache = std::getenv("MINIK8S_IMAGE_CACHE");
  std::string cache = env_cache && *env_cache ? env_cache : dir_ + "/cache";
  auto b = build_image("python", cache);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(b->ref, "docker.io/library/python:3.11");
  Status s = import_archive(b->archive, socket_);
  ASSERT_TRUE(s.is_ok()) << s.message();
  std::string id = "minik8s-test-" + std::to_string(::getpid()) + "-py";
  auto run = run_process({"timeout", "60", "ctr", "--address", socket_, "--namespace", "k8s.io",
                          "run", "--rm", b->ref, id, "python3", "-c",
                          "import json, http.server, urllib.request, sys; "
                          "print(json.dumps({'v': sys.version_info[:2]}))"});
  ASSERT_TRUE(run.is_ok()) << run.status().message();
  EXPECT_EQ(run->exit_code, 0) << run->err;
  EXPECT_EQ(run->out, "{\"v\": [3, 11]}\n");
}

}  // namespace
}  // namespace minik8s::images
