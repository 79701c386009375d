// VolumeManager and container_mounts.
//
// Layout (as the Kubernetes kubelet): <root>/pods/<uid>/volumes/<plugin>/<name>
// with plugin kubernetes.io~empty-dir, ~configmap, ~secret, ~projected,
// ~downward-api. configMap/secret/projected/downwardAPI contents are written
// by an atomic writer: files go into a fresh "..<timestamp>" directory, the
// "..data" symlink is swapped to it with rename(2), and each visible entry is
// a symlink through "..data", so a reader sees either the old or the new set.
// Those four are mounted read-only and their files carry permission bits only
// (mode & 0777: never setuid/setgid/sticky).
//
// subPath (container_mounts): resolved inside the volume by file descriptor
// (openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS, or on kernels before 5.6 an
// O_NOFOLLOW walk of the canonical path), then the descriptor is bind-mounted
// onto <pod dir>/volume-subpaths/<volume>/<container>/<index>, and CRI gets
// that path — what Kubernetes does since CVE-2017-1002101, where a container
// swapped a checked path component for a symlink before the runtime mounted it.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#include <utility>
#include <vector>

#include "minik8s/api/quantity.h"
#include "minik8s/kubelet/parts.h"

namespace fs = std::filesystem;

namespace minik8s::kubelet {
namespace internal {
// Defined in env.cc.
Result<std::optional<api::Json>> get_object(client::Client& client, const std::string& plural,
                                            const std::string& ns, const std::string& name);
Result<std::map<std::string, std::string>> object_data(const api::Json& obj, bool secret);
Result<std::string> resolve_field_ref(const api::Json& pod, const std::string& path, const EnvContext& ctx);
}  // namespace internal

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// A relative path without a ".." element (Kubernetes
// validateLocalDescendingPath: subPath); not_reserved also refuses a leading
// ".." (validateLocalNonReservedPath: items[].path, where "..data" lives).
bool safe_relative(const std::string& p, bool not_reserved = true) {
  if (p.empty() || p.front() == '/') return false;
  std::stringstream ss(p);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (seg == "..") return false;
  }
  return !not_reserved || p.rfind("..", 0) != 0;
}

// Mount points (unescaped) from /proc/self/mountinfo.
std::vector<std::string> mount_points() {
  std::vector<std::string> out;
  std::ifstream in("/proc/thread-self/mountinfo");  // this thread's mount namespace
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
      std::string key = api::sfield(item, "key");
      std::string path = api::sfield(item, "path");
      if (!safe_relative(path)) return invalid(what + ": invalid item path \"" + path + "\"");
      auto it = data.find(key);
      if (it == data.end()) {
        if (optional) continue;
        return not_found(what + " references non-existent config key: " + key);
      }
      mode_t mode = default_mode;
      if (auto m = item.find("mode"); m != item.end() && m->is_number_integer())
        mode = m->get<int>() & 0777;
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
  if (auto m = src.find("defaultMode"); m != src.end() && m->is_number_integer())
    return m->get<int>() & 0777;
  return 0644;
}

// configMap or secret source (a volume's or a projected source's).
Status object_payload(client::Client& client, const std::string& ns, const api::Json& src, bool secret,
                      mode_t default_mode, Payload& out) {
  std::string name = api::sfield(src, secret ? "secretName" : "name");
  if (secret && name.empty()) name = api::sfield(src, "name");  // projected secret sources use "name"
  bool optional = api::bfield(src, "optional");
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
    std::string path = api::sfield(item, "path");
    if (!safe_relative(path)) return invalid("downwardAPI: invalid item path \"" + path + "\"");
    auto fr = item.find("fieldRef");
    if (fr == item.end() || !fr->is_object()) return invalid("downwardAPI item " + path + ": only fieldRef is supported");
    auto v = internal::resolve_field_ref(pod, api::sfield(*fr, "fieldPath"), ctx);
    if (!v.is_ok()) return v.status();
    mode_t mode = default_mode;
    if (auto m = item.find("mode"); m != item.end() && m->is_number_integer())
      mode = m->get<int>() & 0777;
    out[path] = {std::move(v.value()), mode};
  }
  return Status::ok();
}

Status setup_empty_dir(const std::string& dir, const api::Json& spec, const std::string& vol_name) {
  if (auto s = mkdirs(dir, fs::perms(0777)); !s.is_ok()) return s;
  if (api::sfield(spec, "medium") != "Memory") return Status::ok();
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
  std::string path = api::sfield(spec, "path");
  std::string type = api::sfield(spec, "type");
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

// ------------------------------------------------------------------- subPath

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::vector<std::string> split_path(const std::string& rel) {
  std::vector<std::string> out;
  std::stringstream ss(rel);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (!seg.empty() && seg != ".") out.push_back(seg);
  }
  return out;
}

// openat2 (Linux 5.6+): symlinks are followed only while they stay beneath
// base; an absolute symlink, ".." out of base or a /proc magic link fails
// (EXDEV/ELOOP). -1 with errno set; ENOSYS before 5.6.
int openat2_beneath(int base, const std::string& rel, int flags) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int tries = 0;; ++tries) {
    long fd = ::syscall(SYS_openat2, base, rel.c_str(), &how, sizeof how);
    // EAGAIN: a rename raced the lookup and the kernel asks for a retry.
    if (fd < 0 && (errno == EAGAIN || errno == EINTR) && tries < 16) continue;
    return static_cast<int>(fd);
  }
}

// Before openat2: the canonical path must lie under the canonical base, and
// is then walked one component at a time with O_NOFOLLOW, so a symlink
// swapped in after the check fails the walk instead of being followed
// (Kubernetes' safeOpenSubPath).
int walk_beneath(int base, const std::string& base_path, const std::string& rel, int flags) {
  std::error_code ec;
  fs::path canon_base = fs::canonical(base_path, ec);
  if (ec) {
    errno = ENOENT;
    return -1;
  }
  fs::path canon = fs::canonical(canon_base / rel, ec);
  if (ec) {
    errno = ec.value() ? ec.value() : ENOENT;
    return -1;
  }
  std::string b = canon_base.string(), c = canon.string();
  if (c != b && c.rfind(b == "/" ? b : b + "/", 0) != 0) {
    errno = EXDEV;
    return -1;
  }
  auto parts = split_path(c.substr(b.size()));
  if (parts.empty()) return ::openat(base, ".", flags | O_CLOEXEC);
  Fd cur(::fcntl(base, F_DUPFD_CLOEXEC, 0));
  if (!cur.ok()) return -1;
  for (size_t i = 0; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    Fd next(::openat(cur.get(), parts[i].c_str(),
                     (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC));
    if (!next.ok()) return -1;
    struct stat st {};
    if (::fstat(next.get(), &st) != 0) return -1;
    if (S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      return -1;
    }
    cur = std::move(next);
  }
  return cur.release();
}

}  // namespace

namespace internal {
// rel opened beneath the directory base (base_path names it, for the walk):
// never outside it, whatever symlinks the volume holds. -1 with errno set
// (EXDEV or ELOOP: it would leave the volume). use_openat2=false forces the
// walk (tests; kernels before 5.6 fall back to it by themselves).
int open_beneath(int base, const std::string& base_path, const std::string& rel, int flags,
                 bool use_openat2) {
  if (use_openat2) {
    int fd = openat2_beneath(base, rel, flags);
    if (fd >= 0 || errno != ENOSYS) return fd;
  }
  return walk_beneath(base, base_path, rel, flags);
}
}  // namespace internal

namespace {

std::string subpath_error(const std::string& vol, const std::string& sub, int err) {
  std::string why = err == EXDEV || err == ELOOP
                        ? "it leaves the volume (\"..\" or a symlink pointing outside)"
                        : errno_text(err);
  return "volumeMount \"" + vol + "\": subPath \"" + sub + "\" refused: " + why;
}

// Opens (O_PATH) sub beneath the volume, creating missing directories as
// Kubernetes' SafeMakeDir does: each one with mkdirat under the descriptor of
// its already-resolved parent, then reopened with O_NOFOLLOW, with the
// volume root's permission bits.
Result<Fd> open_subpath(const std::string& vol_name, const std::string& vol_path,
                        const std::string& sub) {
  Fd base(::open(vol_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!base.ok())
    return invalid("volumeMount \"" + vol_name + "\": volume " + vol_path + ": " +
                   errno_text(errno));
  Fd target(internal::open_beneath(base.get(), vol_path, sub, O_PATH, true));
  if (target.ok()) return target;
  if (errno != ENOENT) return invalid(subpath_error(vol_name, sub, errno));
  struct stat root_st {};
  if (::fstat(base.get(), &root_st) != 0)
    return internal_error("stat " + vol_path + ": " + errno_text(errno));
  mode_t mode = root_st.st_mode & 0777;
  Fd parent(::fcntl(base.get(), F_DUPFD_CLOEXEC, 0));
  std::string prefix;
  for (const auto& part : split_path(sub)) {
    prefix += (prefix.empty() ? "" : "/") + part;
    Fd next(internal::open_beneath(base.get(), vol_path, prefix, O_PATH | O_DIRECTORY, true));
    if (!next.ok() && errno == ENOENT) {
      if (::mkdirat(parent.get(), part.c_str(), 0700) != 0 && errno != EEXIST) {
        return internal_error("subPath " + vol_path + "/" + prefix +
                              ": mkdir: " + errno_text(errno));
      }
      Fd made(
          ::openat(parent.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!made.ok()) return invalid(subpath_error(vol_name, sub, errno));
      if (::fchmod(made.get(), mode) != 0) {
        return internal_error("subPath " + vol_path + "/" + prefix +
                              ": chmod: " + errno_text(errno));
      }
      next = std::move(made);
    }
    if (!next.ok()) return invalid(subpath_error(vol_name, sub, errno));
    parent = std::move(next);
  }
  return parent;
}

bool is_mount_root(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0)
    return false;
  if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
    return is_mount_point(path);  // before Linux 5.8
  return stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
}

// Bind-mounts the opened target onto staging (a file or directory of the
// same kind, replaced when it is the other kind), first removing what an
// earlier container start left there.
Status bind_staged(const Fd& target, const std::string& staging) {
  struct stat st {};
  if (::fstat(target.get(), &st) != 0) return internal_error("subPath: stat: " + errno_text(errno));
  bool dir = S_ISDIR(st.st_mode);
  for (int i = 0; i < 16 && is_mount_root(staging); ++i) {
    if (::umount2(staging.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
      return internal_error("unmount " + staging + ": " + errno_text(errno));
    }
  }
  if (is_mount_root(staging)) return internal_error("unmount " + staging + ": still mounted");
  struct stat have {};
  if (::lstat(staging.c_str(), &have) == 0 && S_ISDIR(have.st_mode) != dir) {
    if ((dir ? ::unlink(staging.c_str()) : ::rmdir(staging.c_str())) != 0) {
      return internal_error("remove " + staging + ": " + errno_text(errno));
    }
  }
  if (auto s = mkdirs(fs::path(staging).parent_path().string(), fs::perms(0750)); !s.is_ok())
    return s;
  if (dir) {
    if (::mkdir(staging.c_str(), 0750) != 0 && errno != EEXIST) {
      return internal_error("mkdir " + staging + ": " + errno_text(errno));
    }
  } else {
    int fd = ::open(staging.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) return internal_error("create " + staging + ": " + errno_text(errno));
    ::close(fd);
  }
  // The kernel follows /proc/self/fd/N to the very object the descriptor
  // holds, whatever the volume's directory entries point at by now.
  std::string source = "/proc/self/fd/" + std::to_string(target.get());
  if (::mount(source.c_str(), staging.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return internal_error("bind-mount subPath onto " + staging + ": " + errno_text(errno));
  }
  return Status::ok();
}

// Unmounts (detached, deepest first) every mount under prefix, and checks
// that none is left, so a later remove_all never reaches into a bound
// directory (a subPath of a hostPath volume).
Status unmount_under(const std::string& prefix) {
  for (int pass = 0; pass < 8; ++pass) {
    std::vector<std::string> mounts;
    for (const auto& mp : mount_points()) {
      if (mp.rfind(prefix, 0) == 0) mounts.push_back(mp);
    }
    if (mounts.empty()) return Status::ok();
    std::sort(mounts.begin(), mounts.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    mounts.erase(std::unique(mounts.begin(), mounts.end()), mounts.end());
    for (const auto& mp : mounts) {
      if (::umount2(mp.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
          errno != ENOENT) {
        return internal_error("unmount " + mp + ": " + errno_text(errno));
      }
    }
  }
  return internal_error("mounts under " + prefix + " survive unmounting");
}

}  // namespace

VolumeManager::VolumeManager(client::Client& client, std::string root_dir)
    : client_(client), root_dir_(std::move(root_dir)) {}

std::string VolumeManager::pod_dir(const std::string& pod_uid) const { return root_dir_ + "/pods/" + pod_uid; }

std::string VolumeManager::subpath_dir(const std::string& pod_uid) const {
  return pod_dir(pod_uid) + "/volume-subpaths";
}

Result<std::string> VolumeManager::service_account_token(const api::Json& pod, const std::string& volume,
                                                        const api::Json& source) {
  const api::Json& md = api::field(pod, "metadata");
  const api::Json& spec = api::field(pod, "spec");
  std::string uid = api::sfield(md, "uid"), pod_name = api::sfield(md, "name");
  std::string ns = api::sfield(md, "namespace");
  if (ns.empty()) ns = "default";
  std::string key = uid + "/" + volume + "/" + api::sfield(source, "path");
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(tokens_mu_);
    auto it = tokens_.find(key);
    if (it != tokens_.end() && now < it->second.refresh_at) return it->second.token;
  }
  std::string sa = api::sfield(spec, "serviceAccountName");
  if (sa.empty()) sa = api::sfield(spec, "serviceAccount");
  if (sa.empty()) sa = "default";
  int64_t ttl = 3600;
  if (auto e = source.find("expirationSeconds"); e != source.end() && e->is_number_integer()) {
    ttl = e->get<int64_t>();
  }
  api::Json req_spec = {{"expirationSeconds", ttl},
                        {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", pod_name}, {"uid", uid}}}};
  std::string audience = api::sfield(source, "audience");
  req_spec["audiences"] = audience.empty() ? api::Json::array() : api::Json::array({audience});
  api::Json body = {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", req_spec}};
  const api::ResourceType* sas = api::find_kind("v1", "ServiceAccount");
  if (!sas) return internal_error("the kind table has no ServiceAccount");
  auto r = client_.rest().request("POST", client::Client::path(*sas, ns, sa, "token"), body.dump());
  auto fail = [&](const std::string& why) {
    return Status(r.is_ok() ? client::check_response(*r).code() : r.status().code(),
                  "failed to fetch token for serviceaccount " + ns + "/" + sa + ": " + why);
  };
  if (!r.is_ok()) return fail(r.status().message());
  if (Status st = client::check_response(*r); !st.is_ok()) return fail(st.message());
  auto got = api::Json::parse(r->body, nullptr, false);
  std::string token = api::sfield(api::field(got, "status"), "token");
  if (token.empty()) return fail("the answer carries no token");
  const api::Json& granted = api::field(api::field(got, "spec"), "expirationSeconds");
  if (granted.is_number_integer() && granted.get<int64_t>() > 0) ttl = granted.get<int64_t>();
  // Kubernetes' kubelet: a new token after 80 % of the lifetime, at the latest after 24 h.
  auto refresh = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(ttl * 800), std::chrono::hours(24));
  std::lock_guard lock(tokens_mu_);
  tokens_[key] = {token, now + refresh};
  return token;
}

Result<std::map<std::string, HostVolume>> VolumeManager::setup(const api::Json& pod) {
  try {
    const auto& md = pod.at("metadata");
    std::string uid = api::sfield(md, "uid");
    if (uid.empty() || uid.find('/') != std::string::npos || uid == "." || uid == "..") {
      return invalid("pod has no usable metadata.uid");
    }
    std::string ns = api::sfield(md, "namespace");
    if (ns.empty()) ns = "default";
    std::string vol_root = pod_dir(uid) + "/volumes";
    if (auto s = mkdirs(vol_root, fs::perms(0750)); !s.is_ok()) return s;

    std::map<std::string, HostVolume> out;
    auto spec = pod.find("spec");
    if (spec == pod.end() || !spec->is_object()) return out;
    auto vols = spec->find("volumes");
    if (vols == spec->end() || !vols->is_array()) return out;
    for (const auto& v : *vols) {
      if (!v.is_object()) continue;
      std::string name = api::sfield(v, "name");
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        return invalid("volume with invalid name \"" + name + "\"");
      }
      if (auto ed = v.find("emptyDir"); ed != v.end()) {
        std::string dir = vol_root + "/kubernetes.io~empty-dir/" + name;
        if (auto s = setup_empty_dir(dir, ed->is_object() ? *ed : api::Json::object(), name); !s.is_ok()) return s;
        out[name] = {dir, false};
      } else if (auto hp = v.find("hostPath"); hp != v.end() && hp->is_object()) {
        auto p = setup_host_path(*hp, name);
        if (!p.is_ok()) return p.status();
        out[name] = {*p, false};
      } else if (auto cm = v.find("configMap"); cm != v.end() && cm->is_object()) {
        Payload payload;
        if (auto s = object_payload(client_, ns, *cm, false, default_mode_of(*cm), payload); !s.is_ok()) {
          return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
        }
        std::string dir = vol_root + "/kubernetes.io~configmap/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = {dir, true};  // written by the kubelet only
      } else if (auto sec = v.find("secret"); sec != v.end() && sec->is_object()) {
        Payload payload;
        if (auto s = object_payload(client_, ns, *sec, true, default_mode_of(*sec), payload); !s.is_ok()) {
          return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
        }
        std::string dir = vol_root + "/kubernetes.io~secret/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = {dir, true};  // written by the kubelet only
      } else if (auto da = v.find("downwardAPI"); da != v.end() && da->is_object()) {
        Payload payload;
        if (auto s = downward_payload(pod, *da, default_mode_of(*da), payload); !s.is_ok()) {
          return Status(s.code(), "MountVolume.SetUp failed for volume \"" + name + "\": " + s.message());
        }
        std::string dir = vol_root + "/kubernetes.io~downward-api/" + name;
        if (auto s = atomic_write(dir, payload); !s.is_ok()) return s;
        out[name] = {dir, true};  // written by the kubelet only
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
            } else if (auto c = src.find("serviceAccountToken"); c != src.end() && c->is_object()) {
              std::string path = api::sfield(*c, "path");
              if (!safe_relative(path)) {
                s = invalid("serviceAccountToken: invalid path \"" + path + "\"");
              } else if (auto t = service_account_token(pod, name, *c); !t.is_ok()) {
                s = t.status();
              } else {
                payload[path] = {std::move(*t), mode};
              }
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
        out[name] = {dir, true};  // written by the kubelet only
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
  {
    std::lock_guard lock(tokens_mu_);
    std::string prefix = pod_uid + "/";
    for (auto it = tokens_.lower_bound(prefix); it != tokens_.end() && it->first.rfind(prefix, 0) == 0;) {
      it = tokens_.erase(it);
    }
  }
  std::string dir = pod_dir(pod_uid);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::ok();
  fs::path canon = fs::weakly_canonical(dir, ec);
  std::string prefix = (ec ? dir : canon.string()) + "/";
  // tmpfs volumes and subPath bind mounts; none may be left before the tree
  // goes, or remove_all would empty the directory a subPath binds.
  if (auto s = unmount_under(prefix); !s.is_ok()) return s;
  fs::remove_all(dir, ec);
  if (ec) return internal_error("remove " + dir + ": " + ec.message());
  return Status::ok();
}

Result<std::vector<cri::Mount>> container_mounts(const api::Json& container,
                                                 const std::map<std::string, HostVolume>& volumes,
                                                 const std::string& subpath_dir) {
  std::vector<cri::Mount> out;
  try {
    auto vms = container.find("volumeMounts");
    if (vms == container.end() || !vms->is_array()) return out;
    std::string cname = api::sfield(container, "name");
    for (size_t i = 0; i < vms->size(); ++i) {
      const auto& vm = (*vms)[i];
      if (!vm.is_object()) continue;
      std::string name = api::sfield(vm, "name");
      std::string mount_path = api::sfield(vm, "mountPath");
      auto it = volumes.find(name);
      if (it == volumes.end()) {
        return invalid("volumeMount \"" + name + "\" of container \"" + cname +
                       "\": no volume named \"" + name + "\" in the pod");
      }
      if (mount_path.empty()) return invalid("volumeMount \"" + name + "\": mountPath is required");
      bool read_only = api::bfield(vm, "readOnly") || it->second.read_only;
      std::string host = it->second.path;
      if (!api::sfield(vm, "subPathExpr").empty()) {
        return invalid("volumeMount \"" + name + "\": subPathExpr is not supported");
      }
      std::string sub = api::sfield(vm, "subPath");
      if (!sub.empty()) {
        if (!safe_relative(sub, false)) {
          return invalid("volumeMount \"" + name + "\": invalid subPath \"" + sub + "\"");
        }
        if (cname.empty() || cname.find('/') != std::string::npos || cname == "." ||
            cname == "..") {
          return invalid("container with invalid name \"" + cname + "\"");
        }
        auto target = open_subpath(name, host, sub);
        if (!target.is_ok()) return target.status();
        std::string staging = subpath_dir + "/" + name + "/" + cname + "/" + std::to_string(i);
        if (auto s = bind_staged(*target, staging); !s.is_ok()) return s;
        host = staging;
      }
      out.push_back({mount_path, host, read_only});
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    return invalid(std::string("malformed volumeMounts: ") + e.what());
  }
}

}  // namespace minik8s::kubelet
