// The function gateway: an HTTP listener in `minik8s server` that invokes
// functions (docs/serverless.md "Gateway"). Thread per connection
// (ConnectionServer); each invocation leases an instance from the
// InstanceTable, forwards to its pod IP over a kept-alive connection, and
// answers with the runtime's response plus `X-Instance` and `X-Duration-Ms`
// (the runtime's own, or the round trip to the instance).
//
// With serve_workflows(), it also runs workflows: POST /workflows/<ns>/<name>
// creates a WorkflowRun and waits (on the connection's thread) for the run's
// terminal phase, seen on the WorkflowRun informer (docs/workflows.md
// "Gateway: workflows over HTTP").
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

namespace minik8s::client {
class Client;
class Informer;
}  // namespace minik8s::client

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
  // Before start(): serve POST /workflows/... (404 without). Runs are
  // created through client; runs is a WorkflowRun informer its owner starts.
  // Both are borrowed and outlive the gateway (stop() removes the handler).
  void serve_workflows(client::Client& client, client::Informer& runs);
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
