// PoolController: a client::Controller keyed by namespace (docs/serverless.md
// "Warm pool"). Shared informers on Functions, Pods and Nodes; handlers map
// a change to the namespaces it concerns and only enqueue. reconcile(ns)
// compares the namespace's pool pods per node with pool_size on every usable
// node (none when the namespace holds no python3 Function) and creates or deletes the
// difference. Pods created but not yet in the cache are remembered
// (expectations, 30 s at most) so that a reconcile racing the cache does not
// create them twice.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/selector.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer.h"
#include "minik8s/serverless/controllers.h"
#include "runtime_pods.h"

namespace minik8s::serverless {

using api::field;
using api::sfield;
using client::ObjectPtr;

namespace {

constexpr auto kExpectationTimeout = std::chrono::seconds(30);

std::string ns_of(const Json& obj) { return sfield(field(obj, "metadata"), "namespace"); }
std::string name_of(const Json& obj) { return sfield(field(obj, "metadata"), "name"); }
bool is_pool_pod(const Json& pod) { return label(pod, kLabelPool) == "true"; }

}  // namespace

struct PoolController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, PoolOptions o, Clock& clk)
      : client::Controller(
            f, {"function-pool", 1, std::chrono::milliseconds(20), std::chrono::seconds(5)}, clk),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  const PoolOptions opts;
  const api::ResourceType* functions_type = nullptr;
  const api::ResourceType* pods_type = nullptr;
  const api::ResourceType* nodes_type = nullptr;
  client::Informer* functions = nullptr;
  client::Informer* pods = nullptr;
  client::Informer* nodes = nullptr;

  struct Pending {
    std::string node;
    std::chrono::steady_clock::time_point at;
  };
  std::mutex mu;
  // Guarded by mu: namespace → created pod name → where and when.
  std::map<std::string, std::map<std::string, Pending>> pending;

  Status setup() override {
    functions_type = api::find_kind(kApiVersion, "Function");
    pods_type = api::find_kind("v1", "Pod");
    nodes_type = api::find_kind("v1", "Node");
    if (!functions_type || !pods_type || !nodes_type) {
      return internal_error("the kind table lacks Function, Pod or Node");
    }
    functions = &factory().informer(*functions_type);
    pods = &factory().informer(*pods_type);
    nodes = &factory().informer(*nodes_type);

    auto on_fn = [this](const ObjectPtr& o) { enqueue(ns_of(*o)); };
    // An update matters only when it changes whether the Function wants the pool.
    watch(*functions, {on_fn,
                       [this](const ObjectPtr& a, const ObjectPtr& b) {
                         if (uses_pool_runtime(*a) != uses_pool_runtime(*b)) enqueue(ns_of(*b));
                       },
                       on_fn});
    auto on_pod = [this](const ObjectPtr& o) {
      if (is_pool_pod(*o)) enqueue(ns_of(*o));
    };
    watch(*pods, {on_pod,
                  [this](const ObjectPtr& a, const ObjectPtr& b) {
                    if (!is_pool_pod(*a) && !is_pool_pod(*b)) return;
                    if (a->value("metadata", Json::object()).value("resourceVersion", "") ==
                        b->value("metadata", Json::object()).value("resourceVersion", "")) {
                      return;
                    }
                    enqueue(ns_of(*b));
                  },
                  on_pod});
    auto on_node = [this](const ObjectPtr&) { enqueue_all(); };
    watch(*nodes, {on_node,
                   [this](const ObjectPtr& a, const ObjectPtr& b) {
                     if (node_usable(*a) != node_usable(*b)) enqueue_all();
                   },
                   on_node});
    return Status::ok();
  }

  // Every namespace with a Function or a pool pod.
  void enqueue_all() {
    std::set<std::string> nss;
    for (const auto& f : functions->indexer().list()) nss.insert(ns_of(*f));
    for (const auto& p : pods->indexer().list("", pool_selector())) nss.insert(ns_of(*p));
    for (const auto& ns : nss) enqueue(ns);
  }

  static api::LabelSelector pool_selector() {
    return api::LabelSelector::from_map({{kLabelPool, "true"}});
  }

  client::ReconcileResult reconcile(const std::string& ns) override {
    bool want = false;
    if (opts.pool_size > 0) {
      for (const auto& f : functions->indexer().by_index(client::kNamespaceIndex, ns)) {
        if (!pod_terminating(*f) && uses_pool_runtime(*f)) want = true;
      }
    }
    std::set<std::string> usable;
    if (want) {
      for (const auto& n : nodes->indexer().list()) {
        if (node_usable(*n)) usable.insert(name_of(*n));
      }
    }

    std::map<std::string, std::vector<ObjectPtr>> by_node;
    std::vector<std::string> doomed;
    std::set<std::string> cached;
    for (const auto& p : pods->indexer().list(ns, pool_selector())) {
      cached.insert(name_of(*p));
      if (pod_terminating(*p)) continue;
      std::string node = sfield(field(*p, "spec"), "nodeName");
      if (pod_finished(*p) || !usable.count(node)) {
        doomed.push_back(name_of(*p));
        continue;
      }
      by_node[node].push_back(p);
    }

    std::map<std::string, int> pending_on;
    {
      std::lock_guard l(mu);
      auto& mine = pending[ns];
      auto now = std::chrono::steady_clock::now();
      for (auto it = mine.begin(); it != mine.end();) {
        if (cached.count(it->first) || now - it->second.at > kExpectationTimeout) {
          it = mine.erase(it);
        } else {
          ++pending_on[it->second.node];
          ++it;
        }
      }
      if (mine.empty()) pending.erase(ns);
    }

    Status result = Status::ok();
    for (const auto& node : usable) {
      auto& have = by_node[node];
      int count = static_cast<int>(have.size()) + pending_on[node];
      if (count > opts.pool_size) {
        // Extras: not serving first, then the newest.
        std::sort(have.begin(), have.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
          bool sa = pod_serving(*a), sb = pod_serving(*b);
          if (sa != sb) return sa;
          return sfield(field(*a, "metadata"), "creationTimestamp") <
                 sfield(field(*b, "metadata"), "creationTimestamp");
        });
        for (int i = count; i > opts.pool_size && !have.empty(); --i) {
          doomed.push_back(name_of(*have.back()));
          have.pop_back();
        }
      }
      for (int i = count; i < opts.pool_size; ++i) {
        Json pod = runtime_pod(ns, "pool-", opts.runtime_image, {{kLabelPool, "true"}});
        pod["spec"]["nodeName"] = node;
        auto r = api_client().create(*pods_type, pod, ns);
        if (!r) {
          spdlog::warn("function-pool: creating a pool pod in {} on {}: {}", ns, node,
                       r.status().message());
          result = r.status();
          break;
        }
        std::lock_guard l(mu);
        pending[ns][name_of(*r)] = {node, std::chrono::steady_clock::now()};
        spdlog::debug("function-pool: created {}/{} on {}", ns, name_of(*r), node);
      }
    }
    for (const auto& name : doomed) {
      auto r = api_client().remove(*pods_type, ns, name);
      if (!r && r.status().code() != Code::kNotFound) {
        result = r.status();
      } else {
        spdlog::debug("function-pool: deleted {}/{}", ns, name);
      }
    }
    return result;
  }
};

PoolController::PoolController(client::SharedInformerFactory& factory, PoolOptions opts,
                               Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(opts), clock));
}

PoolController::PoolController(client::Client& client, PoolOptions opts) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(opts), real_clock()));
}

}  // namespace minik8s::serverless
