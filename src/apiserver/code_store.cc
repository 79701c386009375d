// The content-addressed code store (minik8s/apiserver/code_store.h).
#include "minik8s/apiserver/code_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace minik8s::apiserver {

namespace {

constexpr std::string_view kPrefix = "sha256:";

std::string errno_text(int e) { return std::strerror(e); }

Status io_error(const StoreSpec& spec, const std::string& what, const std::string& path, int e) {
  return internal_error(std::string(spec.noun) + " store: " + what + " " + path + ": " +
                        errno_text(e));
}

// Writes all of data to fd, retrying short writes and EINTR.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string too_large_message(const StoreSpec& spec, uint64_t n) {
  return std::string(spec.noun) + " upload is " + std::to_string(n) + " bytes; the limit is " +
         std::to_string(spec.max_bytes) + " bytes (" + spec.limit_text + ")";
}

std::string too_large_message(const StoreSpec& spec) {
  return std::string(spec.noun) + " upload is more than " + std::to_string(spec.max_bytes) +
         " bytes; the limit is " + std::to_string(spec.max_bytes) + " bytes (" + spec.limit_text +
         ")";
}

std::string CodeStore::hash_of(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out(kPrefix);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xf];
  }
  return out;
}

bool CodeStore::valid_hash(std::string_view hash) {
  if (hash.size() != kPrefix.size() + 64 || hash.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : hash.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string CodeStore::path_of(const std::string& hash) const {
  if (!valid_hash(hash)) return "";
  return dir_ + "/sha256/" + hash.substr(kPrefix.size());
}

Result<CodeStore::Put> CodeStore::put(std::string_view bytes) const {
  if (bytes.size() > spec_.max_bytes)
    return Status(Code::kTooLarge, too_large_message(spec_, bytes.size()));
  Put out;
  out.hash = hash_of(bytes);
  out.size = bytes.size();
  const std::string path = path_of(out.hash);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == bytes.size()) {
    return out;  // content-addressed: the same name holds the same bytes
  }
  const std::string sub = dir_ + "/sha256";
  std::error_code ec;
  std::filesystem::create_directories(sub, ec);
  if (ec)
    return internal_error(std::string(spec_.noun) + " store: cannot create " + sub + ": " +
                          ec.message());
  // A name of its own per writer: concurrent puts (threads or processes)
  // never share a temporary.
  static std::atomic<uint64_t> seq{0};
  const std::string tmp = sub + "/.tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(seq.fetch_add(1)) + "-" +
                          out.hash.substr(kPrefix.size(), 16);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return io_error(spec_, "cannot create", tmp, errno);
  bool ok = write_all(fd, bytes) && ::fsync(fd) == 0;
  int e = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    e = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return io_error(spec_, "cannot write", tmp, e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    e = errno;
    ::unlink(tmp.c_str());
    return io_error(spec_, "cannot rename into", path, e);
  }
  // The rename itself survives a crash once the directory is synced.
  if (int dfd = ::open(sub.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  out.created = true;
  return out;
}

Result<std::string> CodeStore::get(const std::string& hash) const {
  if (!valid_hash(hash)) {
    return bad_request("invalid " + std::string(spec_.noun) + " hash \"" + hash +
                       "\": must be \"sha256:\" followed by 64 lower-case hex digits");
  }
  const std::string path = path_of(hash);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return not_found(std::string(spec_.noun) + " " + hash + " not found in the " + spec_.noun +
                       " store");
    }
    return io_error(spec_, "cannot open", path, errno);
  }
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return io_error(spec_, "cannot read", path, e);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

bool CodeStore::exists(const std::string& hash) const {
  const std::string path = path_of(hash);
  if (path.empty()) return false;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status CodeStore::remove(const std::string& hash) const {
  const std::string path = path_of(hash);
  if (path.empty())
    return bad_request("invalid " + std::string(spec_.noun) + " hash \"" + hash + "\"");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return io_error(spec_, "cannot remove", path, errno);
  return Status::ok();
}

}  // namespace minik8s::apiserver
