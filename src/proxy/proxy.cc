// Proxy: informers → dirty flag → one sync thread → iptables-restore.
#include "minik8s/proxy/proxy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/informer.h"
#include "model.h"

namespace minik8s::proxy {
namespace {

using Clock = std::chrono::steady_clock;

struct Jump {
  const char* table;
  const char* chain;
  std::vector<std::string> match;  // without -j
  std::string target_suffix;       // appended to the prefix
};

std::vector<Jump> jumps() {
  std::vector<std::string> portals{"-m", "comment", "--comment", "minik8s service portals"};
  std::vector<std::string> new_portals{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                       "minik8s service portals"};
  std::vector<std::string> new_external{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                        "minik8s externally-visible service portals"};
  return {
      {"nat", "PREROUTING", portals, "-SERVICES"},
      {"nat", "OUTPUT", portals, "-SERVICES"},
      {"nat", "POSTROUTING", {"-m", "comment", "--comment", "minik8s postrouting rules"}, "-POSTROUTING"},
      {"filter", "INPUT", new_external, "-EXTERNAL-SERVICES"},
      {"filter", "FORWARD", new_external, "-EXTERNAL-SERVICES"},
      {"filter", "FORWARD", new_portals, "-SERVICES"},
      {"filter", "OUTPUT", new_portals, "-SERVICES"},
  };
}

std::vector<std::string> jump_args(const char* verb, const Jump& j, const std::string& prefix) {
  std::vector<std::string> a{"-t", j.table, verb, j.chain};
  a.insert(a.end(), j.match.begin(), j.match.end());
  a.push_back("-j");
  a.push_back(prefix + j.target_suffix);
  return a;
}

const std::map<std::string, std::vector<std::string>>& base_chains_suffixes() {
  static const std::map<std::string, std::vector<std::string>> kBase{
      {"nat", {"-SERVICES", "-NODEPORTS", "-POSTROUTING", "-MARK-MASQ"}},
      {"filter", {"-SERVICES", "-EXTERNAL-SERVICES"}}};
  return kBase;
}

Result<std::map<std::string, std::vector<std::string>>> existing_chains(Iptables& ipt, const std::string& prefix) {
  std::map<std::string, std::vector<std::string>> out;
  for (const char* table : {"nat", "filter"}) {
    auto saved = ipt.save(table);
    if (!saved) return saved.status();
    auto chains = parse_saved_chains(*saved, prefix);
    if (auto it = chains.find(table); it != chains.end()) out[table] = std::move(it->second);
  }
  return out;
}

}  // namespace

struct Proxy::Impl {
  Impl(client::Client& c, ProxyOptions o, Iptables* injected)
      : client(c), opts(std::move(o)), owned(injected ? nullptr : make_exec_iptables(opts)),
        ipt(injected ? *injected : *owned) {}

  client::Client& client;
  const ProxyOptions opts;
  std::unique_ptr<Iptables> owned;
  Iptables& ipt;
  std::unique_ptr<client::Informer> services, endpoints;
  std::atomic<uint64_t> syncs{0};

  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu:
  bool dirty = true;
  bool stopping = false;
  bool started = false;
  Status last_status;

  std::thread thread;

  // Sync-thread state (only the sync thread touches these after start()).
  struct Cached {
    client::ObjectPtr svc, ep;
    Fragment frag;
  };
  // Per Service key: the snapshots its fragment was rendered from. After a
  // failed apply the next sync is full, so the cache never has to be undone.
  std::map<std::string, Cached> cache;
  std::optional<Ruleset> applied_base;  // the shared chains as last applied
  std::vector<ServicePort> applied_ports;
  bool have_ports = false;
  Clock::time_point last_full{};

  void mark_dirty() {
    std::lock_guard<std::mutex> l(mu);
    dirty = true;
    cv.notify_all();
  }

  Status sync_once(bool force_full);
  void clear_conntrack(const std::vector<ServicePort>& now);
  void run();
};

Status Proxy::Impl::sync_once(bool force_full) {
  auto t0 = Clock::now();
  // Re-render only the Services whose Service or Endpoints snapshot changed
  // (informer snapshots are immutable: a new pointer is a new object).
  std::map<std::string, Cached> next;
  Ruleset changed_new, changed_old;
  auto& new_nat = changed_new.tables["nat"];
  auto& old_nat = changed_old.tables["nat"];
  for (const auto& svc : services->indexer().list()) {
    std::string key = client::object_key(*svc);
    client::ObjectPtr ep = endpoints->indexer().get(key);
    auto it = cache.find(key);
    if (it != cache.end() && it->second.svc == svc && it->second.ep == ep) {
      next.emplace(key, std::move(it->second));
      cache.erase(it);
      continue;
    }
    std::vector<api::Json> one_ep;
    if (ep) one_ep.push_back(*ep);
    Cached c{svc, ep, render_fragment(service_ports({*svc}, one_ep, opts.balance), opts)};
    for (const auto& [chain, rules] : c.frag.chains) new_nat[chain] = rules;
    if (it != cache.end()) {
      for (const auto& [chain, rules] : it->second.frag.chains) old_nat[chain] = rules;
      cache.erase(it);
    }
    next.emplace(key, std::move(c));
  }
  for (const auto& [key, gone] : cache)  // Services deleted since the last sync
    for (const auto& [chain, rules] : gone.frag.chains) old_nat[chain] = rules;
  std::vector<const Fragment*> frags;
  std::vector<ServicePort> ports;
  for (const auto& [key, c] : next) {
    frags.push_back(&c.frag);
    ports.insert(ports.end(), c.frag.ports.begin(), c.frag.ports.end());
  }
  Ruleset base = base_ruleset(frags, opts);
  bool full = force_full || !applied_base ||
              (opts.full_resync_interval.count() > 0 && t0 - last_full >= opts.full_resync_interval);
  std::string input;
  size_t rules = base.rule_count();
  for (const auto* f : frags)
    for (const auto& [chain, body] : f->chains) rules += static_cast<size_t>(std::count(body.begin(), body.end(), '\n'));
  if (full) {
    auto existing = existing_chains(ipt, opts.chain_prefix);
    if (!existing) {
      cache = std::move(next);  // the fragments are right; the kernel state is what is unknown
      return existing.status();
    }
    Ruleset all = base;
    for (const auto* f : frags)
      for (const auto& [chain, body] : f->chains) all.tables["nat"][chain] = body;
    input = render_restore(all, nullptr, *existing, opts);
  } else {
    // Base chains against the last applied ones; changed Services' chains against their old ones.
    for (auto& [table, chains] : base.tables)
      for (auto& [chain, body] : chains) changed_new.tables[table][chain] = std::move(body);
    for (const auto& [table, chains] : applied_base->tables)
      for (const auto& [chain, body] : chains) changed_old.tables[table][chain] = body;
    input = render_restore(changed_new, &changed_old, {}, opts);
    base = base_ruleset(frags, opts);
  }
  cache = std::move(next);
  auto t1 = Clock::now();
  Status s = input.empty() ? Status::ok() : ipt.restore(input);
  auto t2 = Clock::now();
  if (!s.is_ok()) return s;
  applied_base = std::move(base);
  if (full) last_full = t0;
  clear_conntrack(ports);
  applied_ports = std::move(ports);
  have_ports = true;
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::debug("proxy: {} sync: {} rules, {} bytes of restore input; render {:.1f} ms, restore {:.1f} ms",
                full ? "full" : "partial", rules, input.size(), ms(t1 - t0), ms(t2 - t1));
  if (ms(t2 - t0) > 1000) spdlog::warn("proxy: sync took {:.0f} ms", ms(t2 - t0));
  return Status::ok();
}

void Proxy::Impl::clear_conntrack(const std::vector<ServicePort>& now) {
  if (!have_ports) return;  // first sync: nothing known to have gone away
  std::map<std::string, const ServicePort*> current;
  for (const auto& sp : now)
    if (sp.protocol == "udp") current[sp.id()] = &sp;
  auto del = [&](std::vector<std::string> args) {
    Status s = ipt.conntrack(args);
    if (!s.is_ok()) spdlog::warn("proxy: conntrack cleanup: {}", s.to_string());
  };
  for (const auto& old : applied_ports) {
    if (old.protocol != "udp") continue;
    auto it = current.find(old.id());
    const ServicePort* cur = it == current.end() ? nullptr : it->second;
    std::set<std::string> keep;
    if (cur && cur->cluster_ip == old.cluster_ip)
      for (const auto& ep : cur->endpoints) keep.insert(ep.ip);
    for (const auto& ep : old.endpoints) {
      if (keep.count(ep.ip)) continue;
      del({"-D", "-p", "udp", "--orig-dst", old.cluster_ip, "--dst-nat", ep.ip});
      if (old.node_port) del({"-D", "-p", "udp", "--dport", std::to_string(old.node_port), "--dst-nat", ep.ip});
    }
  }
  // A UDP service port that just got endpoints: flows created while it had
  // none (rejected, un-NATed) would otherwise stick until they time out.
  std::map<std::string, const ServicePort*> before;
  for (const auto& sp : applied_ports)
    if (sp.protocol == "udp") before[sp.id()] = &sp;
  for (const auto& [id, sp] : current) {
    auto it = before.find(id);
    bool had = it != before.end() && !it->second->endpoints.empty();
    if (!had && !sp->endpoints.empty()) del({"-D", "-p", "udp", "--orig-dst", sp->cluster_ip});
  }
}

void Proxy::Impl::run() {
  auto backoff = opts.min_sync_interval;
  Clock::time_point last_sync{};
  bool need_full = true;
  std::optional<Clock::time_point> retry_at;
  std::unique_lock<std::mutex> l(mu);
  while (!stopping) {
    auto next_full = last_full + opts.full_resync_interval;
    auto wake = Clock::time_point::max();
    if (retry_at) wake = *retry_at;
    if (opts.full_resync_interval.count() > 0 && applied_base) wake = std::min(wake, next_full);
    auto ready = [&] { return stopping || dirty || Clock::now() >= wake; };
    if (wake == Clock::time_point::max()) {
      cv.wait(l, ready);
    } else {
      cv.wait_until(l, wake, ready);
    }
    if (stopping) break;
    // At most one sync per min_sync_interval: a burst of changes is coalesced here.
    auto earliest = last_sync + opts.min_sync_interval;
    if (Clock::now() < earliest) {
      cv.wait_until(l, earliest, [&] { return stopping; });
      if (stopping) break;
    }
    if (!services->has_synced() || !endpoints->has_synced()) {
      // Never render from a partial cache: it would drop live services.
      cv.wait_for(l, std::chrono::milliseconds(20), [&] { return stopping; });
      continue;
    }
    dirty = false;
    retry_at.reset();
    l.unlock();
    last_sync = Clock::now();
    Status s = sync_once(need_full);
    l.lock();
    last_status = s;
    if (s.is_ok()) {
      syncs.fetch_add(1);
      need_full = false;
      backoff = opts.min_sync_interval;
    } else {
      spdlog::warn("proxy: sync failed (retry in {} ms): {}", backoff.count(), s.to_string());
      need_full = true;  // the kernel state is unknown: rewrite everything next time
      retry_at = Clock::now() + backoff;
      backoff = std::min(backoff * 2, opts.max_retry_backoff);
    }
  }
}

Proxy::Proxy(client::Client& client, ProxyOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(options), nullptr)) {}

Proxy::Proxy(client::Client& client, ProxyOptions options, Iptables& iptables)
    : impl_(std::make_unique<Impl>(client, std::move(options), &iptables)) {}

Proxy::~Proxy() { stop(); }

Status Proxy::start() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> l(m.mu);
    if (m.started) return Status::ok();
  }
  if (Status s = validate_options(m.opts); !s.is_ok()) return s;
  const api::ResourceType* svc_type = api::find_kind("v1", "Service");
  const api::ResourceType* ep_type = api::find_kind("v1", "Endpoints");
  if (!svc_type || !ep_type) return internal_error("proxy: Service/Endpoints kinds are not registered");
  // Base chains (created empty when missing; never flushed here, so a restart
  // keeps serving until the first sync rewrites them), then the jumps to them.
  auto existing = existing_chains(m.ipt, m.opts.chain_prefix);
  if (!existing) return existing.status();
  for (const auto& [table, suffixes] : base_chains_suffixes()) {
    const auto& have = (*existing)[table];
    for (const auto& suffix : suffixes) {
      std::string chain = m.opts.chain_prefix + suffix;
      if (std::find(have.begin(), have.end(), chain) != have.end()) continue;
      if (Status s = m.ipt.iptables({"-t", table, "-N", chain}); !s.is_ok()) return s;
    }
  }
  for (const auto& j : jumps()) {
    if (m.ipt.iptables(jump_args("-C", j, m.opts.chain_prefix)).is_ok()) continue;
    if (Status s = m.ipt.iptables(jump_args("-I", j, m.opts.chain_prefix)); !s.is_ok()) return s;
  }
  client::InformerOptions io;
  m.services = std::make_unique<client::Informer>(m.client, *svc_type, io);
  m.endpoints = std::make_unique<client::Informer>(m.client, *ep_type, io);
  for (auto* inf : {m.services.get(), m.endpoints.get()}) {
    client::EventHandlers h;
    h.on_add = [&m](const client::ObjectPtr&) { m.mark_dirty(); };
    h.on_update = [&m](const client::ObjectPtr&, const client::ObjectPtr&) { m.mark_dirty(); };
    h.on_delete = [&m](const client::ObjectPtr&) { m.mark_dirty(); };
    inf->add_event_handlers(std::move(h));
    inf->start();
  }
  {
    std::lock_guard<std::mutex> l(m.mu);
    m.started = true;
    m.stopping = false;
  }
  m.thread = std::thread([&m] { m.run(); });
  return Status::ok();
}

void Proxy::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> l(m.mu);
    if (!m.started) return;
    m.stopping = true;
    m.cv.notify_all();
  }
  if (m.thread.joinable()) m.thread.join();
  if (m.services) m.services->stop();
  if (m.endpoints) m.endpoints->stop();
  std::lock_guard<std::mutex> l(m.mu);
  m.started = false;
}

uint64_t Proxy::syncs() const { return impl_->syncs.load(); }

Status Proxy::last_sync_status() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->last_status;
}

Status Proxy::cleanup(const ProxyOptions& options) {
  auto ipt = make_exec_iptables(options);
  return cleanup(options, *ipt);
}

Status Proxy::cleanup(const ProxyOptions& options, Iptables& ipt) {
  if (Status s = validate_options(options); !s.is_ok()) return s;
  // Jumps first (a referenced chain cannot be deleted); -D until -C says none is left.
  for (const auto& j : jumps()) {
    for (int i = 0; i < 16 && ipt.iptables(jump_args("-C", j, options.chain_prefix)).is_ok(); ++i) {
      if (Status s = ipt.iptables(jump_args("-D", j, options.chain_prefix)); !s.is_ok()) return s;
    }
  }
  auto existing = existing_chains(ipt, options.chain_prefix);
  if (!existing) return existing.status();
  if (existing->empty()) return Status::ok();
  std::string input;
  for (const auto& [table, chains] : *existing) {
    input += "*" + table + "\n";
    for (const auto& c : chains) input += ":" + c + " - [0:0]\n";
    for (const auto& c : chains) input += "-X " + c + "\n";
    input += "COMMIT\n";
  }
  return ipt.restore(input);
}

}  // namespace minik8s::proxy
