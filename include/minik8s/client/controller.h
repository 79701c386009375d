// Controller: the reconcile-loop skeleton every controller shares (the
// sample-controller shape, STYLE.md §2; docs/controllers.md "How to write a
// controller").
//
// A subclass, in setup() (called once by start()):
//   1. takes informers from the SharedInformerFactory (factory()),
//   2. registers handlers with watch(informer, handlers) — handlers only
//      enqueue keys (enqueue()) — and any other cache to wait for with
//      wait_for(informer).
// start() then starts the factory's informers and N worker threads.
// Each worker waits until every watched cache has synced; on_synced() then
// runs once (before any reconcile), and the workers take keys off the work
// queue (de-duplicating; one worker per key at a time) and call
// reconcile(key). Its result:
//   done()              forget the key's backoff;
//   requeue()           queue the key again with the key's rate-limited backoff;
//   requeue_after(d)    forget the backoff, queue the key again after d;
//   error(status)       log it, retry with the key's backoff (5 ms doubling to
//                       ControllerOptions::max_backoff by default).
// A Status converts to a result: ok → done, Conflict / AlreadyExists (a stale
// cache raced a write) → requeue, anything else → error.
//
// Time: delays (requeue_after, backoff) run on the injected Clock's monotonic
// time, so a test with a FakeClock releases them by advancing it. Reconcile
// latency is measured on the steady clock (it is a cost, not a deadline).
//
// Metrics, per controller (metrics() / render_metrics() in the Prometheus text
// format with label controller="<name>"): workqueue_depth,
// workqueue_adds_total (every key handed to the queue: handler enqueues and
// re-adds), workqueue_retries_total (rate-limited re-adds: errors and
// requeue()), reconcile_total / reconcile_errors_total and the reconcile
// latency histogram. render_controller_metrics() renders several
// controllers' at once, one metric family at a time; `minik8s server` adds
// them to the API server's /metrics.
//
// Threads: the workers are the controller's; reconcile() runs on them, up to
// `workers` keys at once (never the same key twice at once). stop() removes
// the handlers from the informers (none runs after it returns), shuts the
// queue down and joins the workers; idempotent. A subclass calls stop() in its
// destructor (the workers call its virtual reconcile()); a stopped controller
// does not start again. The factory is borrowed and must outlive the
// controller; stopping the informers is the factory owner's job.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/client/work_queue.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::client {

class ReconcileResult {
 public:
  enum class Action { kDone, kRequeue, kRequeueAfter, kError };

  static ReconcileResult done() { return ReconcileResult(Action::kDone); }
  static ReconcileResult requeue() { return ReconcileResult(Action::kRequeue); }
  static ReconcileResult requeue_after(std::chrono::nanoseconds d) {
    ReconcileResult r(Action::kRequeueAfter);
    r.after_ = d;
    return r;
  }
  static ReconcileResult error(Status s) {
    ReconcileResult r(Action::kError);
    r.status_ = std::move(s);
    return r;
  }
  // ok → done; Conflict or AlreadyExists (the write raced a cache that is
  // behind: the next try sees the fresher object) → requeue, not an error;
  // anything else → error.
  ReconcileResult(Status s)  // NOLINT(google-explicit-constructor): `return status;` reads best
      : action_(action_for(s)), status_(std::move(s)) {}

  Action action() const { return action_; }
  std::chrono::nanoseconds after() const { return after_; }
  const Status& status() const { return status_; }

 private:
  explicit ReconcileResult(Action a) : action_(a) {}
  static Action action_for(const Status& s) {
    if (s.is_ok()) return Action::kDone;
    if (s.code() == Code::kConflict || s.code() == Code::kAlreadyExists) return Action::kRequeue;
    return Action::kError;
  }
  Action action_;
  std::chrono::nanoseconds after_{0};
  Status status_;
};

struct ControllerOptions {
  std::string name;  // logs and the metrics' controller label
  int workers = 1;
  std::chrono::nanoseconds min_backoff = std::chrono::milliseconds(5);
  std::chrono::nanoseconds max_backoff = std::chrono::seconds(1000);
};

struct ControllerMetrics {
  // Upper bounds (seconds) of the reconcile latency buckets; +Inf implied.
  static constexpr double kLatencyBuckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

  uint64_t workqueue_depth = 0;
  uint64_t workqueue_adds_total = 0;
  uint64_t workqueue_retries_total = 0;
  uint64_t reconcile_total = 0;
  uint64_t reconcile_errors_total = 0;
  // Per bucket (not cumulative); the last is +Inf.
  std::vector<uint64_t> latency_counts = std::vector<uint64_t>(std::size(kLatencyBuckets) + 1, 0);
  double latency_sum_seconds = 0;
};

class Controller {
 public:
  virtual ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // kInvalid when started twice (or after stop()); setup()'s error.
  Status start();
  void stop();

  const std::string& name() const { return opts_.name; }
  ControllerMetrics metrics() const;
  std::string render_metrics() const;

 protected:
  // The factory and clock are borrowed and must outlive the controller.
  Controller(SharedInformerFactory& factory, ControllerOptions opts, Clock& clock = real_clock());

  // Once, from start(), before the informers and workers start: informers,
  // handlers, indexes (see above). An error ends start().
  virtual Status setup() { return Status::ok(); }
  virtual ReconcileResult reconcile(const std::string& key) = 0;
  // Once, on a worker, after every cache synced and before the first reconcile.
  virtual void on_synced() {}
  // Once, at the end of the first stop(), after the workers joined: stops
  // threads of the subclass's own (the scheduler's binders).
  virtual void on_stopped() {}

  // Before start(): handlers on an informer (removed by stop()), whose cache
  // the workers wait for unless wait_for_cache is false (a controller that
  // must not stall on one kind waits in on_synced() itself).
  void watch(Informer& informer, EventHandlers handlers, bool wait_for_cache = true);
  // Before start(): another cache to wait for.
  void wait_for(const Informer& informer);

  void enqueue(const std::string& key);
  void enqueue_after(const std::string& key, std::chrono::nanoseconds delay);

  // True once stop() began (for waits in on_synced()).
  bool stopping() const { return queue_.shutting_down(); }
  SharedInformerFactory& factory() { return factory_; }
  Client& api_client() { return factory_.client(); }
  Clock& clock() { return clock_; }

 private:
  void run_worker(std::stop_token stop);
  bool wait_synced(const std::stop_token& stop) const;
  void process(const std::string& key);

  SharedInformerFactory& factory_;
  const ControllerOptions opts_;
  Clock& clock_;
  WorkQueue queue_;

  // Set up before start(), read-only after.
  std::vector<std::pair<Informer*, HandlerId>> handlers_;
  std::vector<const Informer*> caches_;

  std::once_flag synced_once_;
  std::atomic<uint64_t> adds_{0};
  std::atomic<uint64_t> retries_{0};

  mutable std::mutex metrics_mu_;
  // Guarded by metrics_mu_:
  uint64_t reconciles_ = 0;
  uint64_t errors_ = 0;
  std::vector<uint64_t> latency_counts_ = std::vector<uint64_t>(std::size(ControllerMetrics::kLatencyBuckets) + 1, 0);
  double latency_sum_ = 0;

  std::mutex lifecycle_mu_;
  // Guarded by lifecycle_mu_:
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::jthread> workers_;
};

// ControllerHandle: the public face of a controller class built on this
// runtime (the pimpl of src/controllers/ and the scheduler). It owns the
// client::Controller and, when built on a bare Client (most unit tests), a
// private factory whose informers stop() stops after the controller. A
// derived constructor calls set_impl() once, with own_factory(client) or a
// shared factory. stop() is idempotent and runs in the destructor.
class ControllerHandle {
 public:
  virtual ~ControllerHandle();
  ControllerHandle(const ControllerHandle&) = delete;
  ControllerHandle& operator=(const ControllerHandle&) = delete;

  Status start();
  void stop();
  const std::string& name() const;
  ControllerMetrics metrics() const;

 protected:
  ControllerHandle() = default;
  // A private factory over client, owned by the handle.
  SharedInformerFactory& own_factory(Client& client);
  void set_impl(std::unique_ptr<Controller> impl);
  const Controller& impl() const { return *impl_; }

 private:
  std::unique_ptr<SharedInformerFactory> own_factory_;  // declared first: outlives impl_
  std::unique_ptr<Controller> impl_;
};

// The Prometheus text format (HELP/TYPE, then one sample per controller, label
// controller="<name>") of (name, metrics) pairs: the families above.
std::string render_controller_metrics(const std::vector<std::pair<std::string, ControllerMetrics>>& controllers);

}  // namespace minik8s::client
