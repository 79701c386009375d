// Trigger schedules (docs/workflows.md "Schedules"): 5-field cron (UTC),
// @yearly ... @hourly, and @every <Go duration>. Pure; thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::workflow {

class Schedule {
 public:
  // kInvalid naming the bad field/token, e.g. "minute field \"61\": out of range 0-59".
  static Result<Schedule> parse(const std::string& text);
  // The first firing time strictly after `after` (whole seconds, UTC).
  // For @every: after + interval.
  std::chrono::system_clock::time_point next(std::chrono::system_clock::time_point after) const;
  bool is_every() const { return every_.count() > 0; }
  std::chrono::seconds every() const { return every_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::chrono::seconds every_{0};
  // bit sets: minute 0-59, hour 0-23, dom 1-31, month 1-12, dow 0-6
  std::vector<bool> minute_, hour_, dom_, month_, dow_;
  bool dom_star_ = true, dow_star_ = true;
};

// Go's time.ParseDuration subset: "10s", "1m30s", "2h", "500ms", "1.5h".
Result<std::chrono::milliseconds> parse_go_duration(const std::string& text);

}  // namespace minik8s::workflow
