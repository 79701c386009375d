// Internal to mk_agent: what a running agent records in <data_dir>/agent.json
// so that `minik8s down` can find and remove what it created (node name →
// pod cgroups, runtime endpoint, netns), and small process helpers shared by
// up/down. Pure file I/O; errors are Status values.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::agent {

struct AgentState {
  std::string node_name;
  std::string cgroup_root;  // "/minik8s/<node>"
  bool managed = true;      // containerd under <data_dir>/containerd
  std::string endpoint;     // CRI endpoint used
  std::string netns;
  pid_t pid = 0;  // the agent process
  // What the network parts created (for teardown by `minik8s down`).
  bool network = false;
  std::string cni_bridge, vxlan_device, chain_prefix, cluster_cidr, cni_conf_dir, cni_ipam_dir;
  bool proxy = false;
  bool ingress = false;
  std::string ingress_prefix, hosts_file, hosts_block_tag;
};

Status write_agent_state(const std::string& data_dir, const AgentState& state);
Result<AgentState> read_agent_state(const std::string& data_dir);

// Where offline images are built: the flag, else $MINIK8S_IMAGE_CACHE, else <data_dir>/../images.
std::string image_cache_dir(const std::string& flag, const std::string& data_dir);

// True when /proc/<pid>/cmdline names a minik8s binary (so a recycled PID is never signalled).
bool is_minik8s_process(pid_t pid);
// SIGTERM, wait up to grace, then SIGKILL; waits for the exit (reaping it when it is our child).
void terminate_process(pid_t pid, std::chrono::milliseconds grace);

// Mount points at or below dir (from /proc/self/mountinfo, octal escapes decoded), deepest first.
std::vector<std::string> mounts_under(const std::string& dir);
// Bridge names of the `bridge` plugins in the CNI configs (*.conf, *.conflist) of conf_dir.
std::vector<std::string> cni_bridges(const std::string& conf_dir);
// Network names of the CNI configs in conf_dir (host-local keeps IPs under
// /var/lib/cni/networks/<name>).
std::vector<std::string> cni_networks(const std::string& conf_dir);

}  // namespace minik8s::agent
