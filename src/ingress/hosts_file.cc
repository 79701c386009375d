#include "hosts_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace minik8s::ingress {
namespace {

// Finds a line equal to `line` (without its newline) starting at or after
// from; returns its offset or npos.
size_t find_line(const std::string& text, const std::string& line, size_t from) {
  size_t pos = from;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    size_t len = (end == std::string::npos ? text.size() : end) - pos;
    std::string_view cur(text.data() + pos, len);
    if (!cur.empty() && cur.back() == '\r') cur.remove_suffix(1);
    if (cur == line) return pos;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return std::string::npos;
}

size_t end_of_line(const std::string& text, size_t pos) {
  size_t end = text.find('\n', pos);
  return end == std::string::npos ? text.size() : end + 1;
}

Status errno_status(const std::string& what, const std::string& path) {
  return internal_error(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

std::string with_hosts_block(const std::string& content, const std::string& tag,
                             const std::string& ip, const std::vector<std::string>& hosts) {
  const std::string begin = "# BEGIN minik8s " + tag;
  const std::string end = "# END minik8s " + tag;
  std::string block;
  if (!hosts.empty()) {
    block = begin + "\n";
    for (const std::string& h : hosts) block += ip + " " + h + "\n";
    block += end + "\n";
  }
  size_t b = find_line(content, begin, 0);
  if (b != std::string::npos) {
    size_t e = find_line(content, end, end_of_line(content, b));
    // A BEGIN without its END (a cut file): only the BEGIN line is ours.
    size_t stop = e == std::string::npos ? end_of_line(content, b) : end_of_line(content, e);
    return content.substr(0, b) + block + content.substr(stop);
  }
  if (block.empty()) return content;
  std::string out = content;
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out + block;
}

Result<bool> apply_hosts_block(const std::string& path, const std::string& tag,
                               const std::string& ip, const std::vector<std::string>& hosts) {
  int flags = O_RDWR | O_CLOEXEC | (hosts.empty() ? 0 : O_CREAT);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    if (errno == ENOENT && hosts.empty()) return false;
    return errno_status("cannot open", path);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }  // also drops the flock
  } closer{fd};
  if (::flock(fd, LOCK_EX) != 0) return errno_status("cannot lock", path);
  std::string content;
  char buf[8192];
  for (off_t off = 0;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot read", path);
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    off += n;
  }
  std::string next = with_hosts_block(content, tag, ip, hosts);
  if (next == content) return false;
  // Overwrite first, then cut to the new length: a resolver reading at the
  // same moment never sees an empty file (truncate-then-write would show one).
  for (size_t done = 0; done < next.size();) {
    ssize_t n = ::pwrite(fd, next.data() + done, next.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::ftruncate(fd, static_cast<off_t>(next.size())) != 0)
    return errno_status("cannot truncate", path);
  return true;
}

}  // namespace minik8s::ingress
