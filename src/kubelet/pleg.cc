#include "pleg.h"

#include <spdlog/spdlog.h>

#include "labels.h"
#include "pod_util.h"

namespace minik8s::kubelet {

Pleg::Pleg(cri::Runtime& runtime, std::string node_name, std::chrono::milliseconds period)
    : runtime_(runtime), node_name_(std::move(node_name)), period_(period) {}

Pleg::~Pleg() { stop(); }

Result<RelistResult> Pleg::relist() {
  cri::Labels mine = {{kNodeLabel, node_name_}};
  auto sbs = runtime_.list_pod_sandboxes(mine);
  auto cts = runtime_.list_containers(by_labels(mine));
  if (!sbs || !cts) return !sbs ? sbs.status() : cts.status();
  RelistResult out;
  std::map<std::string, std::pair<std::string, int>> seen;
  for (const auto& s : *sbs) {
    auto u = s.labels.find(kPodUidLabel);
    if (u == s.labels.end()) continue;
    seen["sb:" + s.id] = {u->second, static_cast<int>(s.state)};
    out.pods[u->second] = {s.namespace_, s.name};
  }
  for (const auto& c : *cts) {
    auto u = c.labels.find(kPodUidLabel);
    if (u == c.labels.end()) continue;
    seen["ct:" + c.id] = {u->second, static_cast<int>(c.state)};
    if (!out.pods.count(u->second)) {
      auto n = c.labels.find(kPodNameLabel), ns = c.labels.find(kPodNamespaceLabel);
      out.pods[u->second] = {ns == c.labels.end() ? "" : ns->second, n == c.labels.end() ? "" : n->second};
    }
  }
  for (const auto& [id, v] : seen) {
    auto it = last_seen_.find(id);
    if (it == last_seen_.end() || it->second.second != v.second) out.changed.insert(v.first);
  }
  for (const auto& [id, v] : last_seen_) {
    if (!seen.count(id)) out.changed.insert(v.first);
  }
  last_seen_ = std::move(seen);
  out.containers = std::move(*cts);
  return out;
}

void Pleg::start(Handler on_relist) {
  {
    std::lock_guard l(mu_);
    stop_ = false;
  }
  on_relist_ = std::move(on_relist);
  thread_ = std::thread([this] { loop(); });
}

void Pleg::stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Pleg::loop() {
  std::unique_lock l(mu_);
  while (!stop_) {
    cv_.wait_for(l, period_, [&] { return stop_; });
    if (stop_) break;
    l.unlock();
    auto r = relist();
    if (!r) spdlog::warn("kubelet: relist failed: {}", r.status().to_string());
    on_relist_(r);
    l.lock();
  }
}

}  // namespace minik8s::kubelet
