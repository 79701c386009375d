#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

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
  std::string dir = r->at("scratch");
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
  std::string dir = r->at("c");
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
  std::string dir = r->at("c");
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
  std::string dir = r->at("c");
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
  std::string dir = r->at("s");
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
  EXPECT_TRUE(fs::is_directory(r->at("c")));
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
  EXPECT_EQ(r->at("h"), h + "/made/dir");
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
  EXPECT_EQ(slurp(r->at("pj") + "/cfg/other"), "x");
  EXPECT_EQ(slurp(r->at("pj") + "/pass"), "s3cr3t");
  EXPECT_EQ(slurp(r->at("pj") + "/name"), "p");
  EXPECT_EQ(slurp(r->at("da") + "/ns"), "ns1");
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
  std::string dir = r->at("mem");
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

TEST(ContainerMountsTest, ReadOnlySubPathAndUnknownVolume) {
  char tmpl[] = "/tmp/minik8s-test-mounts-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  std::map<std::string, std::string> vols{{"data", root + "/data"}, {"cfg", root + "/cfg"}};
  fs::create_directories(root + "/data");
  fs::create_directories(root + "/cfg/..gen");
  std::ofstream(root + "/cfg/..gen/app.conf") << "x";
  fs::create_directory_symlink("..gen", root + "/cfg/..data");
  fs::create_symlink("..data/app.conf", root + "/cfg/app.conf");

  Json c = Json::parse(R"({"name":"c","volumeMounts":[
      {"name":"data","mountPath":"/data"},
      {"name":"data","mountPath":"/logs","subPath":"logs/app","readOnly":true},
      {"name":"cfg","mountPath":"/etc/app.conf","subPath":"app.conf"}]})");
  auto r = container_mounts(c, vols);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].container_path, "/data");
  EXPECT_EQ((*r)[0].host_path, root + "/data");
  EXPECT_FALSE((*r)[0].readonly);
  EXPECT_EQ((*r)[1].container_path, "/logs");
  EXPECT_EQ((*r)[1].host_path, root + "/data/logs/app");
  EXPECT_TRUE((*r)[1].readonly);
  EXPECT_TRUE(fs::is_directory(root + "/data/logs/app"));
  EXPECT_EQ((*r)[2].host_path, root + "/cfg/..gen/app.conf");  // symlinks resolved

  Json unknown = Json::parse(R"({"name":"c","volumeMounts":[{"name":"nope","mountPath":"/x"}]})");
  auto bad = container_mounts(unknown, vols);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("\"nope\""), std::string::npos) << bad.status().message();

  Json escape = Json::parse(R"({"name":"c","volumeMounts":[{"name":"data","mountPath":"/x","subPath":"../../etc"}]})");
  EXPECT_FALSE(container_mounts(escape, vols).is_ok());
  fs::create_symlink("/etc", root + "/data/link");
  Json via_link = Json::parse(R"({"name":"c","volumeMounts":[{"name":"data","mountPath":"/x","subPath":"link"}]})");
  EXPECT_FALSE(container_mounts(via_link, vols).is_ok());

  Json none = Json::parse(R"({"name":"c"})");
  auto empty = container_mounts(none, vols);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace minik8s::kubelet
