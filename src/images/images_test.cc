#include "minik8s/images/images.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "oci.h"
#include "process.h"
#include "sha256.h"

#include "test/fakes/temp_dir.h"

namespace minik8s::images {
extern const char kPythonRuntimeSource[];
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A temp dir per test (test/fakes/temp_dir.h), tagged "images".
struct TempDir : minik8s::testing::TempDir {
  TempDir() : minik8s::testing::TempDir("images") {}
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Unpacks an OCI archive and checks every descriptor against its blob;
// returns {index, manifest, config} and the extracted layout dir.
struct Unpacked {
  json index, manifest, config;
  std::string layout;
  std::string layer_path;
};

Unpacked unpack_and_verify(const std::string& archive, const std::string& dir) {
  Unpacked u;
  u.layout = dir + "/layout";
  fs::create_directories(u.layout);
  auto r = run_checked({"tar", "-C", u.layout, "-xf", archive});
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(json::parse(slurp(u.layout + "/oci-layout"))["imageLayoutVersion"], "1.0.0");
  u.index = json::parse(slurp(u.layout + "/index.json"));
  EXPECT_EQ(u.index["schemaVersion"], 2);
  auto blob = [&](const json& desc) {
    std::string digest = desc["digest"];
    EXPECT_EQ(digest.rfind("sha256:", 0), 0u);
    std::string path = u.layout + "/blobs/sha256/" + digest.substr(7);
    auto d = sha256_file(path);
    EXPECT_TRUE(d.is_ok()) << "missing blob " << digest;
    if (d) {
      EXPECT_EQ("sha256:" + d->hex, digest);
      EXPECT_EQ(d->size, desc["size"].get<uint64_t>());
    }
    return path;
  };
  EXPECT_FALSE(u.index["manifests"].empty());
  u.manifest = json::parse(slurp(blob(u.index["manifests"][0])));
  EXPECT_EQ(u.manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  u.config = json::parse(slurp(blob(u.manifest["config"])));
  EXPECT_EQ(u.manifest["layers"].size(), 1u);
  u.layer_path = blob(u.manifest["layers"][0]);
  // diff_id = digest of the uncompressed layer.
  ProcessOptions o;
  o.stdout_file = dir + "/layer.tar";
  EXPECT_TRUE(run_checked({"gzip", "-dc", u.layer_path}, o).is_ok());
  auto diff = sha256_file(dir + "/layer.tar");
  EXPECT_TRUE(diff.is_ok());
  EXPECT_EQ(u.config["rootfs"]["diff_ids"][0], "sha256:" + diff->hex);
  EXPECT_EQ(u.config["architecture"], "amd64");
  EXPECT_EQ(u.config["os"], "linux");
  return u;
}

// The inode of path (0 when missing). A build writes its archive in a work
// dir while the old one still exists and renames it into place, so a file
// with the same inode is one no build has replaced.
ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string list_layer(const std::string& dir) {
  auto r = run_checked({"tar", "--numeric-owner", "-tvf", dir + "/layer.tar"});
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r ? *r : "";
}

TEST(ImagesOciArchive, DigestsAndAnnotationsAreConsistent) {
  TempDir t;
  std::string rootfs = t.path() + "/rootfs";
  fs::create_directories(rootfs + "/etc");
  std::ofstream(rootfs + "/etc/hello") << "hello\n";
  fs::create_symlink("/etc/hello", rootfs + "/link");
  OciImageSpec spec;
  spec.refs = {"example.com/a/b:1.0", "example.com/a/b:latest"};
  spec.cmd = {"/bin/true"};
  spec.env = {"PATH=/bin"};
  spec.exposed_ports = {"8080/tcp"};
  auto info = write_oci_archive(rootfs, spec, t.path() + "/work", t.path() + "/out.tar");
  ASSERT_TRUE(info.is_ok()) << info.status().message();
  auto u = unpack_and_verify(t.path() + "/out.tar", t.path() + "/x");
  ASSERT_EQ(u.index["manifests"].size(), 2u);
  EXPECT_EQ(u.index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "example.com/a/b:1.0");
  EXPECT_EQ(u.index["manifests"][1]["annotations"]["io.containerd.image.name"],
            "example.com/a/b:latest");
  EXPECT_EQ(u.index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"], "latest");
  EXPECT_EQ(u.index["manifests"][0]["digest"], info->manifest_digest);
  EXPECT_EQ(u.index["manifests"][1]["digest"], info->manifest_digest);
  EXPECT_EQ(u.manifest["config"]["digest"], info->config_digest);
  EXPECT_EQ(u.config["config"]["Cmd"], json::array({"/bin/true"}));
  EXPECT_EQ(u.config["config"]["Env"], json::array({"PATH=/bin"}));
  EXPECT_EQ(u.config["config"]["ExposedPorts"], json({{"8080/tcp", json::object()}}));
  std::string listing = list_layer(t.path() + "/x");
  EXPECT_NE(listing.find(" etc/hello\n"), std::string::npos) << listing;
  EXPECT_NE(listing.find(" link -> /etc/hello\n"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("./"), std::string::npos) << "member names must not start with ./\n"
                                                   << listing;
  EXPECT_NE(listing.find(" 0/0 "), std::string::npos) << listing;
  EXPECT_NE(listing.find("1970-01-01"), std::string::npos) << listing;
}

TEST(ImagesOciArchive, SameRootfsGivesByteIdenticalArchive) {
  TempDir t;
  std::string rootfs = t.path() + "/rootfs";
  fs::create_directories(rootfs + "/b/c");
  std::ofstream(rootfs + "/b/c/z") << "z";
  std::ofstream(rootfs + "/a") << "a";
  OciImageSpec spec;
  spec.refs = {"example.com/r:1"};
  auto one = write_oci_archive(rootfs, spec, t.path() + "/w1", t.path() + "/1.tar");
  ASSERT_TRUE(one.is_ok()) << one.status().message();
  // Touch the files: mtimes must not leak into the archive.
  fs::last_write_time(rootfs + "/a", fs::file_time_type::clock::now() - std::chrono::hours(5));
  auto two = write_oci_archive(rootfs, spec, t.path() + "/w2", t.path() + "/2.tar");
  ASSERT_TRUE(two.is_ok()) << two.status().message();
  EXPECT_EQ(sha256_file(t.path() + "/1.tar")->hex, sha256_file(t.path() + "/2.tar")->hex);
  EXPECT_EQ(one->manifest_digest, two->manifest_digest);
}

TEST(ImagesOciArchive, RejectsMissingRefsAndRootfs) {
  TempDir t;
  OciImageSpec spec;
  EXPECT_EQ(write_oci_archive(t.path(), spec, t.path() + "/w", t.path() + "/o.tar").status().code(),
            Code::kInvalid);
  spec.refs = {"x:1"};
  EXPECT_EQ(write_oci_archive(t.path() + "/nope", spec, t.path() + "/w", t.path() + "/o.tar")
                .status()
                .code(),
            Code::kInvalid);
}

TEST(ImagesOciArchive, RefTag) {
  EXPECT_EQ(ref_tag("docker.io/library/busybox:1.36"), "1.36");
  EXPECT_EQ(ref_tag("localhost:5000/x"), "latest");
  EXPECT_EQ(ref_tag("localhost:5000/x:v2"), "v2");
  EXPECT_EQ(ref_tag("busybox"), "latest");
}

TEST(Images, KnownNamesAndRefs) {
  EXPECT_EQ(known_images(), (std::vector<std::string>{"pause", "busybox", "python",
                                                      "python-runtime", "python-ml-runtime",
                                                      "slurm-submitter", "python-kubernetes"}));
  EXPECT_EQ(image_ref("pause"), "minik8s.io/pause:1.0");
  EXPECT_EQ(image_ref("busybox"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(image_ref("python"), "docker.io/library/python:3.11");
  EXPECT_EQ(image_ref("python-runtime"), "minik8s.io/python-runtime:1");
  EXPECT_EQ(image_ref("python-ml-runtime"), "minik8s.io/python-ml-runtime:1");
  EXPECT_EQ(image_ref("slurm-submitter"), "minik8s.io/slurm-submitter:1");
  EXPECT_EQ(image_ref("python-kubernetes"), "minik8s.io/python-kubernetes:1");
  EXPECT_EQ(image_ref("nginx"), "");
}

TEST(Images, UnknownImageListsKnownOnes) {
  TempDir t;
  auto r = build_image("nginx", t.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find(
                "pause, busybox, python, python-runtime, python-ml-runtime, slurm-submitter, "
                "python-kubernetes"),
            std::string::npos)
      << r.status().message();
}

// Without the minik8s-submitter binary the slurm-submitter build stops before
// mmdebstrap with an error that says where it looked and how to fix it.
TEST(Images, SlurmSubmitterWithoutBinaryIsAClearError) {
  TempDir t;
  const std::string missing = t.path() + "/no-such-minik8s-submitter";
  const char* old = std::getenv("MINIK8S_SUBMITTER");
  const std::string saved = old ? old : "";
  ::setenv("MINIK8S_SUBMITTER", missing.c_str(), 1);
  auto r = build_image("slurm-submitter", t.path() + "/cache");
  if (old) {
    ::setenv("MINIK8S_SUBMITTER", saved.c_str(), 1);
  } else {
    ::unsetenv("MINIK8S_SUBMITTER");
  }
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find(missing + " does not exist"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("MINIK8S_SUBMITTER"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(std::filesystem::exists(t.path() + "/cache/slurm-submitter.tar"));
}

// The runtime server is embedded at build time (src/images/CMakeLists.txt):
// the image gets exactly runtimes/python/server.py, so an edit changes the
// python-runtime inputs and rebuilds the image.
TEST(Images, RuntimeServerSourceIsEmbeddedVerbatim) {
  EXPECT_EQ(std::string(kPythonRuntimeSource),
            slurp(std::string(MINIK8S_SOURCE_DIR) + "/runtimes/python/server.py"));
}

TEST(Images, PauseBuildsRunsAndIsCached) {
  TempDir t;
  auto first = build_image("pause", t.path() + "/cache");
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_FALSE(first->cached);
  EXPECT_EQ(first->ref, "minik8s.io/pause:1.0");
  EXPECT_EQ(first->archive, t.path() + "/cache/pause.tar");
  auto u = unpack_and_verify(first->archive, t.path() + "/x");
  EXPECT_EQ(u.config["config"]["Cmd"], json::array({"/pause"}));
  EXPECT_EQ(u.index["manifests"].size(), 1u);
  EXPECT_EQ(u.index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "minik8s.io/pause:1.0");
  // The pause binary is static and answers --version.
  fs::create_directories(t.path() + "/root");
  ASSERT_TRUE(
      run_checked({"tar", "-C", t.path() + "/root", "-xf", t.path() + "/x/layer.tar"}).is_ok());
  auto file = run_checked({t.path() + "/root/pause", "--version"});
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(*file, "minik8s pause 1.0\n");

  // Unchanged inputs: the builder does not run again; the archive is the
  // very file the first build left. (How long a cached build takes is not
  // this test's question.)
  auto mtime = fs::last_write_time(first->archive);
  const ino_t built = inode_of(first->archive);
  ASSERT_NE(built, 0u);
  auto second = build_image("pause", t.path() + "/cache");
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_TRUE(second->cached);
  EXPECT_EQ(second->archive, first->archive);
  EXPECT_EQ(inode_of(first->archive), built);
  EXPECT_EQ(fs::last_write_time(first->archive), mtime);

  // A changed cache key (as after an input change) forces a rebuild with the same bytes.
  std::string before = sha256_file(first->archive)->hex;
  std::ofstream(first->archive + ".inputs") << "stale\n";
  auto third = build_image("pause", t.path() + "/cache");
  ASSERT_TRUE(third.is_ok()) << third.status().message();
  EXPECT_FALSE(third->cached);
  EXPECT_NE(inode_of(first->archive), built);  // rebuilt: a new file (what the check above relies on)
  EXPECT_EQ(sha256_file(first->archive)->hex, before);
  // A deleted archive is rebuilt too.
  fs::remove(first->archive);
  auto fourth = build_image("pause", t.path() + "/cache");
  ASSERT_TRUE(fourth.is_ok());
  EXPECT_FALSE(fourth->cached);
  EXPECT_TRUE(fs::exists(first->archive));
}

TEST(Images, BusyboxIsReproducibleWithTwoNamesAndApplets) {
  if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "busybox-static not installed";
  TempDir t;
  auto a = build_image("busybox", t.path() + "/a");
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  auto b = build_image("busybox", t.path() + "/b");
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(sha256_file(a->archive)->hex, sha256_file(b->archive)->hex);

  auto u = unpack_and_verify(a->archive, t.path() + "/x");
  ASSERT_EQ(u.index["manifests"].size(), 2u);
  EXPECT_EQ(u.index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "docker.io/library/busybox:1.36");
  EXPECT_EQ(u.index["manifests"][1]["annotations"]["io.containerd.image.name"],
            "docker.io/library/busybox:latest");
  EXPECT_EQ(u.config["config"]["Cmd"], json::array({"sh"}));
  std::string listing = list_layer(t.path() + "/x");
  for (const char* want : {" bin/busybox\n", " bin/sh -> /bin/busybox\n", " etc/passwd\n",
                           " etc/group\n", " usr/bin/wget -> /bin/busybox\n"}) {
    EXPECT_NE(listing.find(want), std::string::npos) << want;
  }
  EXPECT_NE(listing.find("drwxrwxrwt 0/0"), std::string::npos) << "/tmp must be 1777";
}

TEST(Images, CommandLine) {
  TempDir t;
  std::string cache = t.path() + "/c";
  std::vector<std::string> args = {"image", "build", "nginx", "--cache-dir", cache};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  EXPECT_EQ(run_image_command(static_cast<int>(argv.size()), argv.data()), 2);
  args = {"image", "build", "pause", "--cache-dir", cache};
  argv.clear();
  for (auto& s : args) argv.push_back(s.data());
  EXPECT_EQ(run_image_command(static_cast<int>(argv.size()), argv.data()), 0);
  EXPECT_TRUE(fs::exists(cache + "/pause.tar"));
  args = {"image", "import", t.path() + "/missing.tar", "--address", t.path() + "/no.sock"};
  argv.clear();
  for (auto& s : args) argv.push_back(s.data());
  EXPECT_EQ(run_image_command(static_cast<int>(argv.size()), argv.data()), 1);
}

TEST(Images, ImportOfMissingArchiveIsNotFound) {
  EXPECT_EQ(import_archive("/nonexistent/minik8s.tar", "/nonexistent.sock").code(),
            Code::kNotFound);
}

}  // namespace
}  // namespace minik8s::images
