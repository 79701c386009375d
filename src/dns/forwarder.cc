#include "forwarder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "minik8s/util/fd_io.h"
#include "wire.h"
#include "zone.h"

namespace minik8s::dns {

namespace {

using Clock = std::chrono::steady_clock;

// The question's lower-case name + type + class, for matching answers.
bool question_key(const uint8_t* d, size_t len, std::string* key) {
  if (len < kHeaderSize || get_u16(d + 4) != 1) return false;
  size_t p = kHeaderSize;
  if (!read_name(d, len, &p, nullptr, key)) return false;
  if (p + 4 > len) return false;
  key->append(reinterpret_cast<const char*>(d + p), 4);
  return true;
}

}  // namespace

Result<Upstream> parse_upstream(const std::string& spec, int default_port) {
  std::string host = spec;
  int port = default_port;
  if (!spec.empty() && spec.front() == '[') {
    auto close = spec.find(']');
    if (close == std::string::npos) return invalid("bad upstream address \"" + spec + "\"");
    host = spec.substr(1, close - 1);
    if (close + 1 < spec.size()) {
      if (spec[close + 1] != ':') return invalid("bad upstream address \"" + spec + "\"");
      port = std::atoi(spec.c_str() + close + 2);
    }
  } else if (std::count(spec.begin(), spec.end(), ':') == 1) {
    auto colon = spec.find(':');
    host = spec.substr(0, colon);
    port = std::atoi(spec.c_str() + colon + 1);
  }
  if (port <= 0 || port > 65535) return invalid("bad port in upstream \"" + spec + "\"");
  Upstream u;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&u.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&u.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    u.len = sizeof(sockaddr_in);
    u.text = host + ":" + std::to_string(port);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    u.len = sizeof(sockaddr_in6);
    u.text = "[" + host + "]:" + std::to_string(port);
  } else {
    return invalid("upstream \"" + spec + "\" is not an IP address");
  }
  return u;
}

std::vector<std::string> resolv_conf_nameservers(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, value;
    if (ls >> key >> value && key == "nameserver") {
      // "fe80::1%eth0": a scope id we cannot keep in "IP:PORT" form is dropped.
      if (value.find('%') != std::string::npos) continue;
      out.push_back(value.find(':') != std::string::npos ? "[" + value + "]" : value);
    }
  }
  return out;
}

Forwarder::Forwarder(std::vector<Upstream> upstreams, std::chrono::milliseconds timeout)
    : upstreams_(std::move(upstreams)),
      attempt_timeout_(std::max<std::chrono::milliseconds>(
          std::chrono::milliseconds(50),
          timeout / static_cast<int>(std::max<size_t>(1, upstreams_.size())))) {
  std::random_device rd;
  rng_ = rd() | 1;
}

Forwarder::~Forwarder() { stop(); }

Status Forwarder::start() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status(Code::kInternal, std::string("eventfd: ") + std::strerror(errno));
  for (const auto& u : upstreams_) {
    int fd = ::socket(u.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&u.addr), u.len) != 0) {
      std::string err = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      stop();
      return Status(Code::kUnavailable, "upstream " + u.text + ": " + err);
    }
    int buf = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    fds_.push_back(fd);
  }
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void Forwarder::stop() {
  stopping_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : fds_) ::close(fd);
  fds_.clear();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

size_t Forwarder::outstanding() const {
  std::lock_guard l(mu_);
  return pending_.size();
}

void Forwarder::reply(int fd, const sockaddr_storage& to, socklen_t len, const std::string& bytes) {
  if (bytes.empty()) return;
  ::sendto(fd, bytes.data(), bytes.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), len);
}

void Forwarder::send_attempt(const Pending& p) {
  ::send(fds_[p.attempt], p.query.data(), p.query.size(), MSG_DONTWAIT);
}

void Forwarder::forward_udp(const uint8_t* query, size_t len, int reply_fd, const sockaddr_storage& client,
                            socklen_t client_len) {
  if (len < kHeaderSize) return;
  if (upstreams_.empty() || stopping_) {
    reply(reply_fd, client, client_len, error_response(query, len, kRcodeServFail));
    return;
  }
  std::lock_guard l(mu_);
  if (pending_.size() >= 30000) {
    reply(reply_fd, client, client_len, error_response(query, len, kRcodeServFail));
    return;
  }
  uint16_t id = 0;
  do {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 17;
    rng_ ^= rng_ << 5;
    id = static_cast<uint16_t>(rng_);
  } while (pending_.count(id));
  Pending p;
  p.client_id = get_u16(query);
  p.reply_fd = reply_fd;
  p.client = client;
  p.client_len = client_len;
  p.query.assign(reinterpret_cast<const char*>(query), len);
  set_u16(reinterpret_cast<uint8_t*>(p.query.data()), id);
  p.seq = next_seq_++;
  deadlines_.push_back({Clock::now() + attempt_timeout_, id, p.seq});
  send_attempt(p);
  pending_.emplace(id, std::move(p));
}

void Forwarder::on_reply(size_t upstream, const uint8_t* data, size_t len) {
  if (len < kHeaderSize || !(get_u16(data + 2) & kFlagQR)) return;
  uint16_t id = get_u16(data);
  int fd;
  sockaddr_storage to;
  socklen_t to_len;
  uint16_t client_id;
  {
    std::lock_guard l(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.attempt != upstream) return;
    std::string want, got;
    const auto* q = reinterpret_cast<const uint8_t*>(it->second.query.data());
    // An answer without our question (or a spoofed one) is ignored; a FORMERR
    // without a question is relayed as is.
    if (get_u16(data + 4) != 0 &&
        (!question_key(q, it->second.query.size(), &want) || !question_key(data, len, &got) || want != got)) {
      return;
    }
    fd = it->second.reply_fd;
    to = it->second.client;
    to_len = it->second.client_len;
    client_id = it->second.client_id;
    pending_.erase(it);
  }
  std::string out(reinterpret_cast<const char*>(data), len);
  set_u16(reinterpret_cast<uint8_t*>(out.data()), client_id);
  reply(fd, to, to_len, out);
}

void Forwarder::expire(Clock::time_point now) {
  std::vector<std::tuple<int, sockaddr_storage, socklen_t, std::string>> failed;
  {
    std::lock_guard l(mu_);
    while (!deadlines_.empty() && deadlines_.front().at <= now) {
      Deadline d = deadlines_.front();
      deadlines_.pop_front();
      auto it = pending_.find(d.id);
      if (it == pending_.end() || it->second.seq != d.seq) continue;
      Pending& p = it->second;
      // At shutdown (now == max) no further attempt: SERVFAIL at once.
      if (now != Clock::time_point::max() && p.attempt + 1 < upstreams_.size()) {
        ++p.attempt;
        p.seq = next_seq_++;
        deadlines_.push_back({now + attempt_timeout_, d.id, p.seq});
        send_attempt(p);
        continue;
      }
      std::string q = p.query;
      set_u16(reinterpret_cast<uint8_t*>(q.data()), p.client_id);
      failed.emplace_back(p.reply_fd, p.client, p.client_len,
                          error_response(reinterpret_cast<const uint8_t*>(q.data()), q.size(), kRcodeServFail));
      pending_.erase(it);
    }
  }
  for (auto& [fd, to, len, bytes] : failed) reply(fd, to, len, bytes);
}

void Forwarder::run() {
  std::vector<pollfd> pfds;
  for (int fd : fds_) pfds.push_back({fd, POLLIN, 0});
  pfds.push_back({wake_fd_, POLLIN, 0});
  std::vector<uint8_t> buf(65536);
  while (!stopping_) {
    int timeout_ms = 100;
    {
      std::lock_guard l(mu_);
      if (!deadlines_.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadlines_.front().at - Clock::now()).count();
        timeout_ms = static_cast<int>(std::clamp<long long>(left + 1, 0, 100));
      }
    }
    int r = ::poll(pfds.data(), pfds.size(), timeout_ms);
    if (r > 0) {
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (!(pfds[i].revents & (POLLIN | POLLERR))) continue;  // POLLERR: an ICMP error to clear
        for (int k = 0; k < 64; ++k) {
          ssize_t n = ::recv(fds_[i], buf.data(), buf.size(), MSG_DONTWAIT);
          if (n <= 0) break;  // EAGAIN, or ICMP refused: the attempt times out
          on_reply(i, buf.data(), static_cast<size_t>(n));
        }
      }
    }
    expire(Clock::now());
  }
  // Whatever is still outstanding gets SERVFAIL rather than silence.
  expire(Clock::time_point::max());
}

std::string Forwarder::forward_tcp(const uint8_t* query, size_t len) {
  std::string servfail = error_response(query, len, kRcodeServFail);
  if (len > 65535) return servfail;
  std::string want;
  if (!question_key(query, len, &want)) return servfail;
  for (const auto& u : upstreams_) {
    auto deadline = Clock::now() + attempt_timeout_;
    int fd = ::socket(u.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    bool ok = false;
    std::string answer;
    do {
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&u.addr), u.len) != 0 && errno != EINPROGRESS) break;
      if (!wait_fd(fd, POLLOUT, deadline)) break;
      int err = 0;
      socklen_t el = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) break;
      uint8_t lenbuf[2];
      set_u16(lenbuf, static_cast<uint16_t>(len));
      if (!write_all(fd, lenbuf, 2, deadline) || !write_all(fd, query, len, deadline)) break;
      if (!read_exact(fd, lenbuf, 2, deadline)) break;
      answer.resize(get_u16(lenbuf));
      if (!read_exact(fd, reinterpret_cast<uint8_t*>(answer.data()), answer.size(), deadline)) break;
      const auto* a = reinterpret_cast<const uint8_t*>(answer.data());
      std::string got;
      ok = answer.size() >= kHeaderSize && get_u16(a) == get_u16(query) &&
           (get_u16(a + 4) == 0 || (question_key(a, answer.size(), &got) && got == want));
    } while (false);
    ::close(fd);
    if (ok) return answer;
  }
  return servfail;
}

}  // namespace minik8s::dns
