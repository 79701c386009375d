// Forwarder: sends queries for names outside the cluster to upstream
// resolvers and relays the answers.
//
// UDP: one connected UDP socket per upstream (so only that peer's datagrams
// arrive); each forwarded query gets a fresh 16-bit ID from a map of
// outstanding queries (original ID, client address, the socket to answer
// from, deadline). The answer's ID and question must match the outstanding
// entry; the original ID is restored and the datagram relayed as is (a
// truncated answer keeps TC, so the client retries over TCP). When an
// attempt times out the next upstream is tried; after the last, the client
// gets SERVFAIL. TCP: forward_tcp() is a blocking exchange over a fresh TCP
// connection per query.
//
// Threads: start() spawns one receive/timeout thread; forward_udp() and
// forward_tcp() may be called from any thread. stop() joins.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::dns {

struct Upstream {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "IP:PORT" for logs
};

// "IP" or "IP:PORT" or "[v6]:PORT"; kInvalid when not an address.
Result<Upstream> parse_upstream(const std::string& spec, int default_port = 53);
// The nameservers of a resolv.conf file (missing file → empty).
std::vector<std::string> resolv_conf_nameservers(const std::string& path);

class Forwarder {
 public:
  Forwarder(std::vector<Upstream> upstreams, std::chrono::milliseconds timeout);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  Status start();
  void stop();

  // Relays query (a whole DNS message) and later answers client from reply_fd.
  // Answers SERVFAIL at once when there is no upstream or no free ID.
  void forward_udp(const uint8_t* query, size_t len, int reply_fd, const sockaddr_storage& client,
                   socklen_t client_len);
  // The upstream's answer, or SERVFAIL after the timeout.
  std::string forward_tcp(const uint8_t* query, size_t len);

  size_t outstanding() const;

 private:
  struct Pending {
    uint16_t client_id = 0;
    int reply_fd = -1;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    std::string query;  // with our ID
    size_t attempt = 0;  // index into upstreams_ of the current attempt
    uint64_t seq = 0;    // tells a re-used ID's deadline apart
  };
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    uint16_t id;
    uint64_t seq;
  };

  void run();
  void on_reply(size_t upstream, const uint8_t* data, size_t len);
  void expire(std::chrono::steady_clock::time_point now);
  void send_attempt(const Pending& p);
  static void reply(int fd, const sockaddr_storage& to, socklen_t len, const std::string& bytes);

  const std::vector<Upstream> upstreams_;
  const std::chrono::milliseconds attempt_timeout_;
  std::vector<int> fds_;  // one connected socket per upstream
  int wake_fd_ = -1;      // eventfd for stop()
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::unordered_map<uint16_t, Pending> pending_;
  std::deque<Deadline> deadlines_;  // in time order: every attempt has the same timeout
  uint64_t next_seq_ = 1;
  uint32_t rng_ = 0x9e3779b9;
};

}  // namespace minik8s::dns
