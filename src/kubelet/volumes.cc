// VolumeManager and container_mounts.
//
// Layout (as the Kubernetes kubelet): <root>/pods/<uid>/volumes/<plugin>/<name>
// with plugin kubernetes.io~empty-dir, ~configmap, ~secret, ~projected,
// ~downward-api. configMap/secret/projected/downwardAPI contents are written
// by an atomic writer: files go into a fresh "..<timestamp>" directory, the
// "..data" symlink is swapped to it with rename(2), and each visible entry is
// a symlink through "..data", so a reader sees either the old or the new set.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "minik8s/api/quantity.h"
#include "minik8s/kubelet/parts.h"

namespace fs = std::filesystem;

namespace minik8s::kubelet {
namespace internal {
// Defined in env.cc.
Result<std::string> base64_decode(const std::string& in);
Result<std::optional<api::Json>> get_object(client::Client& client, const std::string& plural,
                                            const std::string& ns, const std::string& name);
Result<std::map<std::string, std::string>> object_data(const api::Json& obj, bool secret);
Result<std::string> resolve_field_ref(const api::Json& pod, const std::string& path, const EnvContext& ctx);
}  // namespace internal

namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string str_field(const api::Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool bool_field(const api::Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// A relative path without "..": what Kubernetes accepts for items[].path and subPath.
bool safe_relative(const std::string& p) {
  if (p.empty() || p.front() == '/') return false;
  std::stringstream ss(p);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (seg == "..") return false;
  }
  return p.rfind("..", 0) != 0;
}

// Mount points (unescaped) from /proc/self/mountinfo.
std::vector<std::string> mount_points() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mp;
    if (!(ls >> id >> parent >> devno >> root >> mp)) continue;
    std::string un;
    for (size_t i = 0; i < mp.size(); ++i) {
      if (mp[i] == '\\' && i + 3 < mp.size()) {
        int v = 0;
        bool ok = true;
        for (size_t k = 1; k <= 3; ++k) {
          if (i + k >= mp.size() || mp[i + k] < '0' || mp[i + k] > '7') {
            ok = false;
            break;
          }
          v = v * 8 + (mp[i + k] - '0');
        }
        if (ok) {
          un.push_back(static_cast<char>(v));
          i += 3;
          continue;
        }
      }
      un.push_back(mp[i]);
    }
    out.push_back(un);
  }
  return out;
}

bool is_mount_point(const std::string& path) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(path, ec);
  std::string want = ec ? path : canon.string();
  for (const auto& mp : mount_points()) {
    if (mp == want) return true;
  }
  return false;
}

Status mkdirs(const std::string& path, fs::perms perms = fs::perms::none) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return internal_error("mkdir " + path + ": " + ec.message());
  if (perms != fs::perms::none) {
    fs::permissions(path, perms, ec);
    if (ec) return internal_error("chmod " + path + ": " + ec.message());
  }
  return Status::ok();
}

struct PayloadFile {
  std::string data;
  mode_t mode = 0644;
};
using Payload = std::map<std::string, PayloadFile>;  // relative path → content

Status write_file(const std::string& path, const PayloadFile& f) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return internal_error("write " + path + ": " + errno_text(errno));
  size_t off = 0;
  while (off < f.data.size()) {
    ssize_t n = ::write(fd, f.data.data() + off, f.data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return internal_error("write " + path + ": " + errno_text(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, f.mode) != 0) {
    int err = errno;
    ::close(fd);
    return internal_error("chmod " + path + ": " + errno_text(err));
  }
  ::close(fd);
  return Status::ok();
}

// Whether dir holds exactly the payload (content and mode).
bool payload_matches(const std::string& dir, const Payload& payload) {
  std::error_code ec;
  size_t files = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) files++;
  }
  if (ec || files != payload.size()) return false;
  for (const auto& [rel, f] : payload) {
    std::string path = dir + "/" + rel;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != f.mode) return false;
    std::ifstream in(path, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content != f.data) return false;
  }
  return true;
}

std::string first_segment(const std::string& rel) { return rel.substr(0, rel.find('/')); }

// The Kubernetes AtomicWriter, reduced: see the file comment.
Status atomic_write(const std::string& dir, const Payload& payload) {
  if (auto s = mkdirs(dir, fs::perms(0777)); !s.is_ok()) return s;
  std::string data_link = dir + "/..data";
  std::error_code ec;
  std::string old_target;
  if (fs::is_symlink(data_link, ec)) {
    old_target = fs::read_symlink(data_link, ec).string();
    if (!ec && !old_target.empty() && payload_matches(dir + "/" + old_target, payload)) return Status::ok();
  }
  static std::atomic<uint64_t> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch();
  // "..<timestamp>" as Kubernetes names it; the counter and pid keep
  // concurrent writers (several kubelets on one host) apart.
  std::string ts = ".." + std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()) + "_" +
                   std::to_string(counter.fetch_add(1)) + "_" + std::to_string(::getpid());
  std::string ts_dir = dir + "/" + ts;
  if (::mkdir(ts_dir.c_str(), 0755) != 0) return internal_error("mkdir " + ts_dir + ": " + errno_text(errno));
  for (const auto& [rel, f] : payload) {
    std::string path = ts_dir + "/" + rel;
    auto parent = fs::path(path).parent_path().string();
    if (auto s = mkdirs(parent); !s.is_ok()) return s;
    if (auto s = write_file(path, f); !s.is_ok()) return s;
  }
  std::string tmp_link = dir + "/..data_tmp";
  fs::remove(tmp_link, ec);
  if (::symlink(ts.c_str(), tmp_link.c_str()) != 0) return internal_error("symlink " + tmp_link + ": " + errno_text(errno));
  if (::rename(tmp_link.c_str(), data_link.c_str()) != 0) {
    return internal_error("rename " + tmp_link + ": " + errno_text(errno));
  }
  // Visible entries: one symlink per top-level name through ..data.
  std::set<std::string> wanted;
  for (const auto& [rel, f] : payload) wanted.insert(first_segment(rel));
  for (const auto& name : wanted) {
    std::string link = dir + "/" + name;
    if (fs::is_symlink(link, ec)) continue;
    if (::symlink(("..data/" + name).c_str(), link.c_str()) != 0 && errno != EEXIST) {
      return internal_error("symlink " + link + ": " + errno_text(errno));
    }
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("..", 0) == 0) {
      // Older timestamped dirs go; the current one and ..data stay.
      if (name != "..data" && name != ts && entry.is_directory(ec) && !entry.is_symlink(ec)) {
        fs::remove_all(entry.path(), ec);
      }
      continue;
    }
    if (!wanted.count(name) && entry.is_symlink(ec)) fs::remove(entry.path(), ec);
  }
  return Status::ok();
}

// Files of a configMap/secret (items with key → path and mode, else every key).
// optional_missing: the object is absent and optional → empty payload.
Status add_items(const std::map<std::string, std::string>& data, const api::Json& src, mode_t default_mode,
                 bool optional, const std::string& what, Payload& out) {
  auto items = src.find("items");
  if (items != src.end() && items->is_array() && !items->empty()) {
    for (const auto& item : *items) {
      if (!item.is_object()) continue;
      std::string key = str_field(item, "key");
      std::string path = str_field(item, "path");
      if (!safe_relative(path)) return invalid(what + ": invalid item path \"" + path + "\"");
      auto it = data.find(key);
      if (it == data.end()) {
        if (optional) continue;
        return not_found(what + " references non-existent config key: " + key);
      }
      mode_t mode = default_mode;
      if (auto m = item.find("mode"); m != item.end() && m->is_number_integer()) mode = m->get<int>() & 07777;
      out[path] = {it->second, mode};
    }
    return Status::ok();
  }
  for (const auto& [k, v] : data) {
    if (!safe_relative(k)) continue;
    out[k] = {v, default_mode};
  }
  return Status::ok();
}

mode_t default_mode_of(const api::Json& src) {
  if (auto m = src.find("defaultMode"); m != src.end() && m->is_number_integer()) return m->get<int>() & 07777;
  return 0644;
}

// configMap or secret source (a volume's or a projected source's).
Status object_payload(client::Client& client, const std::string& ns, const api::Json& src, bool secret,
                      mode_t default_mode, Payload& out) {
  std::string name = str_field(src, secret ? "secretName" : "name");
  if (secret && name.empty()) name = str_field(src, "name");  // projected secret sources use "name"
  bool optional = bool_field(src, "optional");
  std::string kind = secret ? "secret" : "configmap";
  auto got = internal::get_object(client, secret ? "secrets" : "configmaps", ns, name);
  if (!got.is_ok()) return {got.status().code(), "couldn't get " + kind + " " + ns + "/" + name + ": " + got.status().message()};
  if (!got->has_value()) {
    if (optional) return Status::ok();
    return not_found(kind + " \"" + name + "\" not found");
  }
  auto data = internal::object_data(**got, secret);
  if (!data.is_ok()) return invalid(kind + " \"" + name + "\": " + data.status().message());
  return add_items(*data, src, default_mode, optional, kind + " \"" + name + "\"", out);
}

Status downward_payload(const api::Json& pod, const api::Json& src, mode_t default_mode, Payload& out) {
  auto items = src.find("items");
  if (items == src.end() || !items->is_array()) return Status::ok();
  EnvContext ctx;
  for (const auto& item : *items) {
    if (!item.is_object()) continue;
    std::string path = str_field(item, "path");
    if (!safe_relative(path)) return invalid("downwardAPI: invalid item path \"" + path + "\"");
    auto fr = item.find("fieldRef");
    if (fr == item.end() || !fr->is_object()) return invalid("downwardAPI item " + path + ": only fieldRef is supported");
    auto v = internal::resolve_field_ref(pod, str_field(*fr, "fieldPath"), ctx);
    if (!v.is_ok()) return v.status();
    mode_t mode = default_mode;
    if (auto m = item.find("mode"); m != item.end() && m->is_number_integer()) mode = m->get<int>() & 07777;
    out[path] = {std::move(v.value()), mode};
  }
  return Status::ok();
}

Status setup_empty_dir(const std::string& dir, const api::Json& spec, const std::string& vol_name) {
  if (auto s = mkdirs(dir, fs::perms(0777)); !s.is_ok()) return s;
  if (str_field(spec, "medium") != "Memory") return Status::ok();
  if (is_mount_point(dir)) return Status::ok();
  std::string opts = "mode=0777";
  if (auto sl = spec.find("sizeLimit"); sl != spec.end() && !sl->is_null()) {
    std::string text = sl->is_string() ? sl->get<std::string>() : sl->dump();
    auto q = api::Quantity::parse(text);
    if (!q.is_ok()) return invalid("emptyDir " + vol_name + ": sizeLimit: " + q.status().message());
    if (q->value() > 0) opts += ",size=" + std::to_string(q->value());
  }
  if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
    return internal_error("mount tmpfs on " + dir + " for volume \"" + vol_name + "\": " + errno_text(errno));
  }
  return Status::ok();
}

Result<std::string> setup_host_path(const api::Json& spec, const std::string& vol_name) {
  std::string path = str_field(spec, "path");
  std::string type = str_field(spec, "type");
  if (path.empty() || path.front() != '/') {
    return invalid("hostPath volume \"" + vol_name + "\": path \"" + path + "\" must be absolute");
  }
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  auto fail = [&](const std::string& what) -> Result<std::string> {
    return invalid("hostPath type check failed: " + path + " " + what);
  };
  if (type.empty()) return path;
  if (type == "DirectoryOrCreate") {
    if (!exists) {
      std::error_code ec;
      fs::create_directories(path, ec);
      if (ec) return internal_error("hostPath " + path + ": mkdir: " + ec.message());
      ::chmod(path.c_str(), 0755);
      return path;
    }
    if (!S_ISDIR(st.st_mode)) return fail("is not a directory");
    return path;
  }
  if (type == "Directory") {
    if (!exists) return fail("does not exist");
    if (!S_ISDIR(st.st_mode)) return fail("is not a directory");
    return path;
  }
  if (type == "FileOrCreate") {
    if (!exists) {
      auto parent = fs::path(path).parent_path().string();
      std::error_code ec;
      fs::create_directories(parent, ec);
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return internal_error("hostPath " + path + ": create: " + errno_text(errno));
      ::close(fd);
      return path;
    }
    if (!S_ISREG(st.st_mode)) return fail("is not a file");
    return path;
  }
  if (type == "File") {
    if (!exists) return fail("does not exist");
    if (!S_ISREG(st.st_mode)) return fail("is not a file");
    return path;
  }
  if (type == "Socket") {
    if (!exists || !S_ISSOCK(st.st_mode)) return fail("is not a socket file");
    return path;
  }
  if (type == "CharDevice") {
    if (!exists || !S_ISCHR(st.st_mode)) return fail("is not a character device");
    return path;
  }
  if (type == "BlockDevice") {
    if (!exists || !S_ISBLK(st.st_mode)) return fail("is not a block device");
    return path;
  }
  return invalid("hostPath volume \"" + vol_name + "\": unknown type \"" + type + "\"");
}

}  // namespace

VolumeManager::VolumeManager(client::Client& client, std::string root_dir)
    : client_(client), root_dir_(std::move(root_dir)) {}

std::string VolumeManager::pod_dir(const std::string& pod_uid) const { return root_dir_ + "/pods/" + pod_uid; }

Result<std::map<std::string, std::string>> VolumeManager::setup(const api::Json& pod) {
  try {
    const auto& md = pod.at("metadata");
    std::string uid = str_field(md, "uid");
    if (uid.empty() || uid.find('/') != std::string::npos || uid == "." || uid == "..") {
      return invalid("pod has no usable metadata.uid");
    }
    std::string ns = str_field(md, "namespace");
    if (ns.empty()) ns = "default";
    std::string vol_root = pod_dir(uid) + "/volumes";
    if (auto s = mkdirs(vol_root, fs::perms(0750)); !s.is_ok()) return s;

    std::map<std::string, std::string> out;
    auto spec = pod.find("spec");
    if (spec == pod.end() || !spec->is_object()) return out;
    auto vols = spec->find("volumes");
    if (vols == spec->end() || !vols->is_array()) return out;
    for (const auto& v : *vols) {
      if (!v.is_object()) continue;
      std::string name = str_field(v, "name");
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        return invalid("volume with invalid name \"" + name + "\"");
      }
      if (auto ed = v.find("emptyDir"); ed != v.end()) {
        std::string dir = vol_root + "/kubernetes.io~empty-dir/" + name;
        if (auto s = setup_empty_dir(dir, ed->is_object() ? *ed : api::Json::object(), name); !s.is_ok()) return s;
        out[name] = dir;
      } else if (auto hp = v.find("hostPath"); hp != v.end() && hp->is_object()) {
        auto p = setup_host_path(*hp, name);
        if (!p.is_ok()) return p.status();
        out[name] = *p;
      } else if (auto cm = v.find("configMap"); cm != v.end() && cm->is_object()) {
        Payload payload;
        if (auto s = object_payload(client_, ns, *cm, false, default_mode_of(*cm), payload); !s.is_ok()) {
          return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
        }
        std::string dir = vol_root + "/kubernetes.io~configmap/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = dir;
      } else if (auto sec = v.find("secret"); sec != v.end() && sec->is_object()) {
        Payload payload;
        if (auto s = object_payload(client_, ns, *sec, true, default_mode_of(*sec), payload); !s.is_ok()) {
          return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
        }
        std::string dir = vol_root + "/kubernetes.io~secret/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = dir;
      } else if (auto da = v.find("downwardAPI"); da != v.end() && da->is_object()) {
        Payload payload;
        if (auto s = downward_payload(pod, *da, default_mode_of(*da), payload); !s.is_ok()) {
          return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
        }
        std::string dir = vol_root + "/kubernetes.io~downward-api/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = dir;
      } else if (auto pr = v.find("projected"); pr != v.end() && pr->is_object()) {
        Payload payload;
        mode_t mode = default_mode_of(*pr);
        auto sources = pr->find("sources");
        if (sources != pr->end() && sources->is_array()) {
          for (const auto& src : *sources) {
            if (!src.is_object()) continue;
            Status s;
            if (auto c = src.find("configMap"); c != src.end() && c->is_object()) {
              s = object_payload(client_, ns, *c, false, mode, payload);
            } else if (auto c = src.find("secret"); c != src.end() && c->is_object()) {
              s = object_payload(client_, ns, *c, true, mode, payload);
            } else if (auto c = src.find("downwardAPI"); c != src.end() && c->is_object()) {
              s = downward_payload(pod, *c, mode, payload);
            } else {
              s = invalid("unsupported projected volume source");
            }
            if (!s.is_ok()) {
              return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
            }
          }
        }
        std::string dir = vol_root + "/kubernetes.io~projected/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = dir;
      } else {
        return invalid("volume \"" + name + "\": unsupported volume type");
      }
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    return invalid(std::string("malformed pod volumes: ") + e.what());
  } catch (const fs::filesystem_error& e) {
    return internal_error(std::string("volume setup: ") + e.what());
  }
}

Status VolumeManager::teardown(const std::string& pod_uid) {
  if (pod_uid.empty() || pod_uid.find('/') != std::string::npos || pod_uid == "." || pod_uid == "..") {
    return invalid("invalid pod uid \"" + pod_uid + "\"");
  }
  std::string dir = pod_dir(pod_uid);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::ok();
  fs::path canon = fs::weakly_canonical(dir, ec);
  std::string prefix = (ec ? dir : canon.string()) + "/";
  // Deepest mounts first.
  std::vector<std::string> mounts;
  for (const auto& mp : mount_points()) {
    if (mp.rfind(prefix, 0) == 0) mounts.push_back(mp);
  }
  std::sort(mounts.begin(), mounts.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  mounts.erase(std::unique(mounts.begin(), mounts.end()), mounts.end());
  for (const auto& mp : mounts) {
    if (::umount2(mp.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return internal_error("unmount " + mp + ": " + errno_text(errno));
    }
  }
  fs::remove_all(dir, ec);
  if (ec) return internal_error("remove " + dir + ": " + ec.message());
  return Status::ok();
}

Result<std::vector<cri::Mount>> container_mounts(const api::Json& container,
                                                 const std::map<std::string, std::string>& volumes) {
  std::vector<cri::Mount> out;
  try {
    auto vms = container.find("volumeMounts");
    if (vms == container.end() || !vms->is_array()) return out;
    for (const auto& vm : *vms) {
      if (!vm.is_object()) continue;
      std::string name = str_field(vm, "name");
      std::string mount_path = str_field(vm, "mountPath");
      auto it = volumes.find(name);
      if (it == volumes.end()) {
        return invalid("volumeMount \"" + name + "\" of container \"" + str_field(container, "name") +
                       "\": no volume named \"" + name + "\" in the pod");
      }
      if (mount_path.empty()) return invalid("volumeMount \"" + name + "\": mountPath is required");
      std::string host = it->second;
      std::string sub = str_field(vm, "subPath");
      if (!sub.empty()) {
        if (!safe_relative(sub)) return invalid("volumeMount \"" + name + "\": invalid subPath \"" + sub + "\"");
        std::string path = host + "/" + sub;
        std::error_code ec;
        if (!fs::exists(path, ec)) {
          fs::create_directories(path, ec);
          if (ec) return internal_error("subPath " + path + ": mkdir: " + ec.message());
          ::chmod(path.c_str(), 0777);
        }
        // Resolve symlinks (configMap/secret entries go through ..data) but
        // never leave the volume.
        fs::path canon = fs::canonical(path, ec);
        fs::path vol_canon = fs::canonical(host, ec);
        if (!ec) {
          std::string c = canon.string(), v = vol_canon.string();
          if (c != v && c.rfind(v + "/", 0) != 0) {
            return invalid("volumeMount \"" + name + "\": subPath \"" + sub + "\" points outside the volume");
          }
          path = c;
        }
        host = path;
      }
      out.push_back({mount_path, host, bool_field(vm, "readOnly")});
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    return invalid(std::string("malformed volumeMounts: ") + e.what());
  }
}

}  // namespace minik8s::kubelet
