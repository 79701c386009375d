// Test helpers for mk_ingress (header-only, used by the *_test.cc files):
// a tiny blocking HTTP/1.1 backend on a loopback address, a one-shot GET, a
// free loopback port, a temp dir, and polling with a deadline.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>

namespace minik8s::ingress::testing {

struct HttpAnswer {
  int code = 0;  // 0: no answer
  std::string body;
};

inline int listen_on(const std::string& ip, int port, int* bound_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (bound_port) *bound_port = ntohs(a.sin_port);
  return fd;
}

// A port that was free a moment ago (bind port 0, read it, close).
inline int free_port(const std::string& ip = "127.0.0.1") {
  int port = 0;
  int fd = listen_on(ip, 0, &port);
  if (fd >= 0) ::close(fd);
  return port;
}

// Answers every request with "<name> <method> <target>\n" and closes.
class Backend {
 public:
  Backend(std::string name, const std::string& ip) : name_(std::move(name)) {
    fd_ = listen_on(ip, 0, &port_);
    if (fd_ >= 0) thread_ = std::thread([this] { serve(); });
  }
  ~Backend() {
    stop_ = true;
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int port() const { return port_; }
  int hits() const { return hits_.load(); }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string first = req.substr(0, req.find("\r\n"));
      std::string method = first.substr(0, first.find(' '));
      std::string rest = first.substr(first.find(' ') + 1);
      std::string target = rest.substr(0, rest.find(' '));
      std::string body = name_ + " " + method + " " + target + "\n";
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
      hits_++;
    }
  }

  std::string name_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  std::thread thread_;
};

// GET http://ip:port/target with a Host header; code 0 when nothing answered.
inline HttpAnswer http_get(const std::string& ip, int port, const std::string& host,
                           const std::string& target) {
  HttpAnswer out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return out;
  }
  std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12) return out;
  out.code = std::atoi(resp.substr(9, 3).c_str());
  size_t body = resp.find("\r\n\r\n");
  if (body != std::string::npos) out.body = resp.substr(body + 4);
  return out;
}

inline bool poll_until(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

inline std::filesystem::path temp_dir(const std::string& what) {
  auto d =
      std::filesystem::temp_directory_path() / ("mk-" + what + "-" + std::to_string(::getpid()) +
                                                "-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace minik8s::ingress::testing
