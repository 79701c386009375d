// ManagedContainerd: a private containerd for one node (RECIPES.md
// "containerd as the CRI runtime"): config generated under
// <data_dir>/containerd/ (root, state, grpc socket, runc root, CNI conf dir,
// restrict_oom_score_adj = true, sandbox_image, overlayfs, runc v2 with
// SystemdCgroup = false, stream server on stream_address:0,
// netns_mounts_under_state_dir), started as a child process (optionally
// inside a network namespace via `nsenter --net=/run/netns/NAME`), its
// socket awaited with a deadline, restarted if it dies while supervised, and
// stopped by PID (SIGTERM, then SIGKILL) on stop().
// Threads: start() spawns one supervisor thread. Not copyable.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "minik8s/util/status.h"

namespace minik8s::cri {

struct ContainerdOptions {
  std::string data_dir;           // everything lives under <data_dir>/containerd
  std::string binary = "containerd";
  std::string sandbox_image = "minik8s.io/pause:1.0";
  std::string cni_bin_dir = "/usr/lib/cni";
  std::string cni_conf_dir;       // default <data_dir>/containerd/cni/net.d
  std::string netns;              // run inside /run/netns/<netns> when set
  std::string stream_address = "127.0.0.1";
  std::chrono::milliseconds ready_timeout{10000};
  bool leave_running = false;     // stop() does not kill containerd (minik8s up's SIGTERM semantics)
  // Default CNI network, written only when cni_conf_dir holds no config yet
  // (the network agent may write its own first): loopback + bridge
  // (isGateway, hairpinMode, ipMasq = cni_ip_masq) with host-local IPAM on
  // pod_cidr (state under <data_dir>/containerd/cni/ipam) + portmap.
  // Empty pod_cidr: no default config (the network agent writes it; the CRI
  // plugin loads a conflist that appears later by itself).
  std::string pod_cidr = "10.88.0.0/16";
  std::string cni_bridge;         // default "mk-" + 8 hex digits of a hash of data_dir (≤ 15 chars)
  bool cni_ip_masq = true;        // single node: true; multi-node pod routing wants false
  std::chrono::milliseconds supervise_interval{200};  // how often the supervisor checks the process
};

class ManagedContainerd {
 public:
  explicit ManagedContainerd(ContainerdOptions options);
  ~ManagedContainerd();  // stop()
  ManagedContainerd(const ManagedContainerd&) = delete;
  ManagedContainerd& operator=(const ManagedContainerd&) = delete;

  // Writes the config, starts containerd (or adopts one already running on
  // the socket, recorded in <data_dir>/containerd/containerd.pid), waits for the socket.
  Status start();
  void stop();
  std::string socket_path() const;  // unix socket path (no scheme)
  std::string config_path() const;
  int pid() const;
  std::string cni_bridge() const;  // the bridge name of the default CNI config
  std::string cni_conf_dir() const;  // where containerd's CRI plugin reads CNI configs
  std::string cni_ipam_dir() const;  // host-local IPAM state directory
  int restarts() const;            // times the supervisor restarted a dead containerd

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::cri
