#include "agent_state.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "minik8s/api/json.h"
#include "minik8s/util/file.h"

namespace minik8s::agent {

namespace fs = std::filesystem;
using nlohmann::json;

Status write_agent_state(const std::string& data_dir, const AgentState& s) {
  json j = {{"nodeName", s.node_name}, {"cgroupRoot", s.cgroup_root},
            {"managed", s.managed},    {"endpoint", s.endpoint},
            {"netns", s.netns},        {"pid", s.pid},
            {"network", s.network},    {"cniBridge", s.cni_bridge},
            {"vxlanDevice", s.vxlan_device}, {"chainPrefix", s.chain_prefix},
            {"clusterCIDR", s.cluster_cidr},
            {"cniConfDir", s.cni_conf_dir}, {"cniIpamDir", s.cni_ipam_dir},
            {"proxy", s.proxy},        {"ingress", s.ingress},
            {"ingressPrefix", s.ingress_prefix}, {"hostsFile", s.hosts_file},
            {"hostsBlockTag", s.hosts_block_tag}};
  return write_file_atomically((fs::path(data_dir) / "agent.json").string(), j.dump(2) + "\n");
}

Result<AgentState> read_agent_state(const std::string& data_dir) {
  fs::path path = fs::path(data_dir) / "agent.json";
  std::ifstream f(path);
  if (!f) return not_found("no " + path.string());
  std::stringstream ss;
  ss << f.rdbuf();
  auto parsed = api::parse_json(ss.str());
  if (!parsed || !parsed->is_object()) return bad_request(path.string() + " is not a JSON object");
  json j = std::move(parsed.value());
  AgentState s;
  try {
    s.node_name = j.value("nodeName", "");
    s.cgroup_root = j.value("cgroupRoot", "");
    s.managed = j.value("managed", true);
    s.endpoint = j.value("endpoint", "");
    s.netns = j.value("netns", "");
    s.pid = j.value("pid", 0);
    s.network = j.value("network", false);
    s.cni_bridge = j.value("cniBridge", "");
    s.vxlan_device = j.value("vxlanDevice", "");
    s.chain_prefix = j.value("chainPrefix", "");
    s.cluster_cidr = j.value("clusterCIDR", "");
    s.cni_conf_dir = j.value("cniConfDir", "");
    s.cni_ipam_dir = j.value("cniIpamDir", "");
    s.proxy = j.value("proxy", false);
    s.ingress = j.value("ingress", false);
    s.ingress_prefix = j.value("ingressPrefix", "");
    s.hosts_file = j.value("hostsFile", "");
    s.hosts_block_tag = j.value("hostsBlockTag", "");
  } catch (const json::exception& e) {
    return bad_request(path.string() + ": " + e.what());
  }
  return s;
}

std::string image_cache_dir(const std::string& flag, const std::string& data_dir) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("MINIK8S_IMAGE_CACHE"); env && *env) return env;
  fs::path d = fs::absolute(fs::path(data_dir)).lexically_normal();
  if (d.has_filename()) return (d.parent_path() / "images").string();
  return (d.parent_path().parent_path() / "images").string();
}

bool is_minik8s_process(pid_t pid) {
  if (pid <= 1 || pid == getpid()) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return cmd.find("minik8s") != std::string::npos;
}

void terminate_process(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 1) return;
  auto gone = [pid] {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);  // reaps our own child; ECHILD for others
    if (r == pid) return true;
    return kill(pid, 0) != 0 && errno == ESRCH;
  };
  if (gone()) return;
  kill(pid, SIGTERM);
  auto end = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < end) {
    if (gone()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  auto hard_end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < hard_end && !gone()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

namespace {
std::string unescape_mount(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
}  // namespace

std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  std::string base = dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string id, parent, devno, root, mnt;
    if (!(ss >> id >> parent >> devno >> root >> mnt)) continue;
    mnt = unescape_mount(mnt);
    if (mnt == base || mnt.rfind(base + "/", 0) == 0) out.push_back(mnt);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a > b;
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {
std::vector<json> cni_configs(const std::string& conf_dir) {
  std::vector<json> out;
  std::error_code ec;
  if (!fs::is_directory(conf_dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(conf_dir, ec)) {
    auto ext = e.path().extension().string();
    if (ext != ".conf" && ext != ".conflist" && ext != ".json") continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    auto j = api::parse_json(ss.str());
    if (j && j->is_object()) out.push_back(std::move(j.value()));
  }
  return out;
}
}  // namespace

std::vector<std::string> cni_bridges(const std::string& conf_dir) {
  std::vector<std::string> out;
  for (const auto& c : cni_configs(conf_dir)) {
    std::vector<json> plugins;
    if (c.contains("plugins") && c["plugins"].is_array()) {
      for (const auto& p : c["plugins"]) plugins.push_back(p);
    } else {
      plugins.push_back(c);
    }
    for (const auto& p : plugins) {
      if (!p.is_object() || p.value("type", "") != "bridge") continue;
      std::string name =
          p.contains("bridge") && p["bridge"].is_string() ? p["bridge"].get<std::string>() : "cni0";
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
  }
  return out;
}

std::vector<std::string> cni_networks(const std::string& conf_dir) {
  std::vector<std::string> out;
  for (const auto& c : cni_configs(conf_dir)) {
    if (c.contains("name") && c["name"].is_string()) out.push_back(c["name"].get<std::string>());
  }
  return out;
}

}  // namespace minik8s::agent
