// DNS (minik8s.io/v1): host admission (kinds.h).
#include "kinds.h"

#include <cctype>

#include "../request.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {
std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }
}  // namespace

std::string DnsStrategy::normalize_domain(std::string d) {
  for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

Status DnsStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs,
                          AdmissionHold& hold) {
  std::string host = normalize_domain(api::sfield(api::field(obj, "spec"), "host"));
  if (host.empty()) return Status::ok();
  if (old && normalize_domain(api::sfield(api::field(*old, "spec"), "host")) == host)
    return Status::ok();
  const std::string& d = cluster_domain_;
  if (!d.empty() && (host == d || (host.size() > d.size() && host.ends_with("." + d)))) {
    errs.push_back({"spec.host", "Invalid value: " + in_quotes(host) +
                                     ": may not be inside the cluster domain " + d +
                                     " (the cluster DNS answers those names itself)"});
    return Status::ok();
  }
  hold = AdmissionHold(host_mu_);
  const api::ResourceType* dnses = api::find_kind("minik8s.io/v1", "DNS");
  auto list = store_.list(collection_prefix(*dnses, ""), "", 0);
  if (!list) return list.status();
  const json& meta = api::field(obj, "metadata");
  const std::string self_ns = api::sfield(meta, "namespace"), self_name = api::sfield(meta, "name");
  for (const auto& kv : list->items) {
    auto decoded = api::parse_json(kv.value);
    if (!decoded) continue;
    const json& other = *decoded;
    const json& om = api::field(other, "metadata");
    std::string ns = api::sfield(om, "namespace"), name = api::sfield(om, "name");
    if (ns == self_ns && name == self_name) continue;
    if (normalize_domain(api::sfield(api::field(other, "spec"), "host")) != host) continue;
    return conflict("Operation cannot be fulfilled on dnses.minik8s.io " + in_quotes(self_name) +
                    ": spec.host " + in_quotes(host) + " is already claimed by DNS " + ns + "/" +
                    name);
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
