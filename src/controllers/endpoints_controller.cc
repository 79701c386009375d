// EndpointsController: a client::Controller (docs/controllers.md "How to
// write a controller" walks through this file). Shared informers on Services,
// Pods, Endpoints (and managed EndpointSlices when the API serves them), one
// worker over a queue of Service keys. Handlers map a pod change to the
// Services selecting it (old and new labels) and only enqueue; reconcile()
// computes the wanted subsets from the caches and writes only what differs.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "endpoints_builder.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

constexpr const char* kTriggerTime = "endpoints.kubernetes.io/last-change-trigger-time";
constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";
constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
constexpr const char* kManagedByLabel = "endpointslice.kubernetes.io/managed-by";
constexpr const char* kManagedBy = "endpointslice-controller.k8s.io";
constexpr const char* kServiceIndex = "service";
constexpr size_t kMaxSliceEndpoints = 1000;  // discovery.k8s.io/v1 validation limit
constexpr auto kServiceResync = std::chrono::minutes(10);

const Json& labels_of(const Json& obj) { return field(field(obj, "metadata"), "labels"); }

// The pod fields the Endpoints depend on; an update that leaves them alone
// (a status heartbeat, an annotation) concerns no Service.
Json pod_projection(const Json& pod) {
  const Json& status = field(pod, "status");
  const Json& spec = field(pod, "spec");
  const Json& meta = field(pod, "metadata");
  return Json::array({field(status, "podIP"), field(status, "podIPs"), pod_is_ready(pod), field(status, "phase"),
                      field(spec, "nodeName"), field(spec, "hostname"), field(spec, "subdomain"),
                      field(meta, "deletionTimestamp"), field(meta, "labels"), field(meta, "uid")});
}

std::map<std::string, std::string> selector_map(const Json& service) {
  std::map<std::string, std::string> out;
  const Json& sel = field(field(service, "spec"), "selector");
  if (!sel.is_object()) return out;
  for (auto it = sel.begin(); it != sel.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

// Labels the Endpoints/EndpointSlices carry: the Service's, plus the headless marker.
Json desired_labels(const Json& service) {
  Json labels = labels_of(service).is_object() ? labels_of(service) : Json::object();
  if (sfield(field(service, "spec"), "clusterIP") == "None") labels[kHeadlessLabel] = "";
  return labels;
}

bool same_labels(const Json& a, const Json& b) {
  auto norm = [](const Json& l) { return l.is_object() ? l : Json::object(); };
  return norm(a) == norm(b);
}

Json sorted_endpoints(const Json& eps) {
  Json out = eps.is_array() ? eps : Json::array();
  auto key = [](const Json& e) {
    const Json& a = field(e, "addresses");
    std::string ip = a.is_array() && !a.empty() && a[0].is_string() ? a[0].get<std::string>() : "";
    return std::make_pair(ip, sfield(field(e, "targetRef"), "uid"));
  };
  std::sort(out.begin(), out.end(), [&](const Json& x, const Json& y) { return key(x) < key(y); });
  return out;
}

Json sorted_slice_ports(const Json& ports) {
  Json out = ports.is_array() ? ports : Json::array();
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) { return a.dump() < b.dump(); });
  return out;
}

}  // namespace

struct EndpointsController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, EndpointsOptions o, Clock& clk)
      : client::Controller(f, {"endpoints", 1, std::chrono::milliseconds(20), std::chrono::seconds(5)}, clk),
        client(f.client()),
        opts(o) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const EndpointsOptions opts;
  const api::ResourceType* services_type = nullptr;
  const api::ResourceType* pods_type = nullptr;
  const api::ResourceType* endpoints_type = nullptr;
  const api::ResourceType* slices_type = nullptr;  // null: slices not served or disabled
  // Shared informers, owned by the factory.
  client::Informer* services = nullptr;
  client::Informer* pods = nullptr;
  client::Informer* endpoints = nullptr;
  client::Informer* slices = nullptr;

  Status setup() override;

  // ---- handlers (informer threads): only enqueue Service keys.

  void enqueue_services_for(const Json& pod, const Json* old_pod) {
    std::string ns = sfield(field(pod, "metadata"), "namespace");
    for (const auto& svc : services->indexer().by_index(client::kNamespaceIndex, ns)) {
      if (!service_has_selector(*svc)) continue;
      auto sel = api::LabelSelector::from_map(selector_map(*svc));
      if (sel.matches_json(labels_of(pod)) || (old_pod && sel.matches_json(labels_of(*old_pod)))) {
        enqueue(client::object_key(*svc));
      }
    }
  }

  void on_pod_update(const ObjectPtr& old_pod, const ObjectPtr& pod) {
    if (pod_projection(*old_pod) == pod_projection(*pod)) return;
    enqueue_services_for(*pod, old_pod.get());
  }

  // ---- reconcile (the worker): an error is retried with backoff by the base.

  client::ReconcileResult reconcile(const std::string& key) override {
    auto [ns, name] = client::split_key(key);
    ObjectPtr svc = services->indexer().get(key);
    if (!svc) {
      Status st = Status::ok();
      if (endpoints->indexer().get(key)) st = remove(*endpoints_type, ns, name);
      if (slices) {
        for (const auto& s : slices->indexer().by_index(kServiceIndex, key)) {
          Status s2 = remove(*slices_type, ns, sfield(field(*s, "metadata"), "name"));
          if (!s2.is_ok()) st = s2;
        }
      }
      return st;
    }
    if (!service_has_selector(*svc)) return Status::ok();  // user-managed Endpoints

    auto selected = pods->indexer().list(ns, api::LabelSelector::from_map(selector_map(*svc)));
    std::vector<const Json*> pod_list;
    pod_list.reserve(selected.size());
    for (const auto& p : selected) pod_list.push_back(p.get());

    Status st = sync_endpoints(*svc, ns, name, build_subsets(*svc, pod_list));
    if (slices) {
      Status s2 = sync_slices(*svc, ns, name, build_slices(*svc, pod_list));
      if (st.is_ok()) st = s2;
    }
    return st;
  }

  Status remove(const api::ResourceType& type, const std::string& ns, const std::string& name) {
    auto r = client.remove(type, ns, name);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    return Status::ok();
  }

  Status sync_endpoints(const Json& svc, const std::string& ns, const std::string& name, Json subsets) {
    Json labels = desired_labels(svc);
    std::string now = format_rfc3339_micro(clock().now());
    ObjectPtr existing = endpoints->indexer().get(ns + "/" + name);
    if (!existing) {
      Json ep = {{"apiVersion", "v1"},
                 {"kind", "Endpoints"},
                 {"metadata", {{"name", name}, {"namespace", ns}, {"annotations", {{kTriggerTime, now}}}}},
                 {"subsets", std::move(subsets)}};
      if (!labels.empty()) ep["metadata"]["labels"] = labels;
      auto r = client.create(*endpoints_type, ep, ns);
      if (!r) return r.status();  // AlreadyExists: the cache is behind; retried
      spdlog::debug("endpoints: created {}/{}", ns, name);
      return Status::ok();
    }
    Json current = canonical_subsets(field(*existing, "subsets"));
    if (current == subsets && same_labels(labels_of(*existing), labels)) return Status::ok();
    Json ep = *existing;
    ep["subsets"] = std::move(subsets);
    if (labels.empty()) {
      ep["metadata"].erase("labels");
    } else {
      ep["metadata"]["labels"] = labels;
    }
    ep["metadata"]["annotations"][kTriggerTime] = now;
    auto r = client.update(*endpoints_type, ep);
    if (!r) return r.status();  // Conflict / NotFound: retried against a fresher cache
    spdlog::debug("endpoints: updated {}/{}", ns, name);
    return Status::ok();
  }

  Status sync_slices(const Json& svc, const std::string& ns, const std::string& name, std::vector<Json> groups) {
    // One slice per port set, split at the API's limit of endpoints per slice.
    std::vector<Json> wanted;
    for (auto& g : groups) {
      const Json& eps = g["endpoints"];
      for (size_t at = 0; at < eps.size(); at += kMaxSliceEndpoints) {
        size_t end = std::min(eps.size(), at + kMaxSliceEndpoints);
        wanted.push_back({{"ports", g["ports"]}, {"endpoints", Json(eps.begin() + at, eps.begin() + end)}});
      }
    }
    if (wanted.empty()) wanted.push_back({{"ports", Json::array()}, {"endpoints", Json::array()}});
    const Json& meta = field(svc, "metadata");
    Json labels = desired_labels(svc);
    labels[kServiceNameLabel] = name;
    labels[kManagedByLabel] = kManagedBy;
    Json owner = Json::array({{{"apiVersion", "v1"},
                               {"kind", "Service"},
                               {"name", name},
                               {"uid", sfield(meta, "uid")},
                               {"controller", true},
                               {"blockOwnerDeletion", true}}});
    std::map<std::string, ObjectPtr> existing;
    for (const auto& s : slices->indexer().by_index(kServiceIndex, ns + "/" + name)) {
      existing[sfield(field(*s, "metadata"), "name")] = s;
    }
    Status result = Status::ok();
    std::set<std::string> keep;
    for (size_t i = 0; i < wanted.size(); ++i) {
      std::string slice_name = name + "-mk" + (i == 0 ? "" : "-" + std::to_string(i));
      keep.insert(slice_name);
      Json eps = sorted_endpoints(wanted[i]["endpoints"]);
      Json ports = sorted_slice_ports(wanted[i]["ports"]);
      auto it = existing.find(slice_name);
      if (it != existing.end()) {
        const Json& cur = *it->second;
        if (sorted_endpoints(field(cur, "endpoints")) == eps && sorted_slice_ports(field(cur, "ports")) == ports &&
            same_labels(labels_of(cur), labels) && field(field(cur, "metadata"), "ownerReferences") == owner &&
            sfield(cur, "addressType") == "IPv4") {
          continue;
        }
        Json obj = cur;
        obj["metadata"]["labels"] = labels;
        obj["metadata"]["ownerReferences"] = owner;
        obj["addressType"] = "IPv4";
        obj["endpoints"] = std::move(eps);
        obj["ports"] = std::move(ports);
        auto r = client.update(*slices_type, obj);
        if (!r) result = r.status();
        continue;
      }
      Json obj = {{"apiVersion", "discovery.k8s.io/v1"},
                  {"kind", "EndpointSlice"},
                  {"metadata", {{"name", slice_name}, {"namespace", ns}, {"labels", labels}, {"ownerReferences", owner}}},
                  {"addressType", "IPv4"},
                  {"endpoints", std::move(eps)},
                  {"ports", std::move(ports)}};
      auto r = client.create(*slices_type, obj, ns);
      if (!r) result = r.status();
    }
    for (const auto& [slice_name, obj] : existing) {
      if (keep.count(slice_name)) continue;
      Status st = remove(*slices_type, ns, slice_name);
      if (!st.is_ok()) result = st;
    }
    return result;
  }
};

EndpointsController::EndpointsController(client::Client& client, EndpointsOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), options, real_clock()));
}

EndpointsController::EndpointsController(client::SharedInformerFactory& factory, EndpointsOptions options,
                                         Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, options, clock));
}

Status EndpointsController::Impl::setup() {
  Impl& s = *this;
  s.services_type = api::find_kind("v1", "Service");
  s.pods_type = api::find_kind("v1", "Pod");
  s.endpoints_type = api::find_kind("v1", "Endpoints");
  if (!s.services_type || !s.pods_type || !s.endpoints_type) {
    return internal_error("the kind table lacks Service, Pod or Endpoints");
  }
  if (s.opts.endpoint_slices) {
    s.slices_type = api::find_kind("discovery.k8s.io/v1", "EndpointSlice");
    if (!s.slices_type) spdlog::info("endpoints: discovery.k8s.io/v1 EndpointSlice is not served; Endpoints only");
  }

  client::InformerOptions svc_opts;
  svc_opts.resync = kServiceResync;
  s.services = &factory().informer(*s.services_type, svc_opts);
  s.pods = &factory().informer(*s.pods_type);
  s.endpoints = &factory().informer(*s.endpoints_type);

  auto on_service = [&s](const ObjectPtr& o) { s.enqueue(client::object_key(*o)); };
  watch(*s.services, {on_service, [on_service](const ObjectPtr&, const ObjectPtr& o) { on_service(o); }, on_service});
  watch(*s.pods, {
                     [&s](const ObjectPtr& p) { s.enqueue_services_for(*p, nullptr); },
                     [&s](const ObjectPtr& a, const ObjectPtr& b) { s.on_pod_update(a, b); },
                     [&s](const ObjectPtr& p) { s.enqueue_services_for(*p, nullptr); },
                 });
  // Our own writes come back as updates; only a deletion (by someone else)
  // needs a reconcile. Edits by hand are fixed at the next change or resync.
  watch(*s.endpoints, {nullptr, nullptr, on_service});
  if (s.slices_type) {
    client::InformerOptions so;
    so.label_selector = std::string(kManagedByLabel) + "=" + kManagedBy;
    s.slices = &factory().informer(*s.slices_type, so);
    s.slices->add_index(kServiceIndex, [](const Json& slice) -> std::vector<std::string> {
      const Json& l = labels_of(slice);
      std::string svc = sfield(l, kServiceNameLabel);
      if (svc.empty()) return {};
      return {sfield(field(slice, "metadata"), "namespace") + "/" + svc};
    });
    watch(*s.slices, {nullptr, nullptr, [&s](const ObjectPtr& o) {
                        std::string svc = sfield(labels_of(*o), kServiceNameLabel);
                        if (!svc.empty()) s.enqueue(sfield(field(*o, "metadata"), "namespace") + "/" + svc);
                      }});
  }
  return Status::ok();
}

}  // namespace minik8s::controllers
