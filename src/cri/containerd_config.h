// Internal to mk_cri: the files ManagedContainerd writes (config.toml, the
// default CNI conflist) as pure functions of ContainerdOptions, so that they
// are unit-tested without a containerd. Not thread-affine; no state.
#pragma once

#include <string>

#include "minik8s/cri/containerd.h"
#include "minik8s/util/status.h"

namespace minik8s::cri::detail {

// Every path ManagedContainerd uses, all under <data_dir>/containerd.
struct ContainerdPaths {
  std::string dir;           // <data_dir>/containerd
  std::string root;          // containerd `root` (content, snapshots, metadata)
  std::string state;         // containerd `state` (sockets, netns mounts, task state)
  std::string socket;        // gRPC socket (CRI endpoint)
  std::string ttrpc_socket;  // ttrpc socket
  std::string runc_root;     // runc --root
  std::string config;        // config.toml
  std::string pid_file;      // containerd.pid
  std::string log;           // containerd.log (stdout + stderr)
  std::string cni_conf_dir;  // options.cni_conf_dir or <dir>/cni/net.d
  std::string cni_ipam_dir;  // host-local state: <dir>/cni/ipam
};

ContainerdPaths containerd_paths(const ContainerdOptions& options);

// "mk-" + 8 lowercase hex digits (FNV-1a of the data dir) unless set.
std::string cni_bridge_name(const ContainerdOptions& options);
// The CNI network name: "minik8s-" + the bridge's hash part.
std::string cni_network_name(const ContainerdOptions& options);

// containerd 1.6 config (version 2) per RECIPES.md.
std::string containerd_config_toml(const ContainerdOptions& options, const ContainerdPaths& paths);

// The default conflist (cniVersion 0.4.0): bridge + host-local, portmap
// (containerd adds the loopback network itself).
std::string cni_conflist_json(const ContainerdOptions& options, const ContainerdPaths& paths);

// True when dir holds a *.conf, *.conflist or *.json file.
bool cni_conf_dir_has_config(const std::string& dir);

}  // namespace minik8s::cri::detail
