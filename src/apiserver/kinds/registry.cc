// make_kind_registry: which kind gets which strategy (kinds.h).
#include "kinds.h"

namespace minik8s::apiserver {

std::unique_ptr<KindRegistry> make_kind_registry(storage::Storage& store,
                                                 const ApiServerOptions& opts,
                                                 std::unique_ptr<IpAllocator> ips,
                                                 const KindDeps& deps) {
  auto r = std::make_unique<KindRegistry>();
  if (const auto* t = api::find_kind("v1", "Namespace")) {
    r->add(*t, std::make_unique<NamespaceStrategy>());
    r->set_namespace_gate(std::make_unique<NamespaceLifecycle>(store, *t));
  }
  if (const auto* t = api::find_kind("v1", "Pod")) {
    r->add(*t, std::make_unique<PodStrategy>(opts.default_not_ready_toleration_seconds,
                                             opts.default_unreachable_toleration_seconds, &store,
                                             opts.auth.enabled));
  }
  if (const auto* t = api::find_kind("v1", "Service")) {
    r->add(*t, std::make_unique<ServiceStrategy>(std::move(ips), opts.node_port_min,
                                                 opts.node_port_max));
  }
  if (const auto* t = api::find_kind("v1", "Node"))
    r->add(*t, std::make_unique<NodeStrategy>(store));
  if (const auto* t = api::find_kind("minik8s.io/v1", "DNS")) {
    r->add(*t, std::make_unique<DnsStrategy>(store, opts.cluster_domain));
  }
  if (const auto* t = api::find_kind("serverless.minik8s.io/v1", "Function")) {
    r->add(*t, std::make_unique<FunctionStrategy>(store, opts.code_dir));
  }
  if (const auto* t = api::find_kind("serverless.minik8s.io/v1", "Workflow")) {
    r->add(*t, std::make_unique<WorkflowStrategy>());
  }
  if (const auto* t = api::find_kind("serverless.minik8s.io/v1", "WorkflowRun")) {
    r->add(*t, std::make_unique<WorkflowRunStrategy>(store));
  }
  if (const auto* t = api::find_kind("serverless.minik8s.io/v1", "Trigger")) {
    r->add(*t, std::make_unique<TriggerStrategy>());
  }
  if (const auto* t = api::find_kind("minik8s.io/v1", "GPUJob")) {
    r->add(*t, std::make_unique<GpuJobStrategy>(store, opts.blob_dir));
  }
  if (const auto* t = api::find_kind("v1", "ServiceAccount"); t && deps.sa_tokens) {
    r->add(*t, std::make_unique<ServiceAccountStrategy>(store, *deps.sa_tokens));
  }
  if (const auto* t = api::find_kind("authentication.k8s.io/v1", "TokenReview")) {
    r->add(*t,
           std::make_unique<TokenReviewStrategy>(deps.authenticator, deps.sa_tokens, deps.cache));
  }
  if (const auto* t = api::find_kind("authentication.k8s.io/v1", "SelfSubjectReview")) {
    r->add(*t, std::make_unique<SelfSubjectReviewStrategy>());
  }
  if (const auto* t = api::find_kind("certificates.k8s.io/v1", "CertificateSigningRequest")) {
    r->add(*t, std::make_unique<CsrStrategy>());
  }
  return r;
}

}  // namespace minik8s::apiserver
