#include "image_manager.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/client/event_recorder.h"
#include "test/fakes/fake_rest_client.h"
#include "test/fakes/fake_runtime.h"

namespace minik8s::kubelet {
namespace {

using nlohmann::json;

class ImageManagerTest : public ::testing::Test {
 protected:
  json pod_ = json::parse(R"({"metadata":{"name":"p","namespace":"default","uid":"u-1"}})");
  json container(const std::string& image) {
    return {{"name", "c"}, {"image", image}, {"imagePullPolicy", "IfNotPresent"}};
  }
  testing::FakeRestClient rest_;
  client::Client client_{rest_};
  client::EventRecorder events_{client_, client::EventSource{"kubelet", "n1"}};
  testing::FakeRuntime runtime_;
  cri::SandboxConfig sandbox_;
};

// An image the node is still importing from its offline archives: the pod
// waits for the import instead of failing its pull (no ErrImagePull, no pull).
TEST_F(ImageManagerTest, AnImageBeingImportedIsWaitedForNotPulled) {
  int asked = 0;
  ImageManager images(runtime_, events_, [&](const std::string& image) {
    ++asked;
    EXPECT_EQ(image, "minik8s.io/python-runtime:1");
    runtime_.add_image(image);  // the import finishes while the pod waits
    return true;
  });
  auto failure = images.ensure(pod_, container("minik8s.io/python-runtime:1"), sandbox_, "spec.containers{c}");
  EXPECT_FALSE(failure.has_value()) << failure->message;
  EXPECT_EQ(asked, 1);
  for (const auto& call : runtime_.calls()) EXPECT_EQ(call.rfind("pull_image", 0), std::string::npos) << call;
}

// Not an image being imported: the hook says so at once and the pull runs
// (and fails here: nothing is pullable).
TEST_F(ImageManagerTest, OtherImagesArePulledAsBefore) {
  ImageManager images(runtime_, events_, [](const std::string&) { return false; });
  auto failure = images.ensure(pod_, container("nginx:1.25"), sandbox_, "spec.containers{c}");
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->reason, "ErrImagePull");
  bool pulled = false;
  for (const auto& call : runtime_.calls()) pulled = pulled || call.rfind("pull_image", 0) == 0;
  EXPECT_TRUE(pulled);
}

// A present image never consults the hook.
TEST_F(ImageManagerTest, APresentImageDoesNotWait) {
  runtime_.add_image("busybox:1.36");
  ImageManager images(runtime_, events_, [](const std::string&) -> bool {
    ADD_FAILURE() << "asked for a present image";
    return false;
  });
  EXPECT_FALSE(images.ensure(pod_, container("busybox:1.36"), sandbox_, "spec.containers{c}").has_value());
}

}  // namespace
}  // namespace minik8s::kubelet
