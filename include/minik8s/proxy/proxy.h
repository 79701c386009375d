// Proxy: the kube-proxy role in every agent (iptables mode).
//
// Informers on Services and Endpoints (all namespaces). Every change marks
// the state dirty; one sync thread coalesces changes (at most one sync per
// min_sync_interval, at once when idle) and renders the WHOLE ruleset of the
// nat table's own chains — <P>-SERVICES, <P>-NODEPORTS, <P>-POSTROUTING,
// <P>-MARK-MASQ, one <P>-SVC-<hash> per service port, one <P>-SEP-<hash> per
// endpoint (P = chain_prefix) — and applies it in one
// `iptables-restore --noflush` (atomic). Jumps from PREROUTING and OUTPUT to
// <P>-SERVICES and from POSTROUTING to <P>-POSTROUTING are ensured once.
// Chains of earlier syncs that are no longer wanted are deleted in the same
// restore (so a deleted Service leaves no rule). Established connections are
// untouched by a resync or an agent restart (conntrack keeps their NAT).
//
// Semantics: ClusterIP:port → endpoints, balanced randomly (`-m statistic
// --mode random --probability 1/k` … ) or round-robin (`--mode nth --every k
// --packet i`), chosen per Service by the annotation kBalanceAnnotation
// ("random" | "round-robin") else by options.balance. Traffic to a cluster IP
// from outside cluster_cidr is marked for masquerade; a pod reaching itself
// through its Service (hairpin) is marked too. NodePort: any local address
// :nodePort → the service (marked for masquerade). A service port without
// endpoints REJECTs (filter table chain <P>-EXTERNAL-SERVICES / <P>-SERVICES
// in filter) rather than hanging. Only TCP and UDP. When an UDP endpoint
// goes away, its conntrack entries are deleted (`conntrack -D`).
//
// Threads: start() spawns the informer threads and one sync thread; stop()
// joins and leaves the rules in place. cleanup() removes every chain with
// the prefix and the jumps to them (`minik8s down`). The Client is borrowed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::proxy {

inline constexpr const char* kBalanceAnnotation = "minik8s.io/load-balancing";

enum class Balance { kRandom, kRoundRobin };
Result<Balance> parse_balance(const std::string& name);  // "random" | "round-robin"

struct ProxyOptions {
  std::string node_name;
  std::string cluster_cidr = "10.244.0.0/16";
  std::string chain_prefix = "MK";  // ≤ 6 chars so chain names fit iptables' 28
  Balance balance = Balance::kRandom;
  std::string masquerade_mark = "0x4000";
  std::chrono::milliseconds min_sync_interval{100};
  std::string iptables_restore = "iptables-restore";
  std::string iptables = "iptables";
  std::string conntrack = "conntrack";
};

// Pure rendering (tests, the benchmark): the iptables-restore input for the
// given Services and Endpoints objects (API JSON), with `stale_chains`
// (existing chains with the prefix that are no longer wanted) deleted.
std::string render_ruleset(const std::vector<api::Json>& services,
                           const std::vector<api::Json>& endpoints, const ProxyOptions& options,
                           const std::vector<std::string>& stale_chains = {});

class Proxy {
 public:
  Proxy(client::Client& client, ProxyOptions options);
  ~Proxy();  // stop()
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  Status start();
  void stop();
  uint64_t syncs() const;         // successful applies so far (tests, metrics)
  Status last_sync_status() const;

  static Status cleanup(const ProxyOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::proxy
