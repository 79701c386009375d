#include "image_manager.h"

namespace minik8s::kubelet {

using std::chrono::milliseconds;

std::string pull_policy(const json& c) {
  std::string p = sget(c, "imagePullPolicy");
  if (!p.empty()) return p;
  std::string image = sget(c, "image");
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  bool has_tag = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (!has_tag || image.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

void ImageManager::event(const json& pod, const std::string& type, const std::string& reason,
                         const std::string& message, const std::string& field_path) {
  events_.record(pod, "v1", "Pod", type, reason, message, field_path);
}

std::optional<ImageFailure> ImageManager::ensure(const json& pod, const json& c, const cri::SandboxConfig& sb,
                                                 const std::string& fp) {
  std::string image = sget(c, "image");
  std::string policy = pull_policy(c);
  auto present_r = runtime_.image_status(image);
  bool present = present_r && present_r->has_value();
  // An offline image the node is still importing: wait for it rather than
  // fail the pull and back off (docs/serverless.md: the runtime image).
  if (!present && await_local_image_ && await_local_image_(image)) {
    present_r = runtime_.image_status(image);
    present = present_r && present_r->has_value();
  }
  if (policy == "Never") {
    if (present) return std::nullopt;
    std::string msg = "Container image \"" + image + "\" is not present with pull policy of Never";
    event(pod, "Warning", "ErrImageNeverPull", msg, fp);
    return ImageFailure{"ErrImageNeverPull", msg};
  }
  if (present && policy == "IfNotPresent") {
    event(pod, "Normal", "Pulled", "Container image \"" + image + "\" already present on machine", fp);
    return std::nullopt;
  }
  if (present) {
    std::lock_guard l(mu_);
    auto it = pull_failed_.find(image);
    if (it != pull_failed_.end() && Steady::now() < it->second) return std::nullopt;  // offline: the local copy
  }
  event(pod, "Normal", "Pulling", "Pulling image \"" + image + "\"", fp);
  auto t0 = Steady::now();
  auto r = runtime_.pull_image(image, &sb);
  if (r) {
    auto ms = std::chrono::duration_cast<milliseconds>(Steady::now() - t0);
    event(pod, "Normal", "Pulled", "Successfully pulled image \"" + image + "\" in " + go_duration(ms), fp);
    return std::nullopt;
  }
  std::string msg = r.status().message();
  if (present) {
    {
      std::lock_guard l(mu_);
      pull_failed_[image] = Steady::now() + std::chrono::minutes(10);
    }
    event(pod, "Warning", "FailedPullUsingLocal",
          "Failed to pull image \"" + image + "\": " + msg + "; using the image present on the node", fp);
    return std::nullopt;
  }
  event(pod, "Warning", "Failed", "Failed to pull image \"" + image + "\": " + msg, fp);
  event(pod, "Warning", "Failed", "Error: ErrImagePull", fp);
  return ImageFailure{"ErrImagePull", msg};
}

std::string ImageManager::backoff_message(const std::string& image, const std::string& pull_error) {
  return "Back-off pulling image \"" + image + "\": ErrImagePull: " + pull_error;
}

void ImageManager::backoff_event(const json& pod, const std::string& image, const std::string& field_path) {
  event(pod, "Normal", "BackOff", "Back-off pulling image \"" + image + "\"", field_path);
}

}  // namespace minik8s::kubelet
