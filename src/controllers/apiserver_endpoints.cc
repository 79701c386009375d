// The lease endpoint reconciler of the Service kubernetes
// (minik8s/controllers/apiserver_endpoints.h; docs/ha.md).
#include "minik8s/controllers/apiserver_endpoints.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "minik8s/api/address_rules.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/hash.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using client::ObjectPtr;

constexpr const char* kLeaseKey = "lease";          // renew this server's Lease
constexpr const char* kEndpointsKey = "endpoints";  // write default/kubernetes
constexpr const char* kServiceNamespace = "default";
constexpr const char* kServiceName = "kubernetes";

const Json& field(const Json& j, const char* k) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(k);
  return it == j.end() ? kNull : *it;
}
std::string sfield(const Json& j, const char* k) {
  const Json& v = field(j, k);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::string endpoint_text(const std::string& address, uint16_t port) {
  return address + ":" + std::to_string(port);
}

// "IP:PORT" → (IP, PORT) when IP is a non-special IPv4 address and PORT 1..65535.
bool parse_endpoint(const std::string& text, std::pair<std::string, uint16_t>* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string ip = text.substr(0, colon), port = text.substr(colon + 1);
  if (ip.find(':') != std::string::npos || !api::non_special_ip_error(ip).empty()) return false;
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit))
    return false;
  unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return false;
  *out = {ip, static_cast<uint16_t>(p)};
  return true;
}

std::string random_hex() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The subsets for a set of endpoints: one per port (ascending), addresses
// sorted as strings.
Json subsets_for(const std::set<std::pair<std::string, uint16_t>>& endpoints) {
  std::map<uint16_t, std::vector<std::string>> by_port;
  for (const auto& [ip, port] : endpoints) by_port[port].push_back(ip);
  Json subsets = Json::array();
  for (auto& [port, ips] : by_port) {
    std::sort(ips.begin(), ips.end());
    Json addresses = Json::array();
    for (const auto& ip : ips) addresses.push_back({{"ip", ip}});
    subsets.push_back(
        {{"addresses", addresses},
         {"ports", Json::array({{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}})}});
  }
  return subsets;
}

}  // namespace

Status validate_apiserver_endpoints_options(const ApiserverEndpointsOptions& opts) {
  std::pair<std::string, uint16_t> ep;
  if (!parse_endpoint(endpoint_text(opts.address, opts.port), &ep)) {
    return invalid("address: \"" + opts.address + "\" with port " + std::to_string(opts.port) +
                   " is not a non-special IPv4 address and port 1-65535");
  }
  if (opts.lease_namespace.empty()) return invalid("lease_namespace: must not be empty");
  if (opts.renew_interval <= std::chrono::milliseconds(0))
    return invalid("renew_interval: must be positive");
  if (opts.lease_duration < std::chrono::seconds(1) ||
      (opts.lease_duration % std::chrono::seconds(1)).count() != 0) {
    return invalid("lease_duration: must be a whole number of seconds, at least 1 s");
  }
  if (opts.lease_duration <= opts.renew_interval) {
    return invalid("lease_duration: must be greater than renew_interval");
  }
  return Status::ok();
}

std::string apiserver_lease_name(const std::string& address, uint16_t port) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(fnv1a64(endpoint_text(address, port))));
  return std::string("apiserver-") + buf;
}

struct ApiserverEndpointsReconciler::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, ApiserverEndpointsOptions o, Clock& clk)
      : client::Controller(
            f, {"apiserver-endpoints", 1, std::chrono::milliseconds(20), std::chrono::seconds(5)},
            clk),
        client(f.client()),
        opts(std::move(o)),
        self{opts.address, opts.port},
        lease_name(apiserver_lease_name(opts.address, opts.port)),
        identity(lease_name + "_" + random_hex()) {}
  ~Impl() override { stop(); }

  Status setup() override;
  void on_synced() override {
    enqueue(kLeaseKey);
    enqueue(kEndpointsKey);
  }
  client::ReconcileResult reconcile(const std::string& key) override {
    return key == kLeaseKey ? renew() : sync_endpoints();
  }

  client::ReconcileResult renew();
  client::ReconcileResult sync_endpoints();
  // Removes this server's Lease and its endpoint; after the workers stopped.
  Status leave();

  // The live endpoints among `leases` (this server's own when include_self);
  // expired Leases go to *expired; *next_expiry is the time until the next
  // live one expires (unchanged when none does earlier).
  std::set<std::pair<std::string, uint16_t>> live_endpoints(const std::vector<ObjectPtr>& leases,
                                                            bool include_self,
                                                            std::vector<ObjectPtr>* expired,
                                                            std::chrono::nanoseconds* next_expiry);
  // The Leases as the store has them now (not the cache: a server that just
  // started must not drop an endpoint its cache has not seen yet; Kubernetes'
  // reconciler reads its leases from storage on every pass too).
  Result<std::vector<ObjectPtr>> list_leases();
  // Writes the Endpoints when `current` (null: absent) differs from subsets.
  Status write_endpoints(const ObjectPtr& current, const Json& subsets);

  client::Client& client;
  const ApiserverEndpointsOptions opts;
  const std::pair<std::string, uint16_t> self;
  const std::string lease_name;
  const std::string identity;
  const api::ResourceType* lease_type = nullptr;
  const api::ResourceType* endpoints_type = nullptr;
  client::Informer* leases = nullptr;
  client::Informer* endpoints = nullptr;

  // When this server last saw each other Lease change (the worker's, then
  // leave()'s once the worker stopped).
  struct Seen {
    std::string resource_version;
    std::chrono::steady_clock::time_point at{};
  };
  std::map<std::string, Seen> seen;
  // This server's Lease was written once: its endpoint is listed from then
  // on, never before (others would drop an endpoint without a Lease). The
  // worker's.
  bool registered = false;
  // The Endpoints listed this server's endpoint after a pass (any thread reads).
  std::atomic<bool> listed{false};
};

Status ApiserverEndpointsReconciler::Impl::setup() {
  if (Status st = validate_apiserver_endpoints_options(opts); !st) return st;
  lease_type = api::find_kind("coordination.k8s.io/v1", "Lease");
  endpoints_type = api::find_kind("v1", "Endpoints");
  if (!lease_type || !endpoints_type)
    return internal_error("the kind table lacks Lease or Endpoints");
  client::InformerOptions lo;
  lo.namespace_ = opts.lease_namespace;
  lo.label_selector = std::string(kApiserverIdentityLabel) + "=" + kApiserverIdentityValue;
  leases = &factory().informer(*lease_type, lo);
  client::InformerOptions eo;
  eo.namespace_ = kServiceNamespace;
  endpoints = &factory().informer(*endpoints_type, eo);

  auto on_lease = [this](const ObjectPtr&) { enqueue(kEndpointsKey); };
  auto on_lease_deleted = [this](const ObjectPtr& o) {
    // Deleted by someone else (an expiry judged on another server): renew now.
    if (sfield(field(*o, "metadata"), "name") == lease_name) enqueue(kLeaseKey);
    enqueue(kEndpointsKey);
  };
  watch(*leases, {on_lease, [on_lease](const ObjectPtr&, const ObjectPtr& o) { on_lease(o); },
                  on_lease_deleted});
  auto on_endpoints = [this](const ObjectPtr& o) {
    if (sfield(field(*o, "metadata"), "name") == kServiceName) enqueue(kEndpointsKey);
  };
  watch(*endpoints,
        {on_endpoints, [on_endpoints](const ObjectPtr&, const ObjectPtr& o) { on_endpoints(o); },
         on_endpoints});
  return Status::ok();
}

client::ReconcileResult ApiserverEndpointsReconciler::Impl::renew() {
  const std::string now = format_rfc3339_micro(clock().now());
  const int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(opts.lease_duration).count();
  ObjectPtr cur = leases->indexer().get(opts.lease_namespace, lease_name);
  auto create = [&]() -> Status {
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata",
                   {{"name", lease_name},
                    {"namespace", opts.lease_namespace},
                    {"labels", {{kApiserverIdentityLabel, kApiserverIdentityValue}}},
                    {"annotations",
                     {{kApiserverEndpointAnnotation, endpoint_text(self.first, self.second)}}}}},
                  {"spec",
                   {{"holderIdentity", identity},
                    {"leaseDurationSeconds", seconds},
                    {"acquireTime", now},
                    {"renewTime", now}}}};
    auto r = client.create(*lease_type, lease, opts.lease_namespace);
    return r.is_ok() ? Status::ok() : r.status();
  };
  Status st;
  if (!cur) {
    st = create();
  } else {
    Json lease = *cur;  // a copy: the cache's object is shared
    lease["metadata"]["labels"][kApiserverIdentityLabel] = kApiserverIdentityValue;
    lease["metadata"]["annotations"][kApiserverEndpointAnnotation] =
        endpoint_text(self.first, self.second);
    Json& spec = lease["spec"];
    if (sfield(spec, "holderIdentity") != identity) spec["acquireTime"] = now;
    spec["holderIdentity"] = identity;
    spec["leaseDurationSeconds"] = seconds;
    spec["renewTime"] = now;
    auto r = client.update(*lease_type, lease);
    st = r.is_ok() ? Status::ok() : r.status();
    if (st.code() == Code::kNotFound) st = create();  // deleted since the cache saw it
  }
  if (!st) return st;  // conflict: requeue; else retry with backoff
  if (!registered) {
    registered = true;
    enqueue(kEndpointsKey);  // now with this server's endpoint
  }
  return client::ReconcileResult::requeue_after(opts.renew_interval);
}

std::set<std::pair<std::string, uint16_t>> ApiserverEndpointsReconciler::Impl::live_endpoints(
    const std::vector<ObjectPtr>& list, bool include_self, std::vector<ObjectPtr>* expired,
    std::chrono::nanoseconds* next_expiry) {
  const auto mono = clock().monotonic();
  std::set<std::pair<std::string, uint16_t>> live;
  if (include_self) live.insert(self);
  std::set<std::string> present;
  for (const ObjectPtr& lease : list) {
    const Json& meta = field(*lease, "metadata");
    const std::string name = sfield(meta, "name");
    if (name == lease_name) continue;  // this server's: include_self decides
    std::pair<std::string, uint16_t> ep;
    if (!parse_endpoint(sfield(field(meta, "annotations"), kApiserverEndpointAnnotation), &ep))
      continue;
    present.insert(name);
    Seen& s = seen[name];
    const std::string rv = sfield(meta, "resourceVersion");
    if (s.resource_version != rv || s.at == std::chrono::steady_clock::time_point{}) s = {rv, mono};
    const Json& d = field(field(*lease, "spec"), "leaseDurationSeconds");
    std::chrono::nanoseconds ttl =
        d.is_number_integer() && d.get<int64_t>() > 0
            ? std::chrono::nanoseconds(std::chrono::seconds(d.get<int64_t>()))
            : std::chrono::nanoseconds(opts.lease_duration);
    auto left = s.at + ttl - mono;
    if (left > std::chrono::nanoseconds(0)) {
      live.insert(ep);
      *next_expiry = std::min(*next_expiry, std::chrono::nanoseconds(left));
    } else {
      expired->push_back(lease);
    }
  }
  for (auto it = seen.begin(); it != seen.end();) {
    it = present.count(it->first) ? std::next(it) : seen.erase(it);
  }
  return live;
}

Status ApiserverEndpointsReconciler::Impl::write_endpoints(const ObjectPtr& current,
                                                           const Json& subsets) {
  if (current) {
    const Json& have = field(*current, "subsets");
    if (have == subsets || (have.is_null() && subsets.empty())) return Status::ok();
    Json ep = *current;
    ep["subsets"] = subsets;
    auto r = client.update(*endpoints_type, ep);
    if (!r) return r.status();
  } else {
    Json ep = {{"apiVersion", "v1"},
               {"kind", "Endpoints"},
               {"metadata", {{"name", kServiceName}, {"namespace", kServiceNamespace}}},
               {"subsets", subsets}};
    auto r = client.create(*endpoints_type, ep, kServiceNamespace);
    if (!r) return r.status();
  }
  spdlog::info("apiserver-endpoints: {}/{} now lists {}", kServiceNamespace, kServiceName,
               subsets.dump());
  return Status::ok();
}

Result<std::vector<ObjectPtr>> ApiserverEndpointsReconciler::Impl::list_leases() {
  client::ListOptions lo;
  lo.label_selector = std::string(kApiserverIdentityLabel) + "=" + kApiserverIdentityValue;
  auto l = client.list(*lease_type, opts.lease_namespace, lo);
  if (!l) return l.status();
  std::vector<ObjectPtr> list;
  const Json& items = field(*l, "items");
  if (!items.is_array()) return list;
  for (const Json& item : items) {
    if (item.is_object()) list.push_back(std::make_shared<const Json>(item));
  }
  return list;
}

client::ReconcileResult ApiserverEndpointsReconciler::Impl::sync_endpoints() {
  auto list = list_leases();
  if (!list) return list.status();
  std::vector<ObjectPtr> expired;
  std::chrono::nanoseconds next = opts.renew_interval;
  auto live = live_endpoints(*list, registered, &expired, &next);
  for (const ObjectPtr& lease : expired) {
    const Json& meta = field(*lease, "metadata");
    spdlog::info("apiserver-endpoints: the Lease {} of {} expired; removing it",
                 sfield(meta, "name"),
                 sfield(field(meta, "annotations"), kApiserverEndpointAnnotation));
    Json del = {{"apiVersion", "v1"},
                {"kind", "DeleteOptions"},
                {"preconditions", {{"resourceVersion", sfield(meta, "resourceVersion")}}}};
    auto r = client.remove(*lease_type, opts.lease_namespace, sfield(meta, "name"), &del);
    if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
      spdlog::warn("apiserver-endpoints: could not delete the Lease {}: {}", sfield(meta, "name"),
                   r.status().to_string());
    }
  }
  if (Status st = write_endpoints(endpoints->indexer().get(kServiceNamespace, kServiceName),
                                  subsets_for(live));
      !st) {
    return st;
  }
  if (registered) listed = true;
  // Again when the next Lease would expire (a little after), or at the renewal period.
  return client::ReconcileResult::requeue_after(next + std::chrono::milliseconds(10));
}

Status ApiserverEndpointsReconciler::Impl::leave() {
  if (!lease_type || !endpoints_type) return Status::ok();  // never started
  Status first;
  auto r = client.remove(*lease_type, opts.lease_namespace, lease_name);
  if (!r && r.status().code() != Code::kNotFound) first = r.status();
  // Fresh reads: the informers may be stopped.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto list = list_leases();
    if (!list) return first ? list.status() : first;
    std::vector<ObjectPtr> expired;
    std::chrono::nanoseconds next = opts.renew_interval;
    Json subsets = subsets_for(live_endpoints(*list, false, &expired, &next));
    auto cur = client.get(*endpoints_type, kServiceNamespace, kServiceName);
    ObjectPtr current;
    if (cur) {
      current = std::make_shared<const Json>(std::move(*cur));
    } else if (cur.status().code() != Code::kNotFound) {
      return first ? cur.status() : first;
    }
    Status st = write_endpoints(current, subsets);
    if (st.code() == Code::kConflict || st.code() == Code::kAlreadyExists) continue;
    return first ? st : first;
  }
  return first ? conflict("the Endpoints default/kubernetes kept changing") : first;
}

ApiserverEndpointsReconciler::ApiserverEndpointsReconciler(client::Client& client,
                                                           ApiserverEndpointsOptions options,
                                                           Clock& clock) {
  auto impl = std::make_unique<Impl>(own_factory(client), std::move(options), clock);
  impl_ = impl.get();
  set_impl(std::move(impl));
}

bool ApiserverEndpointsReconciler::wait_until_listed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!impl_->listed) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

Status ApiserverEndpointsReconciler::stop_and_remove() {
  stop();
  return impl_->leave();
}

}  // namespace minik8s::controllers
