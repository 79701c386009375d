// scheduler_bench: scheduling throughput against simulated ("hollow") nodes.
//
//   scheduler_bench [--nodes 1000] [--pods 10000] [--binders N] [--score-all] [--quick]
//
// One process: a real ApiServer on SqliteStorage in a temp dir (loopback,
// port 0), NODES Nodes registered through HTTP (Ready, 32 cpu / 64Gi / 110
// pods, InternalIP, hostname label) with a Lease each, renewed every 10 s for
// the whole run by a heartbeat thread (as a kubelet would), and the real
// Scheduler (least-allocated) on an informer factory over its own pooled
// HTTP client, as `minik8s server` runs it on the controllers' factory.
// Three measurements, each in its own namespace:
//
//   baseline  PODS pods created, then PODS pods/binding POSTs from 8 client
//             threads over the same kind of pooled client, no scheduler:
//             what the API server + store cost per bind.
//   backlog   PODS pods created while no scheduler runs; then the scheduler
//             starts; throughput = pods bound / (last bind − first bind) as
//             seen by a watch on the namespace, cross-checked by a final list.
//   stream    the scheduler runs; PODS pods are created by 8 threads as fast
//             as the server takes them; same throughput measure.
//
// Quality: pods per node (min / max / stddev) for each scheduled namespace.
// Prints Markdown rows and one summary line starting "scheduler_bench:".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/scheduler/scheduler.h"
#include "minik8s/storage/storage.h"
#include "minik8s/util/time.h"

using namespace minik8s;
using nlohmann::json;
using BenchClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Args {
  int nodes = 1000;
  int pods = 10000;
  int binders = 0;  // 0 = the scheduler's default
  bool score_all = false;
  int client_threads = 8;
};

void row(const std::string& what, const std::string& result, const std::string& target = "") {
  std::printf("| %s | %s | %s |\n", what.c_str(), result.c_str(), target.c_str());
  std::fflush(stdout);
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

double secs(BenchClock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string node_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "hollow-%04d", i);
  return buf;
}

json node_object(int i) {
  std::string name = node_name(i);
  std::string ip = "10.99." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
  json res = {{"cpu", "32"}, {"memory", "64Gi"}, {"pods", "110"}};
  std::string now = format_rfc3339(real_clock().now());
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"labels",
             {{"kubernetes.io/hostname", name}, {"kubernetes.io/os", "linux"}, {"kubernetes.io/arch", "amd64"}}}}},
          // A /24 of its own (the API refuses overlapping pod CIDRs):
          // 10.64.0.0/24, 10.64.1.0/24, ... up to 16,384 nodes.
          {"spec", {{"podCIDR", "10." + std::to_string(64 + i / 256) + "." + std::to_string(i % 256) +
                                    ".0/24"}}},
          {"status",
           {{"capacity", res},
            {"allocatable", res},
            {"addresses", {{{"type", "InternalIP"}, {"address", ip}}, {{"type", "Hostname"}, {"address", name}}}},
            {"conditions",
             {{{"type", "Ready"},
               {"status", "True"},
               {"reason", "KubeletReady"},
               {"lastHeartbeatTime", now},
               {"lastTransitionTime", now}}}},
            {"nodeInfo", {{"kubeletVersion", "v1.29.0-minik8s-hollow"}}}}}};
}

json lease_object(int i) {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", {{"name", node_name(i)}, {"namespace", "kube-node-lease"}}},
          {"spec",
           {{"holderIdentity", node_name(i)},
            {"leaseDurationSeconds", 40},
            {"renewTime", format_rfc3339_micro(real_clock().now())}}}};
}

json pod_object(const std::string& ns, int i) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p-" + std::to_string(i)}, {"namespace", ns}, {"labels", {{"app", "bench"}}}}},
          {"spec",
           {{"containers",
             {{{"name", "c"},
               {"image", "busybox:1.36"},
               {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}}}}}}}};
}

std::unique_ptr<client::RestClient> make_rest(const std::string& url, size_t idle) {
  client::HttpRestClientOptions ro;
  ro.server = url;
  ro.max_idle_connections = idle;
  auto r = client::make_http_rest_client(ro);
  if (!r) {
    std::fprintf(stderr, "rest client: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r.value());
}

// Runs fn(i) for i in [0, n) on `threads` threads; returns the wall time.
template <typename Fn>
BenchClock::duration parallel(int n, int threads, Fn fn) {
  std::atomic<int> next{0};
  auto t0 = BenchClock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < n;) fn(i);
    });
  }
  for (auto& t : ts) t.join();
  return BenchClock::now() - t0;
}

void must(const Result<client::HttpResponse>& r, const char* what) {
  Status st = r ? client::check_response(*r) : r.status();
  if (!st.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", what, st.to_string().c_str());
    std::exit(1);
  }
}

// Watches one namespace's pods and records when each first shows spec.nodeName.
class BindWatcher {
 public:
  BindWatcher(client::Client& c, const std::string& ns) : client_(c), ns_(ns) {
    const auto* pods = api::find_resource("", "v1", "pods");
    auto list = client_.list(*pods, ns_);
    if (!list) {
      std::fprintf(stderr, "list: %s\n", list.status().to_string().c_str());
      std::exit(1);
    }
    client::ListOptions lo;
    lo.resource_version = api::sfield(api::field(*list, "metadata"), "resourceVersion");
    lo.timeout_seconds = 3600;
    auto w = client_.watch(*pods, ns_, lo);
    if (!w) {
      std::fprintf(stderr, "watch: %s\n", w.status().to_string().c_str());
      std::exit(1);
    }
    stream_ = std::move(w.value());
    thread_ = std::thread([this] { run(); });
  }
  ~BindWatcher() {
    stop_ = true;
    stream_->close();
    thread_.join();
  }
  // Waits until n pods were seen bound or the deadline; returns how many.
  int wait(int n, BenchClock::duration limit) {
    auto end = BenchClock::now() + limit;
    while (bound_.load() < n && BenchClock::now() < end) std::this_thread::sleep_for(20ms);
    return bound_.load();
  }
  BenchClock::time_point first() const { return first_; }
  BenchClock::time_point last() const { return last_; }

 private:
  void run() {
    while (!stop_) {
      auto ev = stream_->next(200ms);
      if (!ev) {
        if (stream_->ended()) return;
        continue;
      }
      if (!ev->object) continue;
      std::string node = api::sfield(api::field(*ev->object, "spec"), "nodeName");
      if (node.empty()) continue;
      std::string name = api::sfield(api::field(*ev->object, "metadata"), "name");
      if (!seen_.insert(name).second) continue;
      auto now = BenchClock::now();
      if (seen_.size() == 1) first_ = now;
      last_ = now;
      bound_.fetch_add(1);
    }
  }

  client::Client& client_;
  std::string ns_;
  std::unique_ptr<client::WatchEventStream> stream_;
  std::set<std::string> seen_;  // watch thread only
  std::atomic<int> bound_{0};
  BenchClock::time_point first_{}, last_{};  // read after wait()
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Spread {
  int bound = 0, min = 0, max = 0;
  double stddev = 0;
  size_t nodes_used = 0;
};

Spread spread_of(client::Client& c, const std::string& ns, int num_nodes) {
  const auto* pods = api::find_resource("", "v1", "pods");
  auto list = c.list(*pods, ns);
  Spread s;
  if (!list) return s;
  std::map<std::string, int> per_node;
  for (int i = 0; i < num_nodes; ++i) per_node[node_name(i)] = 0;
  for (const auto& p : api::field(*list, "items")) {
    std::string n = api::sfield(api::field(p, "spec"), "nodeName");
    if (n.empty()) continue;
    ++s.bound;
    ++per_node[n];
  }
  s.min = 1 << 30;
  double mean = static_cast<double>(s.bound) / num_nodes, var = 0;
  for (auto& [n, k] : per_node) {
    s.min = std::min(s.min, k);
    s.max = std::max(s.max, k);
    if (k > 0) ++s.nodes_used;
    var += (k - mean) * (k - mean);
  }
  s.stddev = std::sqrt(var / num_nodes);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--nodes") {
      args.nodes = next();
    } else if (a == "--pods") {
      args.pods = next();
    } else if (a == "--binders") {
      args.binders = next();
    } else if (a == "--score-all") {
      args.score_all = true;
    } else if (a == "--quick") {
      args.nodes = 200;
      args.pods = 2000;
    } else {
      std::fprintf(stderr, "usage: scheduler_bench [--nodes N] [--pods N] [--binders N] [--score-all] [--quick]\n");
      return 2;
    }
  }
  auto dir = std::filesystem::temp_directory_path() / ("mk-sched-bench-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path d;
    ~Cleanup() { std::filesystem::remove_all(d); }
  } cleanup{dir};

  storage::SqliteOptions so;
  so.path = (dir / "store.db").string();
  so.compaction_keep_revisions = 100000;
  auto store = storage::open_sqlite_storage(so);
  if (!store) {
    std::fprintf(stderr, "store: %s\n", store.status().to_string().c_str());
    return 1;
  }
  apiserver::ApiServerOptions ao;
  ao.port = 0;
  ao.watch_cache_capacity = 100000;
  auto api = apiserver::ApiServer::start(**store, ao);
  if (!api) {
    std::fprintf(stderr, "apiserver: %s\n", api.status().to_string().c_str());
    return 1;
  }
  std::string url = (*api)->url();
  auto rest = make_rest(url, 16);
  client::Client cli(*rest);

  std::printf("scheduler_bench: %d nodes, %d pods per run, %u cores\n\n", args.nodes, args.pods,
              std::thread::hardware_concurrency());
  std::printf("| measurement | result | target |\n| --- | --- | --- |\n");

  // Nodes + Leases.
  auto t_nodes = parallel(args.nodes, args.client_threads, [&](int i) {
    must(rest->request("POST", "/api/v1/nodes", node_object(i).dump()), "create node");
    must(rest->request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease_object(i).dump()),
         "create lease");
  });
  row(fmt("register %.0f hollow nodes (Node + Lease)", args.nodes), fmt("%.2f s", secs(t_nodes)));

  // Heartbeats: every node's Lease renewed once per 10 s, spread evenly.
  std::atomic<bool> stop_heartbeats{false};
  std::atomic<long> renewals{0}, renewal_errors{0};
  std::thread heartbeats([&] {
    auto period = std::chrono::duration_cast<BenchClock::duration>(10s) / std::max(1, args.nodes);
    auto next = BenchClock::now();
    for (int i = 0; !stop_heartbeats; i = (i + 1) % args.nodes) {
      next += period;
      std::this_thread::sleep_until(next);
      json patch = {{"spec", {{"renewTime", format_rfc3339_micro(real_clock().now())}}}};
      auto r = rest->request("PATCH", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + node_name(i),
                             patch.dump(), "application/merge-patch+json");
      if (r && client::check_response(*r).is_ok()) {
        renewals.fetch_add(1);
      } else {
        renewal_errors.fetch_add(1);
      }
    }
  });

  auto create_ns = [&](const std::string& ns) {
    json obj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    must(rest->request("POST", "/api/v1/namespaces", obj.dump()), "create namespace");
  };
  auto create_pods = [&](const std::string& ns) {
    return parallel(args.pods, args.client_threads, [&](int i) {
      must(rest->request("POST", "/api/v1/namespaces/" + ns + "/pods", pod_object(ns, i).dump()), "create pod");
    });
  };

  // Baseline: raw creates + bindings, no scheduler.
  create_ns("sched-baseline");
  auto t_create = create_pods("sched-baseline");
  row(fmt("Baseline: pod creates, %.0f client threads", args.client_threads),
      fmt("%.0f/s", args.pods / secs(t_create)));
  auto t_bind = parallel(args.pods, args.client_threads, [&](int i) {
    json b = {{"apiVersion", "v1"},
              {"kind", "Binding"},
              {"metadata", {{"name", "p-" + std::to_string(i)}, {"namespace", "sched-baseline"}}},
              {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node_name(i % args.nodes)}}}};
    must(rest->request("POST", "/api/v1/namespaces/sched-baseline/pods/p-" + std::to_string(i) + "/binding", b.dump()),
         "bind");
  });
  double baseline_rate = args.pods / secs(t_bind);
  row(fmt("Baseline: pods/binding POSTs, %.0f client threads, no scheduling", args.client_threads),
      fmt("%.0f/s", baseline_rate));

  // The scheduler under test, on a factory over its own client (in `minik8s
  // server` the controllers' factory and client).
  auto sched_rest = make_rest(url, 8);
  client::Client sched_cli(*sched_rest);
  client::SharedInformerFactory informers(sched_cli);
  scheduler::SchedulerOptions sopt;
  sopt.policy = scheduler::Policy::kLeastAllocated;
  if (args.binders > 0) sopt.bind_parallelism = args.binders;
  if (args.score_all) sopt.percentage_of_nodes_to_score = 100;
  auto sched = std::make_unique<scheduler::Scheduler>(informers, sopt);

  auto measure = [&](const std::string& ns, const char* label, bool backlog) -> double {
    create_ns(ns);
    BindWatcher watcher(cli, ns);
    scheduler::SchedulerStats before = sched->stats();
    BenchClock::duration t_pods{};
    if (backlog) {
      t_pods = create_pods(ns);
      row(std::string(label) + fmt(": %.0f pods created before the scheduler starts", args.pods),
          fmt("%.0f/s", args.pods / secs(t_pods)));
      Status st = sched->start();
      if (!st.is_ok()) {
        std::fprintf(stderr, "scheduler: %s\n", st.to_string().c_str());
        std::exit(1);
      }
    } else {
      t_pods = create_pods(ns);
    }
    int got = watcher.wait(args.pods, 300s);
    double span = secs(watcher.last() - watcher.first());
    double rate = got > 1 && span > 0 ? (got - 1) / span : 0;
    scheduler::SchedulerStats after = sched->stats();
    Spread s = spread_of(cli, ns, args.nodes);
    std::string what = std::string(label) + (backlog ? ": backlog scheduled and bound (first → last bind)"
                                                     : fmt(": scheduled and bound while pods are created at %.0f/s",
                                                           args.pods / secs(t_pods)));
    row(what, fmt("**%.0f pods/s** (%.0f bound in %.2f s; final list: %.0f bound)", rate, got, span, s.bound),
        "≥ 3,000 pods/s");
    double cycles = static_cast<double>(after.cycles - before.cycles);
    double cyc_s = after.cycle_seconds - before.cycle_seconds;
    double binds = static_cast<double>(after.bound - before.bound);
    row(std::string(label) + ": scheduler's own counters",
        fmt("%.0f binds, mean cycle %.1f us (scheduling thread busy %.0f %% of the bind window), ", binds,
            cycles > 0 ? cyc_s / cycles * 1e6 : 0, span > 0 ? 100 * cyc_s / span : 0) +
            fmt("mean binding round-trip %.2f ms, %.0f bind failures, %.0f Scheduled events dropped",
                binds > 0 ? (after.bind_seconds - before.bind_seconds) / binds * 1e3 : 0,
                static_cast<double>(after.bind_failures - before.bind_failures),
                static_cast<double>(after.events_dropped - before.events_dropped)));
    row(std::string(label) + ": pods per node (least-allocated)",
        fmt("min %.0f, max %.0f, stddev %.2f, nodes used %.0f", s.min, s.max, s.stddev, s.nodes_used));
    if (got != args.pods || s.bound != args.pods) {
      std::fprintf(stderr, "%s: only %d/%d pods seen bound (list: %d)\n", label, got, args.pods, s.bound);
    }
    return rate;
  };
  double backlog_rate = measure("sched-backlog", "backlog", true);
  double stream_rate = measure("sched-stream", "stream", false);
  sched->stop();
  informers.stop();

  stop_heartbeats = true;
  heartbeats.join();
  row("Lease renewals during the run (errors)", fmt("%.0f (%.0f)", renewals.load(), renewal_errors.load()));
  std::printf(
      "\nscheduler_bench: %d nodes, %d pods: backlog %.0f pods/s, stream %.0f pods/s, baseline raw binds %.0f/s "
      "(target >= 3000 pods/s: %s)\n",
      args.nodes, args.pods, backlog_rate, stream_rate, baseline_rate,
      std::min(backlog_rate, stream_rate) >= 3000 ? "met" : "NOT met");
  (*api)->stop();
  return 0;
}
