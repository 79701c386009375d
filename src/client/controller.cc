#include "minik8s/client/controller.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace minik8s::client {

Controller::Controller(SharedInformerFactory& factory, ControllerOptions opts, Clock& clock)
    : factory_(factory),
      opts_(std::move(opts)),
      clock_(clock),
      queue_(WorkQueueOptions{opts_.min_backoff, opts_.max_backoff, &clock_}) {}

Controller::~Controller() { stop(); }

void Controller::watch(Informer& informer, EventHandlers handlers, bool wait_for_cache) {
  handlers_.emplace_back(&informer, informer.add_event_handlers(std::move(handlers)));
  if (wait_for_cache) wait_for(informer);
}

void Controller::wait_for(const Informer& informer) { caches_.push_back(&informer); }

void Controller::enqueue(const std::string& key) {
  adds_++;
  queue_.add(key);
}

void Controller::enqueue_after(const std::string& key, std::chrono::nanoseconds delay) {
  adds_++;
  queue_.add_after(key, delay);
}

Status Controller::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_ || stopped_) return Status(Code::kInvalid, opts_.name + " controller already started");
  started_ = true;
  if (Status st = setup(); !st.is_ok()) return st;
  factory_.start();
  int n = opts_.workers < 1 ? 1 : opts_.workers;
  for (int i = 0; i < n; ++i) workers_.emplace_back([this](std::stop_token st) { run_worker(st); });
  return Status::ok();
}

void Controller::stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  // No handler runs (or enqueues) after this.
  for (auto& [informer, id] : handlers_) informer->remove_event_handlers(id);
  queue_.shutdown();
  for (auto& w : workers_) w.request_stop();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
  on_stopped();
}

bool Controller::wait_synced(const std::stop_token& stop) const {
  while (!stop.stop_requested() && !queue_.shutting_down()) {
    bool all = true;
    for (const Informer* c : caches_) all = all && c->has_synced();
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void Controller::run_worker(std::stop_token stop) {
  if (!wait_synced(stop)) return;
  std::call_once(synced_once_, [this] { on_synced(); });
  std::string key;
  while (queue_.get(key)) {
    process(key);
    queue_.done(key);
  }
}

void Controller::process(const std::string& key) {
  auto t0 = std::chrono::steady_clock::now();
  ReconcileResult r = reconcile(key);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard lock(metrics_mu_);
    reconciles_++;
    if (r.action() == ReconcileResult::Action::kError) errors_++;
    size_t b = 0;
    while (b < std::size(ControllerMetrics::kLatencyBuckets) && secs > ControllerMetrics::kLatencyBuckets[b]) ++b;
    latency_counts_[b]++;
    latency_sum_ += secs;
  }
  switch (r.action()) {
    case ReconcileResult::Action::kDone:
      queue_.forget(key);
      break;
    case ReconcileResult::Action::kRequeueAfter:
      queue_.forget(key);
      adds_++;
      queue_.add_after(key, r.after());
      break;
    case ReconcileResult::Action::kError:
      spdlog::warn("{}: {}: {}", opts_.name, key, r.status().to_string());
      [[fallthrough]];
    case ReconcileResult::Action::kRequeue:
      if (r.action() == ReconcileResult::Action::kRequeue && !r.status().is_ok()) {
        spdlog::debug("{}: {}: {} (retrying)", opts_.name, key, r.status().to_string());
      }
      adds_++;
      retries_++;
      queue_.add_rate_limited(key);
      break;
  }
}

ControllerHandle::~ControllerHandle() { stop(); }

Status ControllerHandle::start() { return impl_->start(); }

void ControllerHandle::stop() {
  if (impl_) impl_->stop();
  if (own_factory_) own_factory_->stop();
}

const std::string& ControllerHandle::name() const { return impl_->name(); }

ControllerMetrics ControllerHandle::metrics() const { return impl_->metrics(); }

SharedInformerFactory& ControllerHandle::own_factory(Client& client) {
  own_factory_ = std::make_unique<SharedInformerFactory>(client);
  return *own_factory_;
}

void ControllerHandle::set_impl(std::unique_ptr<Controller> impl) { impl_ = std::move(impl); }

ControllerMetrics Controller::metrics() const {
  ControllerMetrics m;
  m.workqueue_depth = queue_.len();
  m.workqueue_adds_total = adds_.load();
  m.workqueue_retries_total = retries_.load();
  std::lock_guard lock(metrics_mu_);
  m.reconcile_total = reconciles_;
  m.reconcile_errors_total = errors_;
  m.latency_counts = latency_counts_;
  m.latency_sum_seconds = latency_sum_;
  return m;
}

std::string Controller::render_metrics() const { return render_controller_metrics({{name(), metrics()}}); }

std::string render_controller_metrics(const std::vector<std::pair<std::string, ControllerMetrics>>& controllers) {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto&& value_of) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [controller, m] : controllers) {
      out += std::string(name) + "{controller=\"" + controller + "\"} " + std::to_string(value_of(m)) + "\n";
    }
  };
  family("workqueue_depth", "gauge", "Keys waiting in the controller's work queue.",
         [](const ControllerMetrics& m) { return m.workqueue_depth; });
  family("workqueue_adds_total", "counter", "Keys handed to the work queue (handler enqueues and re-adds).",
         [](const ControllerMetrics& m) { return m.workqueue_adds_total; });
  family("workqueue_retries_total", "counter", "Rate-limited re-adds (errors and requeue()).",
         [](const ControllerMetrics& m) { return m.workqueue_retries_total; });
  family("controller_reconcile_total", "counter", "reconcile() calls.",
         [](const ControllerMetrics& m) { return m.reconcile_total; });
  family("controller_reconcile_errors_total", "counter", "reconcile() calls that returned an error.",
         [](const ControllerMetrics& m) { return m.reconcile_errors_total; });
  const std::string hist = "controller_reconcile_duration_seconds";
  out += "# HELP " + hist + " reconcile() latency.\n# TYPE " + hist + " histogram\n";
  char buf[64];
  for (const auto& [controller, m] : controllers) {
    const std::string label = "controller=\"" + controller + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < m.latency_counts.size(); ++i) {
      cumulative += m.latency_counts[i];
      if (i < std::size(ControllerMetrics::kLatencyBuckets)) {
        std::snprintf(buf, sizeof buf, "%g", ControllerMetrics::kLatencyBuckets[i]);
      } else {
        std::snprintf(buf, sizeof buf, "+Inf");
      }
      out += hist + "_bucket{" + label + ",le=\"" + buf + "\"} " + std::to_string(cumulative) + "\n";
    }
    std::snprintf(buf, sizeof buf, "%.6f", m.latency_sum_seconds);
    out += hist + "_sum{" + label + "} " + buf + "\n";
    out += hist + "_count{" + label + "} " + std::to_string(cumulative) + "\n";
  }
  return out;
}

}  // namespace minik8s::client
