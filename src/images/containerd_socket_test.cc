#include "containerd_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "test/fakes/temp_dir.h"

namespace minik8s::images {
namespace {

namespace fs = std::filesystem;

// A probe that answers for the sockets in `up` and records what it was asked.
struct FakeProbe {
  std::set<std::string> up;
  std::vector<std::string> asked;
  SocketProbe fn() {
    return [this](const std::string& s) {
      asked.push_back(s);
      return up.count(s) ? Status::ok() : not_found("No such file or directory");
    };
  }
};

SocketLookup search_only() {
  SocketLookup l;
  l.search = {{"/w/.run", "./.run (make run)"}, {"/var/lib/minik8s", "/var/lib/minik8s"}};
  return l;
}

constexpr char kRunSock[] = "/w/.run/agent/containerd/containerd.sock";
constexpr char kVarSock[] = "/var/lib/minik8s/agent/containerd/containerd.sock";

TEST(DataDirSockets, UpLayoutThenAgentLayout) {
  EXPECT_EQ(data_dir_sockets("/d"), (std::vector<std::string>{"/d/agent/containerd/containerd.sock",
                                                              "/d/containerd/containerd.sock"}));
  EXPECT_EQ(data_dir_sockets("/d//")[0], "/d/agent/containerd/containerd.sock");
  EXPECT_EQ(data_dir_sockets("rel")[0], "rel/agent/containerd/containerd.sock");
}

TEST(ResolveSocket, AddressWinsAndIsNotProbed) {
  FakeProbe p;
  p.up = {kRunSock, "/d/agent/containerd/containerd.sock"};
  SocketLookup l = search_only();
  l.address = "/given.sock";
  l.data_dir = "/d";
  l.env_address = "/env.sock";
  l.env_data_dir = "/d";
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, "/given.sock");
  EXPECT_EQ(r->source, "--address");
  EXPECT_TRUE(p.asked.empty());
}

TEST(ResolveSocket, DataDirUpLayout) {
  FakeProbe p;
  p.up = {"/d/agent/containerd/containerd.sock", "/d/containerd/containerd.sock", kRunSock};
  SocketLookup l = search_only();
  l.data_dir = "/d";
  l.env_address = "/env.sock";  // a flag beats the environment
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, "/d/agent/containerd/containerd.sock");
  EXPECT_EQ(r->source, "--data-dir /d");
}

TEST(ResolveSocket, DataDirOfAnAgent) {
  FakeProbe p;
  p.up = {"/a/containerd/containerd.sock"};
  SocketLookup l = search_only();
  l.data_dir = "/a";
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, "/a/containerd/containerd.sock");
}

TEST(ResolveSocket, DataDirNotRunningIsAnErrorNotAFallback) {
  FakeProbe p;
  p.up = {kRunSock, kVarSock};  // other clusters run; the named one does not
  SocketLookup l = search_only();
  l.data_dir = "/d";
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("/d/agent/containerd/containerd.sock: No such file"), std::string::npos) << m;
  EXPECT_NE(m.find("/d/containerd/containerd.sock: No such file"), std::string::npos) << m;
  EXPECT_NE(m.find("--data-dir"), std::string::npos) << m;
  EXPECT_NE(m.find("minik8s up --data-dir /d"), std::string::npos) << m;
  EXPECT_NE(m.find("--address"), std::string::npos) << m;
  EXPECT_EQ(p.asked.size(), 2u);
}

TEST(ResolveSocket, ContainerdAddressEnvBeatsDataDirEnvAndSearch) {
  FakeProbe p;
  p.up = {kRunSock, "/e/agent/containerd/containerd.sock"};
  SocketLookup l = search_only();
  l.env_address = "unix:///env.sock";
  l.env_data_dir = "/e";
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, "unix:///env.sock");
  EXPECT_EQ(r->source, "$CONTAINERD_ADDRESS");
  EXPECT_TRUE(p.asked.empty());
}

TEST(ResolveSocket, DataDirEnvIsUsedLikeTheFlag) {
  FakeProbe p;
  p.up = {kRunSock, "/e/agent/containerd/containerd.sock"};
  SocketLookup l = search_only();
  l.env_data_dir = "/e";
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, "/e/agent/containerd/containerd.sock");
  EXPECT_EQ(r->source, "$MINIK8S_DATA_DIR /e");
}

TEST(ResolveSocket, DataDirEnvNotRunningDoesNotSearch) {
  FakeProbe p;
  p.up = {kRunSock};
  SocketLookup l = search_only();
  l.env_data_dir = "/e";
  auto r = resolve_containerd_socket(l, p.fn());
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("$MINIK8S_DATA_DIR"), std::string::npos)
      << r.status().message();
  for (const auto& s : p.asked) EXPECT_EQ(s.rfind("/e/", 0), 0u) << s;
}

TEST(ResolveSocket, SearchPicksMakeRunFirst) {
  FakeProbe p;
  p.up = {kRunSock, kVarSock};
  auto r = resolve_containerd_socket(search_only(), p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, kRunSock);
  EXPECT_EQ(r->source, "running cluster in ./.run (make run)");
  EXPECT_EQ(p.asked, std::vector<std::string>{kRunSock});
}

TEST(ResolveSocket, SearchFallsThroughToTheDefaultDataDir) {
  FakeProbe p;
  p.up = {kVarSock};
  auto r = resolve_containerd_socket(search_only(), p.fn());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, kVarSock);
  EXPECT_EQ(r->source, "running cluster in /var/lib/minik8s");
  EXPECT_EQ(p.asked.front(), kRunSock);
}

TEST(ResolveSocket, NothingRunningNamesEverySocketAndTheFlags) {
  FakeProbe p;
  auto r = resolve_containerd_socket(search_only(), p.fn());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  const std::string& m = r.status().message();
  for (const char* s : {kRunSock, "/w/.run/containerd/containerd.sock", kVarSock,
                        "/var/lib/minik8s/containerd/containerd.sock", "--data-dir",
                        "$MINIK8S_DATA_DIR", "--address", "make run"}) {
    EXPECT_NE(m.find(s), std::string::npos) << s << " not in: " << m;
  }
  EXPECT_EQ(p.asked.size(), 4u);
}

// --- the real probe, on real sockets under a temp dir ---

// A temp dir per test (test/fakes/temp_dir.h), tagged "sock".
struct TempDir : minik8s::testing::TempDir {
  TempDir() : minik8s::testing::TempDir("sock") {}
};

// A bound unix socket; listening unless told otherwise. Closing it leaves the
// file behind, like a containerd that died.
class UnixListener {
 public:
  UnixListener(const std::string& path, bool listen) {
    fs::create_directories(fs::path(path).parent_path());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
          (!listen || ::listen(fd_, 4) == 0);
  }
  ~UnixListener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

TEST(ProbeUnixSocket, MissingFileAndNotASocket) {
  TempDir t;
  Status missing = probe_unix_socket(t.path() + "/nope.sock");
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_NE(missing.message().find("No such file"), std::string::npos) << missing.message();
  std::ofstream(t.path() + "/file") << "x";
  Status file = probe_unix_socket(t.path() + "/file");
  EXPECT_FALSE(file);
  EXPECT_NE(file.message().find("not a socket"), std::string::npos) << file.message();
}

TEST(ProbeUnixSocket, ListeningAnswersStaleDoesNot) {
  TempDir t;
  const std::string path = t.path() + "/c.sock";
  UnixListener l(path, /*listen=*/true);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(probe_unix_socket(path)) << probe_unix_socket(path).message();
  EXPECT_TRUE(probe_unix_socket("unix://" + path));
  l.close();
  ASSERT_TRUE(fs::exists(path));
  Status stale = probe_unix_socket(path);
  EXPECT_EQ(stale.code(), Code::kUnavailable);
  EXPECT_NE(stale.message().find("refused"), std::string::npos) << stale.message();
}

TEST(ProbeUnixSocket, PathTooLongForSunPath) {
  std::string p = "/" + std::string(200, 'x') + ".sock";
  Status s = probe_unix_socket(p);
  EXPECT_FALSE(s);
}

TEST(ResolveSocketOnDisk, FindsTheRunningClusterPastAStaleOne) {
  TempDir t;
  const std::string stale_dir = t.path() + "/stale", run_dir = t.path() + "/run";
  UnixListener stale(stale_dir + "/agent/containerd/containerd.sock", true);
  UnixListener live(run_dir + "/agent/containerd/containerd.sock", true);
  ASSERT_TRUE(stale.ok() && live.ok());
  stale.close();
  SocketLookup l;
  l.search = {{t.path() + "/absent", "absent"}, {stale_dir, "stale"}, {run_dir, "run"}};
  auto r = resolve_containerd_socket(l, probe_unix_socket);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->socket, run_dir + "/agent/containerd/containerd.sock");
  EXPECT_EQ(r->source, "running cluster in run");

  live.close();
  auto none = resolve_containerd_socket(l, probe_unix_socket);
  ASSERT_FALSE(none);
  EXPECT_NE(none.status().message().find(run_dir + "/agent/containerd/containerd.sock: "),
            std::string::npos)
      << none.status().message();
}

TEST(SocketLookupFromEnvironment, FlagsEnvAndDefaultSearch) {
  const char* old_addr = std::getenv("CONTAINERD_ADDRESS");
  const char* old_dir = std::getenv("MINIK8S_DATA_DIR");
  std::string saved_addr = old_addr ? old_addr : "", saved_dir = old_dir ? old_dir : "";
  ::setenv("CONTAINERD_ADDRESS", "/env.sock", 1);
  ::setenv("MINIK8S_DATA_DIR", "/envdir", 1);
  SocketLookup l = socket_lookup_from_environment("/a.sock", "/d");
  EXPECT_EQ(l.address, "/a.sock");
  EXPECT_EQ(l.data_dir, "/d");
  EXPECT_EQ(l.env_address, "/env.sock");
  EXPECT_EQ(l.env_data_dir, "/envdir");
  ASSERT_EQ(l.search.size(), 2u);
  EXPECT_EQ(l.search[0].dir, (fs::current_path() / ".run").string());
  EXPECT_EQ(l.search[1].dir, "/var/lib/minik8s");
  ::setenv("CONTAINERD_ADDRESS", "", 1);
  ::unsetenv("MINIK8S_DATA_DIR");
  SocketLookup e = socket_lookup_from_environment("", "");
  EXPECT_EQ(e.env_address, "");
  EXPECT_EQ(e.env_data_dir, "");
  if (old_addr)
    ::setenv("CONTAINERD_ADDRESS", saved_addr.c_str(), 1);
  else
    ::unsetenv("CONTAINERD_ADDRESS");
  if (old_dir) ::setenv("MINIK8S_DATA_DIR", saved_dir.c_str(), 1);
}

}  // namespace
}  // namespace minik8s::images
