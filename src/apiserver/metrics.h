// Prometheus metrics of the API server: request counts by verb/resource/code,
// request latency histograms by verb/resource, and the open watch count.
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "minik8s/util/prometheus.h"

namespace minik8s::apiserver {

class Metrics {
 public:
  void observe(const std::string& verb, const std::string& resource, int code, double seconds);
  void watch_opened() { watches_.fetch_add(1); }
  void watch_closed() { watches_.fetch_sub(1); }
  long watches() const { return watches_.load(); }
  // Another component's metrics (whole families in the text format),
  // appended to render() from now on.
  void add_source(std::function<std::string()> source);
  // The text exposition format (version 0.0.4).
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // guarded by mu_
  std::map<std::pair<std::string, std::string>, prometheus::Histogram> durations_;  // guarded by mu_
  std::atomic<long> watches_{0};
  std::vector<std::function<std::string()>> sources_;  // guarded by mu_
};

}  // namespace minik8s::apiserver
