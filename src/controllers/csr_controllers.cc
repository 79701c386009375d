// The CSR approver and signer (certificates.h; docs/auth.md
// "CertificateSigningRequest").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "minik8s/auth/user.h"
#include "minik8s/controllers/certificates.h"
#include "minik8s/util/base64.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

constexpr std::chrono::seconds kMaxValidity{365 * 24 * 3600};

bool has_condition(const Json& csr, const std::string& type) {
  const Json& cs = field(field(csr, "status"), "conditions");
  if (!cs.is_array()) return false;
  for (const auto& c : cs) {
    if (sfield(c, "type") == type && sfield(c, "status") != "False") return true;
  }
  return false;
}

std::vector<std::string> strings(const Json& a) {
  std::vector<std::string> out;
  if (!a.is_array()) return out;
  for (const auto& x : a) {
    if (x.is_string()) out.push_back(x.get<std::string>());
  }
  return out;
}

bool usages_within(const Json& csr, std::initializer_list<const char*> allowed) {
  std::vector<std::string> us = strings(field(field(csr, "spec"), "usages"));
  if (us.empty()) return false;
  for (const auto& u : us) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return u == a; })) {
      return false;
    }
  }
  return true;
}

Result<auth::CertInfo> parsed_request(const Json& csr) {
  auto pem = base64_decode(sfield(field(csr, "spec"), "request"));
  if (!pem) return Status(Code::kInvalid, "spec.request is not base64");
  return auth::parse_csr(*pem);
}

// CN system:node:<name> with a non-empty name, O exactly system:nodes.
bool node_subject(const auth::CertInfo& info) {
  const std::string prefix = auth::kNodeUserPrefix;
  return info.common_name.size() > prefix.size() && info.common_name.rfind(prefix, 0) == 0 &&
         info.organizations == std::vector<std::string>{auth::kGroupNodes};
}

bool in_group(const Json& csr, const char* group) {
  auto gs = strings(field(field(csr, "spec"), "groups"));
  return std::find(gs.begin(), gs.end(), group) != gs.end();
}

bool say(std::string* why, std::string text, bool verdict) {
  if (why) *why = std::move(text);
  return verdict;
}

}  // namespace

bool csr_auto_approval(const Json& csr, std::string* why) {
  if (has_condition(csr, "Approved") || has_condition(csr, "Denied")) {
    return say(why, "already approved or denied", false);
  }
  const Json& spec = field(csr, "spec");
  const std::string signer = sfield(spec, "signerName");
  const bool client = signer == kSignerKubeletClient;
  const bool serving = signer == kSignerKubeletServing;
  if (!client && !serving) return say(why, "signer " + signer + " is left to a person", false);
  auto info = parsed_request(csr);
  if (!info) return say(why, "the request does not parse: " + info.status().message(), false);
  if (!node_subject(*info)) {
    return say(why, "the subject is not CN system:node:<name>, O system:nodes", false);
  }
  const std::string requester = sfield(spec, "username");
  const bool self = requester == info->common_name;
  const bool master = in_group(csr, auth::kGroupMasters);
  if (client) {
    if (!usages_within(csr, {"client auth", "digital signature", "key encipherment"})) {
      return say(why, "usages other than client auth, digital signature, key encipherment", false);
    }
    if (!info->dns_names.empty() || !info->ip_addresses.empty()) {
      return say(why, "a client certificate request with subject alternative names", false);
    }
    if (!self && !master && !in_group(csr, auth::kGroupBootstrappers)) {
      return say(why, "requester " + requester + " is neither a bootstrapper nor the node", false);
    }
    return say(why, "a node's client certificate", true);
  }
  if (!usages_within(csr, {"server auth", "digital signature", "key encipherment"})) {
    return say(why, "usages other than server auth, digital signature, key encipherment", false);
  }
  if (info->dns_names.empty() && info->ip_addresses.empty()) {
    return say(why, "a serving certificate request without DNS or IP subject alternative names",
               false);
  }
  if (!self && !master) return say(why, "requester " + requester + " is not the node", false);
  return say(why, "a node's serving certificate", true);
}

Result<std::string> csr_sign(const auth::CertificateAuthority& ca, const Json& csr) {
  const Json& spec = field(csr, "spec");
  const std::string signer = sfield(spec, "signerName");
  auth::CertSpec cs;
  if (signer == kSignerKubeletClient || signer == kSignerApiserverClient) {
    cs.usage = auth::KeyUsage::kClient;
  } else if (signer == kSignerKubeletServing) {
    cs.usage = auth::KeyUsage::kServer;
  } else {
    return Status(Code::kInvalid, "signer " + signer + " is not served here");
  }
  auto info = parsed_request(csr);
  if (!info) return Status(Code::kInvalid, "spec.request: " + info.status().message());
  if (signer != kSignerApiserverClient && !node_subject(*info)) {
    return Status(Code::kInvalid,
                  "subject must be CN system:node:<name>, O system:nodes for " + signer);
  }
  if (signer == kSignerKubeletClient && (!info->dns_names.empty() || !info->ip_addresses.empty())) {
    return Status(Code::kInvalid, "subject alternative names are not allowed for " + signer);
  }
  if (signer == kSignerApiserverClient &&
      std::find(info->organizations.begin(), info->organizations.end(), auth::kGroupMasters) !=
          info->organizations.end()) {
    // Kubernetes' CertificateSubjectRestriction: no admin certificates through CSRs.
    return Status(Code::kInvalid, std::string("subject organization ") + auth::kGroupMasters +
                                      " is not allowed for " + signer);
  }
  cs.dns_names = info->dns_names;
  cs.ip_addresses = info->ip_addresses;
  cs.ttl = kMaxValidity;
  const Json& exp = field(spec, "expirationSeconds");
  if (exp.is_number_integer()) cs.ttl = std::min(cs.ttl, std::chrono::seconds(exp.get<int64_t>()));
  auto pem = base64_decode(sfield(spec, "request"));
  return ca.sign_csr(*pem, cs);
}

namespace {

// The CSR informer and the kind, shared by both controllers' setup().
struct CsrBase : client::Controller {
  CsrBase(client::SharedInformerFactory& f, const char* name, Clock& clk)
      : client::Controller(f, {name, 1, 100ms, 30s}, clk) {}

  const api::ResourceType* type = nullptr;
  client::Informer* csrs = nullptr;  // shared, owned by the factory

  Status setup() override {
    type = api::find_kind("certificates.k8s.io/v1", "CertificateSigningRequest");
    if (!type) return internal_error("the kind table lacks CertificateSigningRequest");
    csrs = &factory().informer(*type);
    auto add = [this](const ObjectPtr& o) { enqueue(client::object_key(*o)); };
    watch(*csrs, {add, [add](const ObjectPtr&, const ObjectPtr& n) { add(n); }, nullptr});
    return Status::ok();
  }

  // Appends a condition through subresource sub, CAS on the cached object's
  // resourceVersion (a stale cache: 409, requeued).
  Status add_condition(const Json& csr, const std::string& sub, const std::string& type_name,
                       const std::string& reason, const std::string& message) {
    Json conds = field(field(csr, "status"), "conditions");
    if (!conds.is_array()) conds = Json::array();
    std::string now = format_rfc3339(clock().now());
    conds.push_back({{"type", type_name},
                     {"status", "True"},
                     {"reason", reason},
                     {"message", message},
                     {"lastUpdateTime", now},
                     {"lastTransitionTime", now}});
    Json patch = {
        {"metadata", {{"resourceVersion", sfield(field(csr, "metadata"), "resourceVersion")}}},
        {"status", {{"conditions", conds}}}};
    return api_client()
        .patch(*type, "", sfield(field(csr, "metadata"), "name"), client::PatchType::kMerge, patch,
               sub)
        .status();
  }
};

Status gone_is_fine(const Status& st) { return st.code() == Code::kNotFound ? Status::ok() : st; }

}  // namespace

struct CsrApprovingController::Impl : CsrBase {
  Impl(client::SharedInformerFactory& f, Clock& clk) : CsrBase(f, "csrapproving", clk) {}
  ~Impl() override { stop(); }

  client::ReconcileResult reconcile(const std::string& key) override {
    ObjectPtr csr = csrs->indexer().get(key);
    if (!csr) return Status::ok();
    std::string why;
    if (!csr_auto_approval(*csr, &why)) return Status::ok();
    Status st = gone_is_fine(add_condition(*csr, "approval", "Approved", "AutoApproved",
                                           "Auto approving " + why + " (minik8s csrapproving)."));
    if (st.is_ok()) spdlog::info("csrapproving: approved {} ({})", key, why);
    return st;
  }
};

CsrApprovingController::CsrApprovingController(client::SharedInformerFactory& factory,
                                               Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, clock));
}

struct CsrSigningController::Impl : CsrBase {
  Impl(client::SharedInformerFactory& f, auth::CertificateAuthority c, Clock& clk)
      : CsrBase(f, "csrsigning", clk), ca(std::move(c)) {}
  ~Impl() override { stop(); }

  const auth::CertificateAuthority ca;

  client::ReconcileResult reconcile(const std::string& key) override {
    ObjectPtr csr = csrs->indexer().get(key);
    if (!csr) return Status::ok();
    const std::string signer = sfield(field(*csr, "spec"), "signerName");
    if (signer != kSignerKubeletClient && signer != kSignerKubeletServing &&
        signer != kSignerApiserverClient) {
      return Status::ok();
    }
    if (!has_condition(*csr, "Approved") || has_condition(*csr, "Denied") ||
        has_condition(*csr, "Failed") || !sfield(field(*csr, "status"), "certificate").empty()) {
      return Status::ok();
    }
    auto cert = csr_sign(ca, *csr);
    if (!cert) {
      if (cert.status().code() != Code::kInvalid) return cert.status();
      spdlog::warn("csrsigning: {} not signed: {}", key, cert.status().message());
      return gone_is_fine(add_condition(*csr, "status", "Failed", "SignerValidationFailure",
                                        cert.status().message()));
    }
    Json obj = *csr;  // a copy: the cache's object is shared
    if (!obj["status"].is_object()) obj["status"] = Json::object();
    obj["status"]["certificate"] = base64_encode(*cert);
    Status st = gone_is_fine(api_client().update_status(*type, obj).status());
    if (st.is_ok()) spdlog::info("csrsigning: issued {}", key);
    return st;
  }
};

CsrSigningController::CsrSigningController(client::SharedInformerFactory& factory,
                                           auth::CertificateAuthority ca, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(ca), clock));
}

}  // namespace minik8s::controllers
