// A bare TCP client for tests that speak to a server byte by byte (slow
// headers, stalled bodies, descriptor exhaustion): no HTTP library in between.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace minik8s::testing {

// A socket connected to 127.0.0.1:port, or -1 (socket() itself fails at
// EMFILE; connect() fails when nothing listens).
inline int dial_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends all of s at once; false when the peer is gone (no SIGPIPE).
inline bool send_all(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

}  // namespace minik8s::testing
