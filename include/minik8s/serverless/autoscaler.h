// The serverless autoscaler: Knative's KPA (docs/serverless.md "Autoscaler").
//
// Kpa is the pure decision for one function: it keeps per-second
// concurrency samples and the panic state, and turns them into a desired
// instance count. Time is always passed in (no clock inside), so tests drive
// it with made-up time points.
//
// Autoscaler owns one Kpa per registered function. Its thread samples every
// function's load (in flight + queued) every sample_period, decides every
// tick_period, and calls on_change(key) when a function's recommendation
// changed. The load comes from an InstanceTable or from any LoadSource.
//
// Thread safety: Kpa is not thread-safe. Every Autoscaler member may be called
// from any thread; on_change and the LoadSource run on the caller of
// sample()/tick() (the Autoscaler's thread once started) without the
// Autoscaler's lock held, so they may call back into it (all but stop() and
// the destructor, which join that thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "minik8s/serverless/instance_table.h"

namespace minik8s::serverless {

struct ScaleSettings {
  int min_scale = 0;
  int max_scale = 10;             // ≤ 0: no upper bound (Knative's "0 = unlimited")
  double target_concurrency = 1;  // not > 0 or not finite: treated as 1
  std::chrono::seconds scale_to_zero_after{30};
};

struct KpaConfig {
  std::chrono::seconds stable_window{60};
  std::chrono::seconds panic_window{6};
  double panic_threshold = 2.0;     // panic when panic desired ≥ threshold × max(ready, 1)
  double max_scale_up_rate = 1000;  // desired ≤ ceil(rate × max(ready, 1))
  double max_scale_down_rate = 2;   // desired ≥ floor(max(ready, 1) / rate)
  std::chrono::milliseconds sample_period{1000};  // also the width of one sample bucket
  std::chrono::milliseconds tick_period{2000};
};

struct KpaDecision {
  int desired = 0;
  bool panic = false;
  double stable_concurrency = 0;  // average over the stable window
  double panic_concurrency = 0;   // average over the panic window
};

// One function's samples and panic state. Not thread-safe.
class Kpa {
 public:
  explicit Kpa(KpaConfig cfg = {});
  // concurrency = in flight + queued at `now`. NaN is ignored, negatives
  // count as 0, and anything above kMaxConcurrency as kMaxConcurrency.
  void record(SteadyClock::time_point now, double concurrency);
  // ready: instances serving now; busy: anything in flight or queued;
  // last_request: the last request's arrival (epoch when none).
  KpaDecision decide(SteadyClock::time_point now, int ready, bool busy,
                     SteadyClock::time_point last_request, const ScaleSettings& s);

  static constexpr double kMaxConcurrency = 1e9;

 private:
  struct Bucket {
    int64_t index;  // time_since_epoch / sample_period
    double sum;
    int count;
  };
  double average(SteadyClock::time_point now, std::chrono::milliseconds window) const;
  void note_time(SteadyClock::time_point now);

  KpaConfig cfg_;
  std::deque<Bucket> buckets_;  // oldest first, at most one per sample_period
  bool seen_ = false;
  SteadyClock::time_point first_seen_{};  // first record()/decide(): "registered"
  SteadyClock::time_point last_busy_{};   // last sample > 0 or decide(busy)
  bool decided_ = false;
  bool panicking_ = false;
  SteadyClock::time_point last_over_threshold_{};
  int max_panic_desired_ = 0;
  int last_desired_ = 0;
};

class Autoscaler {
 public:
  // The load of one function; unknown keys give a zero Load.
  using LoadSource = std::function<Load(const std::string& key)>;
  using OnChange = std::function<void(const std::string& key)>;

  Autoscaler(LoadSource load, KpaConfig cfg, OnChange on_change);
  // Reads the load of a table that outlives this Autoscaler.
  Autoscaler(InstanceTable& table, KpaConfig cfg, OnChange on_change)
      : Autoscaler([&table](const std::string& key) { return table.load(key); }, cfg,
                   std::move(on_change)) {}
  ~Autoscaler();  // stops the thread
  Autoscaler(const Autoscaler&) = delete;
  Autoscaler& operator=(const Autoscaler&) = delete;

  void start();  // a thread: sample every sample_period, tick every tick_period (idempotent)
  void stop();   // joins the thread (idempotent)
  // Adds a function or changes its settings (history and panic state are kept).
  void set_function(const std::string& key, const ScaleSettings& s);
  void remove_function(const std::string& key);
  // The recommendation: max(min_scale, 0) until a tick decides otherwise; 0
  // for unknown keys.
  int desired(const std::string& key) const;
  KpaDecision last(const std::string& key) const;
  // One sample / one decision round at `now` (the thread calls these; tests
  // call them with their own time points instead of start()).
  void sample(SteadyClock::time_point now);
  void tick(SteadyClock::time_point now);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::serverless
