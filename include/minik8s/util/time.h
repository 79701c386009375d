// Wall-clock helpers in the formats the Kubernetes API uses, and an
// injectable Clock so that controllers and tests share one notion of "now".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace minik8s {

using SysTime = std::chrono::system_clock::time_point;

// RFC 3339 UTC with seconds precision: "2026-11-25T19:56:19Z".
std::string format_rfc3339(SysTime t);
// RFC 3339 with microseconds (MicroTime, used by Lease and Event): "...19.123456Z".
std::string format_rfc3339_micro(SysTime t);
// Parses RFC 3339 (with or without fraction, 'Z' or ±hh:mm). False on bad input.
bool parse_rfc3339(const std::string& s, SysTime* out);
// kubectl's human duration: "5s", "3m2s", "4h", "2d3h", "5y".
std::string human_duration(std::chrono::seconds d);

// Thread-safe. The real clock is system_clock for now() and steady_clock
// for monotonic(); tests use a fake (test/fakes/fake_clock.h) that moves
// both together.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: what timestamps written to the API carry.
  virtual SysTime now() const = 0;
  // For measuring intervals (grace periods, expiries): never jumps when the
  // wall clock is stepped.
  virtual std::chrono::steady_clock::time_point monotonic() const = 0;
};
Clock& real_clock();

}  // namespace minik8s
