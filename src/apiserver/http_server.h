// HttpServer: HTTP/1.1 over Boost.Beast on a ConnectionServer
// (minik8s/util/conn_server.h: one thread per connection, a cap on
// connections, accept back-off; synchronous I/O; keep-alive; chunked watch
// streams). Requests go to a RestHandler. Bodies over max_body_bytes get a
// 413 Status; a request whose header, body or keep-alive wait outlasts the
// ConnLimits timeouts is closed.
// Thread safety: start/stop from one owner thread; the handler is called
// concurrently from connection threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "handler.h"
#include "pod_proxy.h"
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

class HttpServer {
 public:
  // spawn: how connection threads start (empty: std::thread; tests inject failures).
  // layer: TLS (minik8s/auth/tls.h) or null for plain HTTP; a client
  // certificate it verified becomes the requests' client_cert.
  HttpServer(RestHandler& handler, size_t max_body_bytes, const ConnLimits& limits = {},
             ConnectionServer::Spawner spawn = nullptr, std::shared_ptr<ConnectionLayer> layer = nullptr);
  ~HttpServer();
  // Binds and listens (port 0 picks a free one); kUnavailable when binding fails.
  Status listen(const std::string& address, uint16_t port);
  // Starts accepting in a background thread.
  void start();
  void stop();
  uint16_t port() const { return conns_.port(); }

 private:
  void serve(Connection& c);

  RestHandler& handler_;
  PodProxy proxy_;
  const size_t max_body_bytes_;
  ConnectionServer conns_;
};

}  // namespace minik8s::apiserver
