// Socket I/O with a deadline: whole reads and writes on a socket descriptor
// (blocking or not), each byte waited for with poll() until `deadline` on the
// steady clock. `wake_fd` (-1: none) ends the wait early when it becomes
// readable (a server's shutdown eventfd). EINTR is retried. Writes use
// MSG_NOSIGNAL, so a closed peer is an error, not SIGPIPE.
#pragma once

#include <chrono>
#include <cstddef>

namespace minik8s {

// True when fd has `events` (POLLIN / POLLOUT) before the deadline; false at
// the deadline, on a poll error or when wake_fd is readable.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline, int wake_fd = -1);
// Exactly len bytes; false at the deadline, on EOF or an error.
bool read_exact(int fd, void* buf, size_t len, std::chrono::steady_clock::time_point deadline, int wake_fd = -1);
// All len bytes; false at the deadline or on an error.
bool write_all(int fd, const void* buf, size_t len, std::chrono::steady_clock::time_point deadline,
               int wake_fd = -1);

}  // namespace minik8s
