// The function gateway: an HTTP listener in `minik8s server` that invokes
// functions (docs/serverless.md "Gateway"). Thread per connection
// (ConnectionServer); each invocation leases an instance from the
// InstanceTable, forwards to its pod IP over a kept-alive connection, and
// answers with the runtime's response plus `X-Instance`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "minik8s/serverless/instance_table.h"
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::serverless {

struct GatewayOptions {
  std::string listen = "0.0.0.0:31080";  // HOST:PORT; port 0 picks one
  std::chrono::milliseconds queue_timeout{std::chrono::seconds(30)};
  size_t max_body_bytes = 6 * 1024 * 1024;
  ConnLimits limits;
};

class Gateway {
 public:
  // lookup(key) tells whether a Function exists (for 404 vs waiting before
  // the controller has registered it); the table is borrowed.
  Gateway(InstanceTable& table, GatewayOptions opts,
          std::function<bool(const std::string& key)> exists = nullptr);
  ~Gateway();
  // Listens on opts.listen (kInvalid for a malformed address, kUnavailable
  // when binding fails) and serves on a thread of its own.
  Status start();
  // Stops serving and joins every connection thread. Shuts the table down
  // too (InstanceTable::shutdown), so that held requests end at once.
  void stop();
  uint16_t port() const;
  // The Prometheus text of the gateway's metrics (also served on its /metrics).
  std::string metrics_text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::serverless
