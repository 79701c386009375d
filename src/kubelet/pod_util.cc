#include "pod_util.h"

#include <algorithm>
#include <cstdio>

#include "labels.h"
#include "minik8s/util/hash.h"
#include "minik8s/util/time.h"

namespace minik8s::kubelet {

using std::chrono::milliseconds;

int64_t iget(const json& j, const char* k, int64_t d) {
  const json& v = at(j, k);
  return v.is_number_integer() ? v.get<int64_t>() : d;
}
std::string restart_policy(const json& pod) {
  std::string p = sget(spec(pod), "restartPolicy");
  return p.empty() ? "Always" : p;
}
cri::ContainerFilter by_labels(cri::Labels labels) {
  cri::ContainerFilter f;
  f.label_selector = std::move(labels);
  return f;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::string rfc3339_ns(int64_t ns) {
  return format_rfc3339(SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(ns))));
}
std::string now_rfc3339() { return format_rfc3339(std::chrono::system_clock::now()); }
TimePoint steady_at_ns(int64_t ns) { return Steady::now() + std::chrono::nanoseconds(ns - now_ns()); }

std::string go_duration(milliseconds d) {
  int64_t ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t h = ms / 3600000, m = ms / 60000 % 60;
  std::string secs = std::to_string(ms / 1000 % 60);
  if (ms % 1000) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%03lld", static_cast<long long>(ms % 1000));
    std::string frac = buf;
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    secs += "." + frac;
  }
  std::string out;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  return out + secs + "s";
}

namespace {
std::string fnv1a_hex(const std::string& s) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64(s)));
  return buf;
}
}  // namespace

std::string container_hash(const json& c) { return fnv1a_hex(c.dump()); }

bool want_restart(const std::string& policy, int32_t exit_code, bool init) {
  if (policy == "Never") return false;
  if (policy == "OnFailure" || init) return exit_code != 0;
  return true;  // Always
}

uint32_t restart_count_of(const cri::Container& c) {
  auto it = c.annotations.find(kRestartCountAnnotation);
  if (it != c.annotations.end()) {
    try {
      return static_cast<uint32_t>(std::stoul(it->second));
    } catch (...) {
    }
  }
  return c.attempt;
}

void sort_newest_first(std::vector<cri::Container>& v) {
  std::sort(v.begin(), v.end(), [](const cri::Container& a, const cri::Container& b) {
    uint32_t ra = restart_count_of(a), rb = restart_count_of(b);
    if (ra != rb) return ra > rb;
    return a.created_at > b.created_at;
  });
}

ContainersByName group_by_name(const std::vector<cri::Container>& v) {
  ContainersByName by_name;
  for (const auto& c : v) by_name[c.name].push_back(c);
  for (auto& [n, list] : by_name) sort_newest_first(list);
  return by_name;
}

}  // namespace minik8s::kubelet
