// Node (core/v1): pod CIDR overlap admission (kinds.h).
#include "kinds.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "../request.h"
#include "minik8s/api/address_rules.h"
#include "minik8s/api/json.h"

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

Status NodeStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs,
                           AdmissionHold& hold) {
  if (old && same_cidrs(obj, *old)) return Status::ok();
  auto mine = pod_cidrs(obj);
  if (mine.empty()) return Status::ok();
  std::vector<std::pair<std::string, api::IpCidr>> parsed;
  for (const auto& [field, cidr] : mine) {
    // Malformed CIDRs were refused by validation already.
    if (auto c = api::parse_cidr(cidr)) parsed.emplace_back(field, *c);
  }
  hold = AdmissionHold(cidr_mu_);
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
        const std::string& mine_text = std::find_if(mine.begin(), mine.end(), [&](const auto& m) {
                                         return m.first == parsed[i].first;
                                       })->second;
        errs.push_back({parsed[i].first, "Invalid value: " + in_quotes(mine_text) + ": overlaps " +
                                             ocidr + ", the pod CIDR of node " + in_quotes(name) +
                                             " (" + ofield + ")"});
      }
    }
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
