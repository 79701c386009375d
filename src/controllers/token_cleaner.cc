// BootstrapTokenCleaner (certificates.h).
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "minik8s/controllers/certificates.h"
#include "minik8s/util/base64.h"
#include "names.h"

namespace minik8s::controllers {

struct BootstrapTokenCleaner::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, Clock& clk)
      : client::Controller(f, {"tokencleaner", 1, 100ms, 30s}, clk) {}
  ~Impl() override { stop(); }

  const api::ResourceType* type = nullptr;
  client::Informer* secrets = nullptr;  // kube-system's, owned by the factory

  Status setup() override {
    type = api::find_kind("v1", "Secret");
    if (!type) return internal_error("the kind table lacks Secret");
    client::InformerOptions o;
    o.namespace_ = "kube-system";
    secrets = &factory().informer(*type, o);
    auto add = [this](const ObjectPtr& s) { enqueue(client::object_key(*s)); };
    watch(*secrets, {add, [add](const ObjectPtr&, const ObjectPtr& n) { add(n); }, nullptr});
    return Status::ok();
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    auto [ns, name] = client::split_key(key);
    ObjectPtr s = secrets->indexer().get(ns, name);
    if (!s || sfield(*s, "type") != "bootstrap.kubernetes.io/token") return Status::ok();
    if (!field(field(*s, "metadata"), "deletionTimestamp").is_null()) return Status::ok();
    auto exp = base64_decode(sfield(field(*s, "data"), "expiration"));
    SysTime when;
    if (!exp || exp->empty()) return Status::ok();
    // Past what a system_clock time_point holds (year 2262): never.
    if (exp->size() >= 4 && exp->compare(0, 4, "2262") >= 0) return Status::ok();
    if (!parse_rfc3339(*exp, &when)) return Status::ok();
    auto now = clock().now();
    if (now < when) return client::ReconcileResult::requeue_after(when - now);
    auto r = api_client().remove(*type, ns, name);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    spdlog::info("tokencleaner: deleted {} (expired {})", key, *exp);
    return Status::ok();
  }
};

BootstrapTokenCleaner::BootstrapTokenCleaner(client::SharedInformerFactory& factory, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, clock));
}

}  // namespace minik8s::controllers
