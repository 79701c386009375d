// Platform: the serverless side of `minik8s server` in one object — the
// InstanceTable, the Autoscaler, the Gateway and the Function and Pool
// controllers, wired to one another (docs/serverless.md). server.cc builds
// it from flags, starts it after the other controllers and stops it first.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/serverless/autoscaler.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/serverless/gateway.h"
#include "minik8s/util/status.h"

namespace minik8s::serverless {

struct PlatformOptions {
  GatewayOptions gateway;
  // Host put in status.url when the gateway listens on a wildcard address.
  std::string advertise_host = "127.0.0.1";
  KpaConfig kpa;
  int pool_size = 2;
  std::string runtime_image = kRuntimeImage;
};

class Platform {
 public:
  // The factory is borrowed (shared with the other controllers) and must
  // outlive the platform.
  Platform(client::SharedInformerFactory& factory, PlatformOptions opts);
  ~Platform();  // stop()
  Platform(const Platform&) = delete;
  Platform& operator=(const Platform&) = delete;

  // Starts the controllers, the autoscaler and the gateway; on failure
  // stops what started.
  Status start();
  void stop();  // idempotent
  // "http://HOST:PORT" of the gateway (after start).
  std::string gateway_url() const;
  uint16_t gateway_port() const;
  // Controller metrics for the API server's /metrics, gateway metrics text.
  std::vector<std::pair<std::string, client::ControllerMetrics>> controller_metrics() const;
  std::string gateway_metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::serverless
