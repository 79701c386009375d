// FakeRuntime: an in-memory cri::Runtime for kubelet unit and integration
// tests. Sandboxes and containers live in maps and move through the CRI
// states; nothing runs. Knobs:
//   - images: add_image(name) makes an image present; pullable(name) lets a
//     pull succeed; any other pull fails with containerd's wording
//     ("failed to pull and unpack image ...: not found").
//   - set_create_error / set_start_error(container name, message): the next
//     (and every later) create/start of that container fails with it.
//   - exit_on_start(container name, code[, reason]): the container exits as
//     soon as it starts (crash loops, init containers, Completed).
//   - kill(container id, exit_code, reason): a container dies from outside
//     (kill -9 → 137 ""; OOM → 137 "OOMKilled").
//   - set_exec(fn): scripted exec_sync results (exec probes).
//   - set_stats(id, cpu_core_nanos, memory): what list_container_stats reports.
//   - set_status_hook(fn): fn(id) runs (without the lock) at the start of
//     every container_status call — lets a test hold a caller there.
//   - calls(): every mutating call in order ("run_pod_sandbox:<pod>",
//     "create_container:<name>", "start_container:<name>", "stop_container:<name>", ...).
// Thread safety: every method takes the one mutex. Header-only.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "minik8s/cri/runtime.h"

namespace minik8s::testing {

class FakeRuntime : public cri::Runtime {
 public:
  struct FakeSandbox {
    cri::Sandbox sandbox;
    cri::SandboxConfig config;
    std::string ip;
  };
  struct FakeContainer {
    cri::ContainerStatus status;
    cri::ContainerConfig config;
    uint64_t cpu_core_nanos = 0;
    uint64_t memory_bytes = 0;
    int64_t stop_timeout = -1;  // the timeout of the last stop_container
  };
  using ExecFn = std::function<cri::ExecSyncResult(const std::string& id, const std::string& container_name,
                                                   const std::vector<std::string>& cmd)>;

  // --- knobs
  void add_image(const std::string& name) {
    std::lock_guard l(mu_);
    images_.insert(normalize(name));
  }
  void pullable(const std::string& name) {
    std::lock_guard l(mu_);
    registry_.insert(normalize(name));
  }
  void set_create_error(const std::string& container_name, const std::string& message) {
    std::lock_guard l(mu_);
    create_errors_[container_name] = message;
  }
  void set_start_error(const std::string& container_name, const std::string& message) {
    std::lock_guard l(mu_);
    start_errors_[container_name] = message;
  }
  void clear_errors() {
    std::lock_guard l(mu_);
    create_errors_.clear();
    start_errors_.clear();
  }
  void exit_on_start(const std::string& container_name, int32_t code, const std::string& reason = "") {
    std::lock_guard l(mu_);
    exit_on_start_[container_name] = {code, reason};
  }
  void clear_exit_on_start(const std::string& container_name) {
    std::lock_guard l(mu_);
    exit_on_start_.erase(container_name);
  }
  // A running container exits (from outside). False if not running.
  bool kill(const std::string& id, int32_t exit_code, const std::string& reason = "") {
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end() || it->second.status.container.state != cri::ContainerState::kRunning) return false;
    exit_locked(it->second, exit_code, reason);
    return true;
  }
  void set_exec(ExecFn fn) {
    std::lock_guard l(mu_);
    exec_ = std::move(fn);
  }
  void set_stats(const std::string& id, uint64_t cpu_core_nanos, uint64_t memory_bytes) {
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return;
    it->second.cpu_core_nanos = cpu_core_nanos;
    it->second.memory_bytes = memory_bytes;
  }
  void set_unavailable(bool down) { unavailable_ = down; }
  void set_status_hook(std::function<void(const std::string& id)> fn) {
    std::lock_guard l(mu_);
    status_hook_ = std::move(fn);
  }

  // --- inspection
  std::vector<std::string> calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }
  size_t count_calls(const std::string& prefix) const {
    std::lock_guard l(mu_);
    size_t n = 0;
    for (const auto& c : calls_) n += c.rfind(prefix, 0) == 0;
    return n;
  }
  std::map<std::string, FakeSandbox> sandboxes() const {
    std::lock_guard l(mu_);
    return sandboxes_;
  }
  std::map<std::string, FakeContainer> containers() const {
    std::lock_guard l(mu_);
    return containers_;
  }
  // Ids of the containers with this metadata name, oldest first.
  std::vector<std::string> container_ids(const std::string& name) const {
    std::lock_guard l(mu_);
    std::vector<std::pair<int64_t, std::string>> v;
    for (const auto& [id, c] : containers_) {
      if (c.status.container.name == name) v.emplace_back(c.status.container.created_at, id);
    }
    std::sort(v.begin(), v.end());
    std::vector<std::string> out;
    for (auto& p : v) out.push_back(p.second);
    return out;
  }
  // The timeout of the last stop_container of a container with this name (-1: never stopped).
  int64_t last_stop_timeout(const std::string& name) const {
    std::lock_guard l(mu_);
    auto it = stop_timeouts_.find(name);
    return it == stop_timeouts_.end() ? -1 : it->second;
  }
  // The running container with this name ("" if none).
  std::string running_id(const std::string& name) const {
    std::lock_guard l(mu_);
    for (const auto& [id, c] : containers_) {
      if (c.status.container.name == name && c.status.container.state == cri::ContainerState::kRunning) return id;
    }
    return "";
  }

  // --- cri::Runtime
  Result<cri::VersionInfo> version() override {
    if (unavailable_) return down();
    return cri::VersionInfo{"fake", "0.1.0", "v1"};
  }

  Result<std::string> run_pod_sandbox(const cri::SandboxConfig& config) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    calls_.push_back("run_pod_sandbox:" + config.name);
    FakeSandbox s;
    s.sandbox.id = next_id("sb");
    s.sandbox.name = config.name;
    s.sandbox.uid = config.uid;
    s.sandbox.namespace_ = config.namespace_;
    s.sandbox.attempt = config.attempt;
    s.sandbox.state = cri::SandboxState::kReady;
    s.sandbox.created_at = now_ns();
    s.sandbox.labels = config.labels;
    s.sandbox.annotations = config.annotations;
    s.config = config;
    s.ip = config.host_network ? "" : "10.88.0." + std::to_string(++ip_counter_ % 250 + 2);
    std::string id = s.sandbox.id;
    sandboxes_[id] = std::move(s);
    return id;
  }
  Status stop_pod_sandbox(const std::string& sandbox_id) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    auto it = sandboxes_.find(sandbox_id);
    if (it == sandboxes_.end()) return Status::ok();  // CRI: idempotent
    calls_.push_back("stop_pod_sandbox:" + it->second.sandbox.name);
    it->second.sandbox.state = cri::SandboxState::kNotReady;
    for (auto& [id, c] : containers_) {
      if (c.status.container.sandbox_id == sandbox_id && c.status.container.state == cri::ContainerState::kRunning) {
        exit_locked(c, 137, "");
      }
    }
    return Status::ok();
  }
  Status remove_pod_sandbox(const std::string& sandbox_id) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    auto it = sandboxes_.find(sandbox_id);
    if (it == sandboxes_.end()) return Status::ok();
    calls_.push_back("remove_pod_sandbox:" + it->second.sandbox.name);
    for (auto c = containers_.begin(); c != containers_.end();) {
      c = c->second.status.container.sandbox_id == sandbox_id ? containers_.erase(c) : std::next(c);
    }
    sandboxes_.erase(it);
    return Status::ok();
  }
  Result<cri::SandboxStatus> pod_sandbox_status(const std::string& sandbox_id) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    auto it = sandboxes_.find(sandbox_id);
    if (it == sandboxes_.end()) return not_found("an error occurred when try to find sandbox \"" + sandbox_id + "\": not found");
    cri::SandboxStatus s;
    s.sandbox = it->second.sandbox;
    s.ip = it->second.ip;
    return s;
  }
  Result<std::vector<cri::Sandbox>> list_pod_sandboxes(const cri::Labels& selector) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    std::vector<cri::Sandbox> out;
    for (const auto& [id, s] : sandboxes_) {
      if (matches(s.sandbox.labels, selector)) out.push_back(s.sandbox);
    }
    return out;
  }

  Result<std::string> create_container(const std::string& sandbox_id, const cri::ContainerConfig& config,
                                       const cri::SandboxConfig& sandbox_config) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    calls_.push_back("create_container:" + config.name);
    auto sb = sandboxes_.find(sandbox_id);
    if (sb == sandboxes_.end()) return not_found("sandbox \"" + sandbox_id + "\" not found");
    if (sb->second.sandbox.state != cri::SandboxState::kReady) {
      return internal_error("sandbox \"" + sandbox_id + "\" is not ready");
    }
    if (auto e = create_errors_.find(config.name); e != create_errors_.end()) return internal_error(e->second);
    if (!images_.count(normalize(config.image))) {
      return not_found("failed to get image \"" + config.image + "\": not found");
    }
    FakeContainer c;
    c.config = config;
    auto& ct = c.status.container;
    ct.id = next_id("ct");
    ct.sandbox_id = sandbox_id;
    ct.name = config.name;
    ct.attempt = config.attempt;
    ct.image = config.image;
    ct.image_ref = "sha256:" + std::to_string(std::hash<std::string>{}(normalize(config.image)));
    ct.state = cri::ContainerState::kCreated;
    ct.created_at = now_ns();
    ct.labels = config.labels;
    ct.annotations = config.annotations;
    c.status.log_path = sandbox_config.log_directory + "/" + config.log_path;
    std::string id = ct.id;
    containers_[id] = std::move(c);
    return id;
  }
  Status start_container(const std::string& id) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return not_found("container \"" + id + "\" not found");
    auto& c = it->second;
    calls_.push_back("start_container:" + c.status.container.name);
    if (c.status.container.state != cri::ContainerState::kCreated) {
      return internal_error("container \"" + id + "\" is not in created state");
    }
    if (auto e = start_errors_.find(c.status.container.name); e != start_errors_.end()) {
      c.status.container.state = cri::ContainerState::kExited;
      c.status.exit_code = 128;
      c.status.reason = "StartError";
      c.status.message = e->second;
      c.status.finished_at = now_ns();
      return internal_error(e->second);
    }
    c.status.container.state = cri::ContainerState::kRunning;
    c.status.started_at = now_ns();
    if (auto e = exit_on_start_.find(c.status.container.name); e != exit_on_start_.end()) {
      exit_locked(c, e->second.first, e->second.second);
    }
    return Status::ok();
  }
  Status stop_container(const std::string& id, int64_t timeout_seconds) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return not_found("container \"" + id + "\" not found");
    calls_.push_back("stop_container:" + it->second.status.container.name);
    it->second.stop_timeout = timeout_seconds;
    stop_timeouts_[it->second.status.container.name] = timeout_seconds;
    if (it->second.status.container.state == cri::ContainerState::kRunning) exit_locked(it->second, 137, "");
    return Status::ok();
  }
  Status remove_container(const std::string& id) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return Status::ok();
    calls_.push_back("remove_container:" + it->second.status.container.name);
    containers_.erase(it);
    return Status::ok();
  }
  Result<std::vector<cri::Container>> list_containers(const cri::ContainerFilter& filter) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    std::vector<cri::Container> out;
    for (const auto& [id, c] : containers_) {
      const auto& ct = c.status.container;
      if (filter.id && *filter.id != id) continue;
      if (filter.sandbox_id && *filter.sandbox_id != ct.sandbox_id) continue;
      if (filter.state && *filter.state != ct.state) continue;
      if (!matches(ct.labels, filter.label_selector)) continue;
      out.push_back(ct);
    }
    return out;
  }
  Result<cri::ContainerStatus> container_status(const std::string& id) override {
    if (unavailable_) return down();
    std::function<void(const std::string&)> hook;
    {
      std::lock_guard l(mu_);
      hook = status_hook_;
    }
    if (hook) hook(id);
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return not_found("an error occurred when try to find container \"" + id + "\": not found");
    return it->second.status;
  }
  Status update_container_resources(const std::string& id, const cri::Resources& resources) override {
    std::lock_guard l(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end()) return not_found("container \"" + id + "\" not found");
    it->second.config.resources = resources;
    return Status::ok();
  }

  Result<cri::ExecSyncResult> exec_sync(const std::string& id, const std::vector<std::string>& cmd,
                                        int64_t /*timeout_seconds*/) override {
    if (unavailable_) return down();
    ExecFn fn;
    std::string name;
    {
      std::lock_guard l(mu_);
      auto it = containers_.find(id);
      if (it == containers_.end()) return not_found("container \"" + id + "\" not found");
      if (it->second.status.container.state != cri::ContainerState::kRunning) {
        return internal_error("container " + id + " is not running");
      }
      name = it->second.status.container.name;
      fn = exec_;
    }
    if (fn) return fn(id, name, cmd);
    return cri::ExecSyncResult{};
  }
  Result<std::string> exec(const cri::ExecRequest& request) override {
    return std::string("http://127.0.0.1:1/exec/") + request.container_id;
  }

  Result<std::vector<cri::ContainerStats>> list_container_stats() override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    std::vector<cri::ContainerStats> out;
    for (const auto& [id, c] : containers_) {
      if (c.status.container.state != cri::ContainerState::kRunning) continue;
      cri::ContainerStats s;
      s.id = id;
      s.sandbox_id = c.status.container.sandbox_id;
      s.name = c.status.container.name;
      s.labels = c.status.container.labels;
      s.timestamp = now_ns();
      s.cpu_usage_core_nanos = c.cpu_core_nanos;
      s.memory_working_set_bytes = c.memory_bytes;
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<cri::Image>> list_images() override {
    std::lock_guard l(mu_);
    std::vector<cri::Image> out;
    for (const auto& i : images_) out.push_back(image_locked(i));
    return out;
  }
  Result<std::optional<cri::Image>> image_status(const std::string& image) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    if (!images_.count(normalize(image))) return std::optional<cri::Image>();
    return std::optional<cri::Image>(image_locked(normalize(image)));
  }
  Result<std::string> pull_image(const std::string& image, const cri::SandboxConfig*) override {
    if (unavailable_) return down();
    std::lock_guard l(mu_);
    calls_.push_back("pull_image:" + image);
    std::string n = normalize(image);
    if (!registry_.count(n)) {
      return internal_error("failed to pull and unpack image \"docker.io/library/" + n +
                            "\": failed to resolve reference \"docker.io/library/" + n +
                            "\": docker.io/library/" + n + ": not found");
    }
    images_.insert(n);
    return image_locked(n).id;
  }
  Status remove_image(const std::string& image) override {
    std::lock_guard l(mu_);
    images_.erase(normalize(image));
    return Status::ok();
  }

  static std::string normalize(std::string name) {
    for (const char* p : {"docker.io/library/", "docker.io/"}) {
      if (name.rfind(p, 0) == 0) name = name.substr(std::string(p).size());
    }
    auto slash = name.rfind('/');
    auto colon = name.rfind(':');
    if (name.find('@') == std::string::npos && (colon == std::string::npos || (slash != std::string::npos && colon < slash))) {
      name += ":latest";
    }
    return name;
  }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static bool matches(const cri::Labels& labels, const cri::Labels& selector) {
    for (const auto& [k, v] : selector) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) return false;
    }
    return true;
  }
  static Status down() { return Status(Code::kUnavailable, "connection error: runtime socket is gone"); }
  std::string next_id(const char* prefix) { return std::string(prefix) + std::to_string(++id_counter_) + "f00d"; }
  void exit_locked(FakeContainer& c, int32_t code, const std::string& reason) {
    c.status.container.state = cri::ContainerState::kExited;
    c.status.exit_code = code;
    c.status.reason = reason.empty() ? (code == 0 ? "Completed" : "Error") : reason;
    c.status.finished_at = now_ns();
  }
  cri::Image image_locked(const std::string& n) const {
    cri::Image i;
    i.id = "sha256:" + std::to_string(std::hash<std::string>{}(n));
    i.repo_tags = {"docker.io/library/" + n};
    i.size = 1 << 20;
    return i;
  }

  mutable std::mutex mu_;
  std::map<std::string, FakeSandbox> sandboxes_;
  std::map<std::string, FakeContainer> containers_;
  std::set<std::string> images_;
  std::set<std::string> registry_;
  std::map<std::string, std::string> create_errors_;
  std::map<std::string, std::string> start_errors_;
  std::map<std::string, std::pair<int32_t, std::string>> exit_on_start_;
  std::map<std::string, int64_t> stop_timeouts_;
  ExecFn exec_;
  std::function<void(const std::string& id)> status_hook_;
  std::vector<std::string> calls_;
  uint64_t id_counter_ = 0;
  uint64_t ip_counter_ = 0;
  std::atomic<bool> unavailable_{false};
};

}  // namespace minik8s::testing
