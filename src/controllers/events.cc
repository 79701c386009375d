#include "events.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "minik8s/util/time.h"

namespace minik8s::controllers {

using api::Json;
using api::sfield;

Json make_event(const Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
                const std::string& reason, const std::string& message, const std::string& component) {
  return make_event(obj, api_version, kind, type, reason, message, component, real_clock().now());
}

Json make_event(const Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
                const std::string& reason, const std::string& message, const std::string& component, SysTime now) {
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
  std::string ts = format_rfc3339(now);
  return Json{{"apiVersion", "v1"},
              {"kind", "Event"},
              {"metadata", {{"name", sfield(meta, "name") + suffix}, {"namespace", ns.empty() ? "default" : ns}}},
              {"involvedObject", involved},
              {"reason", reason},
              {"message", message},
              {"type", type},
              {"source", {{"component", component}}},
              {"reportingComponent", component},
              {"firstTimestamp", ts},
              {"lastTimestamp", ts},
              {"eventTime", format_rfc3339_micro(now)},
              {"count", 1}};
}

}  // namespace minik8s::controllers
