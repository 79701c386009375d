// WorkQueue: the client-go work queue (de-duplicating, one worker per key,
// delayed and rate-limited re-adds).
//
// - add(key): queued once, however often it is added before a worker takes it.
// - get(key&): blocks until a key is ready; returns false once shutdown() was
//   called (pending keys are dropped). The key is then "processing": a worker
//   must call done(key). A key re-added while processing is not handed to
//   another worker; it is queued again when done(key) is called.
// - add_after(key, delay): add() once delay has passed (a background thread
//   owned by the queue fires it).
// - add_rate_limited(key): add_after with the key's backoff, which doubles on
//   each call (base_delay * 2^failures, capped at max_delay) until forget(key).
// - Delays are measured on WorkQueueOptions::clock's monotonic time (null: the
//   steady clock). With a clock other than real_clock() (a test's FakeClock)
//   the timer thread re-reads it every millisecond while keys are delayed, so
//   advancing the fake clock releases them.
// Thread safety: every method may be called from any thread. The destructor
// shuts the queue down and joins its timer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "minik8s/util/time.h"

namespace minik8s::client {

// Per-key exponential backoff (client-go ItemExponentialFailureRateLimiter).
// Thread-safe.
class ExponentialBackoff {
 public:
  ExponentialBackoff(std::chrono::nanoseconds base = std::chrono::milliseconds(5),
                     std::chrono::nanoseconds max = std::chrono::seconds(1000))
      : base_(base), max_(max) {}
  // The delay for this failure of key (and counts it).
  std::chrono::nanoseconds when(const std::string& key);
  void forget(const std::string& key);
  int failures(const std::string& key) const;

 private:
  const std::chrono::nanoseconds base_;
  const std::chrono::nanoseconds max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> failures_;  // guarded by mu_
};

struct WorkQueueOptions {
  std::chrono::nanoseconds base_delay = std::chrono::milliseconds(5);
  std::chrono::nanoseconds max_delay = std::chrono::seconds(1000);
  const Clock* clock = nullptr;  // borrowed, outlives the queue; null = steady clock
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions opts = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void add_after(const std::string& key, std::chrono::nanoseconds delay);
  void add_rate_limited(const std::string& key);
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

  bool get(std::string& key);
  void done(const std::string& key);

  void shutdown();
  bool shutting_down() const;
  // Keys waiting to be handed out (not processing, not delayed).
  size_t len() const;
  // Keys waiting for their delay (add_after / add_rate_limited).
  size_t delayed() const;

 private:
  using SteadyClock = std::chrono::steady_clock;
  SteadyClock::time_point now() const;
  void add_locked(const std::string& key);
  void timer_loop(std::stop_token stop);

  ExponentialBackoff backoff_;
  const minik8s::Clock* clock_;  // null: SteadyClock::now()
  const bool poll_clock_;        // clock_ is not real time: poll it while keys wait

  mutable std::mutex mu_;
  std::condition_variable cv_;        // workers waiting for a key
  std::condition_variable_any timer_cv_;  // the timer thread waiting for the next deadline
  // Guarded by mu_:
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // queued or to be re-queued after done
  std::unordered_set<std::string> processing_;
  std::multimap<SteadyClock::time_point, std::string> delayed_;
  bool shutting_down_ = false;

  std::jthread timer_;  // last: started after the state above exists
};

}  // namespace minik8s::client
