// ConnectionServer: the TCP side shared by the API server and the kubelet's
// HTTP server: it listens, accepts, and serves each connection on a thread of
// its own, within limits, so that no client (or many) can lock the server up.
//
//   - A cap on concurrent connections (ConnLimits::max_connections). Past it a
//     connection is accepted and refused at once, without a thread: an HTTP
//     429 Kubernetes Status "too many open connections (limit N)", then close.
//   - A connection whose thread cannot be created (std::system_error from
//     std::thread: out of memory, address space or tasks) is refused with a
//     503 Status and closed; the server keeps serving.
//   - accept() failing for want of descriptors or memory (EMFILE, ENFILE,
//     ENOBUFS, ENOMEM) never spins: the loop backs off 5 ms, doubling to 1 s,
//     and retries as soon as a connection finishes. A spare descriptor is kept
//     so that at EMFILE a waiting client is accepted and told "503 too many
//     open files" rather than left hanging.
//   - A finished connection's descriptor is closed by its own thread at once
//     and the thread joined on the accept loop's next turn, whether or not
//     anything was accepted since.
// Read timeouts (ConnLimits header/body/idle) are the connection handler's to
// apply (src/util/http_read.h does it for Beast); they live here so that one
// set of flags configures both servers.
//
// Thread safety: listen/start/stop from one owner thread; port(), active()
// from any. The handler runs on connection threads, concurrently.
// Ownership: the server owns the listening socket and every accepted
// descriptor; the handler borrows Connection::fd() and must not close it (an
// Asio socket adopting it must release() it before returning).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s {

struct ConnLimits {
  // The whole request header must arrive within this time of the connection's
  // accept (first request) or of the request's first byte (later requests).
  std::chrono::milliseconds header_timeout{std::chrono::seconds(30)};
  // The whole body must arrive within this time of the header's end (a total,
  // not per read: a body trickled byte by byte cannot keep a thread forever).
  std::chrono::milliseconds body_timeout{std::chrono::seconds(60)};
  // How long a keep-alive connection may wait for its next request. Once a
  // response streams (watch, log follow, exec) nothing is read any more and
  // this no longer applies; the connection still counts against the cap.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(90)};
  size_t max_connections = 1024;  // concurrent connections served
};
// "--http-header-timeout" etc.: a duration such as "30s", "500ms", "2m"; false
// when malformed or not positive.
bool parse_conn_duration(const std::string& text, std::chrono::milliseconds* out);

// The verified client certificate of a connection a ConnectionLayer (TLS)
// terminated: subject CN and O entries.
struct PeerIdentity {
  std::string common_name;
  std::vector<std::string> organizations;
};

// A layer between the accepted socket and the handler (TLS, see
// minik8s/auth/tls.h): it terminates the protocol on the connection's thread
// and hands the handler a descriptor carrying the plaintext, so that the
// handler does not know whether it speaks to the client or to the layer.
// Thread safety: run() is called concurrently, once per connection.
class ConnectionLayer {
 public:
  virtual ~ConnectionLayer() = default;
  // fd: the accepted socket (the server owns and closes it; stop() shuts it
  // down). deadline: the set-up (handshake) must end by then, else run()
  // returns without calling inner. inner(plain_fd, peer) runs once on the
  // calling thread; plain_fd stays open until inner returns, and the layer
  // closes it. run() returns when inner has returned and the layer is done.
  virtual void run(int fd, std::chrono::steady_clock::time_point deadline,
                   const std::function<void(int plain_fd, const std::optional<PeerIdentity>& peer)>& inner) = 0;
};

// One accepted connection, as its handler sees it.
class Connection {
 public:
  // The descriptor to serve: the accepted socket, or the layer's plaintext end.
  int fd() const { return plain_fd_ >= 0 ? plain_fd_ : fd_; }
  // The client certificate a ConnectionLayer verified (nullopt: none, or no layer).
  const std::optional<PeerIdentity>& peer() const { return peer_; }
  std::chrono::steady_clock::time_point accepted_at() const { return accepted_at_; }
  // A second descriptor serving this connection (a proxied backend) that
  // stop() must shut down too; -1 when none. Any thread.
  std::atomic<int>& backend_fd() { return backend_fd_; }

 private:
  friend class ConnectionServer;
  int fd_ = -1;  // guarded by ConnectionServer::mu_ once the thread runs; closed by the server
  int plain_fd_ = -1;                 // connection thread only: the layer's plaintext end
  std::optional<PeerIdentity> peer_;  // connection thread only
  std::chrono::steady_clock::time_point accepted_at_;
  std::atomic<int> backend_fd_{-1};
  std::thread thread_;
  bool done_ = false;  // guarded by ConnectionServer::mu_
};

class ConnectionServer {
 public:
  using Handler = std::function<void(Connection&)>;
  // Starts a thread running fn; throws std::system_error when it cannot (as
  // std::thread does). Tests inject a failing one.
  using Spawner = std::function<std::thread(std::function<void()>)>;
  struct Options {
    std::string name;  // for logs: "apiserver", "kubelet server"
    ConnLimits limits;
    Spawner spawn;     // empty: std::thread
    // Runs between accept and the handler (TLS); null: none.
    std::shared_ptr<ConnectionLayer> layer;
  };

  ConnectionServer(Options opts, Handler handler);
  ~ConnectionServer();
  ConnectionServer(const ConnectionServer&) = delete;
  ConnectionServer& operator=(const ConnectionServer&) = delete;

  // Binds and listens on a numeric IPv4/IPv6 address (port 0 picks one);
  // kInvalid for a bad address, kUnavailable when binding fails.
  Status listen(const std::string& address, uint16_t port);
  void start();  // the accept loop, on a thread of its own
  // Stops accepting, shuts down every connection (and its backend_fd), joins
  // every thread. The handler sees stopping() first.
  void stop();
  uint16_t port() const { return port_; }
  const std::atomic<bool>& stopping() const { return stopping_; }
  const ConnLimits& limits() const { return opts_.limits; }
  size_t active() const;  // connections being served now

 private:
  struct Lingering {  // a refused connection drained until the client reads the answer
    int fd;
    std::chrono::steady_clock::time_point until;
  };
  void accept_loop();
  enum class Accepted { kOne, kNone, kFailed };  // kFailed: back off
  Accepted accept_one();
  void serve_new(int fd);
  void refuse(int fd, int code, const std::string& reason, const std::string& message, bool linger);
  void reap();
  void wake();

  const Options opts_;
  const Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;   // eventfd: a connection finished, or stop()
  int spare_fd_ = -1;  // /dev/null, given up at EMFILE to refuse with a message
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  // Accept thread only:
  std::vector<Lingering> lingering_;
  int64_t last_resource_log_s_ = 0;  // one warning a second at most

  mutable std::mutex mu_;
  std::list<std::unique_ptr<Connection>> conns_;  // guarded by mu_
  size_t active_ = 0;                             // guarded by mu_: conns_ not yet done
};

}  // namespace minik8s
