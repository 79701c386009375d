#include "minik8s/client/event_recorder.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "minik8s/util/time.h"

namespace minik8s::client {

using api::Json;
using api::sfield;

Json make_event(const Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
                const std::string& reason, const std::string& message, const EventSource& source,
                const std::string& field_path, SysTime now) {
  static std::atomic<uint64_t> seq{0};
  const Json& meta = api::field(obj, "metadata");
  std::string ns = sfield(meta, "namespace");
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%llx",
                static_cast<unsigned long long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() +
                    seq.fetch_add(1)));
  Json involved = {{"apiVersion", api_version}, {"kind", kind}, {"name", sfield(meta, "name")},
                   {"uid", sfield(meta, "uid")}};
  if (!ns.empty()) involved["namespace"] = ns;
  if (std::string rv = sfield(meta, "resourceVersion"); !rv.empty()) involved["resourceVersion"] = rv;
  if (!field_path.empty()) involved["fieldPath"] = field_path;
  Json src = {{"component", source.component}};
  if (!source.host.empty()) src["host"] = source.host;
  std::string ts = format_rfc3339(now);
  Json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", sfield(meta, "name") + suffix}, {"namespace", ns.empty() ? "default" : ns}}},
             {"involvedObject", involved},
             {"reason", reason},
             {"message", message},
             {"type", type},
             {"source", src},
             {"reportingComponent", source.component},
             {"firstTimestamp", ts},
             {"lastTimestamp", ts},
             {"eventTime", format_rfc3339_micro(now)},
             {"count", 1}};
  if (!source.host.empty()) ev["reportingInstance"] = source.host;
  return ev;
}

Json make_event(const Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
                const std::string& reason, const std::string& message, const EventSource& source,
                const std::string& field_path) {
  return make_event(obj, api_version, kind, type, reason, message, source, field_path, real_clock().now());
}

Json make_event(const Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
                const std::string& reason, const std::string& message, const std::string& component, SysTime now) {
  return make_event(obj, api_version, kind, type, reason, message, EventSource{component, ""}, "", now);
}

Json make_event(const Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
                const std::string& reason, const std::string& message, const std::string& component) {
  return make_event(obj, api_version, kind, type, reason, message, component, real_clock().now());
}

EventRecorder::EventRecorder(Client& client, EventSource source, size_t max_queued)
    : client_(client),
      source_(std::move(source)),
      max_queued_(max_queued),
      event_type_(api::find_kind("v1", "Event")) {}

EventRecorder::~EventRecorder() { stop(); }

void EventRecorder::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard l(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void EventRecorder::stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void EventRecorder::record(const Json& obj, const std::string& api_version, const std::string& kind,
                           const std::string& type, const std::string& reason, const std::string& message,
                           const std::string& field_path) {
  if (sfield(api::field(obj, "metadata"), "name").empty()) return;
  Json ev = make_event(obj, api_version, kind, type, reason, message, source_, field_path);
  std::lock_guard l(mu_);
  if (queue_.size() > max_queued_) queue_.pop_front();
  queue_.push_back(std::move(ev));
  cv_.notify_one();
}

void EventRecorder::loop() {
  std::unique_lock l(mu_);
  while (true) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, queue drained
    Json ev = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    if (event_type_) {
      auto r = client_.create(*event_type_, ev, sfield(ev["metadata"], "namespace"));
      if (!r) {
        spdlog::debug("{}: event {} not recorded: {}", source_.component, sfield(ev, "reason"),
                      r.status().to_string());
      }
    }
    l.lock();
  }
}

}  // namespace minik8s::client
