// The serverless autoscaler: Knative's KPA (docs/serverless.md).
//
// Kpa is the pure decision for one function from concurrency samples;
// Autoscaler samples every function of an InstanceTable once a second,
// decides every tick, and reports changed recommendations.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "minik8s/serverless/instance_table.h"

namespace minik8s::serverless {

struct ScaleSettings {
  int min_scale = 0;
  int max_scale = 10;
  double target_concurrency = 1;
  std::chrono::seconds scale_to_zero_after{30};
};

struct KpaConfig {
  std::chrono::seconds stable_window{60};
  std::chrono::seconds panic_window{6};
  double panic_threshold = 2.0;     // panic when panic desired ≥ threshold × ready
  double max_scale_up_rate = 1000;  // desired ≤ rate × max(ready, 1)
  double max_scale_down_rate = 2;   // desired ≥ ready / rate
  std::chrono::milliseconds sample_period{1000};
  std::chrono::milliseconds tick_period{2000};
};

struct KpaDecision {
  int desired = 0;
  bool panic = false;
  double stable_concurrency = 0;
  double panic_concurrency = 0;
};

// One function's samples and panic state. Not thread-safe.
class Kpa {
 public:
  explicit Kpa(KpaConfig cfg = {}) : cfg_(cfg) {}
  // concurrency = in flight + queued at `now`.
  void record(SteadyClock::time_point now, double concurrency);
  // ready: instances serving now; busy: anything in flight or queued;
  // last_request: the last request's arrival (epoch when none).
  KpaDecision decide(SteadyClock::time_point now, int ready, bool busy,
                     SteadyClock::time_point last_request, const ScaleSettings& s);

 private:
  KpaConfig cfg_;
  std::deque<std::pair<SteadyClock::time_point, double>> samples_;
  SteadyClock::time_point panic_until_{};
  int max_panic_desired_ = 0;
};

class Autoscaler {
 public:
  // on_change(key) runs when a function's recommendation changes.
  Autoscaler(InstanceTable& table, KpaConfig cfg, std::function<void(const std::string&)> on_change);
  ~Autoscaler();
  void start();  // a thread: sample every sample_period, tick every tick_period
  void stop();
  void set_function(const std::string& key, const ScaleSettings& s);
  void remove_function(const std::string& key);
  // The recommendation (0 before the first tick unless min_scale > 0).
  int desired(const std::string& key) const;
  KpaDecision last(const std::string& key) const;
  // For tests: one sample / one decision round at `now`.
  void sample(SteadyClock::time_point now);
  void tick(SteadyClock::time_point now);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::serverless
