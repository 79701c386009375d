#include "containerd_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/cri/containerd.h"

namespace minik8s::cri {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string t = "/tmp/minik8s-test-" + std::to_string(::getpid()) + "-cri-XXXXXX";
    if (::mkdtemp(t.data())) path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CriContainerdConfig, PathsLiveUnderDataDir) {
  ContainerdOptions o;
  o.data_dir = "/var/lib/minik8s/node1/";
  auto p = detail::containerd_paths(o);
  EXPECT_EQ(p.dir, "/var/lib/minik8s/node1/containerd");
  EXPECT_EQ(p.socket, "/var/lib/minik8s/node1/containerd/containerd.sock");
  EXPECT_EQ(p.config, "/var/lib/minik8s/node1/containerd/config.toml");
  EXPECT_EQ(p.pid_file, "/var/lib/minik8s/node1/containerd/containerd.pid");
  EXPECT_EQ(p.log, "/var/lib/minik8s/node1/containerd/containerd.log");
  EXPECT_EQ(p.cni_conf_dir, "/var/lib/minik8s/node1/containerd/cni/net.d");
  o.cni_conf_dir = "/etc/minik8s/cni";
  EXPECT_EQ(detail::containerd_paths(o).cni_conf_dir, "/etc/minik8s/cni");
}

TEST(CriContainerdConfig, TomlHasEveryRequiredKey) {
  ContainerdOptions o;
  o.data_dir = "/d/n1";
  o.sandbox_image = "minik8s.io/pause:1.0";
  auto p = detail::containerd_paths(o);
  const std::string t = detail::containerd_config_toml(o, p);
  const char* want[] = {
      "version = 2\n",
      "root = \"/d/n1/containerd/root\"\n",
      "state = \"/d/n1/containerd/state\"\n",
      "[grpc]\n  address = \"/d/n1/containerd/containerd.sock\"\n",
      "[ttrpc]\n  address = \"/d/n1/containerd/containerd.sock.ttrpc\"\n",
      "[plugins.\"io.containerd.grpc.v1.cri\"]\n",
      "  sandbox_image = \"minik8s.io/pause:1.0\"\n",
      "  restrict_oom_score_adj = true\n",
      "  stream_server_address = \"127.0.0.1\"\n",
      "  stream_server_port = \"0\"\n",
      "  netns_mounts_under_state_dir = true\n",
      "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n",
      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = "
      "\"io.containerd.runc.v2\"\n",
      "  SystemdCgroup = false\n  Root = \"/d/n1/containerd/runc\"\n",
      "  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"/d/n1/containerd/cni/net.d\"\n  max_conf_num = "
      "1\n",
  };
  for (const char* w : want)
    EXPECT_NE(t.find(w), std::string::npos) << "missing: " << w << "\nin:\n" << t;
  // The CRI plugin itself and overlayfs must not be disabled.
  auto dis = t.substr(t.find("disabled_plugins"),
                      t.find('\n', t.find("disabled_plugins")) - t.find("disabled_plugins"));
  EXPECT_EQ(dis.find("grpc.v1.cri"), std::string::npos) << dis;
  EXPECT_EQ(dis.find("overlayfs"), std::string::npos) << dis;
}

TEST(CriContainerdConfig, TomlEscapesQuotesInValues) {
  ContainerdOptions o;
  o.data_dir = "/d/we\"ird";
  o.sandbox_image = "a\\b";
  const std::string t = detail::containerd_config_toml(o, detail::containerd_paths(o));
  EXPECT_NE(t.find("root = \"/d/we\\\"ird/containerd/root\""), std::string::npos) << t;
  EXPECT_NE(t.find("sandbox_image = \"a\\\\b\""), std::string::npos) << t;
}

TEST(CriContainerdConfig, BridgeNameIsShortStableAndPerDataDir) {
  ContainerdOptions a, b, a2;
  a.data_dir = "/var/lib/minik8s/node1";
  a2.data_dir = "/var/lib/minik8s/node1/";
  b.data_dir = "/var/lib/minik8s/node2";
  const std::string na = detail::cni_bridge_name(a);
  EXPECT_LE(na.size(), 15u);  // IFNAMSIZ - 1
  EXPECT_EQ(na.rfind("mk-", 0), 0u) << na;
  EXPECT_EQ(na, detail::cni_bridge_name(a2));
  EXPECT_NE(na, detail::cni_bridge_name(b));
  EXPECT_EQ(detail::cni_network_name(a).rfind("minik8s-", 0), 0u);
  EXPECT_EQ(detail::cni_network_name(a).substr(8), na.substr(3));
  a.cni_bridge = "cni0";
  EXPECT_EQ(detail::cni_bridge_name(a), "cni0");
}

TEST(CriContainerdConfig, ConflistIsBridgeHostLocalPortmap) {
  ContainerdOptions o;
  o.data_dir = "/d/n1";
  o.pod_cidr = "10.244.3.0/24";
  o.cni_ip_masq = false;
  auto p = detail::containerd_paths(o);
  auto j = nlohmann::json::parse(detail::cni_conflist_json(o, p));
  EXPECT_EQ(j["cniVersion"], "0.4.0");
  EXPECT_EQ(j["name"], detail::cni_network_name(o));
  ASSERT_EQ(j["plugins"].size(), 2u);
  const auto& br = j["plugins"][0];
  EXPECT_EQ(br["type"], "bridge");
  EXPECT_EQ(br["bridge"], detail::cni_bridge_name(o));
  EXPECT_EQ(br["isGateway"], true);
  EXPECT_EQ(br["hairpinMode"], true);
  EXPECT_EQ(br["ipMasq"], false);
  EXPECT_EQ(br["ipam"]["type"], "host-local");
  EXPECT_EQ(br["ipam"]["ranges"][0][0]["subnet"], "10.244.3.0/24");
  EXPECT_EQ(br["ipam"]["dataDir"], "/d/n1/containerd/cni/ipam");
  EXPECT_EQ(j["plugins"][1]["type"], "portmap");
  EXPECT_EQ(j["plugins"][1]["capabilities"]["portMappings"], true);
}

TEST(CriContainerdConfig, ConfDirDetection) {
  TempDir d;
  ASSERT_FALSE(d.path().empty());
  EXPECT_FALSE(detail::cni_conf_dir_has_config(d.path()));
  EXPECT_FALSE(detail::cni_conf_dir_has_config(d.path() + "/missing"));
  std::ofstream(d.path() + "/README") << "x";
  EXPECT_FALSE(detail::cni_conf_dir_has_config(d.path()));
  std::ofstream(d.path() + "/10-net.conflist") << "{}";
  EXPECT_TRUE(detail::cni_conf_dir_has_config(d.path()));
}

// start() with a binary that exits at once: the files are written, the
// error names the exit and the log, and an existing CNI config is kept.
TEST(CriManagedContainerd, StartFailureReportsExitAndKeepsExistingCniConfig) {
  TempDir d;
  ASSERT_FALSE(d.path().empty());
  fs::create_directories(d.path() + "/containerd/cni/net.d");
  std::ofstream(d.path() + "/containerd/cni/net.d/05-mine.conflist") << "{\"mine\":true}";
  ContainerdOptions o;
  o.data_dir = d.path();
  o.binary = "false";
  o.ready_timeout = std::chrono::milliseconds(5000);
  ManagedContainerd c(o);
  Status s = c.start();
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find("exited with status 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("containerd.log"), std::string::npos) << s.message();
  EXPECT_NE(slurp(c.config_path()).find("restrict_oom_score_adj = true"), std::string::npos);
  int confs = 0;
  for (const auto& e : fs::directory_iterator(d.path() + "/containerd/cni/net.d")) {
    (void)e;
    ++confs;
  }
  EXPECT_EQ(confs, 1);
  EXPECT_EQ(slurp(d.path() + "/containerd/cni/net.d/05-mine.conflist"), "{\"mine\":true}");
  EXPECT_EQ(c.pid(), -1);
  EXPECT_FALSE(fs::exists(d.path() + "/containerd/containerd.pid"));
}

TEST(CriManagedContainerd, WritesDefaultCniConfigWhenNone) {
  TempDir d;
  ASSERT_FALSE(d.path().empty());
  ContainerdOptions o;
  o.data_dir = d.path();
  o.binary = "/nonexistent/containerd";
  ManagedContainerd c(o);
  Status s = c.start();
  ASSERT_FALSE(s.is_ok());
  const auto conf =
      d.path() + "/containerd/cni/net.d/10-" + detail::cni_network_name(o) + ".conflist";
  ASSERT_TRUE(fs::exists(conf));
  auto j = nlohmann::json::parse(slurp(conf));
  EXPECT_EQ(j["plugins"][0]["bridge"], c.cni_bridge());
  EXPECT_EQ(j["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.88.0.0/16");
}

TEST(CriManagedContainerd, EmptyDataDirIsInvalid) {
  ManagedContainerd c(ContainerdOptions{});
  EXPECT_EQ(c.start().code(), Code::kInvalid);
}

}  // namespace
}  // namespace minik8s::cri
