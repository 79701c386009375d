#include "minik8s/serverless/platform.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

#include "minik8s/api/resource.h"
#include "minik8s/serverless/workflows.h"
#include "minik8s/serverless/triggers.h"

namespace minik8s::serverless {

struct Platform::Impl {
  client::SharedInformerFactory& factory;
  PlatformOptions opts;
  // The controller is created after the table and autoscaler whose
  // callbacks reach it: they go through this pointer, null until then.
  std::atomic<FunctionController*> fnctl{nullptr};
  InstanceTable table;
  Autoscaler autoscaler;
  std::unique_ptr<FunctionController> functions;
  std::unique_ptr<PoolController> pool;
  std::unique_ptr<WorkflowController> workflows;
  std::unique_ptr<TriggerController> triggers;
  std::unique_ptr<Gateway> gateway;
  std::string url;

  Impl(client::SharedInformerFactory& f, PlatformOptions o)
      : factory(f),
        opts(std::move(o)),
        table([this](const std::string& key) { poke(key); }),
        autoscaler(table, opts.kpa, [this](const std::string& key) { poke(key); }) {}

  void poke(const std::string& key) {
    if (auto* c = fnctl.load()) c->enqueue(key);
  }
};

Platform::Platform(client::SharedInformerFactory& factory, PlatformOptions opts)
    : impl_(std::make_unique<Impl>(factory, std::move(opts))) {}

Platform::~Platform() { stop(); }

Status Platform::start() {
  auto& d = *impl_;
  const api::ResourceType* fn_type = api::find_kind(kApiVersion, "Function");
  if (!fn_type) return Status(Code::kInternal, "the Function kind is not in the kind table");
  client::Informer& fns = d.factory.informer(*fn_type);
  d.gateway = std::make_unique<Gateway>(d.table, d.opts.gateway, [&fns](const std::string& key) {
    // Until the Function informer has listed, a name it lacks may still
    // exist (right after a server restart, a resumed workflow's first Task
    // got 404): unknown counts as existing, and the gateway's wait loop asks
    // again until the cache has synced.
    return !fns.has_synced() || fns.indexer().get(key) != nullptr;
  });
  if (const api::ResourceType* runs = api::find_kind(kApiVersion, "WorkflowRun"))
    d.gateway->serve_workflows(d.factory.client(), d.factory.informer(*runs));
  if (Status st = d.gateway->start(); !st) {
    d.gateway.reset();
    return Status(st.code(), "function gateway on " + d.opts.gateway.listen + ": " + st.message());
  }
  // The gateway has checked the address is HOST:PORT.
  const std::string& listen = d.opts.gateway.listen;
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = d.opts.advertise_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  d.url = "http://" + host + ":" + std::to_string(d.gateway->port());

  FunctionControllerOptions fo;
  fo.gateway_url = d.url;
  fo.runtime_image = d.opts.runtime_image;
  d.functions = std::make_unique<FunctionController>(d.factory, d.table, d.autoscaler, fo);
  if (Status st = d.functions->start(); !st) {
    stop();
    return Status(st.code(), "function controller: " + st.message());
  }
  d.fnctl.store(d.functions.get());
  if (d.opts.pool_size > 0) {
    PoolOptions po;
    po.pool_size = d.opts.pool_size;
    po.runtime_image = d.opts.runtime_image;
    d.pool = std::make_unique<PoolController>(d.factory, po);
    if (Status st = d.pool->start(); !st) {
      stop();
      return Status(st.code(), "function pool controller: " + st.message());
    }
  }
  WorkflowControllerOptions wo;
  wo.gateway_url = d.url;
  d.workflows = std::make_unique<WorkflowController>(d.factory, wo);
  if (Status st = d.workflows->start(); !st) {
    stop();
    return Status(st.code(), "workflow executor: " + st.message());
  }
  d.triggers = std::make_unique<TriggerController>(d.factory, TriggerControllerOptions{});
  if (Status st = d.triggers->start(); !st) {
    stop();
    return Status(st.code(), "trigger controller: " + st.message());
  }
  d.autoscaler.start();
  spdlog::info("function gateway listening on {} ({}), warm pool {} per node", d.opts.gateway.listen, d.url,
               d.opts.pool_size);
  return Status::ok();
}

void Platform::stop() {
  auto& d = *impl_;
  // Waiters first (they hold gateway threads), then the listener, then the
  // controllers the callbacks reach.
  // Triggers first: their firings call the gateway.
  if (d.triggers) d.triggers->stop();
  d.table.shutdown();
  if (d.gateway) d.gateway->stop();
  d.autoscaler.stop();
  d.fnctl.store(nullptr);
  if (d.workflows) d.workflows->stop();
  d.workflows.reset();
  if (d.pool) d.pool->stop();
  if (d.functions) d.functions->stop();
  d.triggers.reset();
  d.pool.reset();
  d.functions.reset();
  d.gateway.reset();
}

std::string Platform::gateway_url() const { return impl_->url; }

uint16_t Platform::gateway_port() const { return impl_->gateway ? impl_->gateway->port() : 0; }

std::vector<std::pair<std::string, client::ControllerMetrics>> Platform::controller_metrics() const {
  std::vector<std::pair<std::string, client::ControllerMetrics>> out;
  if (impl_->functions) out.emplace_back(impl_->functions->name(), impl_->functions->metrics());
  if (impl_->pool) out.emplace_back(impl_->pool->name(), impl_->pool->metrics());
  if (impl_->workflows) out.emplace_back(impl_->workflows->name(), impl_->workflows->metrics());
  if (impl_->triggers) out.emplace_back(impl_->triggers->name(), impl_->triggers->metrics());
  return out;
}

std::string Platform::gateway_metrics() const { return impl_->gateway ? impl_->gateway->metrics_text() : ""; }

}  // namespace minik8s::serverless
