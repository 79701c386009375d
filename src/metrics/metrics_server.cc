// MetricsServer — stub until its implementation lands (see metrics.h).
#include "minik8s/metrics/metrics.h"

namespace minik8s::metrics {

struct MetricsServer::Impl {
  client::Client& client;
  MetricsOptions options;
};

MetricsServer::MetricsServer(client::Client& client, MetricsOptions options)
    : impl_(new Impl{client, options}) {}
MetricsServer::~MetricsServer() { stop(); }
Status MetricsServer::start() { return Status::ok(); }
void MetricsServer::stop() {}
std::shared_ptr<apiserver::ApiGroupProvider> MetricsServer::api_group() { return nullptr; }

}  // namespace minik8s::metrics
