#include "minik8s/util/fd_io.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace minik8s {

using SteadyClock = std::chrono::steady_clock;

bool wait_fd(int fd, short events, SteadyClock::time_point deadline, int wake_fd) {
  while (true) {
    auto now = SteadyClock::now();
    if (now >= deadline) return false;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();  // never wake early
    pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};  // poll() skips a negative fd
    int r = ::poll(p, 2, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (p[1].revents & POLLIN)) return false;
    if (r > 0) return true;
  }
}

namespace {

// Moves len bytes with op (recv or send of up to n bytes at d), waiting for
// `events` before each try; op returning 0 is the end of the stream.
template <class Byte, class Op>
bool transfer(int fd, short events, Byte* d, size_t len, SteadyClock::time_point deadline, int wake_fd, Op op) {
  while (len > 0) {
    if (!wait_fd(fd, events, deadline, wake_fd)) return false;
    ssize_t n = op(d, len);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    d += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

bool read_exact(int fd, void* buf, size_t len, SteadyClock::time_point deadline, int wake_fd) {
  return transfer(fd, POLLIN, static_cast<uint8_t*>(buf), len, deadline, wake_fd,
                  [fd](uint8_t* d, size_t n) { return ::recv(fd, d, n, MSG_DONTWAIT); });
}

bool write_all(int fd, const void* buf, size_t len, SteadyClock::time_point deadline, int wake_fd) {
  return transfer(fd, POLLOUT, static_cast<const uint8_t*>(buf), len, deadline, wake_fd,
                  [fd](const uint8_t* d, size_t n) { return ::send(fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT); });
}

}  // namespace minik8s
