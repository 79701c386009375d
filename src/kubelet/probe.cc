// Prober: one attempt of an exec / httpGet / tcpSocket probe, with messages
// worded like the Kubernetes kubelet's (pkg/probe/{exec,http,tcp}).
// HTTP and TCP use plain non-blocking sockets with poll(2) so the whole
// attempt honours timeoutSeconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/kubelet/parts.h"

namespace minik8s::kubelet {
namespace {

using Clock = std::chrono::steady_clock;

ProbeResult success(std::string msg = "") { return {ProbeOutcome::kSuccess, std::move(msg)}; }
ProbeResult failure(std::string msg) { return {ProbeOutcome::kFailure, std::move(msg)}; }

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// "host:port", bracketing IPv6 literals.
std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Connects with a deadline. On failure err is Go's net.Dial wording after
// "dial tcp HOST:PORT: " ("connect: connection refused", "i/o timeout").
int dial(const std::string& host, int port, Clock::time_point deadline, std::string& err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    err = "lookup " + host + ": " + (rc != 0 ? std::string(gai_strerror(rc)) : std::string("no such host"));
    return -1;
  }
  int result = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int c = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (c != 0 && errno != EINPROGRESS) {
      err = std::string("connect: ") + std::strerror(errno);
      if (errno == ECONNREFUSED) err = "connect: connection refused";
      ::close(fd);
      continue;
    }
    if (c != 0) {
      pollfd p{fd, POLLOUT, 0};
      int n;
      do {
        n = ::poll(&p, 1, remaining_ms(deadline));
      } while (n < 0 && errno == EINTR);
      if (n == 0) {
        err = "i/o timeout";
        ::close(fd);
        break;  // the deadline is spent
      }
      int soerr = 0;
      socklen_t len = sizeof(soerr);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
      if (n < 0 || soerr != 0) {
        int e = n < 0 ? errno : soerr;
        err = e == ECONNREFUSED ? "connect: connection refused" : std::string("connect: ") + std::strerror(e);
        ::close(fd);
        continue;
      }
    }
    result = fd;
    break;
  }
  ::freeaddrinfo(res);
  return result;
}

// A port field: a number, a numeric string, or a name from container.ports.
int resolve_port(const api::Json& port, const api::Json& container, std::string& err) {
  if (port.is_number_integer()) return port.get<int>();
  if (port.is_string()) {
    std::string s = port.get<std::string>();
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 6) return std::stoi(s);
    auto ports = container.find("ports");
    if (ports != container.end() && ports->is_array()) {
      for (const auto& p : *ports) {
        if (p.is_object() && p.value("name", "") == s && p.contains("containerPort") &&
            p["containerPort"].is_number_integer()) {
          return p["containerPort"].get<int>();
        }
      }
    }
    err = "couldn't find port: " + s + " in container";
    return -1;
  }
  err = "missing probe port";
  return -1;
}

ProbeResult probe_tcp(const api::Json& h, const api::Json& container, const std::string& pod_ip,
                      Clock::time_point deadline) {
  std::string err;
  int port = resolve_port(h.contains("port") ? h["port"] : api::Json(), container, err);
  if (port <= 0 || port > 65535) return failure(err.empty() ? "invalid port" : err);
  std::string host = h.value("host", "");
  if (host.empty()) host = pod_ip;
  if (host.empty()) return failure("no host to probe: the pod has no IP");
  Fd fd(dial(host, port, deadline, err));
  if (fd.get() < 0) return failure("dial tcp " + host_port(host, port) + ": " + err);
  return success();
}

ProbeResult probe_http(const api::Json& h, const api::Json& container, const std::string& pod_ip,
                       Clock::time_point deadline) {
  std::string err;
  int port = resolve_port(h.contains("port") ? h["port"] : api::Json(), container, err);
  if (port <= 0 || port > 65535) return failure(err.empty() ? "invalid port" : err);
  std::string scheme = h.value("scheme", "HTTP");
  if (scheme != "HTTP") return failure("unsupported probe scheme " + scheme + ": only HTTP is supported");
  std::string host = h.value("host", "");
  if (host.empty()) host = pod_ip;
  if (host.empty()) return failure("no host to probe: the pod has no IP");
  std::string path = h.value("path", "");
  if (path.empty() || path.front() != '/') path = "/" + path;
  std::string url = "http://" + host_port(host, port) + path;
  std::string get = "Get \"" + url + "\": ";

  Fd fd(dial(host, port, deadline, err));
  if (fd.get() < 0) {
    if (err == "i/o timeout") {
      return failure(get + "context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
    }
    return failure(get + "dial tcp " + host_port(host, port) + ": " + err);
  }

  std::string host_header = host_port(host, port);
  std::string user_agent = "kube-probe/1.30";
  std::string accept = "*/*";
  std::string extra;
  if (auto hs = h.find("httpHeaders"); hs != h.end() && hs->is_array()) {
    for (const auto& hdr : *hs) {
      if (!hdr.is_object()) continue;
      std::string name = hdr.value("name", ""), value = hdr.value("value", "");
      if (name.empty() || name.find_first_of("\r\n:") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        continue;
      }
      std::string lower;
      for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      if (lower == "host") {
        host_header = value;
      } else if (lower == "user-agent") {
        user_agent = value;
      } else if (lower == "accept") {
        accept = value;
      } else {
        extra += name + ": " + value + "\r\n";
      }
    }
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host_header + "\r\nUser-Agent: " + user_agent +
                    "\r\nAccept: " + accept + "\r\n" + extra + "Connection: close\r\n\r\n";
  size_t off = 0;
  std::string timeout_msg = get + "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
  while (off < req.size()) {
    ssize_t n = ::send(fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return failure(timeout_msg);
      continue;
    }
    return failure(get + "write: " + std::strerror(errno));
  }
  // Read the status line.
  std::string resp;
  while (resp.find("\r\n") == std::string::npos && resp.size() < 8192) {
    pollfd p{fd.get(), POLLIN, 0};
    int pn = ::poll(&p, 1, remaining_ms(deadline));
    if (pn < 0 && errno == EINTR) continue;
    if (pn <= 0) return failure(timeout_msg);
    char buf[1024];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return failure(get + "read: " + std::strerror(errno));
    if (n == 0) return failure(get + "EOF");
    resp.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  auto sp = resp.find(' ');
  if (resp.rfind("HTTP/", 0) != 0 || sp == std::string::npos || sp + 4 > resp.size()) {
    return failure(get + "malformed HTTP response");
  }
  int code = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (resp[i] < '0' || resp[i] > '9') return failure(get + "malformed HTTP response");
    code = code * 10 + (resp[i] - '0');
  }
  if (code >= 200 && code < 400) return success();
  return failure("HTTP probe failed with statuscode: " + std::to_string(code));
}

ProbeResult probe_exec(cri::Runtime& runtime, const api::Json& e, const std::string& container_id,
                       int timeout_seconds) {
  std::vector<std::string> cmd;
  if (auto c = e.find("command"); c != e.end() && c->is_array()) {
    for (const auto& a : *c) {
      if (a.is_string()) cmd.push_back(a.get<std::string>());
    }
  }
  if (cmd.empty()) return failure("exec probe has no command");
  auto r = runtime.exec_sync(container_id, cmd, timeout_seconds);
  if (!r.is_ok()) {
    if (r.status().code() == Code::kTimeout) return failure("command timed out");
    return failure(r.status().message());
  }
  std::string out = r->stdout_ + r->stderr_;
  if (r->exit_code == 0) return success(out);
  if (out.empty()) {
    std::string joined;
    for (const auto& a : cmd) joined += (joined.empty() ? "" : " ") + a;
    out = "command \"" + joined + "\" exited with " + std::to_string(r->exit_code);
  }
  return failure(out);
}

}  // namespace

ProbeResult Prober::run(const api::Json& probe, const api::Json& container, const std::string& pod_ip,
                        const std::string& container_id) {
  try {
    if (!probe.is_object()) return failure("probe is not an object");
    int timeout_seconds = 1;
    if (auto t = probe.find("timeoutSeconds"); t != probe.end() && t->is_number_integer() && t->get<int>() > 0) {
      timeout_seconds = t->get<int>();
    }
    auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
    if (auto e = probe.find("exec"); e != probe.end() && e->is_object()) {
      return probe_exec(runtime_, *e, container_id, timeout_seconds);
    }
    if (auto h = probe.find("httpGet"); h != probe.end() && h->is_object()) {
      return probe_http(*h, container, pod_ip, deadline);
    }
    if (auto t = probe.find("tcpSocket"); t != probe.end() && t->is_object()) {
      return probe_tcp(*t, container, pod_ip, deadline);
    }
    if (probe.contains("grpc")) return failure("gRPC probes are not supported");
    return failure("probe has no handler (exec, httpGet or tcpSocket)");
  } catch (const std::exception& e) {
    return failure(std::string("malformed probe: ") + e.what());
  }
}

}  // namespace minik8s::kubelet
