#include "minik8s/serverless/instance_table.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

namespace minik8s::serverless {

std::string function_key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

namespace {

struct Instance {
  InstanceRef ref;
  int in_flight = 0;
  bool draining = false;
  bool failed = false;
};

// One acquire() waiting for room. Lives on the waiter's stack; the table
// holds a pointer while it is queued and never after it is done.
struct Waiter {
  std::condition_variable cv;
  bool done = false;  // guarded by Impl::mu: set once, when lease or status is final
  std::optional<Lease> lease;
  Status status;
  bool cold = false;  // no ready instance when it started waiting
};

struct Function {
  FunctionConfig cfg;
  std::map<std::string, Instance> instances;  // by pod name: ties break by name
  std::deque<Waiter*> waiters;                // FIFO
  uint64_t requests = 0;
  SteadyClock::time_point last_request{};
};

bool serves(const Function& f, const Instance& i) {
  return !i.draining && !i.failed && i.ref.revision == f.cfg.revision;
}

}  // namespace

struct InstanceTable::Impl {
  std::function<void(const std::string&)> on_demand;

  mutable std::mutex mu;
  // Guarded by mu:
  std::map<std::string, Function> functions;
  std::vector<std::pair<std::string, std::string>> failed;  // since take_failed()
  bool shut_down = false;

  // The serving instance with the fewest in flight below the target (the
  // first by pod name among equals), or nullptr.
  static Instance* pick(Function& f) {
    Instance* best = nullptr;
    int target = std::max(1, f.cfg.target_concurrency);
    for (auto& [pod, inst] : f.instances) {
      if (!serves(f, inst) || inst.in_flight >= target) continue;
      if (!best || inst.in_flight < best->in_flight) best = &inst;
    }
    return best;
  }

  static Lease grant(const std::string& key, Function& f, Instance& inst, bool cold) {
    ++inst.in_flight;
    ++f.requests;
    return Lease{key, inst.ref, f.cfg, cold};
  }

  // Hands free room to the waiters, oldest first.
  static void dispatch(const std::string& key, Function& f) {
    while (!f.waiters.empty()) {
      Instance* inst = pick(f);
      if (!inst) return;
      Waiter* w = f.waiters.front();
      f.waiters.pop_front();
      w->lease = grant(key, f, *inst, w->cold);
      w->done = true;
      w->cv.notify_one();
    }
  }

  static void finish_all(Function& f, const Status& status) {
    for (Waiter* w : f.waiters) {
      w->status = status;
      w->done = true;
      w->cv.notify_one();
    }
    f.waiters.clear();
  }
};

InstanceTable::InstanceTable(std::function<void(const std::string& key)> on_demand)
    : impl_(std::make_unique<Impl>()) {
  impl_->on_demand = std::move(on_demand);
}

InstanceTable::~InstanceTable() { shutdown(); }

void InstanceTable::set_function(const FunctionConfig& f) {
  std::lock_guard lock(impl_->mu);
  std::string key = function_key(f.ns, f.name);
  Function& fn = impl_->functions[key];
  fn.cfg = f;
  Impl::dispatch(key, fn);  // the target may have grown
}

void InstanceTable::remove_function(const std::string& key) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return;
  Impl::finish_all(it->second, Status(Code::kNotFound, "function \"" + key + "\" was deleted"));
  impl_->functions.erase(it);
}

void InstanceTable::add_instance(const std::string& key, const InstanceRef& inst) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return;
  Function& fn = it->second;
  Instance& i = fn.instances[inst.pod];
  i.ref = inst;
  i.draining = false;  // ready again (a scale-down undone); a failed one stays failed
  Impl::dispatch(key, fn);
}

void InstanceTable::drain_instance(const std::string& key, const std::string& pod) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return;
  auto inst = it->second.instances.find(pod);
  if (inst != it->second.instances.end()) inst->second.draining = true;
}

void InstanceTable::remove_instance(const std::string& key, const std::string& pod) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return;
  it->second.instances.erase(pod);
}

int InstanceTable::in_flight(const std::string& key, const std::string& pod) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return 0;
  auto inst = it->second.instances.find(pod);
  return inst == it->second.instances.end() ? 0 : inst->second.in_flight;
}

std::vector<InstanceRef> InstanceTable::instances(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  std::vector<InstanceRef> out;
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return out;
  for (const auto& [pod, inst] : it->second.instances) out.push_back(inst.ref);
  return out;
}

Result<Lease> InstanceTable::acquire(const std::string& key, SteadyClock::time_point deadline) {
  Waiter w;
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->shut_down)
      return Status(Code::kUnavailable, "the function gateway is shutting down");
    auto it = impl_->functions.find(key);
    if (it == impl_->functions.end())
      return Status(Code::kNotFound, "function \"" + key + "\" not found");
    Function& fn = it->second;
    fn.last_request = SteadyClock::now();
    if (fn.waiters.empty()) {
      if (Instance* inst = Impl::pick(fn)) return Impl::grant(key, fn, *inst, false);
    }
    w.cold = std::none_of(fn.instances.begin(), fn.instances.end(),
                          [&](const auto& p) { return serves(fn, p.second); });
    fn.waiters.push_back(&w);
  }
  if (impl_->on_demand) impl_->on_demand(key);

  std::unique_lock lock(impl_->mu);
  if (!w.cv.wait_until(lock, deadline, [&] { return w.done; })) {
    // Timed out while still queued: leave the queue (the function may be gone
    // already, in which case done would have been set).
    auto it = impl_->functions.find(key);
    if (it != impl_->functions.end()) {
      auto& q = it->second.waiters;
      q.erase(std::remove(q.begin(), q.end(), &w), q.end());
    }
    return Status(Code::kUnavailable, "no instance of " + key + " became ready in time");
  }
  if (w.lease) return std::move(*w.lease);
  return w.status;
}

void InstanceTable::release(const Lease& lease, bool instance_failed) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->functions.find(lease.key);
  if (it == impl_->functions.end()) return;
  Function& fn = it->second;
  auto inst = fn.instances.find(lease.instance.pod);
  if (inst != fn.instances.end()) {
    if (inst->second.in_flight > 0) --inst->second.in_flight;
    if (instance_failed && !inst->second.failed) {
      inst->second.failed = true;
      impl_->failed.emplace_back(lease.key, lease.instance.pod);
    }
  }
  Impl::dispatch(lease.key, fn);
}

void InstanceTable::shutdown() {
  std::lock_guard lock(impl_->mu);
  impl_->shut_down = true;
  for (auto& [key, fn] : impl_->functions) {
    Impl::finish_all(fn, Status(Code::kUnavailable, "the function gateway is shutting down"));
  }
}

Load InstanceTable::load(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  Load l;
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) return l;
  const Function& fn = it->second;
  for (const auto& [pod, inst] : fn.instances) {
    l.in_flight += inst.in_flight;
    if (serves(fn, inst)) ++l.ready;
  }
  l.queued = static_cast<int>(fn.waiters.size());
  l.requests = fn.requests;
  l.last_request = fn.last_request;
  return l;
}

std::vector<std::string> InstanceTable::functions() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  out.reserve(impl_->functions.size());
  for (const auto& [key, fn] : impl_->functions) out.push_back(key);
  return out;
}

std::vector<std::pair<std::string, std::string>> InstanceTable::take_failed() {
  std::lock_guard lock(impl_->mu);
  return std::exchange(impl_->failed, {});
}

}  // namespace minik8s::serverless
