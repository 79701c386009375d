// proxy_bench: Service programming cost with N Services × K endpoints (default
// 1,000 × 10), in a private network namespace (root; unshare(CLONE_NEWNET)),
// printed as Markdown rows for docs/benchmarks.md:
//   - baseline: a bare `iptables-restore --noflush` of the full ruleset text
//     (what the kernel + tool cost, no rendering);
//   - full resync: render + restore of every chain;
//   - one endpoint change, rendered and restored incrementally (only the
//     changed SVC/SEP chains + the base chains), p50/p99 over --changes;
//   - the same change with a full re-render + restore (why partial matters);
//   - end to end through Proxy: Endpoints update in the API (FakeRestClient,
//     in-process) → informer → sync → iptables-restore returned, p50/p99.
// Usage: proxy_bench [--services N] [--endpoints K] [--changes C]
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "minik8s/api/resource.h"
#include "minik8s/proxy/proxy.h"
#include "test/fakes/fake_rest_client.h"

using namespace minik8s;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string ip(int a, int b, int c, int d) {
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." + std::to_string(d);
}

json service(int i) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", "svc" + std::to_string(i)}, {"namespace", "bench"}}},
          {"spec",
           {{"type", i % 10 == 0 ? "NodePort" : "ClusterIP"},
            {"clusterIP", ip(10, 96 + i / 65536, (i / 256) % 256, i % 256)},
            {"ports", json::array({{{"name", "http"}, {"port", 80}, {"nodePort", 30000 + i % 2000}}})}}}};
}

json endpoints(int i, int k, int generation) {
  json addrs = json::array();
  for (int e = 0; e < k; ++e) {
    int n = i * k + e;
    if (e == 0 && generation > 0) {  // one endpoint replaced per change
      n = generation;
      addrs.push_back({{"ip", ip(10, 245 + n / 62500, (n / 250) % 250, 2 + n % 250)}});
      continue;
    }
    addrs.push_back({{"ip", ip(10, 244, (n / 250) % 256, 2 + n % 250)}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Endpoints"},
          {"metadata", {{"name", "svc" + std::to_string(i)}, {"namespace", "bench"}}},
          {"subsets", json::array({{{"addresses", addrs}, {"ports", json::array({{{"name", "http"}, {"port", 8080}}})}}})}};
}

// Wraps the real iptables and signals when a restore containing `needle` returned.
class WatchingIptables : public proxy::Iptables {
 public:
  explicit WatchingIptables(proxy::Iptables& real) : real_(real) {}
  Status restore(const std::string& input) override {
    Status s = real_.restore(input);
    std::lock_guard<std::mutex> l(mu_);
    ++restores_;
    if (s.is_ok() && !needle_.empty() && input.find(needle_) != std::string::npos) {
      done_ = Clock::now();
      found_ = true;
      cv_.notify_all();
    }
    return s;
  }
  Result<std::string> save(const std::string& t) override { return real_.save(t); }
  Status iptables(const std::vector<std::string>& a) override { return real_.iptables(a); }
  Status conntrack(const std::vector<std::string>& a) override { return real_.conntrack(a); }

  void expect(const std::string& needle) {
    std::lock_guard<std::mutex> l(mu_);
    needle_ = needle;
    found_ = false;
  }
  bool wait(Clock::time_point& when, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, timeout, [&] { return found_; })) return false;
    when = done_;
    return true;
  }

 private:
  proxy::Iptables& real_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string needle_;
  bool found_ = false;
  Clock::time_point done_;
  int restores_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int n_svc = 1000, k = 10, changes = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--services")) n_svc = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--endpoints")) k = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--changes")) changes = std::atoi(argv[i + 1]);
  }
  if (std::getenv("PROXY_BENCH_DEBUG")) spdlog::set_level(spdlog::level::debug);  // per-sync timings
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (needs root)");
    return 1;
  }
  proxy::ProxyOptions o;
  o.chain_prefix = "MKB";
  auto ipt = proxy::make_exec_iptables(o);

  std::vector<json> svcs, eps;
  for (int i = 0; i < n_svc; ++i) {
    svcs.push_back(service(i));
    eps.push_back(endpoints(i, k, 0));
  }
  std::string label = std::to_string(n_svc) + " Services × " + std::to_string(k) + " endpoints";

  // Baseline: the bare tool on the full text (into an empty and a populated namespace).
  std::string full_text = proxy::render_ruleset(svcs, eps, o);
  size_t rules = proxy::build_ruleset(svcs, eps, o).rule_count();
  std::vector<double> bare;
  for (int r = 0; r < 3; ++r) {
    auto t0 = Clock::now();
    if (Status s = ipt->restore(full_text); !s.is_ok()) {
      std::fprintf(stderr, "restore: %s\n", s.to_string().c_str());
      return 1;
    }
    bare.push_back(ms(Clock::now() - t0));
  }
  // Full resync: render + restore.
  std::vector<double> full_render, full_total;
  for (int r = 0; r < 3; ++r) {
    auto t0 = Clock::now();
    auto text = proxy::render_restore(proxy::build_ruleset(svcs, eps, o), nullptr, {}, o);
    auto t1 = Clock::now();
    if (Status s = ipt->restore(text); !s.is_ok()) return 1;
    full_render.push_back(ms(t1 - t0));
    full_total.push_back(ms(Clock::now() - t0));
  }
  // One endpoint change: incremental and full.
  std::mt19937 rng(42);
  proxy::Ruleset applied = proxy::build_ruleset(svcs, eps, o);
  std::vector<double> partial, partial_render, full_change;
  for (int c = 0; c < changes; ++c) {
    int i = static_cast<int>(rng() % static_cast<unsigned>(n_svc));
    eps[i] = endpoints(i, k, c + 1);
    auto t0 = Clock::now();
    proxy::Ruleset wanted = proxy::build_ruleset(svcs, eps, o);
    auto text = proxy::render_restore(wanted, &applied, {}, o);
    auto t1 = Clock::now();
    if (Status s = ipt->restore(text); !s.is_ok()) {
      std::fprintf(stderr, "partial restore: %s\n", s.to_string().c_str());
      return 1;
    }
    partial.push_back(ms(Clock::now() - t0));
    partial_render.push_back(ms(t1 - t0));
    applied = std::move(wanted);
  }
  // Baseline for one change: a bare restore of one small chain into the populated namespace.
  std::vector<double> bare_small;
  for (int c = 0; c < 20; ++c) {
    auto t0 = Clock::now();
    if (!ipt->restore("*nat\n:MKB-SEP-BENCH - [0:0]\n-A MKB-SEP-BENCH -p tcp -m tcp -j DNAT --to-destination "
                      "10.1.1.1:80\nCOMMIT\n").is_ok())
      return 1;
    bare_small.push_back(ms(Clock::now() - t0));
  }
  for (int c = 0; c < 5; ++c) {
    auto t0 = Clock::now();
    auto text = proxy::render_restore(proxy::build_ruleset(svcs, eps, o), nullptr, {}, o);
    if (!ipt->restore(text).is_ok()) return 1;
    full_change.push_back(ms(Clock::now() - t0));
  }

  // End to end through the Proxy and an in-process fake API.
  testing::FakeRestClient rest;
  client::Client client(rest);
  const auto* svc_t = api::find_kind("v1", "Service");
  const auto* ep_t = api::find_kind("v1", "Endpoints");
  for (int i = 0; i < n_svc; ++i) {
    if (!client.create(*svc_t, svcs[i]).is_ok() || !client.create(*ep_t, eps[i]).is_ok()) return 1;
  }
  (void)proxy::Proxy::cleanup(o);  // the Proxy starts on a fresh node
  WatchingIptables watching(*ipt);
  std::vector<double> e2e;
  double first_sync_ms = 0;
  {
    proxy::Proxy p(client, o, watching);
    auto t0 = Clock::now();
    if (!p.start().is_ok()) return 1;
    while (p.syncs() < 1 && Clock::now() - t0 < std::chrono::seconds(180))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    first_sync_ms = ms(Clock::now() - t0);
    for (int c = 0; c < changes; ++c) {
      int i = static_cast<int>(rng() % static_cast<unsigned>(n_svc));
      json e = endpoints(i, k, 1000 + c);  // generation ≠ any earlier one: a new IP
      std::string needle = "--to-destination " + e["subsets"][0]["addresses"][0]["ip"].get<std::string>() + ":8080";
      auto cur = client.get(*ep_t, "bench", "svc" + std::to_string(i));
      if (!cur) return 1;
      e["metadata"]["resourceVersion"] = (*cur)["metadata"]["resourceVersion"];
      std::this_thread::sleep_for(o.min_sync_interval + std::chrono::milliseconds(20));  // one change at a time
      watching.expect(needle);
      auto t1 = Clock::now();
      if (!client.update(*ep_t, e).is_ok()) return 1;
      Clock::time_point done;
      if (!watching.wait(done, std::chrono::seconds(10))) {
        std::fprintf(stderr, "change %d never reached the kernel\n", c);
        return 1;
      }
      e2e.push_back(ms(done - t1));
    }
  }
  (void)proxy::Proxy::cleanup(o);

  std::printf("| iptables-restore --noflush of the full ruleset, bare (baseline; %s = %zu rules, %zu KiB) | %.0f / %.0f / %.0f ms | |\n",
              label.c_str(), rules, full_text.size() / 1024, bare[0], bare[1], bare[2]);
  std::printf("| full resync: render + restore (%s), 3 runs | %.0f / %.0f / %.0f ms (render %.0f ms) | ≤ 1 s |\n",
              label.c_str(), full_total[0], full_total[1], full_total[2], pct(full_render, 0.5));
  std::printf("| one endpoint change, incremental render + restore, %d changes | p50 %.1f ms, p99 %.1f ms (render p50 %.1f ms) | p99 ≤ 50 ms |\n",
              changes, pct(partial, 0.5), pct(partial, 0.99), pct(partial_render, 0.5));
  std::printf("| bare iptables-restore --noflush of one small chain into the populated table (baseline for a change), 20 runs | p50 %.1f ms, p99 %.1f ms | |\n",
              pct(bare_small, 0.5), pct(bare_small, 0.99));
  std::printf("| one endpoint change, full re-render + restore, 5 changes | p50 %.0f ms, max %.0f ms | |\n",
              pct(full_change, 0.5), pct(full_change, 1.0));
  std::printf("| Proxy end to end: Endpoints update → informer → restore returned, %d changes | p50 %.1f ms, p99 %.1f ms | p99 ≤ 50 ms |\n",
              changes, pct(e2e, 0.5), pct(e2e, 0.99));
  std::printf("| Proxy start → first full sync (%s) | %.0f ms | |\n", label.c_str(), first_sync_ms);
  return 0;
}
