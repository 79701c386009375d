// Proxy: the kube-proxy role in every agent (iptables mode).
//
// Informers on Services and Endpoints (all namespaces). Every change marks
// the state dirty; one sync thread coalesces changes (at most one sync per
// min_sync_interval, at once when idle) and renders the ruleset of the
// nat table's own chains — <P>-SERVICES, <P>-NODEPORTS, <P>-POSTROUTING,
// <P>-MARK-MASQ, one <P>-SVC-<hash> per service port, one <P>-SEP-<hash> per
// endpoint (P = chain_prefix) — plus the filter table's <P>-SERVICES and
// <P>-EXTERNAL-SERVICES (REJECT for service ports without endpoints), and
// applies it in one `iptables-restore --noflush` (atomic, both tables).
// Jumps from PREROUTING and OUTPUT to <P>-SERVICES and from POSTROUTING to
// <P>-POSTROUTING (nat), from OUTPUT/FORWARD to <P>-SERVICES and from
// INPUT/FORWARD to <P>-EXTERNAL-SERVICES (filter) are ensured once at start
// (`iptables -C … || iptables -I …`).
//
// Incremental applies (kube-proxy's "minimize iptables-restore input"): a
// chain is written only when its rules differ from the last successful
// apply, and only Services whose objects changed are re-rendered. After a failed
// apply (or every full_resync_interval) the next sync writes everything.
// Chains with the prefix that are no longer wanted (found by `iptables-save`
// at start, or remembered from earlier syncs) are flushed and deleted (`-X`)
// in the same restore, so a deleted Service leaves no rule. Established
// connections are untouched by a resync or an agent restart (conntrack keeps
// their NAT).
//
// Semantics: ClusterIP:port → endpoints, balanced randomly (`-m statistic
// --mode random --probability 1/(k-i)`, 10 decimals, last rule unconditional)
// or round-robin (`--mode nth --every k-i --packet 0`, last unconditional:
// every rule's counter only sees the packets the earlier rules let through,
// so this is exact rotation), chosen per Service by the annotation
// kBalanceAnnotation ("random" | "round-robin") else by options.balance.
// Traffic to a cluster IP from outside cluster_cidr is marked for masquerade;
// a pod reaching itself through its Service (hairpin) is marked too.
// NodePort (and LoadBalancer): any local address :nodePort → the service
// (marked for masquerade). A service port without endpoints REJECTs rather
// than hanging. Only TCP and UDP (SCTP ports are skipped). Headless
// (clusterIP None) and ExternalName Services get no rules. When an UDP
// endpoint goes away, its conntrack entries are deleted (`conntrack -D`,
// "0 flow entries" is not an error).
//
// Threads: start() spawns the informer threads and one sync thread; stop()
// joins and leaves the rules in place. cleanup() removes every chain with
// the prefix and the jumps to them (`minik8s down`). The Client (and an
// injected Iptables) are borrowed and must outlive the Proxy.
// render_ruleset/build_ruleset/render_restore are pure and thread-safe.
// Errors: Status values (kInvalid for bad options, kInternal when a command
// failed, with its stderr); untrusted objects never crash the renderer
// (malformed fields are skipped).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
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
  // A full rewrite (every chain) at least this often; 0 = only after failures.
  std::chrono::milliseconds full_resync_interval{std::chrono::minutes(5)};
  std::chrono::milliseconds max_retry_backoff{std::chrono::seconds(10)};
  std::string iptables_restore = "iptables-restore";
  std::string iptables_save = "iptables-save";
  std::string iptables = "iptables";
  std::string conntrack = "conntrack";
};

// The rendered state: per table ("nat", "filter"), chain name → its rules,
// each a full "-A CHAIN ..." line ending in '\n'. Every chain of the ruleset
// is present (an empty string for a chain with no rules).
struct Ruleset {
  std::map<std::string, std::map<std::string, std::string>> tables;
  size_t rule_count() const;
};

// The ruleset for the given Services and Endpoints objects (API JSON).
Ruleset build_ruleset(const std::vector<api::Json>& services, const std::vector<api::Json>& endpoints,
                      const ProxyOptions& options);

// iptables-restore --noflush input that makes the kernel hold `wanted`,
// given that it holds `applied` (null: unknown → every chain is written).
// Chains of `applied` missing from `wanted`, and `stale_chains` (per table),
// are flushed and deleted. Chains whose rules equal those in `applied` are
// left out (a referenced chain is only deleted when the referencing rule
// changed too, so the referencing chain is rewritten in the same input); a
// table with nothing to write is left out. Deterministic.
std::string render_restore(const Ruleset& wanted, const Ruleset* applied,
                           const std::map<std::string, std::vector<std::string>>& stale_chains,
                           const ProxyOptions& options);

// Pure rendering (tests, the benchmark): the full iptables-restore input for
// the given Services and Endpoints objects, with `stale_chains` (existing nat
// chains with the prefix that are no longer wanted) deleted.
std::string render_ruleset(const std::vector<api::Json>& services,
                           const std::vector<api::Json>& endpoints, const ProxyOptions& options,
                           const std::vector<std::string>& stale_chains = {});

// Chains named "<prefix>-..." in iptables-save output (one table's or
// several), per table.
std::map<std::string, std::vector<std::string>> parse_saved_chains(const std::string& save_output,
                                                                   const std::string& prefix);

// The seam to the kernel's packet filter (the real one runs the commands
// named in ProxyOptions; tests inject a fake). Thread-compatible: the Proxy
// calls it from its sync thread only (and start()).
class Iptables {
 public:
  virtual ~Iptables() = default;
  // `iptables-restore --noflush` with `input` on stdin.
  virtual Status restore(const std::string& input) = 0;
  // `iptables-save -t table`.
  virtual Result<std::string> save(const std::string& table) = 0;
  // `iptables ARGS...`; kInternal with stderr on a non-zero exit.
  virtual Status iptables(const std::vector<std::string>& args) = 0;
  // `conntrack ARGS...`; exit 1 with "0 flow entries" counts as success.
  virtual Status conntrack(const std::vector<std::string>& args) = 0;
};
std::unique_ptr<Iptables> make_exec_iptables(const ProxyOptions& options);

class Proxy {
 public:
  Proxy(client::Client& client, ProxyOptions options);
  // With an injected Iptables (borrowed).
  Proxy(client::Client& client, ProxyOptions options, Iptables& iptables);
  ~Proxy();  // stop()
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Ensures the jumps, lists existing prefix chains, starts informers and
  // the sync thread. kInvalid for bad options; kInternal if the jumps could
  // not be installed.
  Status start();
  void stop();
  uint64_t syncs() const;         // successful applies so far (tests, metrics)
  Status last_sync_status() const;

  static Status cleanup(const ProxyOptions& options);
  static Status cleanup(const ProxyOptions& options, Iptables& iptables);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::proxy
