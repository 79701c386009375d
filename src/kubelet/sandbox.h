// Sandbox setup: the pod sandbox (the pause container holding the pod's
// network namespace, set up by the runtime's CNI) as the pod worker asks
// the runtime for it.
//   sandbox_config — the pod → CRI PodSandboxConfig: hostname, log
//                    directory, hostNetwork, DNS (dnsPolicy ClusterFirst →
//                    cluster DNS with the namespace's search path; Default →
//                    the host's resolv.conf; dnsConfig merged), hostPorts,
//                    labels (labels.h) and annotations, cgroup parent. Pure
//                    but for reading /etc/resolv.conf.
//   stop_dead_sandboxes — a dead sandbox takes its containers with it.
//   run_sandbox    — creates the log directory, runs the sandbox, removes
//                    the old ones and reads the pod IP.
// The back-off between attempts, pod cgroups and volumes stay with the pod
// worker (pod_workers.cc), which calls these in order.
// Thread-safe (no state); the runtime is borrowed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/kubelet.h"
#include "minik8s/util/status.h"
#include "pod_util.h"

namespace minik8s::kubelet {

// The CRI log directory of a pod: <pod_log_dir>/<ns>_<name>_<uid>
// (<root_dir or /var/log>/pods when pod_log_dir is unset).
std::string pod_log_root(const KubeletOptions& opts);

cri::SandboxConfig sandbox_config(const json& pod, const std::string& uid, uint32_t attempt,
                                  const KubeletOptions& opts, const std::string& cgroup_parent);

// The host's /etc/resolv.conf as CRI DNS config (dnsPolicy Default).
cri::DnsConfig host_dns();

// Stops the running containers of the given sandboxes, then the sandboxes
// (errors ignored: they are being replaced).
void stop_dead_sandboxes(cri::Runtime& runtime, const std::vector<cri::Sandbox>& sandboxes,
                         const std::vector<cri::Container>& containers);

struct RunningSandbox {
  std::string id;
  std::string ip;  // "" with host network or when the runtime gives none
};
// Runs a sandbox for cfg; on success removes the pod's old sandboxes.
Result<RunningSandbox> run_sandbox(cri::Runtime& runtime, const cri::SandboxConfig& cfg,
                                   const std::vector<cri::Sandbox>& old);
// The IP of a running sandbox ("" when unknown).
std::string sandbox_ip(cri::Runtime& runtime, const std::string& sandbox_id);

}  // namespace minik8s::kubelet
