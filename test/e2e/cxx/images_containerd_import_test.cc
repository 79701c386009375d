// e2e (real containerd): builds pause + busybox, imports them into a private
// containerd (ManagedContainerd in a temp dir, test/e2e/cxx/containerd_fixture.h),
// checks both busybox names and the pause name are listed, and runs a busybox
// container through `ctr run`. Needs root, containerd, ctr and runc; skips
// otherwise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "minik8s/images/images.h"
#include "src/images/process.h"
#include "test/e2e/cxx/containerd_fixture.h"

namespace minik8s::images {
namespace {

using testing::on_path;

class ImagesE2E : public testing::PrivateContainerdTest {
 protected:
  ImagesE2E() : PrivateContainerdTest("images-e2e") {}

  void SetUp() override {
    PrivateContainerdTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    options_.pod_cidr = "";  // no CNI config: nothing here runs a pod sandbox
    ASSERT_NO_FATAL_FAILURE(start_containerd());
    socket_ = containerd_->socket_path();
  }

  std::string socket_;
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
  EXPECT_EQ(run->exit_code, 0) << run->err << "\n" << containerd_log();
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
