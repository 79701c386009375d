// Host probing, Node/Lease object construction and the NodeReporter heartbeat.
#include "node.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/api/resource.h"

namespace minik8s::agent {

namespace {

using api::Json;

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

int64_t read_int(const std::string& path, int64_t fallback) {
  std::string s = read_first_line(path);
  if (s.empty()) return fallback;
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string os_pretty_name() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "Linux";
}

std::string ki(int64_t bytes) { return std::to_string(bytes / 1024) + "Ki"; }

std::string cpu_quantity(int64_t millis) {
  if (millis % 1000 == 0) return std::to_string(millis / 1000);
  return std::to_string(millis) + "m";
}

std::string uid_of(const Json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  return obj["metadata"].value("uid", "");
}

const api::ResourceType& node_type() { return *api::find_kind("v1", "Node"); }
const api::ResourceType& lease_type() { return *api::find_kind("coordination.k8s.io/v1", "Lease"); }

Json condition(const std::string& type, bool status, const std::string& reason,
               const std::string& message, const std::string& now, const Json& previous_status) {
  std::string st = status ? "True" : "False";
  std::string transition = now;
  if (previous_status.is_object() && previous_status.contains("conditions") &&
      previous_status["conditions"].is_array()) {
    for (const auto& c : previous_status["conditions"]) {
      if (c.is_object() && c.value("type", "") == type && c.value("status", "") == st &&
          c.contains("lastTransitionTime") && c["lastTransitionTime"].is_string()) {
        transition = c["lastTransitionTime"].get<std::string>();
      }
    }
  }
  return {{"type", type},
          {"status", st},
          {"lastHeartbeatTime", now},
          {"lastTransitionTime", transition},
          {"reason", reason},
          {"message", message}};
}

}  // namespace

HostInfo probe_host(const std::string& data_dir) {
  HostInfo h;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  h.hostname = host;
  // CPUs: the affinity mask, capped by a CFS quota on our cgroup when one is set.
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  h.cpu_millis = std::max<long>(n, 1) * 1000;
  int64_t quota = read_int("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", -1);
  int64_t period = read_int("/sys/fs/cgroup/cpu/cpu.cfs_period_us", 100000);
  if (quota > 0 && period > 0)
    h.cpu_millis = std::min<int64_t>(h.cpu_millis, quota * 1000 / period);
  // Memory: MemTotal, capped by a memory cgroup limit when lower.
  std::ifstream mi("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (mi >> key >> kb >> unit) {
    if (key == "MemTotal:") {
      h.memory_bytes = kb * 1024;
      break;
    }
  }
  int64_t limit = read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes", -1);
  if (limit > 0 && h.memory_bytes > 0 && limit < h.memory_bytes) h.memory_bytes = limit;
  // Ephemeral storage: the filesystem holding the data dir (or its nearest existing parent).
  std::string probe = data_dir.empty() ? "/" : data_dir;
  struct statvfs vfs {};
  while (statvfs(probe.c_str(), &vfs) != 0) {
    auto slash = probe.rfind('/');
    if (slash == std::string::npos || probe == "/") break;
    probe = slash == 0 ? "/" : probe.substr(0, slash);
  }
  h.ephemeral_storage_bytes =
      static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
  utsname u{};
  if (uname(&u) == 0) h.kernel_version = u.release;
  h.os_image = os_pretty_name();
  h.machine_id = read_first_line("/etc/machine-id");
  h.boot_id = read_first_line("/proc/sys/kernel/random/boot_id");
  return h;
}

Result<std::vector<kubelet::GpuDevice>> node_gpus(const NodeConfig& config, kubelet::GpuProbe& probe) {
  if (config.gpus == 0) return std::vector<kubelet::GpuDevice>{};
  std::vector<kubelet::GpuDevice> found = probe.devices();
  if (config.gpus == NodeConfig::kGpusAuto) return found;
  if (config.gpus < 0 || static_cast<size_t>(config.gpus) > found.size()) {
    return invalid("node config: field \"gpus\": " + std::to_string(config.gpus) + " asked for, " +
                   std::to_string(found.size()) + " NVIDIA GPU(s) found (nvidia-smi -L, /dev/nvidia<N>)");
  }
  found.resize(static_cast<size_t>(config.gpus));
  return found;
}

RuntimeState probe_runtime(cri::Runtime& runtime) {
  RuntimeState s;
  auto v = runtime.version();
  if (!v) {
    s.ready = false;
    s.message = "container runtime is down: " + v.status().message();
    return s;
  }
  std::string version = v->runtime_version;
  if (auto tilde = version.find('~'); tilde != std::string::npos)
    version.resize(tilde);  // Debian "~ds1"
  s.runtime_version = (v->runtime_name.empty() ? "containerd" : v->runtime_name) + "://" + version;
  s.ready = true;
  return s;
}

Json node_labels(const NodeConfig& config) {
  Json labels = Json::object();
  labels["kubernetes.io/hostname"] = config.node_name;
  labels["kubernetes.io/os"] = "linux";
  labels["kubernetes.io/arch"] = "amd64";
  labels["beta.kubernetes.io/os"] = "linux";
  labels["beta.kubernetes.io/arch"] = "amd64";
  for (const auto& r : config.roles) labels["node-role.kubernetes.io/" + r] = "";
  for (const auto& [k, v] : config.labels) labels[k] = v;
  return labels;
}

Json node_taints(const NodeConfig& config) {
  Json taints = Json::array();
  for (const auto& t : config.taints) {
    Json j = {{"key", t.key}, {"effect", t.effect}};
    if (!t.value.empty()) j["value"] = t.value;
    taints.push_back(j);
  }
  return taints;
}

Json build_node_status(const NodeConfig& config, const HostInfo& host, const RuntimeState& runtime,
                       int kubelet_port, SysTime now, const Json& previous_status) {
  Json capacity = {{"cpu", cpu_quantity(host.cpu_millis)},
                   {"memory", ki(host.memory_bytes)},
                   {"pods", std::to_string(config.max_pods)},
                   {"ephemeral-storage", ki(host.ephemeral_storage_bytes)}};
  if (host.gpus > 0) capacity["nvidia.com/gpu"] = std::to_string(host.gpus);
  const std::string ts = format_rfc3339(now);
  Json conditions = Json::array();
  conditions.push_back(condition("MemoryPressure", false, "KubeletHasSufficientMemory",
                                 "kubelet has sufficient memory available", ts, previous_status));
  conditions.push_back(condition("DiskPressure", false, "KubeletHasNoDiskPressure",
                                 "kubelet has no disk pressure", ts, previous_status));
  conditions.push_back(condition("PIDPressure", false, "KubeletHasSufficientPID",
                                 "kubelet has sufficient PID available", ts, previous_status));
  if (runtime.ready) {
    conditions.push_back(condition("Ready", true, "KubeletReady", "kubelet is posting ready status",
                                   ts, previous_status));
  } else {
    conditions.push_back(
        condition("Ready", false, "KubeletNotReady",
                  runtime.message.empty() ? "container runtime is down" : runtime.message, ts,
                  previous_status));
  }
  Json addresses = Json::array({{{"type", "InternalIP"}, {"address", config.node_ip}},
                                {{"type", "Hostname"}, {"address", config.node_name}}});
  Json node_info = {{"machineID", host.machine_id},
                    {"systemUUID", host.machine_id},
                    {"bootID", host.boot_id},
                    {"kernelVersion", host.kernel_version},
                    {"osImage", host.os_image},
                    {"containerRuntimeVersion", runtime.runtime_version},
                    {"kubeletVersion", kKubeletVersion},
                    {"kubeProxyVersion", kKubeletVersion},
                    {"operatingSystem", "linux"},
                    {"architecture", "amd64"}};
  // A runtime that was never reachable leaves the version empty; keep the last one seen.
  if (runtime.runtime_version.empty() && previous_status.is_object() &&
      previous_status.contains("nodeInfo") && previous_status["nodeInfo"].is_object()) {
    node_info["containerRuntimeVersion"] =
        previous_status["nodeInfo"].value("containerRuntimeVersion", "");
  }
  return {{"capacity", capacity},
          {"allocatable", capacity},
          {"conditions", conditions},
          {"addresses", addresses},
          {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet_port}}}}},
          {"nodeInfo", node_info}};
}

Json build_node(const NodeConfig& config, const HostInfo& host, const RuntimeState& runtime,
                int kubelet_port, SysTime now) {
  Json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", config.node_name}, {"labels", node_labels(config)}}},
               {"spec", Json::object()},
               {"status", build_node_status(config, host, runtime, kubelet_port, now, Json())}};
  Json taints = node_taints(config);
  if (!taints.empty()) node["spec"]["taints"] = taints;
  return node;
}

Json build_lease(const std::string& node_name, const std::string& node_uid, SysTime now) {
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node_name}, {"namespace", "kube-node-lease"}}},
                {"spec",
                 {{"holderIdentity", node_name},
                  {"leaseDurationSeconds", kLeaseDurationSeconds},
                  {"renewTime", format_rfc3339_micro(now)}}}};
  if (!node_uid.empty()) {
    lease["metadata"]["ownerReferences"] = Json::array(
        {{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node_name}, {"uid", node_uid}}});
  }
  return lease;
}

// ---------------------------------------------------------------- NodeReporter

NodeReporter::NodeReporter(client::Client& client, cri::Runtime& runtime, NodeConfig config,
                           HostInfo host, int kubelet_port, Clock& clock)
    : client_(client),
      runtime_(runtime),
      config_(std::move(config)),
      host_(std::move(host)),
      kubelet_port_(kubelet_port),
      clock_(clock),
      last_status_(std::make_unique<Json>()),
      lease_(std::make_unique<Json>()) {}

NodeReporter::~NodeReporter() { stop(); }

Status NodeReporter::register_node() {
  RuntimeState rs = probe_runtime(runtime_);
  Json node = build_node(config_, host_, rs, kubelet_port_, clock_.now());
  auto created = client_.create(node_type(), node, "");
  if (created) {
    node_uid_ = uid_of(*created);
    *last_status_ = (*created)["status"];
    last_ready_ = rs.ready;
    have_ready_ = true;
    spdlog::info("registered node {}", config_.node_name);
    return Status::ok();
  }
  if (created.status().code() != Code::kAlreadyExists) return created.status();
  // Restart: keep labels/taints others added, make ours current, then write status.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto current = client_.get(node_type(), "", config_.node_name);
    if (!current) return current.status();
    Json updated = *current;
    if (!updated["metadata"].contains("labels") || !updated["metadata"]["labels"].is_object()) {
      updated["metadata"]["labels"] = Json::object();
    }
    const Json ours = node_labels(config_);
    for (auto it = ours.begin(); it != ours.end(); ++it)
      updated["metadata"]["labels"][it.key()] = it.value();
    if (!updated.contains("spec") || !updated["spec"].is_object()) updated["spec"] = Json::object();
    Json taints = node_taints(config_);
    // The node lifecycle controller's taints (node.kubernetes.io/unreachable,
    // not-ready, ...) stay: it removes them once it sees this node Ready.
    const Json& had = updated["spec"].contains("taints") ? updated["spec"]["taints"] : Json();
    if (had.is_array()) {
      for (const auto& t : had) {
        if (!t.is_object() || t.value("key", "").rfind("node.kubernetes.io/", 0) != 0) continue;
        bool ours = false;
        for (const auto& o : taints) ours = ours || (o["key"] == t["key"] && o["effect"] == t["effect"]);
        if (!ours) taints.push_back(t);
      }
    }
    if (taints.empty()) {
      updated["spec"].erase("taints");
    } else {
      updated["spec"]["taints"] = taints;
    }
    auto res = client_.update(node_type(), updated);
    if (!res && res.status().code() == Code::kConflict) continue;
    if (!res) return res.status();
    node_uid_ = uid_of(*res);
    *last_status_ = res->contains("status") ? (*res)["status"] : Json();
    spdlog::info("updated existing node {}", config_.node_name);
    return update_status();
  }
  return conflict("node " + config_.node_name + " kept changing while registering");
}

Status NodeReporter::update_status() {
  RuntimeState rs = probe_runtime(runtime_);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto current = client_.get(node_type(), "", config_.node_name);
    if (!current && current.status().code() == Code::kNotFound) {
      // Someone deleted our Node: register again.
      return register_node();
    }
    if (!current) return current.status();
    Json node = *current;
    const Json prev = node.contains("status") ? node["status"] : Json();
    node["status"] = build_node_status(config_, host_, rs, kubelet_port_, clock_.now(), prev);
    auto res = client_.update_status(node_type(), node);
    if (!res && res.status().code() == Code::kConflict) continue;
    if (!res) return res.status();
    node_uid_ = (uid_of(*res).empty() ? node_uid_ : uid_of(*res));
    *last_status_ = node["status"];
    if (have_ready_ && last_ready_ != rs.ready) {
      spdlog::info("node {} Ready={} {}", config_.node_name, rs.ready, rs.message);
    }
    last_ready_ = rs.ready;
    have_ready_ = true;
    return Status::ok();
  }
  return conflict("node " + config_.node_name + " status kept conflicting");
}

Status NodeReporter::renew_lease() {
  const SysTime now = clock_.now();
  if (lease_->is_object() && lease_->contains("metadata")) {
    Json next = *lease_;
    next["spec"]["renewTime"] = format_rfc3339_micro(now);
    next["spec"]["holderIdentity"] = config_.node_name;
    auto res = client_.update(lease_type(), next);
    if (res) {
      *lease_ = std::move(*res);
      return Status::ok();
    }
    if (res.status().code() != Code::kConflict && res.status().code() != Code::kNotFound)
      return res.status();
    *lease_ = Json();  // re-read below
  }
  auto current = client_.get(lease_type(), "kube-node-lease", config_.node_name);
  if (current) {
    Json next = *current;
    Json fresh = build_lease(config_.node_name, node_uid_, now);
    next["spec"] = fresh["spec"];
    if (fresh["metadata"].contains("ownerReferences"))
      next["metadata"]["ownerReferences"] = fresh["metadata"]["ownerReferences"];
    auto res = client_.update(lease_type(), next);
    if (!res) return res.status();
    *lease_ = std::move(*res);
    return Status::ok();
  }
  if (current.status().code() != Code::kNotFound) return current.status();
  auto created = client_.create(lease_type(), build_lease(config_.node_name, node_uid_, now),
                                "kube-node-lease");
  if (!created && created.status().code() == Code::kNotFound) {
    // The namespace is missing (the server makes it at start-up; someone removed it).
    Json ns = {
        {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "kube-node-lease"}}}};
    auto made = client_.create(*api::find_kind("v1", "Namespace"), ns, "");
    if (!made && made.status().code() != Code::kAlreadyExists) return made.status();
    created = client_.create(lease_type(), build_lease(config_.node_name, node_uid_, now),
                             "kube-node-lease");
  }
  if (!created) return created.status();
  *lease_ = std::move(*created);
  return Status::ok();
}

void NodeReporter::start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { loop(); });
}

void NodeReporter::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NodeReporter::poke() {
  {
    std::lock_guard<std::mutex> l(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void NodeReporter::loop() {
  using Steady = std::chrono::steady_clock;
  const auto probe_every = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000),
                                                               config_.status_update_interval);
  auto next_lease = Steady::now();
  auto next_status = Steady::now() + config_.status_update_interval;
  auto next_probe = Steady::now() + probe_every;
  bool lease_failing = false, status_failing = false, write_status_now = false;
  for (;;) {
    const auto now = Steady::now();
    if (now >= next_lease) {
      Status st = renew_lease();
      if (!st && !lease_failing)
        spdlog::warn("renewing lease of node {}: {}", config_.node_name, st.to_string());
      if (st && lease_failing) {
        // Back after a disconnection: the node lifecycle controller may have
        // set our conditions to Unknown meanwhile. Say Ready now, not at the
        // next status interval.
        spdlog::info("lease of node {} renewed again", config_.node_name);
        write_status_now = true;
      }
      lease_failing = !st;
      next_lease = now + config_.lease_renew_interval;
    }
    bool write_status = now >= next_status || write_status_now;
    write_status_now = false;
    if (now >= next_probe) {
      // Readiness changes are written at once, not at the next interval.
      bool ready = probe_runtime(runtime_).ready;
      if (!have_ready_ || ready != last_ready_) write_status = true;
      next_probe = now + probe_every;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (poked_) write_status = true;
      poked_ = false;
    }
    if (write_status) {
      Status st = update_status();
      if (!st && !status_failing)
        spdlog::warn("updating status of node {}: {}", config_.node_name, st.to_string());
      status_failing = !st;
      // Retry a failed write at the next probe rather than a whole interval later.
      next_status = st ? now + config_.status_update_interval : now + probe_every;
    }
    std::unique_lock<std::mutex> l(mu_);
    auto wake = std::min({next_lease, next_status, next_probe});
    cv_.wait_until(l, wake, [this] { return stop_ || poked_; });
    if (stop_) return;
  }
}

}  // namespace minik8s::agent
