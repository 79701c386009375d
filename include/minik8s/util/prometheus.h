// Pieces of the Prometheus text exposition format (0.0.4) shared by the API
// server's and the function gateway's /metrics.
//
// Histogram: fixed upper bounds (a static array, borrowed), per-bucket counts,
// sum and count; render() appends NAME_bucket{LABELS,le="…"} (cumulative),
// the +Inf bucket, NAME_sum and NAME_count. Not thread-safe: the owner locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace minik8s::prometheus {

// "%.9g": 0.005 → "0.005", 10 → "10".
std::string format_double(double v);
// A label value with \, " and newline escaped.
std::string escape_label(const std::string& s);

class Histogram {
 public:
  Histogram(const double* bounds, size_t n) : bounds_(bounds), counts_(n, 0) {}
  void observe(double v);
  // labels: `a="x",b="y"` (already escaped), or "".
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  const double* bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace minik8s::prometheus
