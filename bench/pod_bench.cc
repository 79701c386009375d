// pod_bench: pod start-up latency through the whole system — from the
// client's POST to the moment a watch shows the pod Running with every
// container running — for N pods created one after another and N created at
// once. Prints one JSON line per mode: {"mode":..,"n":..,"p50_ms":..,"p99_ms":..,"max_ms":..}.
// Usage: pod_bench --server URL [--image busybox:1.36] [--n 30] [--namespace default]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"

using namespace minik8s;
using Clock = std::chrono::steady_clock;

namespace {

bool running(const api::Json& pod) {
  if (pod.value("/status/phase"_json_pointer, std::string()) != "Running") return false;
  auto it = pod.find("status");
  if (it == pod.end() || !it->contains("containerStatuses")) return false;
  for (const auto& cs : (*it)["containerStatuses"]) {
    if (!cs.contains("state") || !cs["state"].contains("running")) return false;
  }
  return true;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Run {
  client::Client& c;
  const api::ResourceType* pods;
  std::string ns, image, mode;
  std::mutex mu;
  std::map<std::string, Clock::time_point> created, seen;

  api::Json pod(const std::string& name) {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"bench", mode}}}}},
            {"spec",
             {{"terminationGracePeriodSeconds", 0},
              {"containers",
               {{{"name", "c"}, {"image", image}, {"imagePullPolicy", "IfNotPresent"},
                 {"command", {"sleep", "3600"}}}}}}}};
  }

  bool go(int n, bool burst) {
    client::ListOptions lo;
    lo.label_selector = "bench=" + mode;
    auto list = c.list(*pods, ns, lo);
    if (!list) return false;
    lo.resource_version = (*list)["metadata"].value("resourceVersion", "");
    auto w = c.watch(*pods, ns, lo);
    if (!w) { std::fprintf(stderr, "watch: %s\n", w.status().to_string().c_str()); return false; }
    std::thread watcher([&] {
      while (true) {
        auto ev = (*w)->next(std::chrono::milliseconds(200));
        if (!ev) { if ((*w)->ended()) return; continue; }
        if (!ev->object) continue;
        auto name = ev->object->value("/metadata/name"_json_pointer, std::string());
        if (running(*ev->object)) {
          std::lock_guard<std::mutex> l(mu);
          if (!seen.count(name)) seen[name] = Clock::now();
        }
      }
    });
    auto create = [&](int i) {
      auto name = "bench-" + mode + "-" + std::to_string(i);
      auto t = Clock::now();
      { std::lock_guard<std::mutex> l(mu); created[name] = t; }
      auto r = c.create(*pods, pod(name), ns);
      if (!r) std::fprintf(stderr, "create %s: %s\n", name.c_str(), r.status().to_string().c_str());
    };
    auto wait_for = [&](size_t count, std::chrono::seconds limit) {
      auto deadline = Clock::now() + limit;
      while (Clock::now() < deadline) {
        { std::lock_guard<std::mutex> l(mu); if (seen.size() >= count) return true; }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      return false;
    };
    bool ok = true;
    if (burst) {
      std::vector<std::thread> ts;
      for (int i = 0; i < n; i++) ts.emplace_back(create, i);
      for (auto& t : ts) t.join();
      ok = wait_for(n, std::chrono::seconds(180));
    } else {
      for (int i = 0; i < n && ok; i++) {
        create(i);
        ok = wait_for(i + 1, std::chrono::seconds(60));
      }
    }
    (*w)->close();
    watcher.join();
    std::vector<double> ms;
    for (auto& [name, t] : seen) ms.push_back(std::chrono::duration<double, std::milli>(t - created[name]).count());
    std::printf("{\"mode\":\"%s\",\"n\":%zu,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,\"complete\":%s}\n",
                mode.c_str(), ms.size(), pct(ms, 0.5), pct(ms, 0.99), ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end()),
                ok ? "true" : "false");
    std::fflush(stdout);
    // Clean up and wait until the pods are gone.
    for (auto& [name, t] : created) {
      api::Json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0}};
      (void)c.remove(*pods, ns, name, &opts);
    }
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < deadline) {
      auto l = c.list(*pods, ns, lo);
      if (l && (*l)["items"].empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ok;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string server, image = "busybox:1.36", ns = "default";
  int n = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--server") server = argv[i + 1];
    else if (a == "--image") image = argv[i + 1];
    else if (a == "--n") n = std::atoi(argv[i + 1]);
    else if (a == "--namespace") ns = argv[i + 1];
  }
  if (server.empty()) { std::fprintf(stderr, "usage: pod_bench --server URL [--image I] [--n N]\n"); return 2; }
  auto rest = client::make_http_rest_client({server});
  if (!rest) { std::fprintf(stderr, "%s\n", rest.status().to_string().c_str()); return 1; }
  client::Client c(**rest);
  const auto* pods = api::find_resource("", "v1", "pods");
  Run seq{c, pods, ns, image, "seq", {}, {}, {}};
  bool ok = seq.go(n, false);
  Run burst{c, pods, ns, image, "burst", {}, {}, {}};
  ok = burst.go(n, true) && ok;
  return ok ? 0 : 1;
}
