#include "agent_state.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace minik8s::agent {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir()
      : path_(fs::temp_directory_path() /
              ("mk-agent-state-" + std::to_string(std::random_device{}()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(AgentState, RoundTrip) {
  TempDir d;
  AgentState s;
  s.node_name = "n1";
  s.cgroup_root = "/minik8s/n1";
  s.managed = true;
  s.endpoint = "unix:///x/sock";
  s.netns = "ns1";
  s.pid = 4242;
  s.network = true;
  s.cni_bridge = "mk-br";
  s.chain_prefix = "MK";
  s.ingress = true;
  s.hosts_file = "/etc/hosts";
  ASSERT_TRUE(write_agent_state(d.path().string(), s).is_ok());
  auto r = read_agent_state(d.path().string());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->node_name, "n1");
  EXPECT_EQ(r->cgroup_root, "/minik8s/n1");
  EXPECT_TRUE(r->managed);
  EXPECT_EQ(r->endpoint, "unix:///x/sock");
  EXPECT_EQ(r->netns, "ns1");
  EXPECT_EQ(r->pid, 4242);
  EXPECT_TRUE(r->network);
  EXPECT_EQ(r->cni_bridge, "mk-br");
  EXPECT_EQ(r->chain_prefix, "MK");
  EXPECT_TRUE(r->ingress);
  EXPECT_FALSE(r->proxy);
  EXPECT_EQ(r->hosts_file, "/etc/hosts");
  std::ofstream(d.path() / "agent.json") << "{not json";
  EXPECT_EQ(read_agent_state(d.path().string()).status().code(), Code::kBadRequest);
  EXPECT_EQ(read_agent_state((d.path() / "none").string()).status().code(), Code::kNotFound);
}

TEST(AgentState, ImageCacheDir) {
  unsetenv("MINIK8S_IMAGE_CACHE");
  EXPECT_EQ(image_cache_dir("/c", "/d/agent"), "/c");
  EXPECT_EQ(image_cache_dir("", "/d/agent"), "/d/images");
  EXPECT_EQ(image_cache_dir("", "/d/agent/"), "/d/images");
  setenv("MINIK8S_IMAGE_CACHE", "/env/cache", 1);
  EXPECT_EQ(image_cache_dir("", "/d/agent"), "/env/cache");
  unsetenv("MINIK8S_IMAGE_CACHE");
}

TEST(AgentState, CniBridgesAndNetworks) {
  TempDir d;
  std::ofstream(d.path() / "10-minik8s.conflist")
      << R"({"cniVersion":"0.4.0","name":"minik8s-n1","plugins":[{"type":"bridge","bridge":"mk-n1","isGateway":true},{"type":"portmap"}]})";
  std::ofstream(d.path() / "20-plain.conf")
      << R"({"cniVersion":"0.4.0","name":"plain","type":"bridge"})";
  std::ofstream(d.path() / "junk.conf") << "not json";
  std::ofstream(d.path() / "README") << R"({"name":"ignored","type":"bridge","bridge":"nope"})";
  auto br = cni_bridges(d.path().string());
  std::sort(br.begin(), br.end());
  EXPECT_EQ(br, (std::vector<std::string>{"cni0", "mk-n1"}));
  auto nets = cni_networks(d.path().string());
  std::sort(nets.begin(), nets.end());
  EXPECT_EQ(nets, (std::vector<std::string>{"minik8s-n1", "plain"}));
  EXPECT_TRUE(cni_bridges((d.path() / "missing").string()).empty());
}

TEST(AgentState, MountsUnderFindsRealMounts) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount tmpfs";
  TempDir d;
  fs::create_directories(d.path() / "a b" / "inner");
  std::string outer = (d.path() / "a b").string(), inner = (d.path() / "a b" / "inner").string();
  ASSERT_EQ(system(("mount -t tmpfs tmpfs '" + outer + "'").c_str()), 0);
  fs::create_directories(inner);
  ASSERT_EQ(system(("mount -t tmpfs tmpfs '" + inner + "'").c_str()), 0);
  auto m = mounts_under(d.path().string());
  // Clean up before asserting so a failure leaves nothing mounted.
  system(("umount '" + inner + "'; umount '" + outer + "'").c_str());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], inner);  // deepest first, "\040" decoded to a space
  EXPECT_EQ(m[1], outer);
  EXPECT_TRUE(mounts_under(d.path().string()).empty());
}

TEST(AgentState, TerminateProcessStopsAChild) {
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sleep", "sleep", "60", nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  auto t0 = std::chrono::steady_clock::now();
  terminate_process(pid, std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(kill(pid, 0), 0);
  EXPECT_FALSE(is_minik8s_process(pid));
  EXPECT_FALSE(is_minik8s_process(getpid()));  // never ourselves
}

}  // namespace
}  // namespace minik8s::agent
