// GPU discovery, the allocation table and the CRI additions (gpu.h).
#include "minik8s/kubelet/gpu.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "minik8s/api/quantity.h"
#include "minik8s/util/process.h"

namespace minik8s::kubelet {

namespace {

using api::afield;
using api::field;
using api::Json;

// nvidia-smi through minik8s/util/process.h (the child gets an empty signal
// mask: the agent blocks its stop signals).
class ExecRunner : public CommandRunner {
 public:
  explicit ExecRunner(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  Result<std::string> run(const std::vector<std::string>& argv) override {
    if (argv.empty()) return invalid("empty command");
    ProcessOptions options;
    options.timeout = timeout_;
    auto r = run_process(argv, options);
    if (!r) {
      if (r.status().code() == Code::kTimeout)
        return Status(Code::kTimeout, argv[0] + " did not finish in time");
      return internal_error(argv[0] + " could not be run: " + r.status().message());
    }
    if (r->exit_code != 0) return internal_error(argv[0] + " exited " + std::to_string(r->exit_code));
    return std::move(r->out);
  }

 private:
  std::chrono::milliseconds timeout_;
};

bool regular_file(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

std::vector<std::string> glob_paths(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

// nvidia.com/gpu of one container: limits, else requests; whole numbers only.
int64_t count_of(const Json& c) {
  const Json& res = field(c, "resources");
  const Json* v = &field(field(res, "limits"), kGpuResource);
  if (v->is_null()) v = &field(field(res, "requests"), kGpuResource);
  std::string text;
  if (v->is_string()) {
    text = v->get<std::string>();
  } else if (v->is_number_integer()) {
    text = std::to_string(v->get<int64_t>());
  } else {
    return 0;
  }
  auto q = api::Quantity::parse(text);
  if (!q || q->milli_value() <= 0 || q->milli_value() % 1000 != 0) return 0;
  return q->milli_value() / 1000;
}

}  // namespace

std::unique_ptr<CommandRunner> make_command_runner(std::chrono::milliseconds timeout) {
  return std::make_unique<ExecRunner>(timeout);
}

std::vector<GpuDevice> parse_nvidia_smi_list(const std::string& text) {
  static const std::regex line_re(R"(^GPU ([0-9]+): (.*?)(?: \(UUID: ([^)]*)\))?\s*$)");
  std::vector<GpuDevice> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    GpuDevice d;
    try {
      d.index = std::stoi(m[1].str());
    } catch (const std::exception&) {
      continue;
    }
    d.minor = d.index;
    d.name = trim(m[2].str());
    d.uuid = m[3].str();
    out.push_back(std::move(d));
  }
  return out;
}

GpuProbe::GpuProbe(std::string root, CommandRunner& runner)
    : root_(std::move(root)), runner_(runner) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_ == "/") root_.clear();
}

std::string GpuProbe::path(const std::string& host_path) const { return root_ + host_path; }

std::vector<GpuDevice> GpuProbe::devices() {
  std::vector<GpuDevice> out;
  if (auto text = runner_.run({"nvidia-smi", "-L"})) out = parse_nvidia_smi_list(*text);
  if (!out.empty()) {
    // Device minors by UUID, as the driver reports them.
    std::map<std::string, int> minor_by_uuid;
    for (const auto& info : glob_paths(path("/proc/driver/nvidia/gpus/*/information"))) {
      std::ifstream f(info);
      std::string line, uuid;
      int minor = -1;
      while (std::getline(f, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
        if (key == "GPU UUID") uuid = value;
        if (key == "Device Minor") {
          try {
            minor = std::stoi(value);
          } catch (const std::exception&) {
          }
        }
      }
      if (!uuid.empty() && minor >= 0) minor_by_uuid[uuid] = minor;
    }
    for (auto& d : out) {
      auto it = minor_by_uuid.find(d.uuid);
      if (it != minor_by_uuid.end()) d.minor = it->second;
    }
    return out;
  }
  static const std::regex node_re(R"(nvidia([0-9]+))");
  for (const auto& p : glob_paths(path("/dev/nvidia[0-9]*"))) {
    std::string base = p.substr(p.rfind('/') + 1);
    std::smatch m;
    if (!std::regex_match(base, m, node_re)) continue;
    GpuDevice d;
    try {
      d.minor = std::stoi(m[1].str());
    } catch (const std::exception&) {
      continue;
    }
    d.index = d.minor;
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const GpuDevice& a, const GpuDevice& b) { return a.minor < b.minor; });
  return out;
}

GpuHostFiles GpuProbe::host_files() {
  GpuHostFiles f;
  for (const char* dev :
       {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"}) {
    if (exists(path(dev))) f.control_devices.push_back(dev);
  }
  std::set<std::string> names;
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64"}) {
    std::vector<std::string> found;
    for (const char* pattern : {"/libcuda.so*", "/libnvidia-*.so*"}) {
      for (auto& p : glob_paths(path(std::string(dir) + pattern))) {
        if (!regular_file(p)) continue;  // a dangling link (a -dev package without the driver)
        found.push_back(p.substr(root_.size()));
      }
    }
    std::sort(found.begin(), found.end());
    for (auto& p : found) {
      if (names.insert(p.substr(p.rfind('/') + 1)).second) f.libraries.push_back(std::move(p));
    }
  }
  if (regular_file(path("/usr/bin/nvidia-smi"))) f.nvidia_smi = "/usr/bin/nvidia-smi";
  return f;
}

int64_t container_gpu_count(const Json& container) { return count_of(container); }

int64_t pod_gpu_count(const Json& pod) {
  const Json& spec = field(pod, "spec");
  int64_t sum = 0, init_max = 0;
  for (const auto& c : afield(spec, "containers")) sum += count_of(c);
  for (const auto& c : afield(spec, "initContainers")) init_max = std::max(init_max, count_of(c));
  return std::max(sum, init_max);
}

std::vector<int> gpu_slice(const Json& pod, const std::string& name,
                           const std::vector<int>& pod_gpus) {
  const Json& spec = field(pod, "spec");
  auto take = [&](size_t offset, int64_t n) -> std::vector<int> {
    if (n <= 0 || offset + static_cast<size_t>(n) > pod_gpus.size()) return {};
    return {pod_gpus.begin() + static_cast<std::ptrdiff_t>(offset),
            pod_gpus.begin() + static_cast<std::ptrdiff_t>(offset + static_cast<size_t>(n))};
  };
  for (const auto& c : afield(spec, "initContainers")) {
    if (api::sfield(c, "name") == name) return take(0, count_of(c));
  }
  size_t offset = 0;
  for (const auto& c : afield(spec, "containers")) {
    int64_t n = count_of(c);
    if (api::sfield(c, "name") == name) return take(offset, n);
    offset += static_cast<size_t>(n);
  }
  return {};
}

GpuContainerConfig gpu_container_config(const std::vector<GpuDevice>& gpus,
                                        const GpuHostFiles& files) {
  GpuContainerConfig out;
  if (gpus.empty()) return out;
  std::vector<int> indices;
  for (const auto& g : gpus) {
    std::string dev = "/dev/nvidia" + std::to_string(g.minor);
    out.devices.push_back({dev, dev, "rwm"});
    indices.push_back(g.index);
  }
  for (const auto& d : files.control_devices) out.devices.push_back({d, d, "rwm"});
  for (const auto& lib : files.libraries) {
    out.mounts.push_back(
        {"/usr/lib/x86_64-linux-gnu/" + lib.substr(lib.rfind('/') + 1), lib, true});
  }
  if (!files.nvidia_smi.empty())
    out.mounts.push_back({"/usr/bin/nvidia-smi", files.nvidia_smi, true});
  out.envs.push_back({"NVIDIA_VISIBLE_DEVICES", format_gpu_indices(indices)});
  return out;
}

std::string format_gpu_indices(const std::vector<int>& indices) {
  std::string s;
  for (int i : indices) {
    if (!s.empty()) s += ",";
    s += std::to_string(i);
  }
  return s;
}

Result<std::vector<int>> parse_gpu_indices(const std::string& text) {
  std::vector<int> out;
  if (text.empty()) return out;
  if (text.back() == ',')
    return invalid("GPU indices \"" + text + "\": expected comma-separated numbers");
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty() || part.size() > 6 ||
        part.find_first_not_of("0123456789") != std::string::npos) {
      return invalid("GPU indices \"" + text + "\": expected comma-separated numbers");
    }
    out.push_back(std::stoi(part));
  }
  return out;
}

// ---------------------------------------------------------------- GpuAllocator

GpuAllocator::GpuAllocator(std::vector<GpuDevice> devices) : devices_(std::move(devices)) {}

const GpuDevice* GpuAllocator::device(int index) const {
  for (const auto& d : devices_) {
    if (d.index == index) return &d;
  }
  return nullptr;
}

Result<std::vector<int>> GpuAllocator::allocate(const std::string& pod_uid, int64_t count) {
  if (count <= 0) return std::vector<int>{};
  std::lock_guard l(mu_);
  std::vector<int> mine, free;
  for (const auto& d : devices_) {
    auto it = owner_.find(d.index);
    if (it == owner_.end()) {
      free.push_back(d.index);
    } else if (it->second == pod_uid) {
      mine.push_back(d.index);
    }
  }
  if (!mine.empty()) return mine;
  if (static_cast<int64_t>(free.size()) < count) {
    return Status(Code::kUnavailable, std::string("Node didn't have enough resource: ") +
                                          kGpuResource + ", requested: " + std::to_string(count) +
                                          ", used: " + std::to_string(owner_.size()) +
                                          ", capacity: " + std::to_string(devices_.size()));
  }
  free.resize(static_cast<size_t>(count));
  for (int i : free) owner_[i] = pod_uid;
  return free;
}

std::vector<int> GpuAllocator::held(const std::string& pod_uid) const {
  std::lock_guard l(mu_);
  std::vector<int> out;
  for (const auto& [i, uid] : owner_) {
    if (uid == pod_uid) out.push_back(i);
  }
  return out;
}

void GpuAllocator::release(const std::string& pod_uid) {
  std::lock_guard l(mu_);
  for (auto it = owner_.begin(); it != owner_.end();) {
    it = it->second == pod_uid ? owner_.erase(it) : std::next(it);
  }
}

void GpuAllocator::restore(const std::string& pod_uid, const std::vector<int>& indices) {
  std::lock_guard l(mu_);
  for (int i : indices) {
    bool known = std::any_of(devices_.begin(), devices_.end(),
                             [&](const GpuDevice& d) { return d.index == i; });
    if (known && !owner_.count(i)) owner_[i] = pod_uid;
  }
}

size_t GpuAllocator::used() const {
  std::lock_guard l(mu_);
  return owner_.size();
}

std::map<int, std::string> GpuAllocator::table() const {
  std::lock_guard l(mu_);
  return owner_;
}

}  // namespace minik8s::kubelet
