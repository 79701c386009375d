#include "metrics.h"

#include <cstdio>

namespace minik8s::apiserver {

namespace {
constexpr double kBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
constexpr size_t kNumBuckets = sizeof(kBuckets) / sizeof(kBuckets[0]);

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

void Metrics::observe(const std::string& verb, const std::string& resource, int code,
                      double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{verb, resource, code}];
  auto& h = durations_[{verb, resource}];
  if (h.buckets.empty()) h.buckets.assign(kNumBuckets, 0);
  for (size_t i = 0; i < kNumBuckets; ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
  h.sum += seconds;
  ++h.count;
}

void Metrics::add_source(std::function<std::string()> source) {
  std::lock_guard lock(mu_);
  sources_.push_back(std::move(source));
}

std::string Metrics::render() const {
  std::string out;
  std::vector<std::function<std::string()>> sources;
  std::unique_lock lock(mu_);
  sources = sources_;
  out += "# HELP apiserver_request_total Requests by verb, resource and HTTP code.\n";
  out += "# TYPE apiserver_request_total counter\n";
  for (const auto& [k, v] : requests_) {
    out += "apiserver_request_total{verb=\"" + std::get<0>(k) + "\",resource=\"" + std::get<1>(k) +
           "\",code=\"" + std::to_string(std::get<2>(k)) + "\"} " + std::to_string(v) + "\n";
  }
  out += "# HELP apiserver_request_duration_seconds Request latency by verb and resource.\n";
  out += "# TYPE apiserver_request_duration_seconds histogram\n";
  for (const auto& [k, h] : durations_) {
    std::string labels = "verb=\"" + k.first + "\",resource=\"" + k.second + "\"";
    uint64_t cum = 0;
    for (size_t i = 0; i < kNumBuckets; ++i) {
      cum += h.buckets[i];
      out += "apiserver_request_duration_seconds_bucket{" + labels + ",le=\"" +
             fmt_double(kBuckets[i]) + "\"} " + std::to_string(cum) + "\n";
    }
    out += "apiserver_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    out += "apiserver_request_duration_seconds_sum{" + labels + "} " + fmt_double(h.sum) + "\n";
    out += "apiserver_request_duration_seconds_count{" + labels + "} " + std::to_string(h.count) +
           "\n";
  }
  out += "# HELP apiserver_registered_watchers Open watch streams.\n";
  out += "# TYPE apiserver_registered_watchers gauge\n";
  out += "apiserver_registered_watchers " + std::to_string(watches_.load()) + "\n";
  lock.unlock();
  for (const auto& source : sources) out += source();
  return out;
}

}  // namespace minik8s::apiserver
