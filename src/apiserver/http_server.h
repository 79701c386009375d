// HttpServer: HTTP/1.1 over Boost.Beast with one thread per connection
// (synchronous I/O; keep-alive; chunked watch streams). Requests go to a
// RestHandler. Bodies over max_body_bytes get a 413 Status.
// Thread safety: start/stop from one owner thread; the handler is called
// concurrently from connection threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "handler.h"
#include "pod_proxy.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

class HttpServer {
 public:
  HttpServer(RestHandler& handler, size_t max_body_bytes);
  ~HttpServer();
  // Binds and listens (port 0 picks a free one); kUnavailable when binding fails.
  Status listen(const std::string& address, uint16_t port);
  // Starts accepting in a background thread.
  void start();
  void stop();
  uint16_t port() const { return port_; }

 private:
  // Each connection has its own io_context so a pods/exec session can run
  // asynchronous WebSocket relaying on its thread.
  struct Connection {
    std::unique_ptr<boost::asio::io_context> ioc = std::make_unique<boost::asio::io_context>();
    boost::asio::ip::tcp::socket socket{*ioc};
    int fd = -1;                         // socket's descriptor (the socket may move into a WebSocket)
    std::atomic<int> backend_fd{-1};     // a proxied kubelet connection, while open
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void accept_loop();
  void serve(Connection& c);
  void reap(bool all);

  RestHandler& handler_;
  PodProxy proxy_;
  const size_t max_body_bytes_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> conns_;  // guarded by mu_
};

}  // namespace minik8s::apiserver
