#include "stats.h"

#include "labels.h"
#include "pod_util.h"

namespace minik8s::kubelet {

void StatsCollector::sample(const std::vector<cri::Container>& containers) {
  auto st = runtime_.list_container_stats();
  if (!st) return;
  std::map<std::string, const cri::Container*> by_id;
  for (const auto& c : containers) by_id[c.id] = &c;
  std::lock_guard l(mu_);
  std::map<std::string, Sample> next;
  for (const auto& s : *st) {
    auto c = by_id.find(s.id);
    if (c == by_id.end()) continue;  // not ours
    const auto& labels = c->second->labels;
    auto lab = [&](const char* k) {
      auto it = labels.find(k);
      return it == labels.end() ? std::string() : it->second;
    };
    Sample smp;
    smp.uid = lab(kPodUidLabel);
    smp.pod = lab(kPodNameLabel);
    smp.ns = lab(kPodNamespaceLabel);
    smp.name = c->second->name;
    smp.cpu = s.cpu_usage_core_nanos;
    smp.mem = s.memory_working_set_bytes;
    smp.ts = s.timestamp ? s.timestamp : now_ns();
    auto prev = samples_.find(s.id);
    if (prev != samples_.end()) {
      smp.nano_cores = prev->second.nano_cores;
      if (smp.ts > prev->second.ts && smp.cpu >= prev->second.cpu) {
        smp.nano_cores = static_cast<uint64_t>(static_cast<double>(smp.cpu - prev->second.cpu) * 1e9 /
                                               static_cast<double>(smp.ts - prev->second.ts));
      }
    }
    next[s.id] = smp;
  }
  samples_ = std::move(next);
}

std::vector<PodUsage> StatsCollector::pod_usage() const {
  std::map<std::string, PodUsage> by_uid;
  std::lock_guard l(mu_);
  for (const auto& [id, s] : samples_) {
    PodUsage& p = by_uid[s.uid];
    p.uid = s.uid;
    p.name = s.pod;
    p.namespace_ = s.ns;
    ContainerUsage cu;
    cu.name = s.name;
    cu.cpu_usage_core_nanos = s.cpu;
    cu.cpu_usage_nano_cores = s.nano_cores;
    cu.memory_working_set_bytes = s.mem;
    cu.timestamp = s.ts;
    p.cpu_usage_nano_cores += s.nano_cores;
    p.memory_working_set_bytes += s.mem;
    p.containers.push_back(std::move(cu));
  }
  std::vector<PodUsage> out;
  for (auto& [uid, p] : by_uid) out.push_back(std::move(p));
  return out;
}

}  // namespace minik8s::kubelet
