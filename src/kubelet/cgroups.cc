// PodCgroups: the per-pod cgroup parent (cgroupfs layout, as the kubelet's
// cgroupfs driver). On cgroup v1 every mounted hierarchy under cgroup_fs
// (each directory holding cgroup.procs, deduplicated by canonical path, so
// "cpu,cpuacct" symlinks count once) gets <root>/pod<uid>; runc then nests
// the containers' cgroups under it. On cgroup v2 (cgroup_fs/cgroup.controllers
// exists) the single hierarchy is used and controllers are enabled downwards.
// remove() kills whatever is still inside (thawing frozen cgroups first) and
// rmdirs depth-first, retrying while the kernel reports EBUSY.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "minik8s/kubelet/parts.h"

namespace fs = std::filesystem;

namespace minik8s::kubelet {
namespace {

constexpr auto kRemoveDeadline = std::chrono::seconds(10);

bool valid_uid(const std::string& uid) {
  return !uid.empty() && uid.find('/') == std::string::npos && uid != "." && uid != "..";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status write_text(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  if (!out) return internal_error("open " + path + ": " + std::strerror(errno));
  out << value;
  out.flush();
  if (!out) return internal_error("write " + path + ": " + std::strerror(errno));
  return Status::ok();
}

bool is_v2(const std::string& cgroup_fs) {
  std::error_code ec;
  return fs::exists(cgroup_fs + "/cgroup.controllers", ec);
}

// Root directories of the hierarchies under cgroup_fs.
std::vector<std::string> hierarchies(const std::string& cgroup_fs) {
  if (is_v2(cgroup_fs)) return {cgroup_fs};
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(cgroup_fs, ec)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  for (const auto& p : entries) {
    std::error_code ec2;
    if (!fs::is_directory(p, ec2)) continue;
    if (!fs::exists(p / "cgroup.procs", ec2)) continue;
    fs::path canon = fs::canonical(p, ec2);
    std::string key = ec2 ? p.string() : canon.string();
    if (!seen.insert(key).second) continue;
    out.push_back(p.string());
  }
  return out;
}

// Makes dir (and its ancestors below base) exist; in the cpuset hierarchy
// every new level gets cpuset.cpus/mems from its parent first.
Status make_path(const std::string& base, const std::string& rel, bool cpuset, bool v2) {
  std::string cur = base;
  std::stringstream ss(rel);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (seg.empty()) continue;
    std::string parent = cur;
    cur += "/" + seg;
    if (v2) {
      // Let the child use the controllers the parent has.
      std::string avail = read_text(parent + "/cgroup.controllers");
      std::string have = read_text(parent + "/cgroup.subtree_control");
      std::stringstream as(avail);
      std::string ctrl;
      while (as >> ctrl) {
        if (have.find(ctrl) != std::string::npos) continue;
        (void)write_text(parent + "/cgroup.subtree_control", "+" + ctrl);  // best effort (e.g. busy threaded)
      }
    }
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return internal_error("mkdir " + cur + ": " + std::strerror(errno));
    }
    if (cpuset) {
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        std::string mine = cur + "/" + f;
        if (!read_text(mine).empty()) continue;
        std::string from = read_text(parent + "/" + f);
        if (from.empty()) continue;
        if (auto s = write_text(mine, from); !s.is_ok()) return s;
      }
    }
  }
  return Status::ok();
}

// dir and every cgroup below it, deepest first.
void post_order(const std::string& dir, std::vector<std::string>& out) {
  std::error_code ec;
  std::vector<std::string> children;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code ec2;
    if (e.is_directory(ec2) && !e.is_symlink(ec2)) children.push_back(e.path().string());
  }
  for (const auto& c : children) post_order(c, out);
  out.push_back(dir);
}

void kill_tasks(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir + "/cgroup.kill", ec)) {
    (void)write_text(dir + "/cgroup.kill", "1");
  }
  if (fs::exists(dir + "/freezer.state", ec) && read_text(dir + "/freezer.state") != "THAWED") {
    (void)write_text(dir + "/freezer.state", "THAWED");
  }
  if (fs::exists(dir + "/cgroup.freeze", ec) && read_text(dir + "/cgroup.freeze") == "1") {
    (void)write_text(dir + "/cgroup.freeze", "0");
  }
  std::ifstream in(dir + "/cgroup.procs");
  pid_t pid;
  while (in >> pid) {
    if (pid > 1 && pid != ::getpid()) ::kill(pid, SIGKILL);
  }
}

}  // namespace

PodCgroups::PodCgroups(std::string cgroup_fs, std::string root) : cgroup_fs_(std::move(cgroup_fs)), root_(std::move(root)) {
  while (cgroup_fs_.size() > 1 && cgroup_fs_.back() == '/') cgroup_fs_.pop_back();
  if (root_.empty() || root_.front() != '/') root_ = "/" + root_;
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string PodCgroups::parent_for(const std::string& pod_uid) const {
  return (root_ == "/" ? "" : root_) + "/pod" + pod_uid;
}

Status PodCgroups::create(const std::string& pod_uid) {
  if (!valid_uid(pod_uid)) return invalid("invalid pod uid \"" + pod_uid + "\"");
  bool v2 = is_v2(cgroup_fs_);
  auto hs = hierarchies(cgroup_fs_);
  if (hs.empty()) return internal_error("no cgroup hierarchy found under " + cgroup_fs_);
  std::string rel = parent_for(pod_uid);
  for (const auto& h : hs) {
    std::error_code ec;
    bool cpuset = !v2 && fs::exists(h + "/cpuset.cpus", ec);
    if (auto s = make_path(h, rel, cpuset, v2); !s.is_ok()) return s;
  }
  return Status::ok();
}

Status PodCgroups::remove(const std::string& pod_uid) {
  if (!valid_uid(pod_uid)) return invalid("invalid pod uid \"" + pod_uid + "\"");
  std::string rel = parent_for(pod_uid);
  auto deadline = std::chrono::steady_clock::now() + kRemoveDeadline;
  std::string last_error;
  for (const auto& h : hierarchies(cgroup_fs_)) {
    std::string dir = h + rel;
    while (true) {
      std::error_code ec;
      if (!fs::exists(dir, ec)) break;
      std::vector<std::string> dirs;
      post_order(dir, dirs);
      for (const auto& d : dirs) kill_tasks(d);
      bool busy = false;
      for (const auto& d : dirs) {
        if (::rmdir(d.c_str()) != 0 && errno != ENOENT) {
          busy = true;
          last_error = "rmdir " + d + ": " + std::strerror(errno);
        }
      }
      if (!busy) break;
      if (std::chrono::steady_clock::now() >= deadline) return internal_error(last_error);
      // Killed tasks take a moment to leave the cgroup.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return Status::ok();
}

bool PodCgroups::exists(const std::string& pod_uid) const {
  if (!valid_uid(pod_uid)) return false;
  std::error_code ec;
  for (const auto& h : hierarchies(cgroup_fs_)) {
    if (fs::is_directory(h + parent_for(pod_uid), ec)) return true;
  }
  return false;
}

std::vector<std::string> PodCgroups::list() const {
  std::set<std::string> uids;
  for (const auto& h : hierarchies(cgroup_fs_)) {
    std::error_code ec;
    std::string dir = h + (root_ == "/" ? "" : root_);
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::error_code ec2;
      std::string name = e.path().filename().string();
      if (name.size() > 3 && name.rfind("pod", 0) == 0 && e.is_directory(ec2)) uids.insert(name.substr(3));
    }
  }
  return {uids.begin(), uids.end()};
}

}  // namespace minik8s::kubelet
