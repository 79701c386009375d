#include "minik8s/util/conn_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstring>
#include <system_error>

namespace minik8s {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kBackoffMin{5};      // as Go's net/http after a temporary accept error
constexpr milliseconds kBackoffMax{1000};
constexpr milliseconds kLinger{1000};       // a refused client gets this long to read its answer
constexpr size_t kMaxLingering = 64;        // more refused at once are closed straight away

const char* reason_phrase(int code) {
  switch (code) {
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A Kubernetes Status answer that closes the connection. message holds no
// characters that need JSON escaping (it is built here).
std::string refusal(int code, const std::string& reason, const std::string& message) {
  std::string body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" + message +
                     R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
  return "HTTP/1.1 " + std::to_string(code) + " " + reason_phrase(code) +
         "\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

bool resource_error(int e) { return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM; }

}  // namespace

bool parse_conn_duration(const std::string& text, milliseconds* out) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 9) return false;
  long long n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  long long ms;
  if (unit == "ms") {
    ms = n;
  } else if (unit == "s" || unit.empty()) {
    ms = n * 1000;
  } else if (unit == "m") {
    ms = n * 60000;
  } else if (unit == "h") {
    ms = n * 3600000;
  } else {
    return false;
  }
  if (ms <= 0) return false;
  *out = milliseconds(ms);
  return true;
}

ConnectionServer::ConnectionServer(Options opts, Handler handler) : opts_(std::move(opts)), handler_(std::move(handler)) {}

ConnectionServer::~ConnectionServer() {
  stop();
  for (int fd : {listen_fd_, wake_fd_, spare_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

Status ConnectionServer::listen(const std::string& address, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return Status(Code::kInvalid, "bad listen address \"" + address + "\"");
  }
  std::string where = address + ":" + std::to_string(port);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status(Code::kUnavailable, "cannot listen on " + where + ": " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    ::close(fd);
    return Status(Code::kUnavailable, "cannot listen on " + where + ": " + std::strerror(e));
  }
  socklen_t got = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &got);
  port_ = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    int e = errno;
    ::close(fd);
    return Status(Code::kUnavailable, std::string("eventfd: ") + std::strerror(e));
  }
  listen_fd_ = fd;
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return Status::ok();
}

void ConnectionServer::start() {
  accept_thread_ = std::thread([this] { accept_loop(); });
}

void ConnectionServer::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

size_t ConnectionServer::active() const {
  std::lock_guard lock(mu_);
  return active_;
}

void ConnectionServer::accept_loop() {
  milliseconds backoff{0};
  Clock::time_point retry_at{};  // while backing off: when to try accept() again
  while (!stopping_) {
    reap();
    // The spare descriptor is given up to answer a client at EMFILE; take
    // it back as soon as a descriptor is free again.
    if (spare_fd_ < 0) spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    // Wait for a client (unless backing off after a resource error), a
    // finished connection, stop(), or a refused client's last bytes.
    auto now = Clock::now();
    bool backing_off = now < retry_at;
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({backing_off ? -1 : listen_fd_, POLLIN, 0});
    auto next = backing_off ? retry_at : now + milliseconds(60000);
    for (const auto& l : lingering_) {
      fds.push_back({l.fd, POLLIN, 0});
      next = std::min(next, l.until);
    }
    auto wait = std::chrono::ceil<milliseconds>(std::max(next - now, Clock::duration(0)));
    int r = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (stopping_) break;
    if (r < 0 && errno != EINTR) {
      spdlog::error("{}: poll: {}", opts_.name, std::strerror(errno));
      std::this_thread::sleep_for(kBackoffMin);
      continue;
    }
    if (r > 0 && (fds[0].revents & POLLIN)) {
      uint64_t n;
      [[maybe_unused]] ssize_t k = ::read(wake_fd_, &n, sizeof n);
      retry_at = {};  // a connection gave its descriptor back: try again now
    }
    // Drain refused connections; close them at EOF or when their time is up.
    now = Clock::now();
    for (size_t i = 0, j = 2; i < lingering_.size(); ++j) {
      bool close_it = now >= lingering_[i].until;
      if (!close_it && r > 0 && fds[j].revents) {
        char sink[4096];
        ssize_t k = ::recv(lingering_[i].fd, sink, sizeof sink, MSG_DONTWAIT);
        close_it = k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR);
      }
      if (close_it) {
        ::close(lingering_[i].fd);
        lingering_.erase(lingering_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    if (now < retry_at) continue;
    // Take what is pending (the listener is non-blocking), a bounded number
    // at a time so that reaping and draining keep their turn.
    for (int i = 0; i < 64 && !stopping_; ++i) {
      Accepted a = accept_one();
      if (a == Accepted::kNone) break;
      if (a == Accepted::kFailed) {
        backoff = backoff.count() ? std::min(backoff * 2, kBackoffMax) : kBackoffMin;
        retry_at = Clock::now() + backoff;
        break;
      }
      backoff = milliseconds(0);
    }
  }
}

ConnectionServer::Accepted ConnectionServer::accept_one() {
  // Linux's accept4() takes a descriptor before it looks for a client: call
  // it only with a client waiting, so that a listener with nobody in its
  // backlog never holds a descriptor, not even for a moment (near the limit
  // that moment made another thread's socket() fail, and a full table gave
  // EMFILE with nobody to refuse).
  pollfd waiting{listen_fd_, POLLIN, 0};
  if (::poll(&waiting, 1, 0) <= 0) return Accepted::kNone;
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) {
    serve_new(fd);
    return Accepted::kOne;
  }
  int e = errno;
  if (e == EAGAIN || e == EWOULDBLOCK) return Accepted::kNone;
  if (e == EINTR || e == ECONNABORTED || e == EPROTO) return Accepted::kOne;  // that client left; go on
  if (!resource_error(e)) {
    // EBADF/EINVAL: the listener is gone (stop); anything else: log and back off.
    if (!stopping_) spdlog::error("{}: accept: {}", opts_.name, std::strerror(e));
    return Accepted::kFailed;
  }
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  if (now_s != last_resource_log_s_) {
    last_resource_log_s_ = now_s;
    spdlog::warn("{}: accept: {} ({} connections open); backing off", opts_.name, std::strerror(e), active());
  }
  if (e != EMFILE) return Accepted::kFailed;
  // Out of descriptors: give up the spare one to take the waiting client and
  // tell it why, instead of leaving it hanging in the backlog. The spare
  // comes back at once, or (the refused client holds its slot while it
  // lingers) at the top of the loop once a descriptor is free.
  bool refused = false;
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) {
      refuse(c, 503, "ServiceUnavailable", "the server has too many open files; try again later", false);
      refused = true;
    }
  }
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return refused ? Accepted::kOne : Accepted::kFailed;
}

void ConnectionServer::serve_new(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::unique_lock lock(mu_);
  if (active_ >= opts_.limits.max_connections) {
    lock.unlock();
    refuse(fd, 429, "TooManyRequests",
           "too many open connections (limit " + std::to_string(opts_.limits.max_connections) + ")", true);
    return;
  }
  auto owned = std::make_unique<Connection>();
  Connection* c = owned.get();
  c->fd_ = fd;
  c->accepted_at_ = Clock::now();
  conns_.push_back(std::move(owned));
  ++active_;
  auto run = [this, c] {
    // Nothing may escape a connection thread: it would end the process.
    try {
      if (opts_.layer) {
        opts_.layer->run(c->fd_, c->accepted_at_ + opts_.limits.header_timeout,
                         [&](int plain_fd, const std::optional<PeerIdentity>& peer) {
                           c->plain_fd_ = plain_fd;
                           c->peer_ = peer;
                           handler_(*c);
                           c->plain_fd_ = -1;
                         });
      } else {
        handler_(*c);
      }
    } catch (const std::exception& e) {
      spdlog::error("{}: connection failed: {}", opts_.name, e.what());
    } catch (...) {
      spdlog::error("{}: connection failed with an unknown exception", opts_.name);
    }
    {
      std::lock_guard l(mu_);
      ::close(c->fd_);
      c->fd_ = -1;
      c->done_ = true;
      --active_;
    }
    wake();
  };
  try {
    c->thread_ = opts_.spawn ? opts_.spawn(run) : std::thread(run);
  } catch (const std::system_error& e) {
    conns_.pop_back();
    --active_;
    lock.unlock();
    spdlog::error("{}: cannot start a thread for a connection ({}); refused it", opts_.name, e.what());
    refuse(fd, 503, "ServiceUnavailable", "the server cannot start a thread for the connection; try again later",
           true);
  }
}

void ConnectionServer::refuse(int fd, int code, const std::string& reason, const std::string& message, bool linger) {
  std::string answer = refusal(code, reason, message);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  // A fresh socket's send buffer takes the few hundred bytes at once.
  [[maybe_unused]] ssize_t n = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  // Closing with the request unread would reset the connection, and the
  // client could lose the answer: read what it sends for a moment first.
  if (linger && lingering_.size() < kMaxLingering) {
    lingering_.push_back({fd, Clock::now() + kLinger});
  } else {
    ::close(fd);
  }
}

void ConnectionServer::reap() {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      auto next = std::next(it);
      if ((*it)->done_) finished.splice(finished.end(), conns_, it);
      it = next;
    }
  }
  for (auto& c : finished) {
    if (c->thread_.joinable()) c->thread_.join();
  }
}

void ConnectionServer::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_fd_ >= 0) wake();
  if (accept_thread_.joinable()) accept_thread_.join();
  for (const auto& l : lingering_) ::close(l.fd);
  lingering_.clear();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  {
    std::lock_guard lock(mu_);
    for (auto& c : conns_) {
      if (c->done_) continue;
      ::shutdown(c->fd_, SHUT_RDWR);
      int b = c->backend_fd_.load();
      if (b >= 0) ::shutdown(b, SHUT_RDWR);
    }
  }
  // The threads finish (their fds are shut down); join them all.
  std::list<std::unique_ptr<Connection>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(conns_);
  }
  for (auto& c : all) {
    if (c->thread_.joinable()) c->thread_.join();
  }
}

}  // namespace minik8s
