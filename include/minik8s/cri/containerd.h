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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::cri
