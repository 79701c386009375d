// Image manager: makes a container's image present before the pod worker
// creates the container, as the kubelet's imageManager.EnsureImageExists:
// imagePullPolicy (defaulted: Always for ":latest" or no tag, else
// IfNotPresent), Never → ErrImageNeverPull when absent; a failed pull →
// ErrImagePull (the worker backs off and shows ImagePullBackOff). An image
// whose pull fails but which is present locally (an offline machine) is
// used as it is, and not pulled again for 10 minutes.
// Events (Pulling, Pulled, Failed, FailedPullUsingLocal, ErrImageNeverPull,
// BackOff) go to the pod through the EventRecorder.
// Thread-safe: pod workers call it concurrently. Ownership: runtime and
// events are borrowed and must outlive it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "minik8s/client/event_recorder.h"
#include "minik8s/cri/runtime.h"
#include "pod_util.h"

namespace minik8s::kubelet {

// imagePullPolicy of a container with Kubernetes' default.
std::string pull_policy(const json& c);

struct ImageFailure {
  std::string reason;   // ErrImageNeverPull | ErrImagePull
  std::string message;  // for the container's waiting state
};

class ImageManager {
 public:
  // await_local_image: see KubeletOptions (may be null).
  ImageManager(cri::Runtime& runtime, client::EventRecorder& events,
               std::function<bool(const std::string&)> await_local_image = nullptr)
      : runtime_(runtime), events_(events), await_local_image_(std::move(await_local_image)) {}

  // Makes c's image present for the pod (sandbox: the pull's sandbox
  // config); field_path names the container in events. nullopt = ready.
  std::optional<ImageFailure> ensure(const json& pod, const json& c, const cri::SandboxConfig& sandbox,
                                     const std::string& field_path);

  // The waiting message of a container backing off after ErrImagePull
  // (ImagePullBackOff), given the pull's error.
  static std::string backoff_message(const std::string& image, const std::string& pull_error);
  // The event a container gets once when it goes into ImagePullBackOff.
  void backoff_event(const json& pod, const std::string& image, const std::string& field_path);

 private:
  void event(const json& pod, const std::string& type, const std::string& reason, const std::string& message,
             const std::string& field_path);

  cri::Runtime& runtime_;
  client::EventRecorder& events_;

  std::mutex mu_;
  std::map<std::string, TimePoint> pull_failed_;  // image → use the local copy until; guarded by mu_
  std::function<bool(const std::string&)> await_local_image_;
};

}  // namespace minik8s::kubelet
