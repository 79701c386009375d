// InstanceTable: what the gateway, the function controller and the
// autoscaler of one `minik8s server` share about running functions
// (docs/serverless.md). The controller tells it which functions exist and
// which instances of each are ready; the gateway leases an instance per
// request (waiting, FIFO, while none has room) and gives it back; the
// autoscaler reads each function's load.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::serverless {

using SteadyClock = std::chrono::steady_clock;

// "namespace/name".
std::string function_key(const std::string& ns, const std::string& name);

// What the gateway needs of a Function (from its spec and status).
struct FunctionConfig {
  std::string ns;
  std::string name;
  std::string revision;  // status.revision: only its instances get new requests
  int target_concurrency = 1;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

// One initialised instance.
struct InstanceRef {
  std::string pod;
  std::string node;
  std::string ip;
  int port = 8080;
  std::string revision;
};

struct Lease {
  std::string key;
  InstanceRef instance;
  FunctionConfig function;  // as it was when the lease was granted
  bool cold = false;        // the request waited for an instance to appear
};

// Load of one function at a moment.
struct Load {
  int in_flight = 0;              // leased now
  int queued = 0;                 // waiting for an instance
  int ready = 0;                  // ready, not draining, current revision
  uint64_t requests = 0;          // leases granted since the function appeared
  SteadyClock::time_point last_request{};  // last acquire() call (epoch when none)
};

class InstanceTable {
 public:
  // on_demand(key) runs (on the caller's thread, without locks held) when a
  // request starts waiting because no instance has room: the controller
  // scales up at once instead of at the autoscaler's next tick.
  explicit InstanceTable(std::function<void(const std::string& key)> on_demand = nullptr);
  ~InstanceTable();
  InstanceTable(const InstanceTable&) = delete;
  InstanceTable& operator=(const InstanceTable&) = delete;

  // ---- the controller
  // Adds or updates a function. Instances of another revision stop getting
  // new requests (they drain).
  void set_function(const FunctionConfig& f);
  // Removes a function: its waiters get kNotFound, its instances no new requests.
  void remove_function(const std::string& key);
  // An instance ready to serve (idempotent; undoes drain_instance, not a
  // release() that marked it failed). Wakes waiters.
  void add_instance(const std::string& key, const InstanceRef& inst);
  // Stops new requests to an instance; in-flight ones finish.
  void drain_instance(const std::string& key, const std::string& pod);
  // Forgets an instance (its pod is gone).
  void remove_instance(const std::string& key, const std::string& pod);
  // Requests in flight on one instance (0 for unknown ones).
  int in_flight(const std::string& key, const std::string& pod) const;
  // Instances known for a function, draining ones included.
  std::vector<InstanceRef> instances(const std::string& key) const;

  // ---- the gateway
  // Leases the ready instance of the current revision with the fewest
  // in-flight requests below target_concurrency, waiting (FIFO) until
  // deadline. kNotFound: no such function (or removed while waiting);
  // kUnavailable: deadline passed, or the table is shutting down (the
  // message says which; Code has no kCancelled).
  Result<Lease> acquire(const std::string& key, SteadyClock::time_point deadline);
  // Gives a lease back. instance_failed: the instance died or broke the
  // protocol: it gets no more requests (the controller replaces it).
  void release(const Lease& lease, bool instance_failed);
  // Wakes every waiter with kUnavailable ("shutting down"); later acquires
  // fail at once.
  void shutdown();

  // ---- the autoscaler and metrics
  Load load(const std::string& key) const;
  std::vector<std::string> functions() const;
  // Instances marked failed by release() since the last call (key, pod).
  std::vector<std::pair<std::string, std::string>> take_failed();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::serverless
