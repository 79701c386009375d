// `minik8s agent`, `minik8s up`, `minik8s down`: the node side wiring.
//
// agent: reads a NodeConfig (--config node.yaml and/or flags; flags win),
// starts or connects to containerd, registers the Node (capacity,
// allocatable, addresses, nodeInfo, labels, taints, Ready condition), renews
// its Lease in kube-node-lease every lease_renew_interval, keeps node status
// fresh, runs the Kubelet and the kubelet HTTP server (logs, exec, stats)
// until SIGTERM/SIGINT. On SIGTERM it stops its threads and leaves pods (and
// a managed containerd) running, like k3s.
// up: server + agent (+ private containerd) for this host as child processes
// of one `minik8s up` process, images built/imported if missing,
// DIR/kubeconfig written; SIGTERM stops server and agent, pods keep running.
// down: removes everything `up` created under DIR (containers, sandboxes,
// pod cgroups, CNI state, its containerd, the data dir).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::agent {

struct Taint {
  std::string key, value, effect;  // effect: NoSchedule | PreferNoSchedule | NoExecute
};

struct NodeConfig {
  std::string server;        // API server URL, e.g. http://127.0.0.1:6443 (or use kubeconfig)
  std::string kubeconfig;    // alternative to server
  // Joining with a bootstrap token (docs/agent.md "Joining with a token"):
  // --token, --ca-cert-hash sha256:<hex>, and kubeadm's
  // --discovery-token-unsafe-skip-ca-verification. The node credential is
  // kept in <data_dir>/kubelet.conf.
  std::string token{};
  std::string ca_cert_hash{};
  bool discovery_token_unsafe_skip_ca_verification = false;
  std::string node_name;     // default: hostname
  std::string node_ip;       // default: the address of the default route's interface, else 127.0.0.1
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
  std::vector<std::string> roles;  // → node-role.kubernetes.io/<role>= labels ("worker", "control-plane")
  std::string data_dir = "/var/lib/minik8s/agent";
  std::string container_runtime_endpoint = "managed";  // "managed" or a CRI socket path / unix:// URL
  std::string netns;                 // managed containerd runs inside /run/netns/<netns>
  // kubelet HTTP server (port 0 picks one; published in node status).
  // ":PORT" binds to node_ip (the default).
  std::string listen = ":10250";
  // The kubelet server's TLS (docs/auth.md "The kubelet's server"; HTTPS
  // when the API server is https): its serving certificate and key (PEM
  // files; both empty: one from a kubernetes.io/kubelet-serving CSR), and
  // the CA client certificates are verified against (empty: the
  // kubeconfig's CA). Flags --tls-cert-file, --tls-private-key-file,
  // --client-ca-file.
  std::string tls_cert_file{};
  std::string tls_key_file{};
  std::string client_ca_file{};
  // The kubelet server's connection limits (flags --http-header-timeout,
  // --http-body-timeout, --http-idle-timeout, --max-connections; docs/logs-exec.md).
  ConnLimits http_limits;
  std::chrono::milliseconds lease_renew_interval{2000};
  std::chrono::milliseconds status_update_interval{10000};
  std::vector<std::string> cluster_dns;  // empty + DNS enabled: the node's bridge address
  int32_t max_pods = 110;
  // NVIDIA GPUs offered as nvidia.com/gpu (docs/gpu.md "GPU nodes"):
  // kGpusAuto = every GPU found (nvidia-smi -L, else /dev/nvidia<N>); 0 =
  // none (nothing probed); N = the first N found (fewer found: an error).
  static constexpr int32_t kGpusAuto = -1;
  int32_t gpus = kGpusAuto;

  // Pod network, Services, DNS, ingress (docs/multi-node.md).
  std::string pod_cidr;                        // static; empty = spec.podCIDR from the node controller
  std::string cluster_cidr = "10.244.0.0/16";  // all pods (masquerade/route decisions)
  std::string network_backend = "auto";        // auto | host-gw | vxlan | none
  std::string cni_bridge;                      // default "mk-" + hash of data_dir
  std::string cluster_domain = "cluster.local";
  std::vector<std::string> dns_upstream;       // empty: the host's resolv.conf nameservers
  int dns_port = 53;
  std::string proxy_balance = "random";        // random | round-robin (per Service: annotation)
  std::string chain_prefix = "MK";             // iptables chains <prefix>-...
  int ingress_port = 80;
  std::string hosts_file = "/etc/hosts";
  std::vector<std::string> disable;            // of: network, proxy, dns, ingress
  bool enabled(const std::string& component) const;
};

// Parses node YAML (keys: server, kubeconfig, nodeName, nodeIP, labels,
// taints [{key,value,effect}], roles, dataDir, containerRuntimeEndpoint,
// netns, listen, leaseRenewIntervalSeconds, statusUpdateIntervalSeconds,
// clusterDNS, maxPods, gpus (auto | 0..1024), podCIDR, clusterCIDR, networkBackend, cniBridge,
// clusterDomain, dnsUpstream, dnsPort, proxyBalance, chainPrefix,
// ingressPort, hostsFile, disable, tlsCertFile, tlsPrivateKeyFile,
// clientCAFile). Unknown keys are an error naming the key.
Result<NodeConfig> parse_node_config(const std::string& yaml_text);

int run_agent(int argc, char** argv);  // argv[0] = "agent"
int run_up(int argc, char** argv);     // argv[0] = "up"
int run_down(int argc, char** argv);   // argv[0] = "down"

}  // namespace minik8s::agent
