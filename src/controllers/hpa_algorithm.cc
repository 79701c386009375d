// See hpa_algorithm.h. Comments name the Kubernetes function each piece ports.
#include "hpa_algorithm.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/quantity.h"

namespace minik8s::controllers::hpa {

using api::field;
using api::Json;
using api::sfield;

namespace {

int64_t milli_of(const Json& q) {
  std::string text = q.is_string() ? q.get<std::string>() : q.is_number() ? q.dump() : "";
  auto parsed = api::Quantity::parse(text);
  return parsed ? parsed->milli_value() : 0;
}

std::chrono::milliseconds parse_window(const std::string& text) {
  // metav1.Duration text such as "1s", "10.5s", "1m0s", "500ms".
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i) return std::chrono::milliseconds(0);
    double num = std::atof(text.substr(start, i - start).c_str());
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(ustart, i - ustart);
    if (unit == "h") total_ms += num * 3600000;
    else if (unit == "m") total_ms += num * 60000;
    else if (unit == "s") total_ms += num * 1000;
    else if (unit == "ms") total_ms += num;
    else if (unit == "us" || unit == "µs") total_ms += num / 1000;
    else if (unit == "ns") total_ms += num / 1e6;
    else return std::chrono::milliseconds(0);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

bool parse_time(const Json& v, SysTime* out) { return v.is_string() && parse_rfc3339(v.get<std::string>(), out); }

struct Groups {
  int ready = 0;
  std::set<std::string> unready, missing, ignored;
};

// groupPods
Groups group_pods(const std::vector<const Json*>& pods, const PodMetrics& metrics, const std::string& resource,
                  const CalcOptions& opts) {
  Groups g;
  for (const Json* pod : pods) {
    const Json& meta = field(*pod, "metadata");
    const Json& status = field(*pod, "status");
    std::string name = sfield(meta, "name");
    std::string phase = sfield(status, "phase");
    if (!field(meta, "deletionTimestamp").is_null() || phase == "Failed") {
      g.ignored.insert(name);
      continue;
    }
    if (phase == "Pending" || phase.empty()) {
      g.unready.insert(name);
      continue;
    }
    auto it = metrics.find(name);
    if (it == metrics.end()) {
      g.missing.insert(name);
      continue;
    }
    if (resource == "cpu") {
      const Json* ready = nullptr;
      const Json& conds = field(status, "conditions");
      if (conds.is_array()) {
        for (const auto& c : conds) {
          if (sfield(c, "type") == "Ready") ready = &c;
        }
      }
      SysTime start{};
      bool unready = false;
      if (!ready || !parse_time(field(status, "startTime"), &start)) {
        unready = true;
      } else {
        SysTime transition{};
        parse_time(field(*ready, "lastTransitionTime"), &transition);
        bool is_false = sfield(*ready, "status") == "False";
        if (start + opts.cpu_initialization_period > opts.now) {
          // Still initialising: ignore the sample if the pod is unready or no
          // full metric window was collected since it became ready.
          unready = is_false || it->second.timestamp < transition + it->second.window;
        } else {
          // Ignore it if it is unready and has never been ready.
          unready = is_false && start + opts.initial_readiness_delay > transition;
        }
      }
      if (unready) {
        g.unready.insert(name);
        continue;
      }
    }
    ++g.ready;
  }
  return g;
}

// calculatePodRequests
Result<std::map<std::string, int64_t>> pod_requests(const std::vector<const Json*>& pods, const std::string& resource) {
  std::map<std::string, int64_t> out;
  for (const Json* pod : pods) {
    std::string pod_name = sfield(field(*pod, "metadata"), "name");
    const Json& spec = field(*pod, "spec");
    std::vector<const Json*> containers;
    if (field(spec, "containers").is_array()) {
      for (const auto& c : spec["containers"]) containers.push_back(&c);
    }
    if (field(spec, "initContainers").is_array()) {  // restartable (sidecar) init containers count
      for (const auto& c : spec["initContainers"]) {
        if (sfield(c, "restartPolicy") == "Always") containers.push_back(&c);
      }
    }
    int64_t sum = 0;
    for (const Json* c : containers) {
      const Json& req = field(field(field(*c, "resources"), "requests"), resource.c_str());
      if (req.is_null()) {
        return Status(Code::kInvalid, "missing request for " + resource + " in container " + sfield(*c, "name") +
                                          " of Pod " + pod_name);
      }
      sum += milli_of(req);
    }
    out[pod_name] = sum;
  }
  return out;
}

struct UtilizationRatio {
  double ratio = 0;
  int32_t utilization = 0;
  int64_t raw_average = 0;
};

// metricsclient.GetResourceUtilizationRatio
Result<UtilizationRatio> utilization_ratio(const PodMetrics& metrics, const std::map<std::string, int64_t>& requests,
                                           int32_t target) {
  int64_t metrics_total = 0, requests_total = 0, entries = 0;
  for (const auto& [name, m] : metrics) {
    auto it = requests.find(name);
    if (it == requests.end()) continue;  // extraneous metrics
    metrics_total += m.value;
    requests_total += it->second;
    ++entries;
  }
  if (requests_total == 0) return Status(Code::kInvalid, "no metrics returned matched known pods");
  UtilizationRatio r;
  double pct = static_cast<double>(metrics_total) * 100.0 / static_cast<double>(requests_total);
  r.utilization = static_cast<int32_t>(std::clamp(pct, 0.0, 2147483647.0));
  r.ratio = static_cast<double>(r.utilization) / static_cast<double>(target);
  r.raw_average = metrics_total / entries;
  return r;
}

// metricsclient.GetMetricUsageRatio
std::pair<double, int64_t> usage_ratio(const PodMetrics& metrics, int64_t target) {
  int64_t total = 0;
  for (const auto& [name, m] : metrics) total += m.value;
  int64_t current = metrics.empty() ? 0 : total / static_cast<int64_t>(metrics.size());
  return {static_cast<double>(current) / static_cast<double>(target), current};
}

bool within(double ratio, double tolerance) { return std::fabs(1.0 - ratio) <= tolerance; }

void remove_pods(PodMetrics& metrics, const std::set<std::string>& names) {
  for (const auto& n : names) metrics.erase(n);
}

// Samples of pods the selector does not (or no longer) match say nothing
// about this target (Kubernetes gets none: it asks with the selector).
void keep_listed(PodMetrics& metrics, const std::vector<const Json*>& pods) {
  std::set<std::string> names;
  for (const Json* p : pods) names.insert(sfield(field(*p, "metadata"), "name"));
  for (auto it = metrics.begin(); it != metrics.end();) {
    it = names.count(it->first) ? std::next(it) : metrics.erase(it);
  }
}

int32_t ceil_replicas(double ratio, size_t count) {
  return static_cast<int32_t>(std::ceil(ratio * static_cast<double>(count)));
}

}  // namespace

PodMetrics pod_metrics_from_list(const Json& list, const std::string& resource, SysTime* newest) {
  PodMetrics out;
  const Json& items = field(list, "items");
  if (!items.is_array()) return out;
  bool first = true;
  for (const auto& item : items) {
    PodMetric m;
    parse_time(field(item, "timestamp"), &m.timestamp);
    m.window = parse_window(sfield(item, "window"));
    if (first && newest) *newest = m.timestamp;
    first = false;
    const Json& containers = field(item, "containers");
    bool missing = !containers.is_array() || containers.empty();
    int64_t sum = 0;
    if (!missing) {
      for (const auto& c : containers) {
        const Json& u = field(field(c, "usage"), resource.c_str());
        if (u.is_null()) {
          missing = true;
          break;
        }
        sum += milli_of(u);
      }
    }
    if (missing) continue;
    m.value = sum;
    out[sfield(field(item, "metadata"), "name")] = m;
  }
  return out;
}

namespace {

// What both calculations start from: metrics keeps the samples of the listed
// pods that are neither ignored nor unready; the groups say which pods are
// which. kInvalid when there are no pods or no sample is left.
Result<Groups> usable_samples(const std::vector<const Json*>& pods, PodMetrics& metrics, const std::string& resource,
                              const CalcOptions& opts) {
  if (pods.empty()) return Status(Code::kInvalid, "no pods returned by selector while calculating replica count");
  keep_listed(metrics, pods);
  Groups g = group_pods(pods, metrics, resource, opts);
  remove_pods(metrics, g.ignored);
  remove_pods(metrics, g.unready);
  if (metrics.empty()) {
    return Status(Code::kInvalid, "did not receive metrics for targeted pods (pods might be unready)");
  }
  return g;
}

}  // namespace

// GetResourceReplicas
Result<ResourceProposal> resource_replicas_utilization(int32_t current, int32_t target, const std::string& resource,
                                                       const std::vector<const Json*>& pods, PodMetrics metrics,
                                                       const CalcOptions& opts) {
  if (target <= 0) return Status(Code::kInvalid, "the target utilization must be positive");
  auto grouped = usable_samples(pods, metrics, resource, opts);
  if (!grouped) return grouped.status();
  Groups& g = *grouped;
  auto requests = pod_requests(pods, resource);
  if (!requests) return requests.status();
  auto r = utilization_ratio(metrics, *requests, target);
  if (!r) return r.status();
  ResourceProposal out{current, r->utilization, r->raw_average};
  bool scale_up_with_unready = !g.unready.empty() && r->ratio > 1.0;
  if (!scale_up_with_unready && g.missing.empty()) {
    if (within(r->ratio, opts.tolerance)) return out;
    out.replicas = ceil_replicas(r->ratio, static_cast<size_t>(g.ready));
    return out;
  }
  if (!g.missing.empty()) {
    if (r->ratio < 1.0) {
      // Scale down: a pod without a sample counts as using its whole request
      // (or the target, when that is above 100%).
      int64_t fallback = std::max<int64_t>(100, target);
      for (const auto& n : g.missing) metrics[n] = PodMetric{(*requests)[n] * fallback / 100, {}, {}};
    } else if (r->ratio > 1.0) {
      for (const auto& n : g.missing) metrics[n] = PodMetric{};  // scale up: 0
    }
  }
  if (scale_up_with_unready) {
    for (const auto& n : g.unready) metrics[n] = PodMetric{};
  }
  auto r2 = utilization_ratio(metrics, *requests, target);
  if (!r2) return r2.status();
  double nr = r2->ratio;
  if (within(nr, opts.tolerance) || (r->ratio < 1.0 && nr > 1.0) || (r->ratio > 1.0 && nr < 1.0)) return out;
  int32_t next = ceil_replicas(nr, metrics.size());
  if ((nr < 1.0 && next > current) || (nr > 1.0 && next < current)) return out;
  out.replicas = next;
  return out;
}

// GetRawResourceReplicas → calcPlainMetricReplicas
Result<ResourceProposal> resource_replicas_average(int32_t current, int64_t target, const std::string& resource,
                                                   const std::vector<const Json*>& pods, PodMetrics metrics,
                                                   const CalcOptions& opts) {
  if (target <= 0) return Status(Code::kInvalid, "the target average value must be positive");
  auto grouped = usable_samples(pods, metrics, resource, opts);
  if (!grouped) return grouped.status();
  Groups& g = *grouped;
  auto [ratio, usage] = usage_ratio(metrics, target);
  ResourceProposal out{current, 0, usage};
  bool scale_up_with_unready = !g.unready.empty() && ratio > 1.0;
  if (!scale_up_with_unready && g.missing.empty()) {
    if (within(ratio, opts.tolerance)) return out;
    out.replicas = ceil_replicas(ratio, static_cast<size_t>(g.ready));
    return out;
  }
  if (!g.missing.empty()) {
    for (const auto& n : g.missing) metrics[n] = PodMetric{ratio < 1.0 ? target : 0, {}, {}};
  }
  if (scale_up_with_unready) {
    for (const auto& n : g.unready) metrics[n] = PodMetric{};
  }
  double nr = usage_ratio(metrics, target).first;
  if (within(nr, opts.tolerance) || (ratio < 1.0 && nr > 1.0) || (ratio > 1.0 && nr < 1.0)) return out;
  int32_t next = ceil_replicas(nr, metrics.size());
  if ((nr < 1.0 && next > current) || (nr > 1.0 && next < current)) return out;
  out.replicas = next;
  return out;
}

// ------------------------------------------------------------------ behavior

namespace {

ScalingRules rules_from_json(const Json& j, ScalingRules rules) {
  if (!j.is_object()) return rules;
  const Json& w = field(j, "stabilizationWindowSeconds");
  if (w.is_number_integer()) rules.stabilization_seconds = w.get<int32_t>();
  std::string sp = sfield(j, "selectPolicy");
  if (sp == "Min") rules.select = SelectPolicy::kMin;
  if (sp == "Disabled") rules.select = SelectPolicy::kDisabled;
  if (sp == "Max") rules.select = SelectPolicy::kMax;
  const Json& policies = field(j, "policies");
  if (policies.is_array()) {
    rules.policies.clear();
    for (const auto& p : policies) {
      ScalingPolicy sp2;
      sp2.pods = sfield(p, "type") != "Percent";
      if (field(p, "value").is_number_integer()) sp2.value = p["value"].get<int32_t>();
      if (field(p, "periodSeconds").is_number_integer()) sp2.period_seconds = p["periodSeconds"].get<int32_t>();
      rules.policies.push_back(sp2);
    }
  }
  return rules;
}

int64_t replicas_changed_in(int32_t period_seconds, const std::vector<ScaleEvent>& events, SysTime now) {
  SysTime cutoff = now - std::chrono::seconds(period_seconds);
  int64_t sum = 0;
  for (const auto& e : events) {
    if (e.at > cutoff) sum += e.change;
  }
  return sum;
}

int32_t clamp32(int64_t v) { return static_cast<int32_t>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX)); }

}  // namespace

Behavior behavior_from_json(const Json& behavior, std::chrono::seconds default_down_window) {
  ScalingRules up;
  up.stabilization_seconds = 0;
  up.policies = {{true, 4, 15}, {false, 100, 15}};
  ScalingRules down;
  down.stabilization_seconds = static_cast<int32_t>(default_down_window.count());
  down.policies = {{false, 100, 15}};
  return {rules_from_json(field(behavior, "scaleUp"), up), rules_from_json(field(behavior, "scaleDown"), down)};
}

namespace {

// calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors:
// each policy's limit counted from the replicas at the start of its period;
// selectPolicy Min takes the smallest change, Max (the default) the largest.
int32_t scale_limit(bool scale_up, int32_t current, const std::vector<ScaleEvent>& up,
                    const std::vector<ScaleEvent>& down, const ScalingRules& rules, SysTime now) {
  if (rules.select == SelectPolicy::kDisabled) return current;
  // Up, the smallest change is the lowest limit; down, the highest.
  bool take_lowest = scale_up == (rules.select == SelectPolicy::kMin);
  int64_t result = take_lowest ? INT32_MAX : INT32_MIN;
  for (const auto& p : rules.policies) {
    int64_t start = current - replicas_changed_in(p.period_seconds, up, now) +
                    replicas_changed_in(p.period_seconds, down, now);
    int64_t proposed = 0;
    if (scale_up) {
      proposed = p.pods ? start + p.value
                        : static_cast<int64_t>(std::ceil(static_cast<double>(start) * (1 + p.value / 100.0)));
    } else {
      proposed = p.pods ? start - p.value : static_cast<int64_t>(static_cast<double>(start) * (1 - p.value / 100.0));
    }
    result = take_lowest ? std::min(result, proposed) : std::max(result, proposed);
  }
  return clamp32(result);
}

}  // namespace

int32_t scale_up_limit(int32_t current, const std::vector<ScaleEvent>& up, const std::vector<ScaleEvent>& down,
                       const ScalingRules& rules, SysTime now) {
  return scale_limit(true, current, up, down, rules, now);
}

int32_t scale_down_limit(int32_t current, const std::vector<ScaleEvent>& up, const std::vector<ScaleEvent>& down,
                         const ScalingRules& rules, SysTime now) {
  return scale_limit(false, current, up, down, rules, now);
}

// stabilizeRecommendation + convertDesiredReplicasWithRules
Normalized normalize(HpaHistory& h, std::chrono::milliseconds down_window, int32_t current, int32_t desired,
                     int32_t min_replicas, int32_t max_replicas, SysTime now) {
  int32_t stabilized = desired;
  bool found_old = false;
  size_t old_index = 0;
  SysTime cutoff = now - down_window;
  for (size_t i = 0; i < h.recommendations.size(); ++i) {
    const auto& rec = h.recommendations[i];
    if (rec.at < cutoff) {
      found_old = true;
      old_index = i;
    } else if (rec.replicas > stabilized) {
      stabilized = rec.replicas;
    }
  }
  if (found_old) {
    h.recommendations[old_index] = {desired, now};
  } else {
    h.recommendations.push_back({desired, now});
  }
  Normalized n;
  if (stabilized != desired) {
    n.able_reason = "ScaleDownStabilized";
    n.able_message = "recent recommendations were higher than current one, applying the highest recent recommendation";
  } else {
    n.able_reason = "ReadyForNewScale";
    n.able_message = "recommended size matches current size";
  }
  int64_t up_limit = std::max<int64_t>(2LL * current, 4);
  int32_t maximum;
  if (max_replicas > up_limit) {
    maximum = static_cast<int32_t>(up_limit);
    n.limited_reason = "ScaleUpLimit";
    n.limited_message = "the desired replica count is increasing faster than the maximum scale rate";
  } else {
    maximum = max_replicas;
    n.limited_reason = "TooManyReplicas";
    n.limited_message = "the desired replica count is more than the maximum replica count";
  }
  if (stabilized < min_replicas) {
    n.replicas = min_replicas;
    n.limited_reason = "TooFewReplicas";
    n.limited_message = "the desired replica count is less than the minimum replica count";
  } else if (stabilized > maximum) {
    n.replicas = maximum;
  } else {
    n.replicas = stabilized;
    n.limited_reason = "DesiredWithinRange";
    n.limited_message = "the desired count is within the acceptable range";
  }
  n.limited = n.replicas != stabilized;
  return n;
}

// stabilizeRecommendationWithBehaviors + convertDesiredReplicasWithBehaviorRate
Normalized normalize_with_behavior(HpaHistory& h, const Behavior& b, int32_t current, int32_t desired,
                                   int32_t min_replicas, int32_t max_replicas, SysTime now) {
  SysTime up_cutoff = now - std::chrono::seconds(b.scale_up.stabilization_seconds);
  SysTime down_cutoff = now - std::chrono::seconds(b.scale_down.stabilization_seconds);
  int32_t up_rec = desired, down_rec = desired;
  bool found_old = false;
  size_t old_index = 0;
  for (size_t i = 0; i < h.recommendations.size(); ++i) {
    const auto& rec = h.recommendations[i];
    if (rec.at > up_cutoff) up_rec = std::min(rec.replicas, up_rec);
    if (rec.at > down_cutoff) down_rec = std::max(rec.replicas, down_rec);
    if (rec.at < up_cutoff && rec.at < down_cutoff) {
      found_old = true;
      old_index = i;
    }
  }
  int32_t stabilized = current;
  if (stabilized < up_rec) stabilized = up_rec;
  if (stabilized > down_rec) stabilized = down_rec;
  if (found_old) {
    h.recommendations[old_index] = {desired, now};
  } else {
    h.recommendations.push_back({desired, now});
  }
  Normalized n;
  if (stabilized != desired) {
    if (desired >= current) {
      n.able_reason = "ScaleUpStabilized";
      n.able_message = "recent recommendations were lower than current one, applying the lowest recent recommendation";
    } else {
      n.able_reason = "ScaleDownStabilized";
      n.able_message =
          "recent recommendations were higher than current one, applying the highest recent recommendation";
    }
  } else {
    n.able_reason = "ReadyForNewScale";
    n.able_message = "recommended size matches current size";
  }
  n.replicas = stabilized;
  n.limited_reason = "DesiredWithinRange";
  n.limited_message = "the desired count is within the acceptable range";
  if (stabilized > current) {
    int32_t limit = scale_up_limit(current, h.scale_up_events, h.scale_down_events, b.scale_up, now);
    if (limit < current) limit = current;  // no further scale-up until old events expire
    int32_t maximum;
    std::string reason, message;
    if (max_replicas > limit) {
      maximum = limit;
      reason = "ScaleUpLimit";
      message = "the desired replica count is increasing faster than the maximum scale rate";
    } else {
      maximum = max_replicas;
      reason = "TooManyReplicas";
      message = "the desired replica count is more than the maximum replica count";
    }
    if (stabilized > maximum) {
      n.replicas = maximum;
      n.limited_reason = reason;
      n.limited_message = message;
    }
  } else if (stabilized < current) {
    int32_t limit = scale_down_limit(current, h.scale_up_events, h.scale_down_events, b.scale_down, now);
    if (limit > current) limit = current;
    int32_t minimum;
    std::string reason, message;
    if (min_replicas < limit) {
      minimum = limit;
      reason = "ScaleDownLimit";
      message = "the desired replica count is decreasing faster than the maximum scale rate";
    } else {
      minimum = min_replicas;
      reason = "TooFewReplicas";
      message = "the desired replica count is less than the minimum replica count";
    }
    if (stabilized < minimum) {
      n.replicas = minimum;
      n.limited_reason = reason;
      n.limited_message = message;
    }
  }
  n.limited = n.replicas != stabilized;
  return n;
}

// storeScaleEvent + markScaleEventsOutdated + getLongestPolicyPeriod
void store_scale_event(HpaHistory& h, const Behavior& b, int32_t prev, int32_t next, SysTime now) {
  if (prev == next) return;
  bool up = next > prev;
  auto& events = up ? h.scale_up_events : h.scale_down_events;
  const ScalingRules& rules = up ? b.scale_up : b.scale_down;
  int32_t longest = 0;
  for (const auto& p : rules.policies) longest = std::max(longest, p.period_seconds);
  SysTime cutoff = now - std::chrono::seconds(longest);
  for (auto& e : events) {
    if (e.at < cutoff) e.outdated = true;
  }
  ScaleEvent fresh{up ? next - prev : prev - next, now, false};
  for (auto& e : events) {
    if (e.outdated) {
      e = fresh;
      return;
    }
  }
  events.push_back(fresh);
}

}  // namespace minik8s::controllers::hpa
