// NodeIpamController: a client::Controller with the shared informer on
// Nodes and one worker over a queue of node names. The worker alone owns the
// allocation map (block index → node), so it needs no lock (hence exactly one
// worker); event handlers only enqueue names. on_synced() rebuilds the map
// from the synced Node cache before the first reconcile.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cidr.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

std::string pod_cidr_of(const Json& node) { return sfield(field(node, "spec"), "podCIDR"); }

}  // namespace

struct NodeIpamController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, NodeIpamOptions o, Clock& clk)
      : client::Controller(f, {"node-ipam", 1, std::chrono::milliseconds(50), std::chrono::seconds(5)}, clk),
        client(f.client()),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const NodeIpamOptions opts;
  const api::ResourceType* nodes_type = nullptr;
  const api::ResourceType* events_type = nullptr;
  Ipv4Cidr cluster;
  std::optional<CidrBlocks> blocks;
  client::Informer* nodes = nullptr;  // shared, owned by the factory

  // Worker-thread state (no lock: only the worker touches it).
  std::vector<std::string> owner;                        // block index → node name, "" = free
  std::map<std::string, std::pair<int, int>> by_node;    // node → blocks [first, last] it holds
  std::set<std::string> reserved;   // holds a block we chose but have not written yet
  std::set<std::string> waiting;    // no block left for it
  std::set<std::string> announced;  // got the CIDRNotAvailable event for the current wait

  Status setup() override;

  // ---- allocation map

  void release(const std::string& name) {
    auto it = by_node.find(name);
    if (it == by_node.end()) return;
    bool freed = false;
    auto range = it->second;
    by_node.erase(it);
    for (int i = range.first; i <= range.second; ++i) {
      if (owner[i] != name) continue;
      owner[i].clear();
      // A node that claimed the same block in conflict keeps holding it.
      for (const auto& [other, r] : by_node) {
        if (r.first <= i && i <= r.second && !reserved.count(other)) {
          owner[i] = other;
          break;
        }
      }
      if (owner[i].empty()) freed = true;
    }
    reserved.erase(name);
    if (freed) {
      for (const auto& w : waiting) enqueue(w);
    }
  }

  void occupy(const std::string& name, std::pair<int, int> range) {
    for (int i = range.first; i <= range.second; ++i) {
      const std::string cur = owner[i];
      if (cur.empty() || cur == name) {
        owner[i] = name;
      } else if (reserved.count(cur)) {
        // Only our unwritten choice for another node: that node picks again.
        release(cur);
        owner[i] = name;
        enqueue(cur);
      } else {
        spdlog::warn("node-ipam: node {} claims {} which node {} holds; leaving both as they are", name,
                     to_string(blocks->at(i)), cur);
      }
    }
    by_node[name] = range;
  }

  std::optional<int> lowest_free() const {
    for (int i = 0; i < static_cast<int>(owner.size()); ++i) {
      if (owner[i].empty()) return i;
    }
    return std::nullopt;
  }

  // Reserves a block for a node without podCIDR (nullopt: exhausted).
  std::optional<int> reserve(const std::string& name) {
    auto it = by_node.find(name);
    if (it != by_node.end()) return it->second.first;
    auto idx = lowest_free();
    if (!idx) return std::nullopt;
    owner[*idx] = name;
    by_node[name] = {*idx, *idx};
    reserved.insert(name);
    return idx;
  }

  // The Node objects are the truth: occupy what they carry, then reserve
  // blocks for the rest in creation order (deterministic across restarts).
  void on_synced() override { rebuild(); }

  void rebuild() {
    owner.assign(blocks->count(), std::string());
    by_node.clear();
    reserved.clear();
    std::vector<ObjectPtr> all = nodes->indexer().list();
    auto created = [](const ObjectPtr& n) {
      SysTime t{};
      parse_rfc3339(sfield(field(*n, "metadata"), "creationTimestamp"), &t);
      return std::make_pair(t, sfield(field(*n, "metadata"), "name"));
    };
    std::sort(all.begin(), all.end(), [&](const ObjectPtr& a, const ObjectPtr& b) { return created(a) < created(b); });
    for (const auto& n : all) {
      std::string c = pod_cidr_of(*n);
      if (c.empty()) continue;
      auto parsed = parse_ipv4_cidr(c, true);
      if (!parsed) continue;
      auto range = blocks->overlapping(*parsed);
      if (range) occupy(sfield(field(*n, "metadata"), "name"), *range);
    }
    for (const auto& n : all) {
      if (pod_cidr_of(*n).empty()) reserve(sfield(field(*n, "metadata"), "name"));
    }
    spdlog::info("node-ipam: {} of {} /{} blocks of {} in use after start", by_node.size(), blocks->count(),
                 opts.node_cidr_mask, to_string(cluster));
  }

  // ---- reconcile

  // An error keeps the reservation and is retried with backoff by the base.
  client::ReconcileResult reconcile(const std::string& name) override {
    ObjectPtr node = nodes->indexer().get(name);
    if (!node) {
      waiting.erase(name);
      announced.erase(name);
      release(name);
      return Status::ok();
    }
    std::string current = pod_cidr_of(*node);
    if (!current.empty()) {
      waiting.erase(name);
      announced.erase(name);
      auto parsed = parse_ipv4_cidr(current, true);
      std::optional<std::pair<int, int>> range;
      if (parsed) range = blocks->overlapping(*parsed);
      if (!range) {
        // Outside the cluster CIDR (or not a CIDR): someone else manages it.
        release(name);
        return Status::ok();
      }
      auto it = by_node.find(name);
      if (it != by_node.end() && it->second == *range && !reserved.count(name)) return Status::ok();
      release(name);
      occupy(name, *range);
      return Status::ok();
    }
    auto idx = reserve(name);
    if (!idx) {
      waiting.insert(name);
      if (announced.insert(name).second) {
        std::string msg = "no free /" + std::to_string(opts.node_cidr_mask) + " left in cluster CIDR " +
                          to_string(cluster) + " for node " + name;
        spdlog::warn("node-ipam: {}", msg);
        record_event(*node, "Normal", "CIDRNotAvailable", "Node " + name + " status is now: CIDRNotAvailable");
        record_event(*node, "Warning", "CIDRAssignmentFailed", msg);
      }
      return Status::ok();
    }
    std::string cidr = to_string(blocks->at(*idx));
    Json patch = {{"spec", {{"podCIDR", cidr}, {"podCIDRs", Json::array({cidr})}}}};
    auto r = client.patch(*nodes_type, "", name, client::PatchType::kMerge, patch);
    if (!r) {
      if (r.status().code() == Code::kNotFound) {
        release(name);
        return Status::ok();
      }
      return r.status();  // keeps the reservation; retried with backoff
    }
    reserved.erase(name);
    waiting.erase(name);
    announced.erase(name);
    spdlog::info("node-ipam: node {} gets pod CIDR {}", name, cidr);
    return Status::ok();
  }

  void record_event(const Json& node, const std::string& type, const std::string& reason, const std::string& message) {
    Json ev = client::make_event(node, "v1", "Node", type, reason, message, "node-ipam-controller");
    auto r = client.create(*events_type, ev);
    if (!r) spdlog::debug("node-ipam: recording event: {}", r.status().to_string());
  }
};

NodeIpamController::NodeIpamController(client::Client& client, NodeIpamOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), real_clock()));
}

NodeIpamController::NodeIpamController(client::SharedInformerFactory& factory, NodeIpamOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status NodeIpamController::Impl::setup() {
  Impl& s = *this;
  auto cluster = parse_ipv4_cidr(s.opts.cluster_cidr);
  if (!cluster) return bad_request("cluster CIDR: " + cluster.status().message());
  auto blocks = CidrBlocks::make(*cluster, s.opts.node_cidr_mask);
  if (!blocks) return blocks.status();
  s.cluster = *cluster;
  s.blocks = *blocks;
  s.nodes_type = api::find_kind("v1", "Node");
  s.events_type = api::find_kind("v1", "Event");
  if (!s.nodes_type || !s.events_type) return internal_error("the kind table lacks Node or Event");
  s.nodes = &factory().informer(*s.nodes_type);
  watch(*s.nodes, {
                      [&s](const ObjectPtr& n) { s.enqueue(client::object_key(*n)); },
                      [&s](const ObjectPtr& a, const ObjectPtr& b) {
                        // Heartbeats do not concern us; a podCIDR change or a node still without one does.
                        if (pod_cidr_of(*a) != pod_cidr_of(*b) || pod_cidr_of(*b).empty()) {
                          s.enqueue(client::object_key(*b));
                        }
                      },
                      [&s](const ObjectPtr& n) { s.enqueue(client::object_key(*n)); },
                  });
  return Status::ok();
}

}  // namespace minik8s::controllers
