#include "admission.h"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

#include "minik8s/api/address_rules.h"
#include "minik8s/api/json.h"
#include "request.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

// A Node's pod CIDRs with the field each comes from; podCIDRs entries equal
// to podCIDR are the same claim (node IPAM writes both) and listed once.
std::vector<std::pair<std::string, std::string>> pod_cidrs(const json& node) {
  std::vector<std::pair<std::string, std::string>> out;
  const json& spec = api::field(node, "spec");
  std::string single = api::sfield(spec, "podCIDR");
  if (!single.empty()) out.emplace_back("spec.podCIDR", single);
  const json& list = api::field(spec, "podCIDRs");
  if (list.is_array()) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string() || list[i].get<std::string>() == single) continue;
      out.emplace_back("spec.podCIDRs[" + std::to_string(i) + "]", list[i].get<std::string>());
    }
  }
  return out;
}

bool same_cidrs(const json& a, const json& b) {
  const json& sa = api::field(a, "spec");
  const json& sb = api::field(b, "spec");
  return api::field(sa, "podCIDR") == api::field(sb, "podCIDR") &&
         api::field(sa, "podCIDRs") == api::field(sb, "podCIDRs");
}

}  // namespace

std::string CrossObjectAdmission::normalize_domain(std::string d) {
  for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

Status CrossObjectAdmission::admit(const api::ResourceType& t, const json& obj, const json* old,
                                   api::FieldErrors& errs, Hold& hold) {
  if (t.group.empty() && t.kind == "Node") return admit_node(obj, old, errs, hold);
  if (t.group == "minik8s.io" && t.kind == "DNS") return admit_dns(obj, old, errs, hold);
  return Status::ok();
}

Status CrossObjectAdmission::admit_node(const json& obj, const json* old, api::FieldErrors& errs,
                                        Hold& hold) {
  if (old && same_cidrs(obj, *old)) return Status::ok();
  auto mine = pod_cidrs(obj);
  if (mine.empty()) return Status::ok();
  std::vector<std::pair<std::string, api::IpCidr>> parsed;
  for (const auto& [field, cidr] : mine) {
    // Malformed CIDRs were refused by validation already.
    if (auto c = api::parse_cidr(cidr)) parsed.emplace_back(field, *c);
  }
  hold = Hold(node_cidr_mu_);
  const api::ResourceType* nodes = api::find_kind("v1", "Node");
  auto list = store_.list(collection_prefix(*nodes, ""), "", 0);
  if (!list) return list.status();
  const std::string self = api::sfield(api::field(obj, "metadata"), "name");
  std::vector<bool> reported(parsed.size(), false);
  for (const auto& kv : list->items) {
    auto decoded = api::parse_json(kv.value);
    if (!decoded) continue;
    const json& other = *decoded;
    std::string name = api::sfield(api::field(other, "metadata"), "name");
    if (name == self) continue;
    for (const auto& [ofield, ocidr] : pod_cidrs(other)) {
      auto oc = api::parse_cidr(ocidr);
      if (!oc) continue;
      for (size_t i = 0; i < parsed.size(); ++i) {
        if (reported[i] || !api::cidrs_overlap(parsed[i].second, *oc)) continue;
        reported[i] = true;
        const std::string& mine_text =
            std::find_if(mine.begin(), mine.end(), [&](const auto& m) { return m.first == parsed[i].first; })
                ->second;
        errs.push_back({parsed[i].first, "Invalid value: " + in_quotes(mine_text) + ": overlaps " + ocidr +
                                             ", the pod CIDR of node " + in_quotes(name) + " (" + ofield + ")"});
      }
    }
  }
  return Status::ok();
}

Status CrossObjectAdmission::admit_dns(const json& obj, const json* old, api::FieldErrors& errs,
                                       Hold& hold) {
  std::string host = normalize_domain(api::sfield(api::field(obj, "spec"), "host"));
  if (host.empty()) return Status::ok();
  if (old && normalize_domain(api::sfield(api::field(*old, "spec"), "host")) == host) return Status::ok();
  const std::string& d = cluster_domain_;
  if (!d.empty() && (host == d || (host.size() > d.size() && host.ends_with("." + d)))) {
    errs.push_back({"spec.host", "Invalid value: " + in_quotes(host) + ": may not be inside the cluster domain " +
                                     d + " (the cluster DNS answers those names itself)"});
    return Status::ok();
  }
  hold = Hold(dns_host_mu_);
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
    return conflict("Operation cannot be fulfilled on dnses.minik8s.io " + in_quotes(self_name) + ": spec.host " +
                    in_quotes(host) + " is already claimed by DNS " + ns + "/" + name);
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
