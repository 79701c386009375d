// Internal to mk_agent: the node's network-side parts around the kubelet —
// pod network (network::NetworkAgent), kube-proxy (proxy::Proxy), cluster DNS
// (dns::DnsServer) and the DNS-object ingress (ingress::Ingress) — created
// from the NodeConfig, each skippable with `disable:`.
//
// Order (run_agent): setup_network() after the Node is registered (it waits
// for spec.podCIDR) and before the kubelet starts (pods need the CNI config
// and the DNS address); start() then starts routes, proxy, DNS and ingress.
// A part that cannot start is logged and left out (the node still runs
// pods), except the network, whose failure is returned.
// teardown_node_services(): what `minik8s down` removes, from agent.json.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent_state.h"
#include "minik8s/agent/agent.h"
#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::agent {

class NodeServices {
 public:
  // cni_conf_dir / cni_ipam_dir / bridge: where the runtime reads CNI
  // configs, the host-local state dir, the bridge name.
  NodeServices(client::Client& client, const NodeConfig& config, std::string cni_conf_dir,
               std::string cni_ipam_dir, std::string bridge);
  ~NodeServices();

  // Waits for the pod CIDR (retrying until `cancelled()`), writes the CNI config.
  Status setup_network(const std::function<bool()>& cancelled);
  // After start(): the nameserver pods get (the bridge address) or "" when
  // the DNS server is disabled, failed to start or is not on port 53.
  std::string cluster_dns_ip() const;
  void start();
  void stop();
  void record(AgentState& state) const;  // what teardown needs

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes routes, VXLAN device, bridge, iptables chains, nginx and the hosts
// block recorded in `state`; problems are appended.
void teardown_node_services(const AgentState& state, std::vector<std::string>& problems);

}  // namespace minik8s::agent
