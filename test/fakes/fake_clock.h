// FakeClock: a Clock whose time moves only when the test says so. now()
// (wall clock) and monotonic() move together, by exactly what advance() is
// given, so a component's timestamps, deadlines and grace periods all see
// the same time. Thread-safe (the component reads it from its own threads
// while the test advances it). Header-only.
#pragma once

#include <chrono>
#include <mutex>

#include "minik8s/util/time.h"

namespace minik8s::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(SysTime start) : start_(start), now_(start) {}

  SysTime now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  std::chrono::steady_clock::time_point monotonic() const override {
    std::lock_guard lock(mu_);
    // An arbitrary origin: only differences of monotonic readings mean anything.
    return std::chrono::steady_clock::time_point(std::chrono::hours(1)) +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(now_ - start_);
  }
  void advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    now_ += std::chrono::duration_cast<SysTime::duration>(d);
  }

 private:
  const SysTime start_;
  mutable std::mutex mu_;
  SysTime now_;  // guarded by mu_
};

}  // namespace minik8s::testing
