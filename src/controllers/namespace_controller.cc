// NamespaceController: a client::Controller on the shared Namespace informer
// and a queue of namespace names (docs/controllers.md "Namespace
// finalization"). The handlers enqueue a namespace that carries a
// deletionTimestamp, deletion_grace later (Kubernetes' grace period, so that
// `kubectl delete -f` with the Namespace first still finds its objects).
// reconcile() empties it through the API — a live list of every namespaced
// kind in the kind table, a Background delete of each object not already
// going — and, after a pass that found nothing left, PUTs
// namespaces/NAME/finalize with spec.finalizers cleared, which removes the
// namespace. While anything remains (objects it just deleted, pods in their
// grace period, finalizers) the key comes back after a short delay.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "minik8s/api/review_kinds.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

// How soon an emptying namespace is looked at again: quickly while its
// deletion is young (most content goes with the first pass, so the second
// one usually finds nothing and finalizes), then once a second (Kubernetes'
// pace for content that takes time: pods in their grace period, finalizers).
constexpr auto kFastRecheck = 200ms;
constexpr auto kRecheck = 1s;
constexpr auto kFastWindow = 10s;

bool terminating(const Json& ns) {
  return !field(field(ns, "metadata"), "deletionTimestamp").is_null();
}

}  // namespace

struct NamespaceController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, NamespaceOptions o, Clock& clk)
      : client::Controller(f, {"namespace", 2, 100ms, 10s}, clk), client(f.client()), opts(o) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const NamespaceOptions opts;
  const api::ResourceType* namespaces_type = nullptr;
  client::Informer* namespaces = nullptr;  // shared, owned by the factory

  Status setup() override;

  client::ReconcileResult reconcile(const std::string& name) override {
    ObjectPtr ns = namespaces->indexer().get(name);
    if (!ns || !terminating(*ns)) return Status::ok();

    // One pass: delete what is not yet going, count everything still there.
    size_t remaining = 0;
    Status failure = Status::ok();
    const Json background = {
        {"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"propagationPolicy", "Background"}};
    for (const api::ResourceType* t : api::all_resources()) {
      if (!t->namespaced || api::answered_not_stored(*t)) continue;
      auto list = client.list(*t, name);
      if (!list) {
        if (list.status().code() == Code::kNotFound) continue;  // kind not served
        failure =
            Status(list.status().code(), "listing " + t->plural + ": " + list.status().message());
        continue;
      }
      const Json& items = field(*list, "items");
      if (!items.is_array()) continue;
      for (const Json& item : items) {
        ++remaining;
        const Json& meta = field(item, "metadata");
        if (!field(meta, "deletionTimestamp").is_null()) continue;  // already going
        std::string obj_name = sfield(meta, "name");
        auto r = client.remove(*t, name, obj_name, &background);
        if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
          failure = Status(r.status().code(),
                           "deleting " + t->plural + "/" + obj_name + ": " + r.status().message());
        }
      }
    }
    if (!failure.is_ok()) return failure;  // logged and retried with backoff
    // Finalize only after a pass that found nothing left: objects deleted in
    // this pass (or created while it ran) are seen by the next one.
    if (remaining > 0) return client::ReconcileResult::requeue_after(recheck_delay(*ns));
    return finalize(name);
  }

  std::chrono::nanoseconds recheck_delay(const Json& ns) {
    SysTime since;
    if (!parse_rfc3339(sfield(field(ns, "metadata"), "deletionTimestamp"), &since)) return kRecheck;
    auto age = clock().now() - since;
    return age >= -kFastWindow && age < kFastWindow ? std::chrono::nanoseconds(kFastRecheck)
                                                    : std::chrono::nanoseconds(kRecheck);
  }

  // PUT namespaces/NAME/finalize with spec.finalizers cleared, on a fresh copy
  // (the cache may lag behind the API server's own writes).
  Status finalize(const std::string& name) {
    auto cur = client.get(*namespaces_type, "", name);
    if (!cur) return cur.status().code() == Code::kNotFound ? Status::ok() : cur.status();
    if (!terminating(*cur)) return Status::ok();
    Json obj = std::move(cur.value());
    if (!obj["spec"].is_object()) obj["spec"] = Json::object();
    obj["spec"]["finalizers"] = Json::array();
    auto res = client.rest().request(
        "PUT", client::Client::path(*namespaces_type, "", name, "finalize"), obj.dump());
    if (!res) return res.status();
    if (Status st = client::check_response(*res); !st.is_ok()) {
      // Conflict: retried on a fresher copy.
      return st.code() == Code::kNotFound ? Status::ok() : st;
    }
    spdlog::info("namespace {} deleted", name);
    return Status::ok();
  }
};

NamespaceController::NamespaceController(client::Client& client, NamespaceOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), options, real_clock()));
}

NamespaceController::NamespaceController(client::SharedInformerFactory& factory,
                                         NamespaceOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, options, clock));
}

Status NamespaceController::Impl::setup() {
  Impl& s = *this;
  if (s.opts.deletion_grace < 0ms)
    return bad_request("namespace controller: negative deletion grace");
  s.namespaces_type = api::find_kind("v1", "Namespace");
  if (!s.namespaces_type) return internal_error("the kind table lacks Namespace");
  s.namespaces = &factory().informer(*s.namespaces_type);
  // Only terminating namespaces concern the controller, after the grace; the
  // initial list brings those whose deletion a restart interrupted.
  auto on_namespace = [&s](const ObjectPtr& ns) {
    if (!terminating(*ns)) return;
    if (s.opts.deletion_grace > 0ms) {
      s.enqueue_after(client::object_key(*ns), s.opts.deletion_grace);
    } else {
      s.enqueue(client::object_key(*ns));
    }
  };
  watch(*s.namespaces,
        {on_namespace, [on_namespace](const ObjectPtr&, const ObjectPtr& ns) { on_namespace(ns); },
         nullptr});
  return Status::ok();
}

}  // namespace minik8s::controllers
