#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "forwarder.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/informer.h"
#include "minik8s/dns/dns.h"
#include "minik8s/util/fd_io.h"
#include "wire.h"
#include "zone.h"

namespace minik8s::dns {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBatch = 32;
constexpr size_t kUdpBuf = 4096;
constexpr size_t kMaxTcpConns = 128;
constexpr auto kTcpIdle = std::chrono::seconds(10);

Result<Upstream> listen_addr(const std::string& ip, int port) {
  auto a = parse_upstream(ip.find(':') != std::string::npos ? "[" + ip + "]" : ip, 53);
  if (!a) return a.status();
  auto& u = *a;
  if (u.addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&u.addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(&u.addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
  return a;
}

int bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                 : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

int open_socket(const Upstream& addr, int type, std::string* err) {
  int fd = ::socket(addr.addr.ss_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (type == SOCK_DGRAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.addr), addr.len) != 0) {
    *err = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

struct DnsServer::Impl {
  Impl(client::Client* c, DnsOptions o) : client(c), options(std::move(o)) {
    if (options.ingress_ip.empty()) options.ingress_ip = options.listen_ip;
    if (options.threads < 1) options.threads = 1;
    // With informers, nothing is known until they sync.
    store(std::vector<api::Json>{}, {}, {}, client == nullptr);
  }

  ZoneOptions zone_options() {
    ZoneOptions z;
    z.cluster_domain = options.cluster_domain;
    z.ingress_ip = options.ingress_ip;
    z.ttl = options.ttl;
    z.serial = ++serial;
    return z;
  }

  void store(const std::vector<api::Json>& s, const std::vector<api::Json>& e, const std::vector<api::Json>& d,
             bool ready = true) {
    snapshot.store(build_snapshot(zone_options(), s, e, d, ready));
  }

  // ---------------------------------------------------------------- UDP
  void serve_udp(int fd) {
    struct Slot {
      uint8_t in[kUdpBuf];
      uint8_t out[kUdpBuf];
      sockaddr_storage addr;
      iovec in_iov, out_iov;
    };
    std::vector<Slot> slots(kBatch);
    mmsghdr in[kBatch], out[kBatch];
    while (!stopping) {
      for (int i = 0; i < kBatch; ++i) {
        slots[i].in_iov = {slots[i].in, kUdpBuf};
        std::memset(&in[i], 0, sizeof in[i]);
        in[i].msg_hdr.msg_name = &slots[i].addr;
        in[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        in[i].msg_hdr.msg_iov = &slots[i].in_iov;
        in[i].msg_hdr.msg_iovlen = 1;
      }
      int n = ::recvmmsg(fd, in, kBatch, MSG_WAITFORONE, nullptr);
      if (n <= 0) {
        if (stopping) break;
        continue;  // timeout (SO_RCVTIMEO), EINTR, a transient error
      }
      auto snap = snapshot.load();
      int replies = 0;
      for (int i = 0; i < n; ++i) {
        if (in[i].msg_hdr.msg_flags & MSG_TRUNC) continue;  // a query over 4 KiB is not a query
        size_t len = 0;
        Action a = answer_query(*snap, slots[i].in, in[i].msg_len, true, slots[i].out, kUdpBuf, &len);
        if (a == Action::kRespond && len > 0) {
          slots[i].out_iov = {slots[i].out, len};
          std::memset(&out[replies], 0, sizeof out[replies]);
          out[replies].msg_hdr.msg_name = &slots[i].addr;
          out[replies].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
          out[replies].msg_hdr.msg_iov = &slots[i].out_iov;
          out[replies].msg_hdr.msg_iovlen = 1;
          ++replies;
        } else if (a == Action::kForward) {
          forwarder->forward_udp(slots[i].in, in[i].msg_len, fd, slots[i].addr, in[i].msg_hdr.msg_namelen);
        }
      }
      int sent = 0;
      while (sent < replies) {
        int r = ::sendmmsg(fd, out + sent, static_cast<unsigned>(replies - sent), 0);
        if (r <= 0) {
          if (r < 0 && errno == EINTR) continue;
          ++sent;  // drop the one that failed (e.g. unreachable client), keep the rest
          continue;
        }
        sent += r;
      }
    }
  }

  // ---------------------------------------------------------------- TCP
  struct Conn {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void accept_loop() {
    while (!stopping) {
      pollfd p[2] = {{tcp_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      int r = ::poll(p, 2, 1000);
      if (stopping) break;
      reap(false);
      if (r <= 0 || !(p[0].revents & POLLIN)) continue;
      int fd = ::accept4(tcp_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard l(conns_mu);
      if (conns.size() >= kMaxTcpConns) {
        ::close(fd);
        continue;
      }
      auto& c = conns.emplace_back();
      c.fd = fd;
      Conn* cp = &c;
      c.thread = std::thread([this, cp] {
        serve_tcp(cp->fd);
        cp->done = true;
      });
    }
  }

  void reap(bool all) {
    std::list<Conn> finished;
    {
      std::lock_guard l(conns_mu);
      for (auto it = conns.begin(); it != conns.end();) {
        if (all) ::shutdown(it->fd, SHUT_RDWR);
        if (all || it->done) {
          auto next = std::next(it);
          finished.splice(finished.end(), conns, it);
          it = next;
        } else {
          ++it;
        }
      }
    }
    for (auto& c : finished) {
      if (c.thread.joinable()) c.thread.join();
      ::close(c.fd);
    }
  }

  void serve_tcp(int fd) {
    std::vector<uint8_t> query(65535), out(65535 + 2);
    while (!stopping) {
      uint8_t lenbuf[2];
      if (!read_exact(fd, lenbuf, 2, Clock::now() + kTcpIdle, wake_fd)) return;
      size_t len = get_u16(lenbuf);
      if (!read_exact(fd, query.data(), len, Clock::now() + kTcpIdle, wake_fd)) return;
      auto snap = snapshot.load();
      size_t n = 0;
      Action a = answer_query(*snap, query.data(), len, false, out.data() + 2, 65535, &n);
      if (a == Action::kDrop) return;
      if (a == Action::kForward) {
        std::string answer = forwarder->forward_tcp(query.data(), len);
        n = std::min<size_t>(answer.size(), 65535);
        std::memcpy(out.data() + 2, answer.data(), n);
      }
      if (n == 0) return;
      set_u16(out.data(), static_cast<uint16_t>(n));
      if (!write_all(fd, out.data(), n + 2, Clock::now() + kTcpIdle, wake_fd)) return;
    }
  }

  // ---------------------------------------------------------- informers
  void start_informers() {
    const api::ResourceType* types[3] = {api::find_kind("v1", "Service"), api::find_kind("v1", "Endpoints"),
                                         api::find_kind("minik8s.io/v1", "DNS")};
    for (const auto* t : types) {
      if (!t) continue;
      auto inf = std::make_unique<client::Informer>(*client, *t);
      client::EventHandlers h;
      h.on_add = [this](const client::ObjectPtr&) { mark_dirty(); };
      h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { mark_dirty(); };
      h.on_delete = [this](const client::ObjectPtr&) { mark_dirty(); };
      inf->add_event_handlers(std::move(h));
      informers.push_back(std::move(inf));
    }
    rebuilder = std::thread([this] { rebuild_loop(); });
    for (auto& i : informers) i->start();
  }

  void mark_dirty() {
    {
      std::lock_guard l(dirty_mu);
      dirty = true;
    }
    dirty_cv.notify_one();
  }

  // Coalesces bursts: events that arrive during a rebuild cause one more.
  // Until every informer has synced the zone stays unready (SERVFAIL); the
  // first rebuild after the sync makes it ready even without any event.
  void rebuild_loop() {
    bool ready = false;
    while (true) {
      {
        std::unique_lock l(dirty_mu);
        dirty_cv.wait_for(l, std::chrono::milliseconds(ready ? 1000 : 20), [this] { return dirty || stopping; });
        if (stopping) return;
        bool synced = true;
        for (const auto& i : informers) synced = synced && i->has_synced();
        if (!synced || (!dirty && ready)) continue;
        dirty = false;
        ready = true;
      }
      auto collect = [](const client::Informer& inf) {
        std::vector<api::Json> out;
        for (const auto& o : inf.indexer().list()) out.push_back(*o);
        return out;
      };
      std::vector<api::Json> lists[3];
      for (size_t i = 0; i < informers.size() && i < 3; ++i) lists[i] = collect(*informers[i]);
      auto t0 = Clock::now();
      store(lists[0], lists[1], lists[2]);
      spdlog::debug("dns: zone rebuilt ({} services) in {} us", lists[0].size(),
                    std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    }
  }

  client::Client* client;
  DnsOptions options;
  std::atomic<uint32_t> serial{0};
  std::atomic<std::shared_ptr<const Snapshot>> snapshot;
  std::unique_ptr<Forwarder> forwarder;
  std::vector<int> udp_fds;
  int tcp_fd = -1;
  int wake_fd = -1;
  int port = 0;
  bool started = false;
  std::atomic<bool> stopping{false};
  std::vector<std::thread> threads;  // UDP servers + TCP acceptor
  std::vector<std::unique_ptr<client::Informer>> informers;
  std::thread rebuilder;

  std::mutex dirty_mu;
  std::condition_variable dirty_cv;
  bool dirty = false;  // guarded by dirty_mu

  std::mutex conns_mu;
  std::list<Conn> conns;  // guarded by conns_mu
};

DnsServer::DnsServer(client::Client* client, DnsOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(options))) {}

DnsServer::~DnsServer() { stop(); }

int DnsServer::port() const { return impl_->port; }

void DnsServer::set_objects(const std::vector<api::Json>& services, const std::vector<api::Json>& endpoints,
                            const std::vector<api::Json>& dns_objects) {
  impl_->store(services, endpoints, dns_objects);
}

Status DnsServer::start() {
  Impl& m = *impl_;
  if (m.started) return Status(Code::kInternal, "dns server already started");
  const std::string where = m.options.listen_ip + ":" + std::to_string(m.options.port);
  std::string err;
  // UDP and TCP on one port. With port 0 the TCP socket picks it (a port-0
  // UDP bind with SO_REUSEPORT could share a port another reuse-port socket
  // holds); retry while the UDP side of that port is taken.
  for (int attempt = 0; attempt < 20 && m.tcp_fd < 0; ++attempt) {
    auto addr = listen_addr(m.options.listen_ip, m.options.port);
    if (!addr) return Status(Code::kUnavailable, "dns listen address " + where + ": " + addr.status().message());
    int tcp = open_socket(*addr, SOCK_STREAM, &err);
    if (tcp < 0) break;
    if (::listen(tcp, 128) != 0) {
      err = std::strerror(errno);
      ::close(tcp);
      break;
    }
    int port = bound_port(tcp);
    auto udp_addr = listen_addr(m.options.listen_ip, port);
    int udp = open_socket(*udp_addr, SOCK_DGRAM, &err);
    if (udp < 0) {
      ::close(tcp);
      if (m.options.port != 0) break;
      continue;
    }
    m.udp_fds.push_back(udp);
    m.tcp_fd = tcp;
    m.port = port;
  }
  auto fail = [&](const std::string& msg) {
    for (int fd : m.udp_fds) ::close(fd);
    m.udp_fds.clear();
    if (m.tcp_fd >= 0) ::close(m.tcp_fd);
    m.tcp_fd = -1;
    return Status(Code::kUnavailable, msg);
  };
  if (m.tcp_fd < 0) return fail("cannot listen for DNS on " + where + ": " + err);
  auto addr = listen_addr(m.options.listen_ip, m.port);
  for (int i = 1; i < m.options.threads; ++i) {
    int fd = open_socket(*addr, SOCK_DGRAM, &err);
    if (fd < 0) return fail("cannot listen for DNS on " + where + ": " + err);
    m.udp_fds.push_back(fd);
  }
  for (int fd : m.udp_fds) {
    timeval tv{0, 200 * 1000};  // lets a thread notice stop() even if shutdown() did not wake it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int buf = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  }

  // Upstreams: configured, else resolv.conf; never ourselves.
  std::vector<std::string> specs = m.options.upstream;
  if (specs.empty()) specs = resolv_conf_nameservers(m.options.resolv_conf);
  std::vector<Upstream> ups;
  for (const auto& s : specs) {
    auto u = parse_upstream(s);
    if (!u) {
      spdlog::warn("dns: ignoring upstream {}: {}", s, u.status().message());
      continue;
    }
    auto self = listen_addr(m.options.listen_ip, m.port);
    if (self && self->len == u->len && std::memcmp(&self->addr, &u->addr, u->len) == 0) continue;
    ups.push_back(*u);
  }
  if (ups.empty()) spdlog::warn("dns: no upstream resolver; names outside {} get SERVFAIL", m.options.cluster_domain);
  m.forwarder = std::make_unique<Forwarder>(ups, std::chrono::milliseconds(m.options.upstream_timeout_ms));
  if (auto s = m.forwarder->start(); !s) return fail(s.message());

  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  m.started = true;
  m.stopping = false;
  for (int fd : m.udp_fds) m.threads.emplace_back([&m, fd] { m.serve_udp(fd); });
  m.threads.emplace_back([&m] { m.accept_loop(); });
  if (m.client) m.start_informers();
  std::string up_text;
  for (const auto& u : ups) up_text += (up_text.empty() ? "" : ",") + u.text;
  spdlog::info("dns: serving {} on {}:{} (udp x{}, tcp), upstream [{}]", m.options.cluster_domain,
               m.options.listen_ip, m.port, m.udp_fds.size(), up_text);
  return Status::ok();
}

void DnsServer::stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  for (auto& i : m.informers) i->stop();
  {
    std::lock_guard l(m.dirty_mu);
    m.stopping = true;
  }
  m.dirty_cv.notify_all();
  if (m.rebuilder.joinable()) m.rebuilder.join();
  m.informers.clear();
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(m.wake_fd, &one, sizeof one);
  for (int fd : m.udp_fds) ::shutdown(fd, SHUT_RDWR);
  for (auto& t : m.threads) t.join();
  m.threads.clear();
  m.reap(true);
  m.forwarder->stop();  // answers what is still outstanding before the sockets close
  for (int fd : m.udp_fds) ::close(fd);
  m.udp_fds.clear();
  ::close(m.tcp_fd);
  m.tcp_fd = -1;
  ::close(m.wake_fd);
  m.wake_fd = -1;
}

}  // namespace minik8s::dns
