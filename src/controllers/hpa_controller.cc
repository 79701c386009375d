// HpaController: a client::Controller with shared informers on
// HorizontalPodAutoscalers and Pods and one worker over a queue of HPA keys.
// A key is synced when the HPA appears or its spec changes (or it is
// deleted: its history goes), and then every sync_period: each sync records
// when the key is next due and ends in requeue_after(sync_period). The work
// queue keeps one timer per key, the earliest: after a sync forced by a spec
// change the timer armed by the sync before fires early, and is re-armed for
// the time the key is due (`due`).
// sync() is Kubernetes' reconcileAutoscaler: scale subresource → metrics API
// → hpa_algorithm.h → scale write, status, Events. A failed sync is logged
// and retried at the next period (Kubernetes' fixed-interval rate limiter),
// not with backoff. The per-HPA history (recommendations, scale events)
// lives only in the worker thread, as in Kubernetes it lives only in the
// controller's memory. Time is the injected Clock's.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "hpa_algorithm.h"
#include "minik8s/api/quantity.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "minik8s/util/url.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

constexpr const char* kComponent = "horizontal-pod-autoscaler";
constexpr const char* kMetricsPath = "/apis/metrics.k8s.io/v1beta1/namespaces/";
constexpr auto kWarningRepeat = std::chrono::seconds(60);
// A timer firing less than this before the key is due syncs it.
constexpr auto kDueSlack = std::chrono::milliseconds(50);

// metav1 quantity text for a metric value in milli-units: cpu as "150m";
// memory in whole bytes, with a binary suffix when exact ("10Mi", "12572Ki",
// "1265432").
std::string quantity_text(const std::string& resource, int64_t milli) {
  if (resource == "memory") {
    int64_t bytes = (milli + 999) / 1000;  // whole bytes (an average may have a fraction)
    if (bytes % 1024 == 0 && bytes > 0) {
      auto q = api::Quantity::parse(std::to_string(bytes / 1024) + "Ki");
      if (q) return q->to_string();
    }
    return std::to_string(bytes);
  }
  return api::Quantity::from_milli(milli).to_string();
}

int64_t quantity_milli(const Json& q) {
  std::string text = q.is_string() ? q.get<std::string>() : q.is_number() ? q.dump() : "";
  auto parsed = api::Quantity::parse(text);
  return parsed ? parsed->milli_value() : 0;
}

int32_t int_field(const Json& obj, const char* key, int32_t fallback) {
  const Json& v = field(obj, key);
  if (!v.is_number_integer()) return fallback;
  return static_cast<int32_t>(std::clamp<int64_t>(v.get<int64_t>(), INT32_MIN, INT32_MAX));
}

// setCondition: replaces the condition of that type; the transition time
// moves only when the status changes.
void set_condition(Json& status, const std::string& type, bool value, const std::string& reason,
                   const std::string& message, const std::string& now) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) status["conditions"] = Json::array();
  std::string st = value ? "True" : "False";
  for (auto& c : status["conditions"]) {
    if (sfield(c, "type") != type) continue;
    if (sfield(c, "status") != st) c["lastTransitionTime"] = now;
    c["status"] = st;
    c["reason"] = reason;
    c["message"] = message;
    return;
  }
  status["conditions"].push_back(
      {{"type", type}, {"status", st}, {"lastTransitionTime", now}, {"reason", reason}, {"message", message}});
}

struct MetricOutcome {
  int32_t replicas = 0;
  std::string name;  // "cpu resource utilization (percentage of request)"
  Json status;       // the MetricStatus
  bool ok = false;
  std::string cond_reason, cond_message;  // ScalingActive False on failure
};

}  // namespace

struct HpaController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, HpaOptions o, Clock& clk)
      : client::Controller(f, {kComponent, 1, std::chrono::milliseconds(50), std::chrono::seconds(5)}, clk),
        client(f.client()),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const HpaOptions opts;
  const api::ResourceType* hpa_type = nullptr;
  const api::ResourceType* pods_type = nullptr;
  const api::ResourceType* events_type = nullptr;
  // Shared informers, owned by the factory.
  client::Informer* hpas = nullptr;
  client::Informer* pods = nullptr;

  std::mutex mu;
  std::set<std::string> forced;  // guarded by mu: keys to sync now (added / spec changed / deleted)

  // Worker-thread state (one worker).
  std::map<std::string, hpa::HpaHistory> history;
  std::map<std::string, std::chrono::steady_clock::time_point> due;  // on clock().monotonic()
  std::map<std::string, std::map<std::string, SysTime>> warned;  // key → reason+message → last recorded

  Status setup() override;

  // Handlers (informer thread): only mark and enqueue.
  void force(const ObjectPtr& obj) {
    std::string key = client::object_key(*obj);
    {
      std::lock_guard<std::mutex> lock(mu);
      forced.insert(key);
    }
    enqueue(key);
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    bool forced_now;
    {
      std::lock_guard<std::mutex> lock(mu);
      forced_now = forced.erase(key) > 0;
    }
    auto now = clock().monotonic();
    auto it = due.find(key);
    if (!forced_now && it != due.end() && now + kDueSlack < it->second) {
      // A timer armed before a forced sync: the work queue keeps only a key's
      // earliest deadline, so the forced sync's later one was not kept.
      return client::ReconcileResult::requeue_after(it->second - now);
    }
    if (!hpas->indexer().get(key)) {
      history.erase(key);
      due.erase(key);
      warned.erase(key);
      return client::ReconcileResult::done();
    }
    Status st = sync(key);
    if (!st.is_ok()) spdlog::warn("hpa: {}: {}", key, st.to_string());
    due[key] = now + opts.sync_period;
    return client::ReconcileResult::requeue_after(opts.sync_period);
  }

  void record_event(const Json& hpa, const std::string& type, const std::string& reason, const std::string& message) {
    const Json& meta = field(hpa, "metadata");
    auto now = clock().now();
    if (type == "Warning") {
      // A failing metric repeats every sync: the same warning at most once
      // per kWarningRepeat per HPA (Kubernetes' recorder aggregates them).
      auto& mine = warned[client::object_key(hpa)];
      for (auto it = mine.begin(); it != mine.end();) {  // forget old ones: messages vary
        it = now - it->second >= kWarningRepeat ? mine.erase(it) : std::next(it);
      }
      auto& seen = mine[reason + "\n" + message];
      if (seen.time_since_epoch().count() != 0 && now - seen < kWarningRepeat) return;
      seen = now;
    }
    Json ev = client::make_event(hpa, "autoscaling/v2", "HorizontalPodAutoscaler", type, reason, message, kComponent, now);
    auto r = client.create(*events_type, ev, sfield(meta, "namespace"));
    if (!r) spdlog::debug("hpa: recording event: {}", r.status().to_string());
  }

  Result<Json> get_json(const std::string& path) {
    auto r = client.rest().request("GET", path);
    if (!r) return r.status();
    Status st = client::check_response(*r);
    if (!st.is_ok()) return st;
    return api::parse_json(r->body);
  }

  // computeStatusForResourceMetric (Resource metrics; other types are refused).
  MetricOutcome compute_metric(const Json& hpa, const Json& spec_metric, int32_t current,
                               const std::vector<const Json*>& pod_list, const Result<Json>& metrics_list,
                               const hpa::CalcOptions& copts) {
    MetricOutcome out;
    std::string type = sfield(spec_metric, "type");
    if (type != "Resource") {
      out.cond_reason = "InvalidMetricSourceType";
      out.cond_message = "the HPA was unable to compute the replica count: unsupported metric source type \"" + type + "\"";
      out.status = Json::object();
      record_event(hpa, "Warning", "InvalidMetricSourceType", "unsupported metric source type \"" + type + "\"");
      return out;
    }
    const Json& res = field(spec_metric, "resource");
    std::string resource = sfield(res, "name");
    const Json& target = field(res, "target");
    out.status = {{"type", "Resource"}, {"resource", {{"name", resource}, {"current", Json::object()}}}};
    auto fail = [&](const std::string& reason, const std::string& msg) {
      out.cond_reason = reason;
      out.cond_message = "the HPA was unable to compute the replica count: " + msg;
      record_event(hpa, "Warning", reason, msg);
      return out;
    };
    if (!metrics_list) {
      return fail("FailedGetResourceMetric",
                  "unable to get metrics for resource " + resource + ": " + metrics_list.status().message());
    }
    SysTime newest{};
    hpa::PodMetrics samples = hpa::pod_metrics_from_list(*metrics_list, resource, &newest);
    if (samples.empty()) {
      return fail("FailedGetResourceMetric", "unable to get metrics for resource " + resource +
                                                 ": no metrics returned from resource metrics API");
    }
    std::string tt = sfield(target, "type");
    if (tt == "Utilization" || (tt.empty() && field(target, "averageUtilization").is_number_integer())) {
      int32_t want = int_field(target, "averageUtilization", 0);
      auto r = hpa::resource_replicas_utilization(current, want, resource, pod_list, std::move(samples), copts);
      if (!r) return fail("FailedGetResourceMetric", r.status().message());
      out.replicas = r->replicas;
      out.name = resource + " resource utilization (percentage of request)";
      out.status["resource"]["current"] = {{"averageUtilization", r->utilization},
                                           {"averageValue", quantity_text(resource, r->raw_average)}};
    } else if (tt == "AverageValue" || (tt.empty() && !field(target, "averageValue").is_null())) {
      int64_t want = quantity_milli(field(target, "averageValue"));
      auto r = hpa::resource_replicas_average(current, want, resource, pod_list, std::move(samples), copts);
      if (!r) return fail("FailedGetResourceMetric", r.status().message());
      out.replicas = r->replicas;
      out.name = resource + " resource";
      out.status["resource"]["current"] = {{"averageValue", quantity_text(resource, r->raw_average)}};
    } else {
      return fail("FailedGetResourceMetric",
                  "invalid resource metric source: neither a utilization target nor a value target was set");
    }
    out.ok = true;
    return out;
  }

  Status write_status(const Json& hpa, const Json& status) {
    if (field(hpa, "status") == status) return Status::ok();
    Json copy = hpa;
    copy["status"] = status;
    auto r = client.update_status(*hpa_type, copy);
    return r ? Status::ok() : r.status();
  }

  Status sync(const std::string& key) {
    ObjectPtr obj = hpas->indexer().get(key);
    if (!obj) return Status::ok();
    const Json& hpa = *obj;
    const Json& meta = field(hpa, "metadata");
    const Json& spec = field(hpa, "spec");
    std::string ns = sfield(meta, "namespace");
    SysTime now = clock().now();
    std::string now_text = format_rfc3339(now);
    Json status = field(hpa, "status").is_object() ? field(hpa, "status") : Json::object();
    if (field(meta, "generation").is_number_integer()) status["observedGeneration"] = meta["generation"];
    int32_t min_replicas = int_field(spec, "minReplicas", 1);
    int32_t max_replicas = int_field(spec, "maxReplicas", min_replicas);

    // The target's scale subresource.
    const Json& ref = field(spec, "scaleTargetRef");
    std::string ref_text = sfield(ref, "kind") + "/" + sfield(ref, "name");
    const api::ResourceType* target_type = api::find_kind(sfield(ref, "apiVersion"), sfield(ref, "kind"));
    Result<Json> scale = Status(Code::kNotFound, "no matches for kind \"" + sfield(ref, "kind") + "\" in group version \"" +
                                                     sfield(ref, "apiVersion") + "\" with a scale subresource");
    if (target_type && target_type->has_scale) {
      scale = get_json(client::Client::path(*target_type, ns, sfield(ref, "name"), "scale"));
    }
    if (!scale) {
      std::string msg = scale.status().message();
      set_condition(status, "AbleToScale", false, "FailedGetScale",
                    "the HPA controller was unable to get the target's current scale: " + msg, now_text);
      record_event(hpa, "Warning", "FailedGetScale", msg);
      Status ws = write_status(hpa, status);
      (void)ws;
      return Status(scale.status().code(), "getting the scale of " + ref_text + ": " + msg);
    }
    set_condition(status, "AbleToScale", true, "SucceededGetScale",
                  "the HPA controller was able to get the target's current scale", now_text);
    int32_t current = int_field(field(*scale, "spec"), "replicas", 0);
    hpa::HpaHistory& hist = history[key];
    if (hist.recommendations.empty()) hist.recommendations.push_back({current, now});  // recordInitialRecommendation

    int32_t desired = 0;
    std::string rescale_reason;
    bool rescale = true;
    Json metric_statuses = Json::array();
    Status result = Status::ok();
    if (current == 0 && min_replicas != 0) {
      desired = 0;
      rescale = false;
      set_condition(status, "ScalingActive", false, "ScalingDisabled",
                    "scaling is disabled since the replica count of the target is zero", now_text);
    } else if (current > max_replicas) {
      rescale_reason = "Current number of replicas above Spec.MaxReplicas";
      desired = max_replicas;
    } else if (current < min_replicas) {
      rescale_reason = "Current number of replicas below Spec.MinReplicas";
      desired = min_replicas;
    } else {
      // computeReplicasForMetrics
      std::string selector_text = sfield(field(*scale, "status"), "selector");
      auto selector = api::LabelSelector::parse(selector_text);
      std::string bad_selector;
      if (selector_text.empty()) bad_selector = "selector is required";
      else if (!selector) bad_selector = "couldn't convert selector into a corresponding internal selector object: " +
                                         selector.status().message();
      if (!bad_selector.empty()) {
        set_condition(status, "ScalingActive", false, "InvalidSelector",
                      "the HPA target's scale is missing a selector", now_text);
        record_event(hpa, "Warning", selector_text.empty() ? "SelectorRequired" : "InvalidSelector", bad_selector);
        status["currentReplicas"] = current;
        Status ws = write_status(hpa, status);
        (void)ws;
        return Status(Code::kInvalid, bad_selector);
      }
      auto pod_ptrs = pods->indexer().list(ns, *selector);
      std::vector<const Json*> pod_list;
      for (const auto& p : pod_ptrs) pod_list.push_back(p.get());
      Result<Json> metrics_list =
          get_json(kMetricsPath + ns + "/pods?labelSelector=" + url_encode(selector->to_string()));
      hpa::CalcOptions copts{opts.tolerance, opts.cpu_initialization_period, opts.initial_readiness_delay, now};

      const Json& specs = field(spec, "metrics");
      int invalid = 0;
      std::string first_reason, first_message;
      int32_t proposal = 0;
      std::string metric_name;
      if (specs.is_array()) {
        for (const auto& m : specs) {
          MetricOutcome mo = compute_metric(hpa, m, current, pod_list, metrics_list, copts);
          metric_statuses.push_back(mo.status);
          if (!mo.ok) {
            if (invalid++ == 0) {
              first_reason = mo.cond_reason;
              first_message = mo.cond_message;
            }
            continue;
          }
          if (proposal == 0 || mo.replicas > proposal) {
            proposal = mo.replicas;
            metric_name = mo.name;
          }
        }
      }
      int total = specs.is_array() ? static_cast<int>(specs.size()) : 0;
      if (invalid >= total || (invalid > 0 && proposal < current)) {
        if (total == 0) {
          first_reason = "FailedGetResourceMetric";
          first_message = "the HPA was unable to compute the replica count: no metrics are configured";
        }
        set_condition(status, "ScalingActive", false, first_reason, first_message, now_text);
        status["currentReplicas"] = current;
        status["currentMetrics"] = metric_statuses;
        Status ws = write_status(hpa, status);
        (void)ws;
        std::string err = "invalid metrics (" + std::to_string(invalid) + " invalid out of " + std::to_string(total) +
                          "), first error is: " + first_message;
        record_event(hpa, "Warning", "FailedComputeMetricsReplicas", err);
        return Status(Code::kInvalid, err);
      }
      if (invalid > 0) {
        result = Status(Code::kInvalid, "invalid metrics (" + std::to_string(invalid) + " invalid out of " +
                                            std::to_string(total) + "), first error is: " + first_message);
      }
      set_condition(status, "ScalingActive", true, "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from " + metric_name, now_text);
      desired = proposal;
      if (desired > current) rescale_reason = metric_name + " above target";
      if (desired < current) rescale_reason = "All metrics below target";
      hpa::Normalized n;
      if (field(spec, "behavior").is_object()) {
        auto down = std::chrono::duration_cast<std::chrono::seconds>(opts.downscale_stabilization);
        n = hpa::normalize_with_behavior(hist, hpa::behavior_from_json(spec["behavior"], down), current, desired,
                                         min_replicas, max_replicas, now);
      } else {
        n = hpa::normalize(hist, opts.downscale_stabilization, current, desired, min_replicas, max_replicas, now);
      }
      set_condition(status, "AbleToScale", true, n.able_reason, n.able_message, now_text);
      set_condition(status, "ScalingLimited", n.limited, n.limited_reason, n.limited_message, now_text);
      desired = n.replicas;
      rescale = desired != current;
    }

    if (rescale) {
      auto r = client.patch(*target_type, ns, sfield(ref, "name"), client::PatchType::kMerge,
                            Json{{"spec", {{"replicas", desired}}}}, "scale");
      if (!r) {
        std::string msg = r.status().message();
        set_condition(status, "AbleToScale", false, "FailedUpdateScale",
                      "the HPA controller was unable to update the target scale: " + msg, now_text);
        record_event(hpa, "Warning", "FailedRescale",
                     "New size: " + std::to_string(desired) + "; reason: " + rescale_reason + "; error: " + msg);
        status["currentReplicas"] = current;
        Status ws = write_status(hpa, status);
        (void)ws;
        return Status(r.status().code(), "updating the scale of " + ref_text + ": " + msg);
      }
      set_condition(status, "AbleToScale", true, "SucceededRescale",
                    "the HPA controller was able to update the target scale to " + std::to_string(desired), now_text);
      record_event(hpa, "Normal", "SuccessfulRescale",
                   "New size: " + std::to_string(desired) + "; reason: " + rescale_reason);
      spdlog::info("hpa: {} scaled {} from {} to {}: {}", key, ref_text, current, desired, rescale_reason);
      if (field(spec, "behavior").is_object()) {
        auto down = std::chrono::duration_cast<std::chrono::seconds>(opts.downscale_stabilization);
        hpa::store_scale_event(hist, hpa::behavior_from_json(spec["behavior"], down), current, desired, now);
      }
      status["lastScaleTime"] = now_text;
    } else {
      desired = current;
    }
    status["currentReplicas"] = current;
    status["desiredReplicas"] = desired;
    if (metric_statuses.empty()) {
      status.erase("currentMetrics");
    } else {
      status["currentMetrics"] = metric_statuses;
    }
    Status ws = write_status(hpa, status);
    if (!ws.is_ok()) return ws;
    return result;
  }
};

HpaController::HpaController(client::Client& client, HpaOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), real_clock()));
}

HpaController::HpaController(client::SharedInformerFactory& factory, HpaOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status HpaController::Impl::setup() {
  Impl& s = *this;
  if (s.opts.sync_period <= std::chrono::milliseconds(0)) return bad_request("the HPA sync period must be positive");
  s.hpa_type = api::find_kind("autoscaling/v2", "HorizontalPodAutoscaler");
  s.pods_type = api::find_kind("v1", "Pod");
  s.events_type = api::find_kind("v1", "Event");
  if (!s.hpa_type || !s.pods_type || !s.events_type) {
    return internal_error("the kind table lacks HorizontalPodAutoscaler, Pod or Event");
  }
  s.hpas = &factory().informer(*s.hpa_type);
  s.pods = &factory().informer(*s.pods_type);
  watch(*s.hpas, {
                     [&s](const ObjectPtr& o) { s.force(o); },
                     [&s](const ObjectPtr& old_obj, const ObjectPtr& o) {
                       if (field(*old_obj, "spec") != field(*o, "spec")) s.force(o);
                     },
                     [&s](const ObjectPtr& o) { s.force(o); },
                 });
  wait_for(*s.pods);  // read by sync(), no handlers
  return Status::ok();
}

}  // namespace minik8s::controllers
