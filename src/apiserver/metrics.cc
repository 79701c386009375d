#include "metrics.h"

#include <cstdio>

namespace minik8s::apiserver {

namespace {
constexpr double kBuckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};
constexpr size_t kNumBuckets = sizeof(kBuckets) / sizeof(kBuckets[0]);

}  // namespace

void Metrics::observe(const std::string& verb, const std::string& resource, int code,
                      double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{verb, resource, code}];
  durations_.try_emplace({verb, resource}, kBuckets, kNumBuckets).first->second.observe(seconds);
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
  for (const auto& [k, h] : durations_)
    h.render(out, "apiserver_request_duration_seconds",
             "verb=\"" + k.first + "\",resource=\"" + k.second + "\"");
  out += "# HELP apiserver_registered_watchers Open watch streams.\n";
  out += "# TYPE apiserver_registered_watchers gauge\n";
  out += "apiserver_registered_watchers " + std::to_string(watches_.load()) + "\n";
  lock.unlock();
  for (const auto& source : sources) out += source();
  return out;
}

}  // namespace minik8s::apiserver
