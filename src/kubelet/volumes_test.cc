#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/kubelet/parts.h"
#include "test/fakes/fake_rest_client.h"

namespace fs = std::filesystem;

namespace minik8s::kubelet {
namespace {

using api::Json;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {(std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()};
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool mounted(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + path + " ") != std::string::npos) return true;
  }
  return false;
}

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/minik8s-test-volumes-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    cm_type_ = api::find_resource("", "v1", "configmaps");
    secret_type_ = api::find_resource("", "v1", "secrets");
    ASSERT_TRUE(client_.create(*cm_type_, Json::parse(R"({"metadata":{"name":"cfg"},
                                "data":{"app.conf":"port=80\n","other":"x"},"binaryData":{"bin":"AAEC"}})"),
                               "ns1")
                    .is_ok());
    ASSERT_TRUE(client_.create(*secret_type_, Json::parse(R"({"metadata":{"name":"creds"},"data":{"pass":"czNjcjN0"}})"), "ns1")
                    .is_ok());
  }
  void TearDown() override {
    // Unmount anything a failed test left, then remove the tree.
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    std::vector<std::string> mps;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string a, b, c, d, mp;
      ls >> a >> b >> c >> d >> mp;
      if (mp.rfind(root_ + "/", 0) == 0) mps.push_back(mp);
    }
    for (auto it = mps.rbegin(); it != mps.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  Json pod(const std::string& volumes) {
    return Json::parse(R"({"metadata":{"name":"p","namespace":"ns1","uid":"uid-1"},"spec":{"volumes":)" + volumes +
                       R"(,"containers":[{"name":"c"}]}})");
  }

  std::string root_;
  const api::ResourceType* cm_type_ = nullptr;
  const api::ResourceType* secret_type_ = nullptr;
  testing::FakeRestClient rest_;
  client::Client client_{rest_};
};

TEST_F(VolumesTest, EmptyDirIsAWritableDirectoryUnderThePod) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"scratch","emptyDir":{}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("scratch").path;
  EXPECT_EQ(dir, root_ + "/pods/uid-1/volumes/kubernetes.io~empty-dir/scratch");
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(mode_of(dir), 0777u);
  EXPECT_EQ(vm.pod_dir("uid-1"), root_ + "/pods/uid-1");
  // Idempotent: contents survive a second setup.
  std::ofstream(dir + "/f") << "keep";
  ASSERT_TRUE(vm.setup(pod(R"([{"name":"scratch","emptyDir":{}}])")).is_ok());
  EXPECT_EQ(slurp(dir + "/f"), "keep");
}

TEST_F(VolumesTest, ConfigMapFilesThroughDataSymlink) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"c","configMap":{"name":"cfg"}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("c").path;
  EXPECT_EQ(slurp(dir + "/app.conf"), "port=80\n");
  EXPECT_EQ(slurp(dir + "/other"), "x");
  EXPECT_EQ(slurp(dir + "/bin"), std::string("\x00\x01\x02", 3));
  EXPECT_TRUE(fs::is_symlink(dir + "/app.conf"));
  EXPECT_EQ(fs::read_symlink(dir + "/app.conf").string(), "..data/app.conf");
  EXPECT_TRUE(fs::is_symlink(dir + "/..data"));
  EXPECT_EQ(mode_of(dir + "/app.conf"), 0644u);
}

TEST_F(VolumesTest, ConfigMapItemsModesAndAtomicUpdate) {
  VolumeManager vm(client_, root_);
  std::string vols = R"([{"name":"c","configMap":{"name":"cfg","defaultMode":384,
                         "items":[{"key":"app.conf","path":"conf/app.conf"},{"key":"other","path":"o","mode":420}]}}])";
  auto r = vm.setup(pod(vols));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("c").path;
  EXPECT_EQ(slurp(dir + "/conf/app.conf"), "port=80\n");
  EXPECT_EQ(mode_of(dir + "/conf/app.conf"), 0600u);
  EXPECT_EQ(mode_of(dir + "/o"), 0644u);
  EXPECT_FALSE(fs::exists(dir + "/bin"));
  auto first = fs::read_symlink(dir + "/..data");

  // Unchanged → no new generation.
  ASSERT_TRUE(vm.setup(pod(vols)).is_ok());
  EXPECT_EQ(fs::read_symlink(dir + "/..data"), first);

  // Update the ConfigMap → new generation, old one gone, content swapped.
  auto cur = client_.get(*cm_type_, "ns1", "cfg");
  ASSERT_TRUE(cur.is_ok());
  Json upd = *cur;
  upd["data"]["app.conf"] = "port=8080\n";
  ASSERT_TRUE(client_.update(*cm_type_, upd).is_ok());
  ASSERT_TRUE(vm.setup(pod(vols)).is_ok());
  EXPECT_EQ(slurp(dir + "/conf/app.conf"), "port=8080\n");
  auto second = fs::read_symlink(dir + "/..data");
  EXPECT_NE(second, first);
  EXPECT_FALSE(fs::exists(dir + "/" + first.string()));
  int generations = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind("..", 0) == 0 && n != "..data") generations++;
  }
  EXPECT_EQ(generations, 1);
}

TEST_F(VolumesTest, KeysRemovedFromTheObjectDisappear) {
  VolumeManager vm(client_, root_);
  std::string vols = R"([{"name":"c","configMap":{"name":"cfg"}}])";
  auto r = vm.setup(pod(vols));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("c").path;
  ASSERT_TRUE(fs::exists(dir + "/other"));
  auto cur = client_.get(*cm_type_, "ns1", "cfg");
  ASSERT_TRUE(cur.is_ok());
  Json upd = *cur;
  upd["data"].erase("other");
  ASSERT_TRUE(client_.update(*cm_type_, upd).is_ok());
  ASSERT_TRUE(vm.setup(pod(vols)).is_ok());
  EXPECT_FALSE(fs::exists(dir + "/other"));
  EXPECT_FALSE(fs::is_symlink(dir + "/other"));
  EXPECT_EQ(slurp(dir + "/app.conf"), "port=80\n");
}

TEST_F(VolumesTest, SecretDecodedWithMode) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"s","secret":{"secretName":"creds","defaultMode":256}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("s").path;
  EXPECT_EQ(dir, root_ + "/pods/uid-1/volumes/kubernetes.io~secret/s");
  EXPECT_EQ(slurp(dir + "/pass"), "s3cr3t");
  EXPECT_EQ(mode_of(dir + "/pass"), 0400u);
}

TEST_F(VolumesTest, MissingObjectsAndKeys) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"c","configMap":{"name":"nope"}}])"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("configmap \"nope\" not found"), std::string::npos) << r.status().message();
  r = vm.setup(pod(R"([{"name":"s","secret":{"secretName":"gone"}}])"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("secret \"gone\" not found"), std::string::npos) << r.status().message();
  r = vm.setup(pod(R"([{"name":"c","configMap":{"name":"cfg","items":[{"key":"zzz","path":"z"}]}}])"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("zzz"), std::string::npos) << r.status().message();

  // Optional: an empty volume.
  r = vm.setup(pod(R"([{"name":"c","configMap":{"name":"nope","optional":true}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_TRUE(fs::is_directory(r->at("c").path));
}

TEST_F(VolumesTest, UnsupportedTypeAndBadItemPath) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"n","nfs":{"server":"x","path":"/"}}])"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("\"n\""), std::string::npos) << r.status().message();
  r = vm.setup(pod(R"([{"name":"c","configMap":{"name":"cfg","items":[{"key":"other","path":"../../escape"}]}}])"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_FALSE(fs::exists(root_ + "/pods/uid-1/volumes/escape"));
}

TEST_F(VolumesTest, HostPathTypes) {
  VolumeManager vm(client_, root_);
  std::string h = root_ + "/host";
  auto vol = [&](const std::string& path, const std::string& type) {
    return pod(R"([{"name":"h","hostPath":{"path":")" + path + R"(","type":")" + type + R"("}}])");
  };
  auto r = vm.setup(vol(h + "/made/dir", "DirectoryOrCreate"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->at("h").path, h + "/made/dir");
  EXPECT_TRUE(fs::is_directory(h + "/made/dir"));

  r = vm.setup(vol(h + "/absent", "Directory"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find(h + "/absent"), std::string::npos) << r.status().message();

  r = vm.setup(vol(h + "/f.txt", "FileOrCreate"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_TRUE(fs::is_regular_file(h + "/f.txt"));
  EXPECT_TRUE(vm.setup(vol(h + "/f.txt", "File")).is_ok());

  r = vm.setup(vol(h + "/made/dir", "File"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("is not a file"), std::string::npos) << r.status().message();
  r = vm.setup(vol(h + "/f.txt", "Directory"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("is not a directory"), std::string::npos);
  r = vm.setup(vol(h + "/nothing", "File"));
  ASSERT_FALSE(r.is_ok());

  // No type: no checks at all.
  r = vm.setup(vol(h + "/whatever", ""));
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(fs::exists(h + "/whatever"));
}

TEST_F(VolumesTest, ProjectedAndDownwardApi) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"pj","projected":{"sources":[
      {"configMap":{"name":"cfg","items":[{"key":"other","path":"cfg/other"}]}},
      {"secret":{"name":"creds"}},
      {"downwardAPI":{"items":[{"path":"name","fieldRef":{"fieldPath":"metadata.name"}}]}}]}},
    {"name":"da","downwardAPI":{"items":[{"path":"ns","fieldRef":{"fieldPath":"metadata.namespace"}}]}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(slurp(r->at("pj").path + "/cfg/other"), "x");
  EXPECT_EQ(slurp(r->at("pj").path + "/pass"), "s3cr3t");
  EXPECT_EQ(slurp(r->at("pj").path + "/name"), "p");
  EXPECT_EQ(slurp(r->at("da").path + "/ns"), "ns1");
}

TEST_F(VolumesTest, TeardownRemovesThePodDir) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"scratch","emptyDir":{}},{"name":"c","configMap":{"name":"cfg"}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_TRUE(fs::exists(root_ + "/pods/uid-1"));
  ASSERT_TRUE(vm.teardown("uid-1").is_ok());
  EXPECT_FALSE(fs::exists(root_ + "/pods/uid-1"));
  EXPECT_TRUE(vm.teardown("uid-1").is_ok());  // idempotent
  EXPECT_FALSE(vm.teardown("../x").is_ok());
}

TEST_F(VolumesTest, MemoryEmptyDirIsTmpfsWithSizeLimit) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting tmpfs needs root";
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"mem","emptyDir":{"medium":"Memory","sizeLimit":"8Mi"}}])"));
  if (!r.is_ok() && r.status().message().find("Operation not permitted") != std::string::npos) {
    GTEST_SKIP() << "tmpfs mounts not permitted here: " << r.status().message();
  }
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("mem").path;
  EXPECT_TRUE(mounted(dir));
  struct statfs sf {};
  ASSERT_EQ(::statfs(dir.c_str(), &sf), 0);
  EXPECT_EQ(sf.f_type, 0x01021994);  // TMPFS_MAGIC
  EXPECT_EQ(static_cast<uint64_t>(sf.f_blocks) * sf.f_bsize, 8u * 1024 * 1024);
  // Setup again does not stack a second mount.
  ASSERT_TRUE(vm.setup(pod(R"([{"name":"mem","emptyDir":{"medium":"Memory","sizeLimit":"8Mi"}}])")).is_ok());
  int count = 0;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) count += line.find(" " + dir + " ") != std::string::npos;
  EXPECT_EQ(count, 1);

  ASSERT_TRUE(vm.teardown("uid-1").is_ok());
  EXPECT_FALSE(mounted(dir));
  EXPECT_FALSE(fs::exists(root_ + "/pods/uid-1"));
}

TEST_F(VolumesTest, FileModesCarryPermissionBitsOnly) {
  // 04755 / 06777 / 01777: a setuid, setgid or sticky bit never reaches a file
  // the kubelet writes, whatever got past the API (Kubernetes allows 0..0777).
  VolumeManager vm(client_, root_);
  auto r = vm.setup(pod(R"([{"name":"c","configMap":{"name":"cfg","defaultMode":2541,
                              "items":[{"key":"app.conf","path":"a"},{"key":"other","path":"o","mode":4095}]}},
                            {"name":"d","downwardAPI":{"defaultMode":1023,
                              "items":[{"path":"n","fieldRef":{"fieldPath":"metadata.name"}}]}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(mode_of(r->at("c").path + "/a"), 0755u);
  EXPECT_EQ(mode_of(r->at("c").path + "/o"), 0777u);
  EXPECT_EQ(mode_of(r->at("d").path + "/n"), 0777u);
}

TEST_F(VolumesTest, KubeletWrittenVolumesAreReadOnly) {
  VolumeManager vm(client_, root_);
  auto r = vm.setup(
      pod(R"([{"name":"e","emptyDir":{}},{"name":"h","hostPath":{"path":")" + root_ + R"("}},
    {"name":"c","configMap":{"name":"cfg"}},{"name":"s","secret":{"secretName":"creds"}},
    {"name":"d","downwardAPI":{"items":[{"path":"n","fieldRef":{"fieldPath":"metadata.name"}}]}},
    {"name":"p","projected":{"sources":[{"secret":{"name":"creds"}}]}}])"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_FALSE(r->at("e").read_only);
  EXPECT_FALSE(r->at("h").read_only);
  for (const char* v : {"c", "s", "d", "p"}) EXPECT_TRUE(r->at(v).read_only) << v;

  Json c = Json::parse(
      R"({"name":"c","volumeMounts":[{"name":"c","mountPath":"/c"},{"name":"e","mountPath":"/e"},
                           {"name":"e","mountPath":"/e2","readOnly":true}]})");
  auto m = container_mounts(c, *r, vm.subpath_dir("uid-1"));
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].host_path, r->at("c").path);
  EXPECT_TRUE((*m)[0].readonly);  // no readOnly asked: the volume is read-only anyway
  EXPECT_FALSE((*m)[1].readonly);
  EXPECT_TRUE((*m)[2].readonly);

  Json unknown = Json::parse(R"({"name":"c","volumeMounts":[{"name":"nope","mountPath":"/x"}]})");
  auto bad = container_mounts(unknown, *r, vm.subpath_dir("uid-1"));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("\"nope\""), std::string::npos) << bad.status().message();
  auto none = container_mounts(Json::parse(R"({"name":"c"})"), *r, vm.subpath_dir("uid-1"));
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace

namespace internal {
// Defined in volumes.cc.
int open_beneath(int base, const std::string& base_path, const std::string& rel, int flags,
                 bool use_openat2);
}  // namespace internal

namespace {

// subPath tests bind-mount for real. They run in a private mount namespace of
// the test thread (unshare(CLONE_NEWNS) + MS_PRIVATE on /), so nothing they
// mount is seen outside it; TearDown unmounts what is left under the test's
// own /tmp/minik8s-test-subpath-* directory, removes that directory only when
// no mount is left in it, and returns to the original namespace.
class SubPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "bind mounts need root";
    host_ns_ = ::open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(host_ns_, 0);
    if (::unshare(CLONE_NEWNS) != 0)
      GTEST_SKIP() << "no private mount namespace: " << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
        << std::strerror(errno);
    char tmpl[] = "/tmp/minik8s-test-subpath-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    vol_ = root_ + "/vol";
    outside_ = root_ + "/outside";
    staging_ = root_ + "/pod/volume-subpaths";
    fs::create_directories(vol_ + "/sub");
    fs::create_directories(outside_);
    ::chmod(vol_.c_str(), 0750);
    std::ofstream(vol_ + "/sub/file") << "inside";
    std::ofstream(outside_ + "/file") << "outside";
    vols_ = {{"data", {vol_, false}}, {"cfg", {vol_, true}}};
  }
  void TearDown() override {
    if (!root_.empty()) {
      bool left = false;
      for (int pass = 0; pass < 4; ++pass) {
        left = false;
        for (const auto& mp : mounts_under(root_ + "/")) {
          left = true;
          ::umount2(mp.c_str(), MNT_DETACH);
        }
        if (!left) break;
      }
      left = !mounts_under(root_ + "/").empty();
      EXPECT_FALSE(left) << "mounts left under " << root_ << "; not removing it";
      std::error_code ec;
      if (!left) fs::remove_all(root_, ec);
    }
    if (host_ns_ >= 0) {
      EXPECT_EQ(::setns(host_ns_, CLONE_NEWNS), 0) << std::strerror(errno);
      ::close(host_ns_);
    }
  }
  static std::vector<std::string> mounts_under(const std::string& prefix) {
    std::vector<std::string> out;
    std::ifstream in("/proc/thread-self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string a, b, c, d, mp;
      ls >> a >> b >> c >> d >> mp;
      if (mp.rfind(prefix, 0) == 0) out.push_back(mp);
    }
    std::sort(out.rbegin(), out.rend());  // deepest first
    return out;
  }
  Result<std::vector<cri::Mount>> mount_sub(const std::string& vol, const std::string& sub) {
    Json c = {
        {"name", "c"},
        {"volumeMounts", Json::array({{{"name", vol}, {"mountPath", "/m"}, {"subPath", sub}}})}};
    return container_mounts(c, vols_, staging_);
  }
  // Opens rel beneath the volume both ways (openat2 and the O_NOFOLLOW walk);
  // the errno of each, 0 when it opened.
  std::pair<int, int> open_both(const std::string& rel) {
    int base = ::open(vol_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    std::pair<int, int> out{0, 0};
    for (bool use_openat2 : {true, false}) {
      int fd = internal::open_beneath(base, vol_, rel, O_PATH, use_openat2);
      int& err = use_openat2 ? out.first : out.second;
      err = fd < 0 ? errno : 0;
      if (fd >= 0) ::close(fd);
    }
    ::close(base);
    return out;
  }

  int host_ns_ = -1;
  std::string root_, vol_, outside_, staging_;
  std::map<std::string, HostVolume> vols_;
};

// CVE-2017-1002101: the container swaps the checked subPath for a symlink to
// the host before the runtime mounts it. The runtime gets the staged bind
// mount of the directory the kubelet opened, so the swap changes nothing.
TEST_F(SubPathTest, StagedBindMountSurvivesASymlinkSwap) {
  auto r = mount_sub("data", "sub");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  std::string staged = staging_ + "/data/c/0";
  EXPECT_EQ((*r)[0].host_path, staged);
  EXPECT_FALSE((*r)[0].readonly);
  EXPECT_TRUE(mounted(staged));
  fs::rename(vol_ + "/sub", vol_ + "/sub.old");
  fs::create_directory_symlink(outside_, vol_ + "/sub");
  EXPECT_EQ(slurp((*r)[0].host_path + "/file"), "inside");

  // The next start of the container resolves again (now refused) and never
  // stacks mounts on the staging path.
  auto again = mount_sub("data", "sub");
  ASSERT_FALSE(again.is_ok());
  EXPECT_NE(again.status().message().find("leaves the volume"), std::string::npos)
      << again.status().message();
  fs::remove(vol_ + "/sub");
  fs::rename(vol_ + "/sub.old", vol_ + "/sub");
  ASSERT_TRUE(mount_sub("data", "sub").is_ok());
  ASSERT_TRUE(mount_sub("data", "sub").is_ok());
  EXPECT_EQ(mounts_under(staged).size(), 1u);
}

TEST_F(SubPathTest, EscapesAreRefused) {
  fs::create_directory_symlink(outside_, vol_ + "/abs");      // absolute, out
  fs::create_directory_symlink("../outside", vol_ + "/rel");  // relative, out
  fs::create_directory_symlink("sub/../../outside", vol_ + "/deep");
  fs::create_directory_symlink("/proc/self/root", vol_ + "/magic");
  fs::create_symlink(outside_ + "/file", vol_ + "/sub/filelink");  // a file, out
  for (const char* sub :
       {"abs", "rel", "deep", "abs/file", "magic", "magic/etc", "sub/filelink", "abs/new/dir"}) {
    auto r = mount_sub("data", sub);
    ASSERT_FALSE(r.is_ok()) << sub;
    EXPECT_NE(r.status().message().find("subPath \"" + std::string(sub) + "\" refused"),
              std::string::npos)
        << r.status().message();
    auto [e2, walk] = open_both(sub);
    EXPECT_TRUE(e2 == EXDEV || e2 == ELOOP) << sub << ": openat2 " << std::strerror(e2);
    EXPECT_TRUE(walk == EXDEV || walk == ELOOP || walk == ENOENT)
        << sub << ": walk " << std::strerror(walk);
  }
  for (const char* sub : {"../outside", "sub/../../outside", "/etc"}) {
    auto r = mount_sub("data", sub);
    ASSERT_FALSE(r.is_ok()) << sub;
    EXPECT_NE(r.status().message().find("invalid subPath"), std::string::npos)
        << r.status().message();
  }
  EXPECT_FALSE(fs::exists(outside_ + "/new"));
  EXPECT_TRUE(mounts_under(root_ + "/").empty());
}

TEST_F(SubPathTest, SymlinksInsideTheVolumeAreFollowed) {
  // The configMap layout: key → ..data/key → ..<generation>/key.
  fs::create_directories(vol_ + "/..gen");
  std::ofstream(vol_ + "/..gen/app.conf") << "port=80";
  fs::create_directory_symlink("..gen", vol_ + "/..data");
  fs::create_symlink("..data/app.conf", vol_ + "/app.conf");
  fs::create_directory_symlink("sub/../sub", vol_ + "/inner");
  auto r = mount_sub("cfg", "app.conf");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].host_path, staging_ + "/cfg/c/0");
  EXPECT_TRUE(fs::is_regular_file((*r)[0].host_path));  // a file staged for a file
  EXPECT_EQ(slurp((*r)[0].host_path), "port=80");
  EXPECT_TRUE((*r)[0].readonly);  // configMap-like volume
  r = mount_sub("data", "inner/file");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(slurp((*r)[0].host_path), "inside");
  for (const char* sub : {"app.conf", "inner", "inner/file", "sub/./file"}) {
    auto [e2, walk] = open_both(sub);
    EXPECT_EQ(e2, 0) << sub << ": " << std::strerror(e2);
    EXPECT_EQ(walk, 0) << sub << ": " << std::strerror(walk);
  }
}

TEST_F(SubPathTest, MissingDirectoriesCreatedWithTheVolumeMode) {
  Json c = Json::parse(R"J({"name":"c","volumeMounts":[{"name":"data","mountPath":"/a"},
      {"name":"data","mountPath":"/logs","subPath":"logs/app","readOnly":true},
      {"name":"data","mountPath":"/e","subPathExpr":"$(POD_NAME)"}]})J");
  auto r = container_mounts(c, vols_, staging_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("subPathExpr is not supported"), std::string::npos)
      << r.status().message();
  c["volumeMounts"].erase(2);
  r = container_mounts(c, vols_, staging_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].host_path, vol_);
  EXPECT_EQ((*r)[1].host_path, staging_ + "/data/c/1");
  EXPECT_TRUE((*r)[1].readonly);
  EXPECT_TRUE(fs::is_directory(vol_ + "/logs/app"));
  EXPECT_EQ(mode_of(vol_ + "/logs"), 0750u);
  EXPECT_EQ(mode_of(vol_ + "/logs/app"), 0750u);
  std::ofstream(vol_ + "/logs/app/x") << "1";
  EXPECT_EQ(slurp((*r)[1].host_path + "/x"), "1");
}

TEST_F(SubPathTest, TeardownUnmountsAndNeverReachesThroughABind) {
  testing::FakeRestClient rest;
  client::Client client{rest};
  VolumeManager vm(client, root_ + "/kubelet");
  std::string host = root_ + "/hostdata";
  fs::create_directories(host + "/keep");
  std::ofstream(host + "/keep/precious") << "1";
  auto v = vm.setup(
      Json::parse(R"({"metadata":{"name":"p","namespace":"ns1","uid":"uid-9"},"spec":{"volumes":[
      {"name":"h","hostPath":{"path":")" +
                  host + R"("}}],"containers":[{"name":"c"}]}})"));
  ASSERT_TRUE(v.is_ok()) << v.status().message();
  Json c = Json::parse(
      R"({"name":"c","volumeMounts":[{"name":"h","mountPath":"/k","subPath":"keep"}]})");
  auto r = container_mounts(c, *v, vm.subpath_dir("uid-9"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ((*r)[0].host_path, root_ + "/kubelet/pods/uid-9/volume-subpaths/h/c/0");
  EXPECT_TRUE(mounted((*r)[0].host_path));
  ASSERT_TRUE(vm.teardown("uid-9").is_ok());
  EXPECT_FALSE(mounted((*r)[0].host_path));
  EXPECT_FALSE(fs::exists(root_ + "/kubelet/pods/uid-9"));
  EXPECT_EQ(slurp(host + "/keep/precious"), "1");
}

}  // namespace
}  // namespace minik8s::kubelet

namespace minik8s::kubelet {
namespace {

// The fake API plus the serviceaccounts/<name>/token subresource: a token
// per request ("tok-1", "tok-2", ...), granting what was asked.
class TokenFakeRest : public testing::FakeRestClient {
 public:
  Result<client::HttpResponse> request(const std::string& method, const std::string& path_q,
                                       const std::string& body, const std::string& content_type,
                                       const std::string& accept) override {
    const std::string suffix = "/token";
    if (method != "POST" || path_q.size() < suffix.size() ||
        path_q.compare(path_q.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return FakeRestClient::request(method, path_q, body, content_type, accept);
    }
    std::lock_guard lock(mu);
    paths.push_back(path_q);
    bodies.push_back(Json::parse(body, nullptr, false));
    Json out = bodies.back();
    out["status"] = {{"token", "tok-" + std::to_string(paths.size())},
                     {"expirationTimestamp", "2030-01-01T00:00:00Z"}};
    return client::HttpResponse{201, "application/json", out.dump()};
  }
  std::mutex mu;
  std::vector<std::string> paths;
  std::vector<Json> bodies;
};

TEST(VolumesTokenTest, ProjectedServiceAccountTokenIsRequestedBoundAndCached) {
  char tmpl[] = "/tmp/minik8s-test-token-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  TokenFakeRest rest;
  client::Client client(rest);
  ASSERT_TRUE(client.create(*api::find_resource("", "v1", "configmaps"),
                            Json::parse(R"({"metadata":{"name":"kube-root-ca.crt"},"data":{"ca.crt":"PEM"}})"), "ns1")
                  .is_ok());
  VolumeManager vm(client, root);
  Json pod = Json::parse(R"({"metadata":{"name":"p","namespace":"ns1","uid":"uid-7"},
    "spec":{"serviceAccountName":"robot","containers":[{"name":"c"}],"volumes":[{"name":"kube-api-access-abcde",
    "projected":{"defaultMode":420,"sources":[
      {"serviceAccountToken":{"expirationSeconds":3607,"path":"token","audience":"vault"}},
      {"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},
      {"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}]}}]}})");
  auto r = vm.setup(pod);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string dir = r->at("kube-api-access-abcde").path;
  EXPECT_EQ(slurp(dir + "/token"), "tok-1");
  EXPECT_EQ(slurp(dir + "/ca.crt"), "PEM");
  EXPECT_EQ(slurp(dir + "/namespace"), "ns1");
  EXPECT_EQ(mode_of(dir + "/token"), 0644u);
  ASSERT_EQ(rest.paths.size(), 1u);
  EXPECT_EQ(rest.paths[0], "/api/v1/namespaces/ns1/serviceaccounts/robot/token");
  Json spec = rest.bodies[0]["spec"];
  EXPECT_EQ(spec["expirationSeconds"], 3607);
  EXPECT_EQ(spec["audiences"], Json::array({"vault"}));
  EXPECT_EQ(spec["boundObjectRef"]["kind"], "Pod");
  EXPECT_EQ(spec["boundObjectRef"]["name"], "p");
  EXPECT_EQ(spec["boundObjectRef"]["uid"], "uid-7");
  // A refresh within 80 % of the lifetime keeps the token.
  ASSERT_TRUE(vm.setup(pod).is_ok());
  EXPECT_EQ(rest.paths.size(), 1u);
  EXPECT_EQ(slurp(dir + "/token"), "tok-1");
  // After teardown the pod's tokens are forgotten: a new setup asks again.
  ASSERT_TRUE(vm.teardown("uid-7").is_ok());
  ASSERT_TRUE(vm.setup(pod).is_ok());
  EXPECT_EQ(rest.paths.size(), 2u);
  EXPECT_EQ(slurp(dir + "/token"), "tok-2");
  std::error_code ec;
  fs::remove_all(root, ec);
}

TEST(VolumesTokenTest, ShortLivedTokenIsRenewedOnTheNextSetup) {
  char tmpl[] = "/tmp/minik8s-test-token-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  TokenFakeRest rest;
  client::Client client(rest);
  VolumeManager vm(client, root);
  // 1 s lifetime: 80 % of it is gone 0.8 s later.
  Json pod = Json::parse(R"({"metadata":{"name":"p","namespace":"ns1","uid":"uid-8"},
    "spec":{"containers":[{"name":"c"}],"volumes":[{"name":"v",
    "projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":1,"path":"t"}}]}}]}})");
  auto issued = std::chrono::steady_clock::now();
  auto r = vm.setup(pod);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(rest.paths[0], "/api/v1/namespaces/ns1/serviceaccounts/default/token");
  std::string dir = r->at("v").path;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (slurp(dir + "/t") == "tok-1" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(vm.setup(pod).is_ok());
  }
  EXPECT_EQ(slurp(dir + "/t"), "tok-2");
  // Not before 80 % of the second had passed.
  EXPECT_GE(std::chrono::steady_clock::now() - issued, std::chrono::milliseconds(800));
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace
}  // namespace minik8s::kubelet
