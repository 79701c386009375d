#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/informer.h"
#include "minik8s/network/network.h"
#include "minik8s/util/file.h"
#include "plan.h"

namespace fs = std::filesystem;

namespace minik8s::network {

using namespace detail;

namespace {

std::string describe(const Argv& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs argv; a non-zero exit is kInternal naming the command and its stderr.
Status run_ok(CommandRunner& r, const Argv& argv, const std::string& stdin_data = "") {
  auto res = r.run(argv, stdin_data);
  if (!res) return res.status();
  if (res->exit_code != 0)
    return internal_error("`" + describe(argv) + "` failed (exit " + std::to_string(res->exit_code) +
                          "): " + trim(res->err));
  return Status::ok();
}

bool succeeds(CommandRunner& r, const Argv& argv) {
  auto res = r.run(argv, "");
  return res && res->exit_code == 0;
}

Status read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path);
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return Status::ok();
}

// Ensures `-j chain` in builtin (nat/filter), appended or inserted first.
Status ensure_jump(CommandRunner& r, const std::string& table, const std::string& builtin, const std::string& chain,
                   bool insert_first) {
  if (succeeds(r, {"iptables", "-w", "-t", table, "-C", builtin, "-j", chain})) return Status::ok();
  if (insert_first) return run_ok(r, {"iptables", "-w", "-t", table, "-I", builtin, "1", "-j", chain});
  return run_ok(r, {"iptables", "-w", "-t", table, "-A", builtin, "-j", chain});
}

Status remove_chain(CommandRunner& r, const std::string& table, const std::string& builtin, const std::string& chain) {
  for (int i = 0; i < 100 && succeeds(r, {"iptables", "-w", "-t", table, "-C", builtin, "-j", chain}); ++i) {
    if (Status s = run_ok(r, {"iptables", "-w", "-t", table, "-D", builtin, "-j", chain}); !s) return s;
  }
  if (!succeeds(r, {"iptables", "-w", "-t", table, "-S", chain})) return Status::ok();  // no such chain
  if (Status s = run_ok(r, {"iptables", "-w", "-t", table, "-F", chain}); !s) return s;
  return run_ok(r, {"iptables", "-w", "-t", table, "-X", chain});
}

Status delete_link_if_present(CommandRunner& r, const std::string& dev) {
  if (!succeeds(r, {"ip", "link", "show", "dev", dev})) return Status::ok();
  return run_ok(r, {"ip", "link", "del", "dev", dev});
}

}  // namespace

struct NetworkAgent::Impl {
  Impl(client::Client& c, NetworkOptions opts, std::unique_ptr<CommandRunner> owned, CommandRunner* borrowed)
      : client(c), o(std::move(opts)), owned_runner(std::move(owned)), runner(borrowed ? *borrowed : *owned_runner) {}

  client::Client& client;
  const NetworkOptions o;
  std::unique_ptr<CommandRunner> owned_runner;
  CommandRunner& runner;

  // Serializes setup/sync/teardown work on the kernel.
  std::mutex work_mu;
  // Guarded by work_mu:
  Cidr cluster;
  std::optional<Cidr> pod_cidr;
  uint32_t node_ip = 0;
  std::map<std::string, Route> programmed;  // node name → what is in the kernel
  std::map<uint32_t, bool> path_cache;      // peer node IP → needs vxlan (auto)

  std::atomic<int> routes_count{0};
  mutable std::mutex state_mu;  // guards pod_cidr_str for the getters
  std::string pod_cidr_str, gateway_str;

  std::unique_ptr<client::Informer> informer;
  std::mutex sync_mu;
  std::condition_variable_any sync_cv;
  bool dirty = false;  // guarded by sync_mu
  std::jthread sync_thread;

  Status validate() {
    if (o.cni_conf_dir.empty()) return invalid("network: cni_conf_dir is required");
    if (o.cni_ipam_dir.empty()) return invalid("network: cni_ipam_dir is required");
    if (o.bridge.empty() || o.bridge.size() > 15) return invalid("network: bridge name must be 1..15 characters");
    if (o.vxlan_device.empty() || o.vxlan_device.size() > 15)
      return invalid("network: vxlan device name must be 1..15 characters");
    if (o.mtu < 1280 || o.mtu > 65535) return invalid("network: mtu " + std::to_string(o.mtu) + " out of range");
    auto c = parse_cidr(o.cluster_cidr);
    if (!c) return invalid("network: cluster_cidr: " + c.status().message());
    cluster = *c;
    if (!o.node_ip.empty()) {
      auto ip = parse_ipv4(o.node_ip);
      if (!ip) return invalid("network: node_ip \"" + o.node_ip + "\" is not an IPv4 address");
      node_ip = *ip;
    }
    if (o.pod_cidr.empty() && o.node_name.empty())
      return invalid("network: node_name is required without a static pod_cidr");
    return Status::ok();
  }

  // Watches the own Node until spec.podCIDR (and, without node_ip, an
  // InternalIP) is there.
  Status wait_for_node() {
    // The state the handler writes is declared before the informer, so it
    // outlives the informer's thread; the informer is stopped before any
    // return.
    std::mutex mu;
    std::condition_variable cv;
    std::optional<std::string> cidr;
    std::optional<uint32_t> ip;
    client::InformerOptions io;
    io.field_selector = "metadata.name=" + o.node_name;
    client::Informer inf(client, *api::find_kind("v1", "Node"), io);
    auto seen = [&](const client::ObjectPtr& n) {
      if (!n) return;
      std::string c;
      uint32_t found_ip = 0;
      try {
        if (n->contains("spec") && (*n)["spec"].is_object()) c = (*n)["spec"].value("podCIDR", "");
      } catch (const nlohmann::json::exception&) {
      }
      api::Json copy = *n;
      if (!c.empty()) {
        if (auto p = peer_from_node(copy)) found_ip = p->node_ip;
      }
      std::lock_guard l(mu);
      if (!c.empty()) cidr = c;
      if (found_ip) ip = found_ip;
      cv.notify_all();
    };
    inf.add_event_handlers({.on_add = seen,
                            .on_update = [&](const client::ObjectPtr&, const client::ObjectPtr& n) { seen(n); },
                            .on_delete = nullptr});
    inf.start();
    std::optional<std::string> got_cidr;
    std::optional<uint32_t> got_ip;
    {
      std::unique_lock l(mu);
      // Without an InternalIP yet, go on: sync() reads it from the Node later.
      cv.wait_for(l, o.pod_cidr_timeout, [&] { return cidr.has_value(); });
      got_cidr = cidr;
      got_ip = ip;
    }
    inf.stop();
    if (!got_cidr)
      return Status(Code::kTimeout, "network: node " + o.node_name + " got no spec.podCIDR within " +
                                        std::to_string(o.pod_cidr_timeout.count()) + " ms (is the node IPAM controller running?)");
    auto c = parse_cidr(*got_cidr);
    if (!c) return invalid("network: node " + o.node_name + " spec.podCIDR: " + c.status().message());
    pod_cidr = *c;
    if (node_ip == 0 && got_ip) node_ip = *got_ip;
    return Status::ok();
  }

  Status sysctls() {
    if (Status s = runner.write_sysctl("net/ipv4/ip_forward", "1"); !s) return s;
    const std::string key = "net/bridge/bridge-nf-call-iptables";
    if (!runner.sysctl_exists(key)) {
      if (Status s = run_ok(runner, {"modprobe", "br_netfilter"}); !s)
        spdlog::warn("network: {} (Services to pods on the same node may not work)", s.message());
    }
    if (runner.sysctl_exists(key)) return runner.write_sysctl(key, "1");
    return Status::ok();
  }

  Status ensure_bridge() {
    if (!succeeds(runner, {"ip", "link", "show", "dev", o.bridge})) {
      if (Status s = run_ok(runner, {"ip", "link", "add", o.bridge, "type", "bridge"}); !s) return s;
    }
    // A fixed MAC (plan.h bridge_mac): without one the bridge follows its
    // ports' MACs. Set only when it differs: setting it flushes the
    // bridge's neighbours, and an agent restart must not disturb the pods.
    auto show = runner.run({"ip", "-o", "link", "show", "dev", o.bridge}, "");
    if (!show) return show.status();
    if (show->out.find("link/ether " + bridge_mac(pod_cidr->gateway()) + " ") == std::string::npos)
      if (Status s = run_ok(runner, bridge_mac_cmd(o, *pod_cidr)); !s) return s;
    for (const auto& cmd : bridge_configure_cmds(o, *pod_cidr))
      if (Status s = run_ok(runner, cmd); !s) return s;
    // The CNI bridge plugin refuses a bridge with any other IPv4 address.
    auto res = runner.run({"ip", "-o", "-4", "addr", "show", "dev", o.bridge}, "");
    if (!res) return res.status();
    const std::string want = format_ipv4(pod_cidr->gateway()) + "/" + std::to_string(pod_cidr->prefix);
    std::istringstream in(res->out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream w(line);
      std::string tok;
      while (w >> tok) {
        if (tok != "inet") continue;
        std::string addr;
        w >> addr;
        if (!addr.empty() && addr != want)
          if (Status s = run_ok(runner, {"ip", "-4", "addr", "del", addr, "dev", o.bridge}); !s) return s;
        break;
      }
    }
    return Status::ok();
  }

  Status write_conflist() {
    std::error_code ec;
    fs::create_directories(o.cni_conf_dir, ec);
    if (ec) return internal_error("cannot create " + o.cni_conf_dir + ": " + ec.message());
    fs::create_directories(o.cni_ipam_dir, ec);
    // Older minik8s configs sort first and containerd uses the first one.
    for (const auto& e : fs::directory_iterator(o.cni_conf_dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("10-minik8s-", 0) == 0 && e.path().extension() == ".conflist") {
        spdlog::info("network: removing the old CNI config {}", e.path().string());
        fs::remove(e.path(), ec);
      }
    }
    const std::string path = o.cni_conf_dir + "/" + kConflistName;
    const std::string want = conflist_json(o, *pod_cidr, pod_mtu(o));
    std::string have;
    if (read_file(path, have) && have == want) return Status::ok();
    return write_file_atomically(path, want);
  }

  Status ensure_iptables() {
    if (Status s = run_ok(runner, {"iptables-restore", "-w", "--noflush"}, masquerade_restore(o, *pod_cidr, cluster)); !s)
      return s;
    if (Status s = ensure_jump(runner, "nat", "POSTROUTING", postrouting_chain(o), false); !s) return s;
    auto fwd = runner.run({"iptables", "-w", "-t", "filter", "-S", "FORWARD"}, "");
    if (fwd && fwd->exit_code == 0 && forward_policy_drop(fwd->out)) {
      if (Status s = run_ok(runner, {"iptables-restore", "-w", "--noflush"}, forward_restore(o, cluster)); !s) return s;
      if (Status s = ensure_jump(runner, "filter", "FORWARD", forward_chain(o), true); !s) return s;
    }
    return Status::ok();
  }

  Status ensure_vxlan() {
    if (node_ip == 0) return invalid("network: the VXLAN backend needs the node IP (node_ip or an InternalIP)");
    auto show = runner.run({"ip", "-d", "-o", "link", "show", "dev", o.vxlan_device}, "");
    bool exists = show && show->exit_code == 0;
    if (exists) {
      const std::string& d = show->out;
      const bool same = d.find("vxlan id " + std::to_string(o.vxlan_id) + " ") != std::string::npos &&
                        d.find("local " + format_ipv4(node_ip) + " ") != std::string::npos &&
                        d.find("dstport " + std::to_string(o.vxlan_port) + " ") != std::string::npos;
      if (!same) {
        if (Status s = run_ok(runner, {"ip", "link", "del", "dev", o.vxlan_device}); !s) return s;
        exists = false;
      }
    }
    if (!exists)
      if (Status s = run_ok(runner, vxlan_add_cmd(o, node_ip)); !s) return s;
    // Setting the MAC, even to the same value, makes the kernel flush the
    // device's neighbours (permanent ones too): only when it differs.
    const bool mac_mtu_ok = exists && show->out.find("link/ether " + vtep_mac(node_ip) + " ") != std::string::npos &&
                            show->out.find(" mtu " + std::to_string(o.mtu - 50) + " ") != std::string::npos;
    auto cmds = vxlan_configure_cmds(o, node_ip, *pod_cidr);
    for (size_t i = mac_mtu_ok ? 1 : 0; i < cmds.size(); ++i)
      if (Status s = run_ok(runner, cmds[i]); !s) return s;
    return Status::ok();
  }

  Status setup() {
    std::lock_guard l(work_mu);
    if (Status s = validate(); !s) return s;
    if (!o.pod_cidr.empty()) {
      auto c = parse_cidr(o.pod_cidr);
      if (!c) return invalid("network: pod_cidr: " + c.status().message());
      pod_cidr = *c;
    } else if (Status s = wait_for_node(); !s) {
      return s;
    }
    if (!cluster.contains(*pod_cidr))
      spdlog::warn("network: pod CIDR {} is outside the cluster CIDR {}", pod_cidr->str(), cluster.str());
    if (pod_cidr->prefix > 30) return invalid("network: pod CIDR " + pod_cidr->str() + " is too small");
    {
      std::lock_guard s(state_mu);
      pod_cidr_str = pod_cidr->str();
      gateway_str = format_ipv4(pod_cidr->gateway());
    }
    if (Status s = sysctls(); !s) return s;
    if (Status s = ensure_bridge(); !s) return s;
    if (Status s = write_conflist(); !s) return s;
    if (Status s = ensure_iptables(); !s) return s;
    if (o.backend == Backend::kVxlan)
      if (Status s = ensure_vxlan(); !s) return s;
    spdlog::info("network: node {} pod CIDR {} on bridge {} (backend {})", o.node_name, pod_cidr->str(), o.bridge,
                 backend_name(o.backend));
    return Status::ok();
  }

  // The path to a peer: nullopt when it cannot be decided (no route).
  std::optional<bool> needs_vxlan(uint32_t ip) {
    if (o.backend == Backend::kHostGw) return false;
    if (o.backend == Backend::kVxlan) return true;
    if (auto it = path_cache.find(ip); it != path_cache.end()) return it->second;
    auto res = runner.run(route_get_cmd(ip), "");
    if (!res || res->exit_code != 0) {
      spdlog::warn("network: no route to node {}: {}", format_ipv4(ip), res ? trim(res->err) : res.status().message());
      return std::nullopt;
    }
    bool vx = route_get_has_gateway(res->out);
    path_cache[ip] = vx;
    return vx;
  }

  Status sync(bool full) {
    std::lock_guard l(work_mu);
    if (!pod_cidr) return Status(Code::kUnavailable, "network: setup() has not run");
    if (o.backend == Backend::kNone || !informer) return Status::ok();
    std::vector<api::Json> nodes;
    for (const auto& n : informer->indexer().list()) nodes.push_back(*n);
    if (node_ip == 0) {
      for (const auto& n : nodes) {
        auto p = peer_from_node(n);
        if (p && p->node == o.node_name) node_ip = p->node_ip;
      }
    }
    std::map<std::string, Route> desired;
    for (const auto& [name, peer] : desired_peers(nodes, o.node_name, cluster, *pod_cidr)) {
      auto vx = needs_vxlan(peer.node_ip);
      if (!vx) continue;
      desired[name] = Route{peer, *vx};
    }
    RouteDiff d = diff_routes(programmed, desired);
    if (full) {
      d.add.clear();
      for (const auto& [name, r] : desired) d.add.push_back(r);
    }
    Status first;
    for (const auto& r : d.remove) {
      for (const auto& cmd : route_del_cmds(r, o)) {
        // A route already gone is fine; log the rest.
        if (Status s = run_ok(runner, cmd); !s) spdlog::debug("network: {}", s.message());
      }
      programmed.erase(r.peer.node);
      spdlog::info("network: removed the route to node {} ({})", r.peer.node, r.peer.pod_cidr.str());
    }
    bool any_vxlan = false;
    for (const auto& r : d.add) any_vxlan |= r.vxlan;
    if (any_vxlan) {
      if (Status s = ensure_vxlan(); !s) {
        first = s;
        std::erase_if(d.add, [](const Route& r) { return r.vxlan; });
      }
    }
    for (const auto& r : d.add) {
      Status st;
      for (const auto& cmd : route_add_cmds(r, o)) {
        st = run_ok(runner, cmd);
        if (!st) break;
      }
      if (!st) {
        spdlog::warn("network: route to node {}: {}", r.peer.node, st.message());
        programmed.erase(r.peer.node);
        if (first) first = st;
        continue;
      }
      if (!programmed.count(r.peer.node) || !(programmed[r.peer.node] == r))
        spdlog::info("network: node {} pod CIDR {} via {} ({})", r.peer.node, r.peer.pod_cidr.str(),
                     format_ipv4(r.peer.node_ip), r.vxlan ? "vxlan" : "host-gw");
      programmed[r.peer.node] = r;
    }
    if (full)
      if (Status s = ensure_iptables(); !s && first) first = s;
    routes_count = static_cast<int>(programmed.size());
    return first;
  }

  void mark_dirty() {
    std::lock_guard l(sync_mu);
    dirty = true;
    sync_cv.notify_all();
  }

  void sync_loop(std::stop_token stop) {
    auto next_full = std::chrono::steady_clock::now();
    while (!stop.stop_requested()) {
      bool full = false;
      {
        std::unique_lock l(sync_mu);
        sync_cv.wait_until(l, stop, next_full, [&] { return dirty && informer->has_synced(); });
        if (stop.stop_requested()) return;
        full = std::chrono::steady_clock::now() >= next_full;
        if (!informer->has_synced()) {
          next_full = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
          continue;
        }
        dirty = false;
      }
      if (full) next_full = std::chrono::steady_clock::now() + o.resync_interval;
      if (Status s = sync(full); !s) {
        spdlog::warn("network: sync: {}", s.message());
        // Retry soon rather than at the next full resync.
        next_full = std::min(next_full, std::chrono::steady_clock::now() + std::chrono::seconds(1));
      }
    }
  }

  Status start() {
    if (informer) return Status::ok();
    {
      std::lock_guard l(work_mu);
      if (!pod_cidr) return Status(Code::kUnavailable, "network: start() before setup()");
    }
    if (o.backend == Backend::kNone) return Status::ok();
    informer = std::make_unique<client::Informer>(client, *api::find_kind("v1", "Node"));
    informer->add_event_handlers({.on_add = [this](const client::ObjectPtr&) { mark_dirty(); },
                                  .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { mark_dirty(); },
                                  .on_delete = [this](const client::ObjectPtr&) { mark_dirty(); }});
    informer->start();
    sync_thread = std::jthread([this](std::stop_token st) { sync_loop(st); });
    return Status::ok();
  }

  void stop() {
    if (sync_thread.joinable()) {
      sync_thread.request_stop();
      sync_thread.join();
    }
    if (informer) informer->stop();
  }
};

NetworkAgent::NetworkAgent(client::Client& client, NetworkOptions options)
    : impl_(std::make_unique<Impl>(client, options, make_exec_runner(options.netns), nullptr)) {}

NetworkAgent::NetworkAgent(client::Client& client, NetworkOptions options, CommandRunner& runner)
    : impl_(std::make_unique<Impl>(client, std::move(options), nullptr, &runner)) {}

NetworkAgent::~NetworkAgent() { stop(); }

Status NetworkAgent::setup() { return impl_->setup(); }
Status NetworkAgent::start() { return impl_->start(); }
void NetworkAgent::stop() { impl_->stop(); }

std::string NetworkAgent::pod_cidr() const {
  std::lock_guard l(impl_->state_mu);
  return impl_->pod_cidr_str;
}
std::string NetworkAgent::gateway_ip() const {
  std::lock_guard l(impl_->state_mu);
  return impl_->gateway_str;
}
int NetworkAgent::routes_programmed() const { return impl_->routes_count.load(); }
Status NetworkAgent::sync_now() { return impl_->sync(true); }

Status NetworkAgent::teardown(const NetworkOptions& options) {
  auto runner = make_exec_runner(options.netns);
  return teardown(options, *runner);
}

Status NetworkAgent::teardown(const NetworkOptions& o, CommandRunner& r) {
  Status first;
  auto keep = [&](Status s) {
    if (!s && first) first = std::move(s);
  };
  auto cluster = parse_cidr(o.cluster_cidr);
  if (!cluster) return invalid("network: cluster_cidr: " + cluster.status().message());
  keep(run_ok(r, {"ip", "-4", "route", "flush", "root", cluster->str(), "proto", std::to_string(kRouteProto)}));
  keep(delete_link_if_present(r, o.vxlan_device));
  keep(delete_link_if_present(r, o.bridge));
  keep(remove_chain(r, "nat", "POSTROUTING", postrouting_chain(o)));
  keep(remove_chain(r, "filter", "FORWARD", forward_chain(o)));
  if (!o.cni_conf_dir.empty()) {
    std::error_code ec;
    fs::remove(o.cni_conf_dir + "/" + kConflistName, ec);
  }
  return first;
}

}  // namespace minik8s::network
