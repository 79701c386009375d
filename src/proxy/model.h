// Internal to mk_proxy: Services + Endpoints (API JSON) → validated service
// ports with their endpoints, the input of the renderer and of the conntrack
// cleanup. Pure functions; never throw on malformed objects (bad fields are
// skipped, so nothing untrusted reaches the iptables-restore text).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/proxy/proxy.h"

namespace minik8s::proxy {

struct Endpoint {
  std::string ip;  // validated dotted IPv4
  int port = 0;
  bool operator<(const Endpoint& o) const { return ip != o.ip ? ip < o.ip : port < o.port; }
  bool operator==(const Endpoint& o) const { return ip == o.ip && port == o.port; }
};

struct ServicePort {
  std::string ns, name, port_name;  // port_name may be ""
  std::string protocol;             // "tcp" | "udp"
  std::string cluster_ip;           // validated dotted IPv4
  int port = 0;
  int node_port = 0;  // 0 = none
  Balance balance = Balance::kRandom;
  std::vector<Endpoint> endpoints;  // sorted, unique

  // "ns/name:port_name" (kube-proxy's ServicePortName.String()).
  std::string id() const { return ns + "/" + name + ":" + port_name; }
};

// Sorted by (ns, name, port_name, protocol).
std::vector<ServicePort> service_ports(const std::vector<api::Json>& services,
                                       const std::vector<api::Json>& endpoints, Balance default_balance);

// One Service's share of the ruleset: its own SVC/SEP chains (nat) and its
// lines in the shared chains, plus the ports it came from.
struct Fragment {
  std::map<std::string, std::string> chains;  // nat chain → rules
  std::string services, nodeports, filter_services, filter_external;
  std::vector<ServicePort> ports;
};
Fragment render_fragment(std::vector<ServicePort> ports, const ProxyOptions& options);
// The shared chains (<P>-SERVICES, -NODEPORTS, -POSTROUTING, -MARK-MASQ;
// filter <P>-SERVICES, -EXTERNAL-SERVICES) from the fragments, in order.
Ruleset base_ruleset(const std::vector<const Fragment*>& fragments, const ProxyOptions& options);

// The ruleset of already validated service ports.
Ruleset build_ruleset(const std::vector<ServicePort>& ports, const ProxyOptions& options);

// Options that reach the rule text: prefix [A-Z0-9]{1,6}, IPv4 CIDR, hex mark.
Status validate_options(const ProxyOptions& options);

// Base32 (RFC 4648, no padding) of SHA-256(input), first 16 characters.
std::string chain_hash(const std::string& input);
// "<P>-SVC-<hash>", "<P>-SEP-<hash>".
std::string svc_chain(const std::string& prefix, const ServicePort& sp);
std::string sep_chain(const std::string& prefix, const ServicePort& sp, const Endpoint& ep);

bool valid_ipv4(const std::string& s);

}  // namespace minik8s::proxy
