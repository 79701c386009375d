#include "kind_strategy.h"

namespace minik8s::apiserver {

void KindRegistry::add(const api::ResourceType& t, std::unique_ptr<KindStrategy> s) {
  if (!s) return;
  if (!strategies_.count(&t)) order_.push_back(&t);
  strategies_[&t] = std::move(s);
}

KindStrategy& KindRegistry::strategy(const api::ResourceType& t) const {
  auto it = strategies_.find(&t);
  return it == strategies_.end() ? *default_ : *it->second;
}

const api::ResourceType* KindRegistry::kind_serving(std::string_view sub) const {
  for (const auto* t : order_) {
    if (strategies_.at(t)->serves_subresource(sub)) return t;
  }
  return nullptr;
}

Status KindRegistry::admit_content(const std::string& ns) const {
  return gate_ ? gate_->admit_content(ns) : Status::ok();
}

std::vector<const api::ResourceType*> KindRegistry::restoring_kinds() const {
  std::vector<const api::ResourceType*> out;
  for (const auto* t : order_) {
    if (strategies_.at(t)->restores()) out.push_back(t);
  }
  return out;
}

}  // namespace minik8s::apiserver
