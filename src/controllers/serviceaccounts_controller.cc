// ServiceAccountsController (controllers.h): the ServiceAccount "default"
// and the ConfigMap kube-root-ca.crt in every namespace. A client::Controller
// on the shared Namespace informer plus two informers narrowed to those
// names; the key is the namespace name.
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/api/resource.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

constexpr const char* kDefaultSa = "default";
constexpr const char* kRootCa = "kube-root-ca.crt";
constexpr const char* kCaKey = "ca.crt";

bool terminating(const Json& ns) {
  return !field(field(ns, "metadata"), "deletionTimestamp").is_null() ||
         sfield(field(ns, "status"), "phase") == "Terminating";
}

// AlreadyExists / NotFound (namespace going) are someone else's answer; the
// rest is retried.
Status benign(const Status& st) {
  if (st.is_ok() || st.code() == Code::kAlreadyExists || st.code() == Code::kNotFound ||
      st.code() == Code::kForbidden) {
    return Status::ok();
  }
  return st;
}

}  // namespace

struct ServiceAccountsController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, ServiceAccountsOptions o, Clock& clk)
      : client::Controller(f, {"serviceaccount", 1, 50ms, 10s}, clk),
        client(f.client()),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const ServiceAccountsOptions opts;
  std::string ca_pem;  // written by setup(), read-only after
  const api::ResourceType* ns_type = nullptr;
  const api::ResourceType* sa_type = nullptr;
  const api::ResourceType* cm_type = nullptr;
  client::Informer* namespaces = nullptr;  // shared, owned by the factory
  client::Informer* sas = nullptr;
  client::Informer* cms = nullptr;

  Status setup() override;

  client::ReconcileResult reconcile(const std::string& name) override {
    ObjectPtr ns = namespaces->indexer().get(name);
    if (!ns || terminating(*ns)) return Status::ok();
    if (!sas->indexer().get(name, kDefaultSa)) {
      Json sa = {{"apiVersion", "v1"},
                 {"kind", "ServiceAccount"},
                 {"metadata", {{"name", kDefaultSa}, {"namespace", name}}}};
      auto r = client.create(*sa_type, sa, name);
      if (Status st = benign(r.status()); !st.is_ok()) return st;
    }
    if (ca_pem.empty()) return Status::ok();
    ObjectPtr cm = cms->indexer().get(name, kRootCa);
    if (!cm) {
      Json obj = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", kRootCa}, {"namespace", name}}},
                  {"data", {{kCaKey, ca_pem}}}};
      return benign(client.create(*cm_type, obj, name).status());
    }
    if (sfield(field(*cm, "data"), kCaKey) == ca_pem) return Status::ok();
    Json obj = *cm;  // a copy: the cache's object is shared
    if (!obj["data"].is_object()) obj["data"] = Json::object();
    obj["data"][kCaKey] = ca_pem;
    return benign(client.update(*cm_type, obj).status());
  }
};

ServiceAccountsController::ServiceAccountsController(client::Client& client,
                                                     ServiceAccountsOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), real_clock()));
}

ServiceAccountsController::ServiceAccountsController(client::SharedInformerFactory& factory,
                                                     ServiceAccountsOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status ServiceAccountsController::Impl::setup() {
  Impl& s = *this;
  if (!opts.root_ca_file.empty()) {
    std::ifstream in(opts.root_ca_file);
    if (!in) {
      return Status(Code::kInvalid,
                    "serviceaccount controller: cannot read the root CA " + opts.root_ca_file);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    ca_pem = ss.str();
    if (ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status(Code::kInvalid, "serviceaccount controller: " + opts.root_ca_file +
                                        " holds no PEM certificate");
    }
  }
  s.ns_type = api::find_kind("v1", "Namespace");
  s.sa_type = api::find_kind("v1", "ServiceAccount");
  s.cm_type = api::find_kind("v1", "ConfigMap");
  if (!s.ns_type || !s.sa_type || !s.cm_type) {
    return internal_error("the kind table lacks Namespace, ServiceAccount or ConfigMap");
  }
  s.namespaces = &factory().informer(*s.ns_type);
  client::InformerOptions sa_opts;
  sa_opts.field_selector = std::string("metadata.name=") + kDefaultSa;
  s.sas = &factory().informer(*s.sa_type, sa_opts);
  client::InformerOptions cm_opts;
  cm_opts.field_selector = std::string("metadata.name=") + kRootCa;
  s.cms = &factory().informer(*s.cm_type, cm_opts);
  auto by_ns = [&s](const ObjectPtr& o) { s.enqueue(client::object_key(*o)); };
  auto of_ns = [&s](const ObjectPtr& o) { s.enqueue(sfield(field(*o, "metadata"), "namespace")); };
  watch(*s.namespaces,
        {by_ns, [by_ns](const ObjectPtr&, const ObjectPtr& n) { by_ns(n); }, nullptr});
  watch(*s.sas, {nullptr, nullptr, of_ns});
  watch(*s.cms, {nullptr, [of_ns](const ObjectPtr&, const ObjectPtr& n) { of_ns(n); }, of_ns});
  return Status::ok();
}

}  // namespace minik8s::controllers
