// Kubelet: informer → one PodWorker thread per pod UID → CRI; a relister
// (PLEG) that diffs the runtime every relist_period and wakes workers; the
// status of each pod is computed by its worker from the runtime (the source
// of truth) and written through pods/status only when it changed; events go
// out on their own thread so that they never delay a pod start.
#include "minik8s/kubelet/kubelet.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/informer.h"
#include "minik8s/kubelet/parts.h"
#include "minik8s/util/time.h"
#include "labels.h"

namespace minik8s::kubelet {

namespace {

using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using TimePoint = Steady::time_point;
using std::chrono::milliseconds;
constexpr TimePoint kNever = TimePoint::max();
constexpr const char* kUidIndex = "uid";

const json& at(const json& j, const char* k) {
  static const json kNull;
  if (j.is_object()) {
    auto it = j.find(k);
    if (it != j.end()) return *it;
  }
  return kNull;
}
std::string sget(const json& j, const char* k) {
  const json& v = at(j, k);
  return v.is_string() ? v.get<std::string>() : "";
}
int64_t iget(const json& j, const char* k, int64_t d) {
  const json& v = at(j, k);
  return v.is_number_integer() ? v.get<int64_t>() : d;
}
const json& meta(const json& pod) { return at(pod, "metadata"); }
const json& spec(const json& pod) { return at(pod, "spec"); }
std::string pod_uid(const json& pod) { return sget(meta(pod), "uid"); }
cri::ContainerFilter by_labels(cri::Labels labels) {
  cri::ContainerFilter f;
  f.label_selector = std::move(labels);
  return f;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::string rfc3339_ns(int64_t ns) {
  return format_rfc3339(SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(ns))));
}
std::string now_rfc3339() { return format_rfc3339(std::chrono::system_clock::now()); }
// Steady time point at which the wall-clock instant ns (since epoch) happens.
TimePoint steady_at_ns(int64_t ns) {
  return Steady::now() + std::chrono::nanoseconds(ns - now_ns());
}

// Go's time.Duration formatting for the CrashLoopBackOff message: "10s", "1m20s", "5m0s", "200ms".
std::string go_duration(milliseconds d) {
  int64_t ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t h = ms / 3600000, m = ms / 60000 % 60;
  std::string secs = std::to_string(ms / 1000 % 60);
  if (ms % 1000) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%03lld", static_cast<long long>(ms % 1000));
    std::string frac = buf;
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    secs += "." + frac;
  }
  std::string out;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  return out + secs + "s";
}

std::string fnv1a_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}
std::string container_hash(const json& c) { return fnv1a_hex(c.dump()); }

// imagePullPolicy with Kubernetes' default: Always for ":latest" or no tag, else IfNotPresent.
std::string pull_policy(const json& c) {
  std::string p = sget(c, "imagePullPolicy");
  if (!p.empty()) return p;
  std::string image = sget(c, "image");
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  bool has_tag = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (!has_tag || image.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

bool want_restart(const std::string& policy, int32_t exit_code, bool init) {
  if (policy == "Never") return false;
  if (policy == "OnFailure" || init) return exit_code != 0;
  return true;  // Always
}

std::string terminated_reason(const cri::ContainerStatus& st) {
  if (!st.reason.empty()) return st.reason;
  return st.exit_code == 0 ? "Completed" : "Error";
}

json terminated_json(const cri::ContainerStatus& st) {
  json t = {{"exitCode", st.exit_code},
            {"reason", terminated_reason(st)},
            {"startedAt", st.started_at ? json(rfc3339_ns(st.started_at)) : json(nullptr)},
            {"finishedAt", st.finished_at ? json(rfc3339_ns(st.finished_at)) : json(nullptr)},
            {"containerID", "containerd://" + st.container.id}};
  if (!st.message.empty()) t["message"] = st.message;
  return t;
}

uint32_t restart_count_of(const cri::Container& c) {
  auto it = c.annotations.find(kRestartCountAnnotation);
  if (it != c.annotations.end()) {
    try {
      return static_cast<uint32_t>(std::stoul(it->second));
    } catch (...) {
    }
  }
  return c.attempt;
}

// Newest first: by restart count, then creation time.
void sort_newest_first(std::vector<cri::Container>& v) {
  std::sort(v.begin(), v.end(), [](const cri::Container& a, const cri::Container& b) {
    uint32_t ra = restart_count_of(a), rb = restart_count_of(b);
    if (ra != rb) return ra > rb;
    return a.created_at > b.created_at;
  });
}

cri::DnsConfig host_dns() {
  cri::DnsConfig d;
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, v;
    ls >> key;
    if (key == "nameserver") {
      if (ls >> v) d.servers.push_back(v);
    } else if (key == "search") {
      while (ls >> v) d.searches.push_back(v);
    } else if (key == "options") {
      while (ls >> v) d.options.push_back(v);
    }
  }
  return d;
}

struct ProbeTrack {
  int successes = 0;
  int failures = 0;
  TimePoint next{};
};

// Worker-side state of one container of the pod (by name).
struct ContainerState {
  std::string waiting_reason;   // ErrImagePull, CreateContainerError, ... ("" = none)
  std::string waiting_message;
  std::string pull_error;       // the runtime's last pull error
  TimePoint retry_at{};         // after a failure: no new attempt before this
  milliseconds fail_backoff{0};
  milliseconds crash_backoff{0};
  bool backoff_event_sent = false;
  bool restart_requested = false;  // spec changed / probe kill: restart whatever the policy
  // Probes, for the instance probe_cid.
  std::string probe_cid;
  ProbeTrack live, ready, startup;
  bool started = false;
  bool ready_flag = false;
};

}  // namespace

struct PodWorker;

struct KubeletCore {
  KubeletCore(client::Client& c, cri::Runtime& r, KubeletOptions o);

  client::Client& client;
  cri::Runtime& runtime;
  KubeletOptions opts;  // cluster_dns/cluster_domain set before start(), then read-only
  const api::ResourceType* pod_type;
  const api::ResourceType* event_type;
  VolumeManager volumes;
  PodCgroups cgroups;
  Prober prober;

  // Set in start(), reset in stop(); read from workers, the relister and the
  // HTTP threads (find_container) through current_informer().
  std::mutex informer_mu;
  std::shared_ptr<client::Informer> informer;  // guarded by informer_mu
  std::shared_ptr<client::Informer> current_informer() {
    std::lock_guard l(informer_mu);
    return informer;
  }
  std::atomic<bool> running{false};

  // Workers, by pod uid.
  std::mutex workers_mu;
  std::map<std::string, std::shared_ptr<PodWorker>> workers;  // guarded by workers_mu

  // Relister.
  std::mutex relist_mu;
  std::condition_variable relist_cv;
  bool relist_stop = false;  // guarded by relist_mu
  std::thread relister;
  std::map<std::string, std::pair<std::string, int>> last_seen;  // relister thread only: id → (uid, state)

  // Stats, sampled by the relister.
  struct Sample {
    std::string uid, pod, ns, name;
    uint64_t cpu = 0, mem = 0;
    int64_t ts = 0;
    uint64_t nano_cores = 0;
  };
  std::mutex stats_mu;
  std::map<std::string, Sample> stats;  // container id → sample; guarded by stats_mu

  // Images whose pull failed but which are present locally (offline machines):
  // used without pulling again for a while.
  std::mutex images_mu;
  std::map<std::string, TimePoint> pull_failed;  // guarded by images_mu

  // Events.
  std::mutex events_mu;
  std::condition_variable events_cv;
  std::deque<json> events_q;  // guarded by events_mu
  bool events_stop = false;   // guarded by events_mu
  std::thread events_thread;
  std::atomic<uint64_t> event_seq{0};

  void dispatch(const client::ObjectPtr& pod, bool wake);
  void admit(const json& pod, PodWorker& w);
  void on_deleted(const client::ObjectPtr& pod);
  void relist_loop();
  void relist_once(bool wake);
  void sample_stats(const std::vector<cri::Container>& containers);
  void reap_workers();
  void events_loop();
  void event(const json& pod, const std::string& type, const std::string& reason, const std::string& message,
             const std::string& field_path = "");
  void stop_all();
};

// One pod: a thread that syncs the latest desired spec whenever woken (by the
// informer, the relister, or its own timers for back-off and probes).
struct PodWorker {
  PodWorker(KubeletCore& k, std::string uid) : k(k), uid(std::move(uid)) {}

  void start() { thread = std::thread([this] { loop(); }); }
  void update(client::ObjectPtr pod, bool wake_now) {
    std::lock_guard l(mu);
    if (!deleted) desired = std::move(pod);
    if (wake_now) {
      dirty = true;
      cv.notify_one();
    }
  }
  void mark_deleted(client::ObjectPtr last) {
    std::lock_guard l(mu);
    deleted = true;
    if (last) desired = std::move(last);
    dirty = true;
    cv.notify_one();
  }
  void wake() {
    std::lock_guard l(mu);
    dirty = true;
    cv.notify_one();
  }
  void request_stop() {
    std::lock_guard l(mu);
    stopping = true;
    cv.notify_one();
  }
  bool is_finished() {
    std::lock_guard l(mu);
    return finished;
  }
  bool is_active() {
    std::lock_guard l(mu);
    return !rejected && !finished && !deleted && desired && !meta(*desired).contains("deletionTimestamp");
  }
  // Counts against max_pods: admitted, still in the API, not in a terminal phase.
  bool holds_pod_slot() {
    std::lock_guard l(mu);
    if (rejected || finished || deleted || !desired) return false;
    std::string phase = sget(at(*desired, "status"), "phase");
    return phase != "Succeeded" && phase != "Failed";
  }

  void loop();
  TimePoint sync(const client::ObjectPtr& pod, bool deleted);
  // Returns true when the pod is fully gone from the node (and the API).
  bool terminate(const client::ObjectPtr& pod, bool deleted);

  // sync helpers
  cri::SandboxConfig sandbox_config(const json& pod, uint32_t attempt) const;
  bool ensure_image(const json& pod, const json& c, ContainerState& cs, const cri::SandboxConfig& sb_cfg,
                    const std::string& field_path);
  void start_container(const json& pod, const json& c, bool init, uint32_t attempt, ContainerState& cs,
                       const std::string& field_path, TimePoint& next);
  void fail(ContainerState& cs, const std::string& reason, const std::string& message);
  void run_probes(const json& pod, const json& c, const cri::ContainerStatus& st, ContainerState& cs,
                  const std::string& field_path, TimePoint& next, bool& killed);
  json compute_status(const json& pod, const std::map<std::string, std::vector<cri::Container>>& by_name,
                      bool initialized_hint);
  void write_status(const json& pod, const json& status, TimePoint& next);
  Result<cri::ContainerStatus> status_of(const std::string& id);

  KubeletCore& k;
  const std::string uid;

  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu:
  client::ObjectPtr desired;
  bool deleted = false;   // gone from the API (or an orphan)
  bool dirty = true;
  bool stopping = false;
  bool finished = false;  // cleaned up; the thread has exited
  // Set before start() (admission): the pod is refused (OutOfpods) and never run.
  bool rejected = false;
  std::string reject_reason, reject_message;

  std::thread thread;

  // Worker thread only:
  std::map<std::string, ContainerState> cstates;
  std::string sandbox_id;
  std::string pod_ip;
  cri::SandboxConfig sb_cfg;
  bool volumes_ready = false;
  std::map<std::string, HostVolume> volume_paths;
  TimePoint volumes_refresh_at{};  // configMap/secret contents are rewritten from then on
  std::string volumes_refresh_error;
  TimePoint sandbox_retry_at{};
  milliseconds sandbox_backoff{0};
  std::optional<json> last_written;
  int64_t last_written_rv = 0;  // resourceVersion our last status write produced (0: none yet)
  std::string start_time;
  std::map<std::string, cri::ContainerStatus> status_cache;  // per sync
};

// ---------------------------------------------------------------- Impl

KubeletCore::KubeletCore(client::Client& c, cri::Runtime& r, KubeletOptions o)
    : client(c),
      runtime(r),
      opts(std::move(o)),
      pod_type(api::find_kind("v1", "Pod")),
      event_type(api::find_kind("v1", "Event")),
      volumes(c, opts.root_dir.empty() ? std::string("/var/lib/minik8s/kubelet") : opts.root_dir),
      cgroups(opts.cgroup_fs, opts.cgroup_root),
      prober(r) {}

void KubeletCore::dispatch(const client::ObjectPtr& pod, bool wake) {
  std::string uid = pod_uid(*pod);
  if (uid.empty()) return;
  std::shared_ptr<PodWorker> w;
  bool created = false;
  {
    std::lock_guard l(workers_mu);
    auto it = workers.find(uid);
    if (it == workers.end()) {
      w = std::make_shared<PodWorker>(*this, uid);
      w->desired = pod;
      admit(*pod, *w);
      workers[uid] = w;
      created = true;
    } else {
      w = it->second;
    }
  }
  if (created) {
    if (w->rejected && sget(at(*pod, "status"), "reason") != w->reject_reason) {
      event(*pod, "Warning", w->reject_reason, w->reject_message);
    }
    w->start();
  } else {
    w->update(pod, wake);
  }
}

// Admission of a pod new to this kubelet (workers_mu held; w not started
// yet): like the kubelet's predicate admit handler for the pod count, a pod
// beyond max_pods is rejected — phase Failed, reason OutOfpods — and never
// run. A pod rejected before (e.g. by an earlier kubelet) stays rejected.
void KubeletCore::admit(const json& pod, PodWorker& w) {
  const json& st = at(pod, "status");
  std::string phase = sget(st, "phase");
  if (phase == "Failed" && sget(st, "reason") == "OutOfpods") {
    w.rejected = true;
    w.reject_reason = "OutOfpods";
    w.reject_message = sget(st, "message");
    return;
  }
  if (phase == "Succeeded" || phase == "Failed" || meta(pod).contains("deletionTimestamp")) return;
  if (opts.max_pods <= 0) return;
  int64_t used = 0;
  for (auto& [u, other] : workers) used += other->holds_pod_slot();
  if (used + 1 <= opts.max_pods) return;
  w.rejected = true;
  w.reject_reason = "OutOfpods";
  w.reject_message = "Node didn't have enough resource: pods, requested: 1, used: " + std::to_string(used) +
                     ", capacity: " + std::to_string(opts.max_pods);
  spdlog::info("kubelet: pod {}/{} rejected: {}", sget(meta(pod), "namespace"), sget(meta(pod), "name"),
               w.reject_message);
}

void KubeletCore::on_deleted(const client::ObjectPtr& pod) {
  std::string uid = pod_uid(*pod);
  std::shared_ptr<PodWorker> w;
  {
    std::lock_guard l(workers_mu);
    auto it = workers.find(uid);
    if (it != workers.end()) w = it->second;
  }
  if (w) w->mark_deleted(pod);
}

void KubeletCore::event(const json& pod, const std::string& type, const std::string& reason,
                          const std::string& message, const std::string& field_path) {
  const json& m = meta(pod);
  std::string name = sget(m, "name"), ns = sget(m, "namespace");
  if (name.empty()) return;
  if (ns.empty()) ns = "default";
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%llx%llx", static_cast<unsigned long long>(now_ns()),
                static_cast<unsigned long long>(event_seq.fetch_add(1) & 0xff));
  std::string now = now_rfc3339();
  json involved = {{"kind", "Pod"}, {"namespace", ns}, {"name", name}, {"uid", sget(m, "uid")}, {"apiVersion", "v1"}};
  if (!sget(m, "resourceVersion").empty()) involved["resourceVersion"] = sget(m, "resourceVersion");
  if (!field_path.empty()) involved["fieldPath"] = field_path;
  json ev = {{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name + suffix}, {"namespace", ns}}},
             {"involvedObject", involved},
             {"reason", reason},
             {"message", message},
             {"type", type},
             {"source", {{"component", "kubelet"}, {"host", opts.node_name}}},
             {"firstTimestamp", now},
             {"lastTimestamp", now},
             {"count", 1},
             {"reportingComponent", "kubelet"},
             {"reportingInstance", opts.node_name}};
  std::lock_guard l(events_mu);
  if (events_q.size() > 1000) events_q.pop_front();
  events_q.push_back(std::move(ev));
  events_cv.notify_one();
}

void KubeletCore::events_loop() {
  std::unique_lock l(events_mu);
  while (true) {
    events_cv.wait(l, [&] { return events_stop || !events_q.empty(); });
    if (events_q.empty()) return;  // stopping, queue drained
    json ev = std::move(events_q.front());
    events_q.pop_front();
    l.unlock();
    if (event_type) {
      auto r = client.create(*event_type, ev, sget(ev["metadata"], "namespace"));
      if (!r) spdlog::debug("kubelet: event {} not recorded: {}", sget(ev, "reason"), r.status().to_string());
    }
    l.lock();
  }
}

void KubeletCore::relist_loop() {
  std::unique_lock l(relist_mu);
  while (!relist_stop) {
    relist_cv.wait_for(l, opts.relist_period, [&] { return relist_stop; });
    if (relist_stop) break;
    l.unlock();
    relist_once(true);
    reap_workers();
    l.lock();
  }
}

void KubeletCore::relist_once(bool wake) {
  cri::Labels mine = {{kNodeLabel, opts.node_name}};
  auto sbs = runtime.list_pod_sandboxes(mine);
  auto cts = runtime.list_containers(by_labels(mine));
  if (!sbs || !cts) {
    spdlog::warn("kubelet: relist failed: {}", (!sbs ? sbs.status() : cts.status()).to_string());
    return;
  }
  std::map<std::string, std::pair<std::string, int>> seen;
  std::map<std::string, std::pair<std::string, std::string>> uid_names;  // uid → (ns, name)
  for (const auto& s : *sbs) {
    auto u = s.labels.find(kPodUidLabel);
    if (u == s.labels.end()) continue;
    seen["sb:" + s.id] = {u->second, static_cast<int>(s.state)};
    uid_names[u->second] = {s.namespace_, s.name};
  }
  for (const auto& c : *cts) {
    auto u = c.labels.find(kPodUidLabel);
    if (u == c.labels.end()) continue;
    seen["ct:" + c.id] = {u->second, static_cast<int>(c.state)};
    if (!uid_names.count(u->second)) {
      auto n = c.labels.find(kPodNameLabel), ns = c.labels.find(kPodNamespaceLabel);
      uid_names[u->second] = {ns == c.labels.end() ? "" : ns->second, n == c.labels.end() ? "" : n->second};
    }
  }
  std::set<std::string> changed;
  for (const auto& [id, v] : seen) {
    auto it = last_seen.find(id);
    if (it == last_seen.end() || it->second.second != v.second) changed.insert(v.first);
  }
  for (const auto& [id, v] : last_seen) {
    if (!seen.count(id)) changed.insert(v.first);
  }
  last_seen = std::move(seen);

  std::vector<std::shared_ptr<PodWorker>> to_wake;
  std::vector<std::shared_ptr<PodWorker>> to_start;
  auto inf = current_informer();
  bool synced = inf && inf->has_synced();
  {
    std::lock_guard l(workers_mu);
    if (wake) {
      for (const auto& uid : changed) {
        auto it = workers.find(uid);
        if (it != workers.end()) to_wake.push_back(it->second);
      }
    }
    // Orphans: runtime objects of ours whose pod is not in the API (anymore).
    if (synced && running) {
      for (const auto& [uid, names] : uid_names) {
        if (workers.count(uid)) continue;
        if (!inf->indexer().by_index(kUidIndex, uid).empty()) continue;
        auto w = std::make_shared<PodWorker>(*this, uid);
        json stub = {{"metadata", {{"uid", uid}, {"name", names.second}, {"namespace", names.first}}}};
        w->desired = std::make_shared<const json>(std::move(stub));
        w->deleted = true;
        workers[uid] = w;
        to_start.push_back(w);
        spdlog::info("kubelet: cleaning up orphaned pod {}/{} ({})", names.first, names.second, uid);
      }
    }
  }
  for (auto& w : to_wake) w->wake();
  for (auto& w : to_start) w->start();
  sample_stats(*cts);
}

void KubeletCore::sample_stats(const std::vector<cri::Container>& containers) {
  auto st = runtime.list_container_stats();
  if (!st) return;
  std::map<std::string, const cri::Container*> by_id;
  for (const auto& c : containers) by_id[c.id] = &c;
  std::lock_guard l(stats_mu);
  std::map<std::string, Sample> next;
  for (const auto& s : *st) {
    auto c = by_id.find(s.id);
    if (c == by_id.end()) continue;  // not ours
    const auto& labels = c->second->labels;
    auto lab = [&](const char* k) {
      auto it = labels.find(k);
      return it == labels.end() ? std::string() : it->second;
    };
    Sample smp;
    smp.uid = lab(kPodUidLabel);
    smp.pod = lab(kPodNameLabel);
    smp.ns = lab(kPodNamespaceLabel);
    smp.name = c->second->name;
    smp.cpu = s.cpu_usage_core_nanos;
    smp.mem = s.memory_working_set_bytes;
    smp.ts = s.timestamp ? s.timestamp : now_ns();
    auto prev = stats.find(s.id);
    if (prev != stats.end()) {
      smp.nano_cores = prev->second.nano_cores;
      if (smp.ts > prev->second.ts && smp.cpu >= prev->second.cpu) {
        smp.nano_cores = static_cast<uint64_t>(static_cast<double>(smp.cpu - prev->second.cpu) * 1e9 /
                                               static_cast<double>(smp.ts - prev->second.ts));
      }
    }
    next[s.id] = smp;
  }
  stats = std::move(next);
}

void KubeletCore::reap_workers() {
  std::vector<std::shared_ptr<PodWorker>> done;
  auto inf = current_informer();
  {
    std::lock_guard l(workers_mu);
    for (auto it = workers.begin(); it != workers.end();) {
      bool gone = inf && inf->indexer().by_index(kUidIndex, it->first).empty();
      if (gone && it->second->is_finished()) {
        done.push_back(it->second);
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : done) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void KubeletCore::stop_all() {
  std::vector<std::shared_ptr<PodWorker>> all;
  {
    std::lock_guard l(workers_mu);
    for (auto& [uid, w] : workers) all.push_back(w);
    workers.clear();
  }
  for (auto& w : all) w->request_stop();
  for (auto& w : all) {
    if (w->thread.joinable()) w->thread.join();
  }
}

// ---------------------------------------------------------------- PodWorker

void PodWorker::loop() {
  TimePoint next = Steady::now();
  while (true) {
    client::ObjectPtr pod;
    bool gone;
    {
      std::unique_lock l(mu);
      if (next == kNever) {
        cv.wait(l, [&] { return dirty || stopping; });
      } else {
        cv.wait_until(l, next, [&] { return dirty || stopping; });
      }
      if (stopping) return;
      dirty = false;
      pod = desired;
      gone = deleted;
    }
    bool terminating = !pod || gone || meta(*pod).contains("deletionTimestamp");
    if (terminating) {
      if (terminate(pod, gone)) {
        std::lock_guard l(mu);
        finished = true;
        return;
      }
      next = Steady::now() + milliseconds(1000);
      continue;
    }
    status_cache.clear();
    next = sync(pod, gone);
    TimePoint resync = Steady::now() + k.opts.status_resync;
    if (next > resync) next = resync;
  }
}

Result<cri::ContainerStatus> PodWorker::status_of(const std::string& id) {
  auto it = status_cache.find(id);
  if (it != status_cache.end()) return it->second;
  auto r = k.runtime.container_status(id);
  if (r) status_cache[id] = *r;
  return r;
}

cri::SandboxConfig PodWorker::sandbox_config(const json& pod, uint32_t attempt) const {
  const json& m = meta(pod);
  const json& s = spec(pod);
  cri::SandboxConfig c;
  c.name = sget(m, "name");
  c.uid = uid;
  c.namespace_ = sget(m, "namespace");
  if (c.namespace_.empty()) c.namespace_ = "default";
  c.attempt = attempt;
  c.hostname = sget(s, "hostname");
  if (c.hostname.empty()) c.hostname = c.name;
  if (c.hostname.size() > 63) c.hostname.resize(63);
  std::string log_root = k.opts.pod_log_dir;
  if (log_root.empty()) log_root = (k.opts.root_dir.empty() ? std::string("/var/log") : k.opts.root_dir) + "/pods";
  c.log_directory = log_root + "/" + c.namespace_ + "_" + c.name + "_" + uid;
  c.host_network = at(s, "hostNetwork").is_boolean() && at(s, "hostNetwork").get<bool>();
  std::string dns_policy = sget(s, "dnsPolicy");
  if (dns_policy.empty()) dns_policy = "ClusterFirst";
  if (dns_policy == "ClusterFirst" && c.host_network) dns_policy = "Default";
  if (dns_policy == "ClusterFirstWithHostNet") dns_policy = "ClusterFirst";
  if (dns_policy == "ClusterFirst" && !k.opts.cluster_dns.empty()) {
    const std::string& d = k.opts.cluster_domain;
    c.dns.servers = k.opts.cluster_dns;
    c.dns.searches = {c.namespace_ + ".svc." + d, "svc." + d, d};
    c.dns.options = {"ndots:5"};
  } else if (dns_policy != "None") {
    c.dns = host_dns();
  }
  const json& dc = at(s, "dnsConfig");
  for (const auto& v : at(dc, "nameservers")) {
    if (v.is_string()) c.dns.servers.push_back(v.get<std::string>());
  }
  for (const auto& v : at(dc, "searches")) {
    if (v.is_string()) c.dns.searches.push_back(v.get<std::string>());
  }
  for (const auto& o : at(dc, "options")) {
    std::string n = sget(o, "name");
    if (n.empty()) continue;
    std::string v = sget(o, "value");
    c.dns.options.erase(std::remove_if(c.dns.options.begin(), c.dns.options.end(),
                                       [&](const std::string& x) { return x == n || x.rfind(n + ":", 0) == 0; }),
                        c.dns.options.end());
    c.dns.options.push_back(v.empty() ? n : n + ":" + v);
  }
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& ct : at(s, list)) {
      for (const auto& p : at(ct, "ports")) {
        int64_t hp = iget(p, "hostPort", 0);
        if (hp <= 0) continue;
        cri::PortMapping pm;
        pm.protocol = sget(p, "protocol").empty() ? "TCP" : sget(p, "protocol");
        pm.container_port = static_cast<int32_t>(iget(p, "containerPort", 0));
        pm.host_port = static_cast<int32_t>(hp);
        pm.host_ip = sget(p, "hostIP");
        c.port_mappings.push_back(pm);
      }
    }
  }
  const json& pod_labels = at(m, "labels");
  if (pod_labels.is_object()) {
    for (const auto& [key, v] : pod_labels.items()) {
      if (v.is_string()) c.labels[key] = v.get<std::string>();
    }
  }
  c.labels[kPodNameLabel] = c.name;
  c.labels[kPodNamespaceLabel] = c.namespace_;
  c.labels[kPodUidLabel] = uid;
  c.labels[kNodeLabel] = k.opts.node_name;
  const json& ann = at(m, "annotations");
  if (ann.is_object()) {
    for (const auto& [key, v] : ann.items()) {
      if (v.is_string()) c.annotations[key] = v.get<std::string>();
    }
  }
  c.cgroup_parent = k.cgroups.parent_for(uid);
  return c;
}

void PodWorker::fail(ContainerState& cs, const std::string& reason, const std::string& message) {
  cs.waiting_reason = reason;
  cs.waiting_message = message;
  cs.fail_backoff = cs.fail_backoff.count() == 0 ? k.opts.backoff_initial
                                                 : std::min(cs.fail_backoff * 2, k.opts.backoff_max);
  cs.retry_at = Steady::now() + cs.fail_backoff;
  cs.backoff_event_sent = false;
}

bool PodWorker::ensure_image(const json& pod, const json& c, ContainerState& cs, const cri::SandboxConfig& sb,
                             const std::string& fp) {
  std::string image = sget(c, "image");
  std::string policy = pull_policy(c);
  auto present_r = k.runtime.image_status(image);
  bool present = present_r && present_r->has_value();
  if (policy == "Never") {
    if (present) return true;
    std::string msg = "Container image \"" + image + "\" is not present with pull policy of Never";
    k.event(pod, "Warning", "ErrImageNeverPull", msg, fp);
    fail(cs, "ErrImageNeverPull", msg);
    return false;
  }
  if (present && policy == "IfNotPresent") {
    k.event(pod, "Normal", "Pulled", "Container image \"" + image + "\" already present on machine", fp);
    return true;
  }
  if (present) {
    std::lock_guard l(k.images_mu);
    auto it = k.pull_failed.find(image);
    if (it != k.pull_failed.end() && Steady::now() < it->second) return true;  // offline: use the local copy
  }
  k.event(pod, "Normal", "Pulling", "Pulling image \"" + image + "\"", fp);
  auto t0 = Steady::now();
  auto r = k.runtime.pull_image(image, &sb);
  if (r) {
    auto ms = std::chrono::duration_cast<milliseconds>(Steady::now() - t0);
    k.event(pod, "Normal", "Pulled",
            "Successfully pulled image \"" + image + "\" in " + go_duration(ms), fp);
    return true;
  }
  std::string msg = r.status().message();
  if (present) {
    {
      std::lock_guard l(k.images_mu);
      k.pull_failed[image] = Steady::now() + std::chrono::minutes(10);
    }
    k.event(pod, "Warning", "FailedPullUsingLocal",
            "Failed to pull image \"" + image + "\": " + msg + "; using the image present on the node", fp);
    return true;
  }
  k.event(pod, "Warning", "Failed", "Failed to pull image \"" + image + "\": " + msg, fp);
  k.event(pod, "Warning", "Failed", "Error: ErrImagePull", fp);
  cs.pull_error = msg;
  fail(cs, "ErrImagePull", msg);
  return false;
}

void PodWorker::start_container(const json& pod, const json& c, bool init, uint32_t attempt, ContainerState& cs,
                                const std::string& fp, TimePoint& next) {
  auto now = Steady::now();
  std::string name = sget(c, "name");
  if (!cs.waiting_reason.empty() && now < cs.retry_at) {
    // Still backing off after a failure.
    if (cs.waiting_reason == "ErrImagePull" || cs.waiting_reason == "ImagePullBackOff") {
      std::string image = sget(c, "image");
      cs.waiting_reason = "ImagePullBackOff";
      cs.waiting_message = "Back-off pulling image \"" + image + "\": ErrImagePull: " + cs.pull_error;
      if (!cs.backoff_event_sent) {
        k.event(pod, "Normal", "BackOff", "Back-off pulling image \"" + image + "\"", fp);
        cs.backoff_event_sent = true;
      }
    }
    next = std::min(next, cs.retry_at);
    return;
  }
  if (!ensure_image(pod, c, cs, sb_cfg, fp)) {
    // Flip ErrImagePull → ImagePullBackOff at the next look, as the kubelet's resync does.
    next = std::min({next, cs.retry_at, Steady::now() + std::min(k.opts.relist_period, cs.fail_backoff / 2)});
    return;
  }
  EnvContext ctx{pod_ip, k.opts.node_ip, k.opts.node_name};
  auto env = resolve_env(pod, c, ctx, k.client);
  if (!env) {
    k.event(pod, "Warning", "Failed", "Error: " + env.status().message(), fp);
    fail(cs, "CreateContainerConfigError", env.status().message());
    next = std::min(next, cs.retry_at);
    return;
  }
  auto mounts = container_mounts(c, volume_paths, k.volumes.subpath_dir(uid));
  if (!mounts) {
    k.event(pod, "Warning", "Failed", "Error: " + mounts.status().message(), fp);
    fail(cs, "CreateContainerConfigError", mounts.status().message());
    next = std::min(next, cs.retry_at);
    return;
  }
  cri::ContainerConfig cc;
  cc.name = name;
  cc.attempt = attempt;
  cc.image = sget(c, "image");
  for (const auto& v : at(c, "command")) {
    if (v.is_string()) cc.command.push_back(v.get<std::string>());
  }
  for (const auto& v : at(c, "args")) {
    if (v.is_string()) cc.args.push_back(v.get<std::string>());
  }
  // $(VAR) in command and args come from the container's env, as in Kubernetes.
  cc.command = expand_command(cc.command, *env);
  cc.args = expand_command(cc.args, *env);
  cc.working_dir = sget(c, "workingDir");
  cc.envs = std::move(*env);
  cc.mounts = std::move(*mounts);
  cc.labels = {{kPodNameLabel, sb_cfg.name},
               {kPodNamespaceLabel, sb_cfg.namespace_},
               {kPodUidLabel, uid},
               {kContainerNameLabel, name},
               {kNodeLabel, k.opts.node_name},
               {kContainerTypeLabel, init ? "init" : "regular"}};
  cc.annotations = {{kRestartCountAnnotation, std::to_string(attempt)}, {kHashAnnotation, container_hash(c)}};
  cc.log_path = name + "/" + std::to_string(attempt) + ".log";
  std::error_code ec;
  std::filesystem::create_directories(sb_cfg.log_directory + "/" + name, ec);
  auto flag = [&](const char* key) { return at(c, key).is_boolean() && at(c, key).get<bool>(); };
  cc.stdin_ = flag("stdin");
  cc.stdin_once = flag("stdinOnce");
  cc.tty = flag("tty");
  cc.resources = container_resources(pod, c);
  auto id = k.runtime.create_container(sandbox_id, cc, sb_cfg);
  if (!id) {
    k.event(pod, "Warning", "Failed", "Error: " + id.status().message(), fp);
    fail(cs, "CreateContainerError", id.status().message());
    next = std::min(next, cs.retry_at);
    return;
  }
  k.event(pod, "Normal", "Created", "Created container " + name, fp);
  if (auto st = k.runtime.start_container(*id); !st) {
    k.event(pod, "Warning", "Failed", "Error: " + st.message(), fp);
    fail(cs, "RunContainerError", st.message());
    (void)k.runtime.remove_container(*id);
    next = std::min(next, cs.retry_at);
    return;
  }
  k.event(pod, "Normal", "Started", "Started container " + name, fp);
  cs.waiting_reason.clear();
  cs.waiting_message.clear();
  cs.fail_backoff = milliseconds(0);
  cs.backoff_event_sent = false;
  cs.restart_requested = false;
  if (attempt < 2) return;  // nothing older than the previous instance can exist
  // Keep the previous instance (lastState, logs --previous); remove older dead ones.
  auto all = k.runtime.list_containers(
      by_labels({{kPodUidLabel, uid}, {kContainerNameLabel, name}}));
  if (all) {
    sort_newest_first(*all);
    for (size_t i = 2; i < all->size(); ++i) {
      if ((*all)[i].state != cri::ContainerState::kRunning) (void)k.runtime.remove_container((*all)[i].id);
    }
  }
}

void PodWorker::run_probes(const json& pod, const json& c, const cri::ContainerStatus& st, ContainerState& cs,
                           const std::string& fp, TimePoint& next, bool& killed) {
  const json& startup = at(c, "startupProbe");
  const json& live = at(c, "livenessProbe");
  const json& ready = at(c, "readinessProbe");
  const std::string& cid = st.container.id;
  if (cs.probe_cid != cid) {
    cs.probe_cid = cid;
    cs.started = !startup.is_object();
    cs.ready_flag = cs.started && !ready.is_object();
    const std::pair<const json*, ProbeTrack*> tracks[] = {{&startup, &cs.startup}, {&live, &cs.live}, {&ready, &cs.ready}};
    for (const auto& [p, t] : tracks) {
      *t = ProbeTrack{};
      t->next = steady_at_ns(st.started_at + iget(*p, "initialDelaySeconds", 0) * 1000000000LL);
    }
  }
  auto now = Steady::now();
  auto run_one = [&](const json& probe, ProbeTrack& t, const char* kind) -> std::optional<bool> {
    if (!probe.is_object()) return std::nullopt;
    if (now < t.next) {
      next = std::min(next, t.next);
      return std::nullopt;
    }
    int64_t period = std::max<int64_t>(1, iget(probe, "periodSeconds", 10));
    auto res = k.prober.run(probe, c, pod_ip, cid);
    t.next = Steady::now() + std::chrono::seconds(period);
    next = std::min(next, t.next);
    if (res.outcome == ProbeOutcome::kSuccess) {
      ++t.successes;
      t.failures = 0;
      return true;
    }
    ++t.failures;
    t.successes = 0;
    k.event(pod, "Warning", "Unhealthy", std::string(kind) + " probe failed: " + res.message, fp);
    return false;
  };
  auto threshold = [](const json& p, const char* key, int64_t d) { return std::max<int64_t>(1, iget(p, key, d)); };
  auto kill = [&](const std::string& why) {
    std::string name = sget(c, "name");
    k.event(pod, "Normal", "Killing", "Container " + name + " failed " + why + " probe, will be restarted", fp);
    int64_t grace = iget(spec(pod), "terminationGracePeriodSeconds", 30);
    (void)k.runtime.stop_container(cid, grace);
    killed = true;
  };
  if (!cs.started) {
    auto r = run_one(startup, cs.startup, "Startup");
    if (r && *r && cs.startup.successes >= 1) {
      cs.started = true;
      cs.ready_flag = !ready.is_object();
      // liveness/readiness start now (their initial delay counted from container start).
      now = Steady::now();
    } else if (r && !*r && cs.startup.failures >= threshold(startup, "failureThreshold", 3)) {
      kill("startup");
      return;
    }
    if (!cs.started) return;
  }
  if (auto r = run_one(live, cs.live, "Liveness"); r && !*r) {
    if (cs.live.failures >= threshold(live, "failureThreshold", 3)) {
      kill("liveness");
      return;
    }
  }
  if (auto r = run_one(ready, cs.ready, "Readiness")) {
    if (*r && cs.ready.successes >= threshold(ready, "successThreshold", 1)) cs.ready_flag = true;
    if (!*r && cs.ready.failures >= threshold(ready, "failureThreshold", 3)) cs.ready_flag = false;
  }
}

TimePoint PodWorker::sync(const client::ObjectPtr& podp, bool /*deleted*/) {
  const json& pod = *podp;
  const json& s = spec(pod);
  const std::string policy = sget(s, "restartPolicy").empty() ? "Always" : sget(s, "restartPolicy");
  TimePoint next = kNever;
  auto now = Steady::now();
  if (!last_written) {
    // Adoption / first sight: what the API has is what we last wrote.
    const json& st = at(pod, "status");
    if (st.is_object()) last_written = st;
    start_time = sget(st, "startTime");
  }
  if (start_time.empty()) start_time = now_rfc3339();
  if (rejected) {
    json status = {{"phase", "Failed"},
                   {"reason", reject_reason},
                   {"message", "Pod was rejected: " + reject_message},
                   {"qosClass", qos_class(pod)}};
    if (sget(at(pod, "status"), "reason") == reject_reason) return kNever;  // written already
    write_status(pod, status, next);
    return next;
  }

  cri::Labels mine = {{kPodUidLabel, uid}, {kNodeLabel, k.opts.node_name}};
  auto sbs = k.runtime.list_pod_sandboxes(mine);
  auto cts = k.runtime.list_containers(by_labels(mine));
  if (!sbs || !cts) {
    spdlog::warn("kubelet: pod {}: runtime: {}", uid, (!sbs ? sbs.status() : cts.status()).to_string());
    return now + milliseconds(1000);
  }
  auto group = [&](const std::vector<cri::Container>& v) {
    std::map<std::string, std::vector<cri::Container>> by_name;
    for (const auto& c : v) by_name[c.name].push_back(c);
    for (auto& [n, list] : by_name) sort_newest_first(list);
    return by_name;
  };
  auto by_name = group(*cts);

  // Has the pod finished for good (no container will ever run again)?
  auto all_done = [&]() {
    if (policy == "Always") return false;
    const json& containers = at(s, "containers");
    if (!containers.is_array() || containers.empty()) return false;
    for (const auto& c : containers) {
      auto it = by_name.find(sget(c, "name"));
      if (it == by_name.end() || it->second.empty()) return false;
      const auto& latest = it->second.front();
      if (latest.state != cri::ContainerState::kExited) return false;
      auto st = status_of(latest.id);
      if (!st) return false;
      if (want_restart(policy, st->exit_code, false)) return false;
    }
    return true;
  };
  auto init_failed = [&]() {
    if (policy != "Never") return false;
    for (const auto& c : at(s, "initContainers")) {
      auto it = by_name.find(sget(c, "name"));
      if (it == by_name.end() || it->second.empty()) continue;
      if (it->second.front().state != cri::ContainerState::kExited) continue;
      auto st = status_of(it->second.front().id);
      if (st && st->exit_code != 0) return true;
    }
    return false;
  };

  // --- sandbox
  const cri::Sandbox* ready_sb = nullptr;
  uint32_t max_attempt = 0;
  bool any_sb = false;
  for (const auto& sb : *sbs) {
    any_sb = true;
    max_attempt = std::max(max_attempt, sb.attempt);
    if (sb.state == cri::SandboxState::kReady && (!ready_sb || sb.created_at > ready_sb->created_at)) ready_sb = &sb;
  }
  bool finished = all_done() || init_failed();
  if (finished && ready_sb) {
    // A pod that will never run a container again gives back its sandbox
    // (and IP); the exited containers stay for status and logs.
    (void)k.runtime.stop_pod_sandbox(ready_sb->id);
    ready_sb = nullptr;
  }
  if (!ready_sb && !finished) {
    if (now < sandbox_retry_at) return sandbox_retry_at;
    auto retry = [&](const std::string& reason, const std::string& msg) {
      k.event(pod, "Warning", reason, msg);
      sandbox_backoff = sandbox_backoff.count() == 0 ? std::min(k.opts.backoff_initial, milliseconds(2000))
                                                     : std::min(sandbox_backoff * 2, k.opts.backoff_max);
      sandbox_retry_at = Steady::now() + sandbox_backoff;
    };
    // A dead sandbox takes its containers with it: clean them up, start over.
    for (const auto& sb : *sbs) {
      for (const auto& c : *cts) {
        if (c.sandbox_id == sb.id && c.state == cri::ContainerState::kRunning) (void)k.runtime.stop_container(c.id, 0);
      }
      (void)k.runtime.stop_pod_sandbox(sb.id);
    }
    if (auto st = k.cgroups.create(uid); !st) {
      retry("Failed", "Failed to create pod cgroup: " + st.message());
      return sandbox_retry_at;
    }
    if (!volumes_ready) {
      auto v = k.volumes.setup(pod);
      if (!v) {
        retry("FailedMount", "MountVolume.SetUp failed: " + v.status().message());
        return sandbox_retry_at;
      }
      volume_paths = std::move(*v);
      volumes_ready = true;
      volumes_refresh_at = Steady::now() + k.opts.status_resync;
    }
    cri::SandboxConfig cfg = sandbox_config(pod, any_sb ? max_attempt + 1 : 0);
    std::error_code ec;
    std::filesystem::create_directories(cfg.log_directory, ec);
    auto id = k.runtime.run_pod_sandbox(cfg);
    if (!id) {
      retry("FailedCreatePodSandBox", "Failed to create pod sandbox: " + id.status().message());
      return sandbox_retry_at;
    }
    sandbox_backoff = milliseconds(0);
    for (const auto& sb : *sbs) (void)k.runtime.remove_pod_sandbox(sb.id);
    sandbox_id = *id;
    sb_cfg = cfg;
    auto sst = k.runtime.pod_sandbox_status(sandbox_id);
    pod_ip = sst ? sst->ip : "";
    // Containers of the old sandboxes are gone with them.
    cts = k.runtime.list_containers(by_labels(mine));
    if (!cts) return Steady::now() + milliseconds(1000);
    by_name = group(*cts);
  } else if (ready_sb) {
    if (sandbox_id != ready_sb->id) {
      // Adopted (kubelet restart) or first sight.
      sandbox_id = ready_sb->id;
      sb_cfg = sandbox_config(pod, ready_sb->attempt);
      auto sst = k.runtime.pod_sandbox_status(sandbox_id);
      pod_ip = sst ? sst->ip : "";
    }
    if (!volumes_ready && !finished) {
      auto v = k.volumes.setup(pod);
      if (!v) {
        k.event(pod, "Warning", "FailedMount", "MountVolume.SetUp failed: " + v.status().message());
        return now + std::min(k.opts.backoff_initial, milliseconds(2000));
      }
      volume_paths = std::move(*v);
      volumes_ready = true;
      volumes_refresh_at = Steady::now() + k.opts.status_resync;
    } else if (volumes_ready && !finished && now >= volumes_refresh_at) {
      // Periodic resync: configMap/secret volume contents follow their
      // objects. A failure now keeps the pod and its last good contents.
      auto v = k.volumes.setup(pod);
      if (v) {
        volume_paths = std::move(*v);
        volumes_refresh_error.clear();
      } else if (v.status().message() != volumes_refresh_error) {
        volumes_refresh_error = v.status().message();
        spdlog::warn("kubelet: pod {}: volume refresh: {}", uid, volumes_refresh_error);
        k.event(pod, "Warning", "FailedMount", "MountVolume.SetUp failed: " + volumes_refresh_error);
      }
      volumes_refresh_at = Steady::now() + k.opts.status_resync;
    }
    if (volumes_ready && !finished) next = std::min(next, volumes_refresh_at);
  }

  // --- containers
  bool initialized = true;
  if (!sandbox_id.empty() && !finished) {
    auto handle = [&](const json& c, bool init, const std::string& fp) -> bool /*running or done*/ {
      std::string name = sget(c, "name");
      ContainerState& cs = cstates[name];
      auto it = by_name.find(name);
      const cri::Container* latest = nullptr;
      if (it != by_name.end() && !it->second.empty()) latest = &it->second.front();
      if (latest && latest->sandbox_id != sandbox_id && latest->state == cri::ContainerState::kRunning) {
        latest = nullptr;  // of a dead sandbox
      }
      uint32_t attempt = latest ? restart_count_of(*latest) + 1 : 0;
      if (latest && latest->state == cri::ContainerState::kRunning) {
        auto h = latest->annotations.find(kHashAnnotation);
        if (!init && h != latest->annotations.end() && h->second != container_hash(c)) {
          k.event(pod, "Normal", "Killing", "Container " + name + " definition changed, will be restarted", fp);
          (void)k.runtime.stop_container(latest->id, iget(s, "terminationGracePeriodSeconds", 30));
          cs.restart_requested = true;
          next = Steady::now();
          return false;
        }
        if (!init) {
          auto st = status_of(latest->id);
          if (st) {
            bool killed = false;
            run_probes(pod, c, *st, cs, fp, next, killed);
            if (killed) {
              status_cache.erase(latest->id);
              next = Steady::now();
            }
          }
        }
        return !init;  // a running init container blocks the next ones
      }
      if (latest && latest->state == cri::ContainerState::kCreated) {
        (void)k.runtime.remove_container(latest->id);  // a start that did not finish
        attempt = restart_count_of(*latest);
        latest = nullptr;
      }
      if (latest && latest->state != cri::ContainerState::kCreated) {
        auto st = status_of(latest->id);
        int32_t code = st ? st->exit_code : -1;
        if (init && code == 0) return true;
        if (!cs.restart_requested && !want_restart(policy, code, init)) return false;
        // Kubernetes forgets the back-off of a container that ran for longer
        // than twice the maximum back-off: the next crash restarts at once.
        if (st && st->started_at > 0 && st->finished_at > st->started_at &&
            std::chrono::nanoseconds(st->finished_at - st->started_at) > 2 * k.opts.backoff_max) {
          cs.crash_backoff = milliseconds(0);
        }
        if (!cs.restart_requested && cs.crash_backoff.count() > 0 && st && st->finished_at > 0) {
          int64_t until = st->finished_at + std::chrono::duration_cast<std::chrono::nanoseconds>(cs.crash_backoff).count();
          if (now_ns() < until) {
            std::string msg = "back-off " + go_duration(cs.crash_backoff) + " restarting failed container=" + name +
                              " pod=" + sb_cfg.name + "_" + sb_cfg.namespace_ + "(" + uid + ")";
            if (cs.waiting_reason != "CrashLoopBackOff") {
              k.event(pod, "Warning", "BackOff", "Back-off restarting failed container " + name + " in pod " +
                                                     sb_cfg.name + "_" + sb_cfg.namespace_ + "(" + uid + ")",
                      fp);
            }
            cs.waiting_reason = "CrashLoopBackOff";
            cs.waiting_message = msg;
            next = std::min(next, steady_at_ns(until));
            return false;
          }
        }
        if (cs.waiting_reason == "CrashLoopBackOff") cs.waiting_reason.clear();
        bool was_requested = cs.restart_requested;
        if (!was_requested) {
          cs.crash_backoff = cs.crash_backoff.count() == 0 ? k.opts.backoff_initial
                                                           : std::min(cs.crash_backoff * 2, k.opts.backoff_max);
        }
      }
      start_container(pod, c, init, attempt, cs, fp, next);
      // Exited already (e.g. a quick init container)? Look again soon.
      next = std::min(next, Steady::now() + k.opts.relist_period);
      return false;
    };
    for (const auto& c : at(s, "initContainers")) {
      bool done = handle(c, true, "spec.initContainers{" + sget(c, "name") + "}");
      if (!done) {
        initialized = false;
        break;
      }
    }
    if (initialized) {
      for (const auto& c : at(s, "containers")) handle(c, false, "spec.containers{" + sget(c, "name") + "}");
    }
    // What we did changed the runtime: look again for the status.
    status_cache.clear();
    cts = k.runtime.list_containers(by_labels(mine));
    if (!cts) return Steady::now() + milliseconds(1000);
    by_name = group(*cts);
  }

  json status = compute_status(pod, by_name, initialized);
  write_status(pod, status, next);
  return next;
}

json PodWorker::compute_status(const json& pod, const std::map<std::string, std::vector<cri::Container>>& by_name,
                               bool /*initialized_hint*/) {
  const json& s = spec(pod);
  const std::string policy = sget(s, "restartPolicy").empty() ? "Always" : sget(s, "restartPolicy");
  // Conditions keep their lastTransitionTime from what we wrote last (the
  // informer's copy may not have caught up with our own write yet).
  json old = last_written ? *last_written : at(pod, "status").is_object() ? at(pod, "status") : json::object();

  bool init_done = true, init_failed = false;
  auto one = [&](const json& c, bool init, bool blocked) -> json {
    std::string name = sget(c, "name");
    ContainerState& cs = cstates[name];
    json out = {{"name", name},
                {"image", sget(c, "image")},
                {"imageID", ""},
                {"lastState", json::object()},
                {"ready", false},
                {"restartCount", 0},
                {"started", false}};
    auto it = by_name.find(name);
    std::vector<cri::Container> insts = it == by_name.end() ? std::vector<cri::Container>{} : it->second;
    if (insts.empty()) {
      std::string reason = cs.waiting_reason.empty() ? (blocked ? "PodInitializing" : "ContainerCreating")
                                                     : cs.waiting_reason;
      json w = {{"reason", reason}};
      if (!cs.waiting_reason.empty() && !cs.waiting_message.empty()) w["message"] = cs.waiting_message;
      out["state"] = {{"waiting", w}};
      if (init) init_done = false;
      return out;
    }
    const cri::Container& latest = insts.front();
    auto st = status_of(latest.id);
    out["restartCount"] = restart_count_of(latest);
    out["containerID"] = "containerd://" + latest.id;
    out["imageID"] = latest.image_ref;
    std::optional<cri::ContainerStatus> prev;
    if (insts.size() > 1) {
      auto p = status_of(insts[1].id);
      if (p) prev = *p;
    }
    if (latest.state == cri::ContainerState::kRunning) {
      out["state"] = {{"running", {{"startedAt", st && st->started_at ? rfc3339_ns(st->started_at) : now_rfc3339()}}}};
      if (prev) out["lastState"] = {{"terminated", terminated_json(*prev)}};
      bool ok_probe = cs.probe_cid == latest.id;
      bool started = ok_probe ? cs.started : !at(c, "startupProbe").is_object();
      bool ready = ok_probe ? cs.ready_flag : (started && !at(c, "readinessProbe").is_object());
      out["started"] = started;
      out["ready"] = !init && ready;
      if (init) init_done = false;
    } else if (latest.state == cri::ContainerState::kExited && st) {
      bool restart = cs.restart_requested || want_restart(policy, st->exit_code, init);
      if (init && st->exit_code == 0) {
        out["state"] = {{"terminated", terminated_json(*st)}};
        if (prev) out["lastState"] = {{"terminated", terminated_json(*prev)}};
        return out;
      }
      if (init) {
        init_done = false;
        if (!restart) init_failed = true;
      }
      if (restart && !cs.waiting_reason.empty()) {
        json w = {{"reason", cs.waiting_reason}};
        if (!cs.waiting_message.empty()) w["message"] = cs.waiting_message;
        out["state"] = {{"waiting", w}};
        out["lastState"] = {{"terminated", terminated_json(*st)}};
      } else {
        out["state"] = {{"terminated", terminated_json(*st)}};
        if (prev) out["lastState"] = {{"terminated", terminated_json(*prev)}};
      }
    } else {
      out["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
      if (init) init_done = false;
    }
    return out;
  };

  json init_statuses = json::array();
  for (const auto& c : at(s, "initContainers")) init_statuses.push_back(one(c, true, false));
  json statuses = json::array();
  for (const auto& c : at(s, "containers")) statuses.push_back(one(c, false, !init_done));

  // Phase, as the kubelet's getPhase.
  std::string phase;
  int running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const auto& cs : statuses) {
    const json& state = cs["state"];
    if (state.contains("running")) {
      ++running;
    } else if (state.contains("terminated")) {
      ++stopped;
      if (iget(state["terminated"], "exitCode", -1) == 0) ++succeeded;
    } else if (cs["lastState"].contains("terminated")) {
      ++stopped;
    } else {
      ++waiting;
    }
  }
  if (init_failed) {
    phase = "Failed";
  } else if (!init_done || waiting > 0) {
    phase = "Pending";
  } else if (running > 0) {
    phase = "Running";
  } else if (stopped > 0) {
    if (policy == "Always") {
      phase = "Running";
    } else if (stopped == succeeded) {
      phase = "Succeeded";
    } else if (policy == "Never") {
      phase = "Failed";
    } else {
      phase = "Running";
    }
  } else {
    phase = "Pending";
  }

  // Conditions (lastTransitionTime kept while the status stays).
  std::string now = now_rfc3339();
  auto cond = [&](const std::string& type, bool ok, const std::string& reason, const std::string& message) {
    json c = {{"type", type}, {"status", ok ? "True" : "False"}, {"lastProbeTime", nullptr}};
    c["lastTransitionTime"] = now;
    for (const auto& o : at(old, "conditions")) {
      if (sget(o, "type") == type && sget(o, "status") == c["status"].get<std::string>() &&
          !sget(o, "lastTransitionTime").empty()) {
        c["lastTransitionTime"] = sget(o, "lastTransitionTime");
      }
    }
    if (!ok && !reason.empty()) c["reason"] = reason;
    if (!ok && !message.empty()) c["message"] = message;
    return c;
  };
  std::vector<std::string> unready, uninit;
  for (const auto& cs : statuses) {
    if (!cs["ready"].get<bool>()) unready.push_back(cs["name"].get<std::string>());
  }
  for (const auto& cs : init_statuses) {
    if (!cs["state"].contains("terminated") || iget(cs["state"]["terminated"], "exitCode", -1) != 0) {
      uninit.push_back(cs["name"].get<std::string>());
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
    return out + "]";
  };
  bool completed = phase == "Succeeded";
  bool containers_ready = unready.empty() && !statuses.empty() && phase != "Failed" && !completed;
  std::string nr_reason = completed ? "PodCompleted" : "ContainersNotReady";
  std::string nr_msg = completed ? "" : "containers with unready status: " + join(unready);
  json conditions = json::array();
  conditions.push_back(cond("Initialized", uninit.empty() || completed,
                            "ContainersNotInitialized", "containers with incomplete status: " + join(uninit)));
  conditions.push_back(cond("Ready", containers_ready, nr_reason, nr_msg));
  conditions.push_back(cond("ContainersReady", containers_ready, nr_reason, nr_msg));
  json scheduled = cond("PodScheduled", true, "", "");
  for (const auto& o : at(old, "conditions")) {
    if (sget(o, "type") == "PodScheduled" && sget(o, "status") == "True") scheduled = o;
  }
  conditions.push_back(scheduled);

  json status = {{"phase", phase},
                 {"conditions", conditions},
                 {"hostIP", k.opts.node_ip},
                 {"startTime", start_time},
                 {"qosClass", qos_class(pod)},
                 {"containerStatuses", statuses}};
  if (!k.opts.node_ip.empty()) status["hostIPs"] = json::array({{{"ip", k.opts.node_ip}}});
  std::string ip = sb_cfg.host_network ? k.opts.node_ip : pod_ip;
  if (!ip.empty()) {
    status["podIP"] = ip;
    status["podIPs"] = json::array({{{"ip", ip}}});
  }
  if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
  return status;
}

// The parts of a pod status others act on: phase, podIP and each
// condition's status (the endpoints controller reads Ready).
static json status_essence(const json& status) {
  json conds = json::object();
  for (const auto& c : at(status, "conditions")) conds[sget(c, "type")] = sget(c, "status");
  return {{"phase", sget(status, "phase")}, {"podIP", sget(status, "podIP")}, {"conditions", conds}};
}

static int64_t resource_version_of(const json& obj) {
  try {
    return std::stoll(sget(meta(obj), "resourceVersion"));
  } catch (const std::exception&) {
    return 0;
  }
}

void PodWorker::write_status(const json& pod, const json& status, TimePoint& next) {
  const bool unchanged = last_written && *last_written == status;
  const json& m = meta(pod);
  std::string ns = sget(m, "namespace");
  if (ns.empty()) ns = "default";
  // pods/<name>/status is addressed by name: when this pod (our uid) is gone
  // from the API, or was deleted and re-created under the same name, the
  // write would land on someone else's pod. Skip it (the informer is the
  // freshest view we have; the uid in the patch is for servers that reject a
  // mismatch — this API server overwrites it, Kubernetes answers 409).
  client::ObjectPtr cur;
  if (auto inf = k.current_informer()) {
    cur = inf->indexer().get(ns, sget(m, "name"));
    if (!cur || pod_uid(*cur) != uid) {
      if (!unchanged) {
        spdlog::debug("kubelet: pod {}/{} ({}): not in the API any more, status not written", ns, sget(m, "name"), uid);
      }
      last_written = status;
      return;
    }
  }
  if (unchanged) {
    // Same as our last write. Written again only when someone else changed
    // the API object's status after that write — the node lifecycle
    // controller marks the pods of an unreachable node not ready, and when
    // the node is back the API must show what really runs. A cache older
    // than our write (informer lagging) is not a reason.
    if (!cur || resource_version_of(*cur) <= last_written_rv ||
        status_essence(at(*cur, "status")) == status_essence(status)) {
      return;
    }
    spdlog::info("kubelet: pod {}/{}: status in the API ({}) differs from the pod's, writing it again", ns,
                 sget(m, "name"), status_essence(at(*cur, "status")).dump());
  }
  json patch = {{"metadata", {{"uid", uid}}}, {"status", status}};
  auto r = k.client.patch(*k.pod_type, ns, sget(m, "name"), client::PatchType::kMerge, patch, "status");
  if (r || r.status().code() == Code::kNotFound || r.status().code() == Code::kConflict) {
    // NotFound: gone; Conflict: the uid precondition failed (re-created pod). Either way not ours to write.
    last_written = status;
    if (r) last_written_rv = resource_version_of(*r);
    return;
  }
  spdlog::warn("kubelet: pod {}/{}: status write failed: {}", sget(m, "namespace"), sget(m, "name"),
               r.status().to_string());
  next = std::min(next, Steady::now() + milliseconds(500));
}

bool PodWorker::terminate(const client::ObjectPtr& podp, bool deleted) {
  json pod = podp ? *podp : json::object();
  const json& m = meta(pod);
  int64_t grace = iget(m, "deletionGracePeriodSeconds", iget(spec(pod), "terminationGracePeriodSeconds", 30));
  if (!podp || spec(pod).is_null()) grace = 0;  // orphan: nothing to be graceful for
  if (grace < 0) grace = 0;
  cri::Labels mine = {{kPodUidLabel, uid}, {kNodeLabel, k.opts.node_name}};
  auto cts = k.runtime.list_containers(by_labels(mine));
  auto sbs = k.runtime.list_pod_sandboxes(mine);
  if (!cts || !sbs) return false;
  std::vector<std::thread> stoppers;
  for (const auto& c : *cts) {
    if (c.state != cri::ContainerState::kRunning) continue;
    if (!spec(pod).is_null()) k.event(pod, "Normal", "Killing", "Stopping container " + c.name, "spec.containers{" + c.name + "}");
    json cspec;
    const json& podspec = spec(pod);
    if (podspec.is_object() && podspec.contains("containers") && podspec["containers"].is_array()) {
      for (const auto& cj : podspec["containers"]) {
        if (cj.is_object() && sget(cj, "name") == c.name) cspec = cj;
      }
    }
    stoppers.emplace_back([this, pod, cspec, id = c.id, name = c.name, grace] {
      // lifecycle.preStop (exec or sleep) runs first and counts against the grace period, as in Kubernetes.
      int64_t left = grace;
      const json* pre = nullptr;
      if (cspec.is_object() && cspec.contains("lifecycle") && cspec["lifecycle"].is_object() &&
          cspec["lifecycle"].contains("preStop") && cspec["lifecycle"]["preStop"].is_object()) {
        pre = &cspec["lifecycle"]["preStop"];
      }
      if (pre && grace > 0) {
        auto started = Steady::now();
        std::string failure;
        if (pre->contains("exec") && (*pre)["exec"].is_object()) {
          std::vector<std::string> cmd;
          const json& ex = (*pre)["exec"];
          if (ex.contains("command") && ex["command"].is_array()) {
            for (const auto& a : ex["command"]) {
              if (a.is_string()) cmd.push_back(a.get<std::string>());
            }
          }
          if (!cmd.empty()) {
            auto r = k.runtime.exec_sync(id, cmd, grace);
            if (!r) failure = r.status().message();
            else if (r->exit_code != 0) failure = "exited with " + std::to_string(r->exit_code);
          }
        } else if (pre->contains("sleep") && (*pre)["sleep"].is_object()) {
          int64_t secs = std::clamp<int64_t>(iget((*pre)["sleep"], "seconds", 0), 0, grace);
          std::this_thread::sleep_for(std::chrono::seconds(secs));
        } else if (pre->contains("httpGet")) {
          failure = "httpGet preStop hooks are not supported";
        }
        if (!failure.empty()) {
          k.event(pod, "Warning", "FailedPreStopHook", "PreStopHook failed: " + failure,
                  "spec.containers{" + name + "}");
        }
        auto spent = std::chrono::duration_cast<std::chrono::seconds>(Steady::now() - started).count();
        left = std::max<int64_t>(grace - spent, 2);  // Kubernetes gives at least 2 s after the hook
      }
      (void)k.runtime.stop_container(id, left);
    });
  }
  for (auto& t : stoppers) t.join();
  bool ok = true;
  for (const auto& sb : *sbs) {
    if (auto st = k.runtime.stop_pod_sandbox(sb.id); !st) {
      spdlog::warn("kubelet: stop sandbox {}: {}", sb.id, st.to_string());
      ok = false;
    }
  }
  for (const auto& c : *cts) (void)k.runtime.remove_container(c.id);
  for (const auto& sb : *sbs) {
    if (auto st = k.runtime.remove_pod_sandbox(sb.id); !st) {
      spdlog::warn("kubelet: remove sandbox {}: {}", sb.id, st.to_string());
      ok = false;
    }
  }
  if (!ok) return false;
  if (auto st = k.cgroups.remove(uid); !st) spdlog::warn("kubelet: pod {} cgroup: {}", uid, st.to_string());
  if (auto st = k.volumes.teardown(uid); !st) spdlog::warn("kubelet: pod {} volumes: {}", uid, st.to_string());
  sandbox_id.clear();
  volumes_ready = false;
  if (podp && !deleted && m.contains("deletionTimestamp")) {
    json opts = {{"apiVersion", "v1"},
                 {"kind", "DeleteOptions"},
                 {"gracePeriodSeconds", 0},
                 {"preconditions", {{"uid", uid}}}};
    auto r = k.client.remove(*k.pod_type, sget(m, "namespace"), sget(m, "name"), &opts);
    if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
      spdlog::warn("kubelet: delete pod {}/{}: {}", sget(m, "namespace"), sget(m, "name"), r.status().to_string());
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- Kubelet

struct Kubelet::Impl : KubeletCore {
  using KubeletCore::KubeletCore;
};

Kubelet::Kubelet(client::Client& client, cri::Runtime& runtime, KubeletOptions options)
    : impl_(std::make_unique<Impl>(client, runtime, std::move(options))) {}

Kubelet::~Kubelet() { stop(); }

void Kubelet::set_cluster_dns(std::vector<std::string> servers, std::string domain) {
  impl_->opts.cluster_dns = std::move(servers);
  if (!domain.empty()) impl_->opts.cluster_domain = std::move(domain);
}

Status Kubelet::start() {
  Impl& k = *impl_;
  if (k.running) return Status::ok();
  if (!k.pod_type) return internal_error("kubelet: the Pod kind is not registered");
  if (k.opts.node_name.empty()) return invalid("kubelet: node_name is required");
  k.running = true;
  {
    std::lock_guard l(k.events_mu);
    k.events_stop = false;
  }
  k.events_thread = std::thread([&k] { k.events_loop(); });
  // Baseline of what runs, so that the first relist wakes only on changes.
  k.relist_once(false);
  client::InformerOptions io;
  io.field_selector = "spec.nodeName=" + k.opts.node_name;
  auto informer = std::make_shared<client::Informer>(k.client, *k.pod_type, io);
  informer->add_index(kUidIndex, [](const api::Json& o) {
    std::string u = pod_uid(o);
    return u.empty() ? std::vector<std::string>{} : std::vector<std::string>{u};
  });
  client::EventHandlers h;
  h.on_add = [&k](const client::ObjectPtr& o) { k.dispatch(o, true); };
  h.on_update = [&k](const client::ObjectPtr& old_obj, const client::ObjectPtr& new_obj) {
    // Our own status writes come back as updates: wake only when what we act on changed.
    const json& om = meta(*old_obj);
    const json& nm = meta(*new_obj);
    bool wake = spec(*old_obj) != spec(*new_obj) || at(om, "deletionTimestamp") != at(nm, "deletionTimestamp") ||
                at(om, "deletionGracePeriodSeconds") != at(nm, "deletionGracePeriodSeconds");
    // Someone else may have rewritten the status (Ready=False by the node
    // lifecycle controller): the worker compares and writes it again.
    if (!wake) wake = status_essence(at(*old_obj, "status")) != status_essence(at(*new_obj, "status"));
    k.dispatch(new_obj, wake);
  };
  h.on_delete = [&k](const client::ObjectPtr& o) { k.on_deleted(o); };
  informer->add_event_handlers(std::move(h));
  {
    std::lock_guard l(k.relist_mu);
    k.relist_stop = false;
  }
  {
    std::lock_guard l(k.informer_mu);
    k.informer = informer;
  }
  informer->start();
  k.relister = std::thread([&k] { k.relist_loop(); });
  return Status::ok();
}

void Kubelet::stop() {
  Impl& k = *impl_;
  if (!k.running.exchange(false)) return;
  if (auto inf = k.current_informer()) inf->stop();
  {
    std::lock_guard l(k.relist_mu);
    k.relist_stop = true;
    k.relist_cv.notify_all();
  }
  if (k.relister.joinable()) k.relister.join();
  k.stop_all();
  {
    std::lock_guard l(k.events_mu);
    k.events_stop = true;
    k.events_cv.notify_all();
  }
  if (k.events_thread.joinable()) k.events_thread.join();
  std::shared_ptr<client::Informer> last;
  {
    std::lock_guard l(k.informer_mu);
    last = std::move(k.informer);  // destroyed outside the lock (a reader may still hold a copy)
  }
}

Result<ContainerRef> Kubelet::find_container(const std::string& ns, const std::string& pod,
                                             const std::string& container, bool previous) {
  Impl& k = *impl_;
  std::string namespace_ = ns.empty() ? "default" : ns;
  std::string uid;
  std::string name = container;
  if (auto inf = k.current_informer()) {
    auto obj = inf->indexer().get(namespace_, pod);
    if (obj) {
      uid = pod_uid(*obj);
      if (name.empty()) {
        const json& cs = at(spec(*obj), "containers");
        if (cs.is_array() && !cs.empty()) name = sget(cs[0], "name");
      }
    }
  }
  cri::Labels sel = {{kNodeLabel, k.opts.node_name}, {kPodNameLabel, pod}, {kPodNamespaceLabel, namespace_}};
  if (!uid.empty()) sel[kPodUidLabel] = uid;
  if (!name.empty()) sel[kContainerNameLabel] = name;
  auto cts = k.runtime.list_containers(by_labels(sel));
  if (!cts) return cts.status();
  if (cts->empty()) {
    if (name.empty()) return not_found("pods \"" + pod + "\" not found");
    return not_found("container \"" + name + "\" in pod \"" + pod + "\" is waiting to start");
  }
  if (name.empty()) name = cts->front().name;
  std::vector<cri::Container> mine;
  for (const auto& c : *cts) {
    if (c.name == name) mine.push_back(c);
  }
  sort_newest_first(mine);
  const cri::Container* pick = nullptr;
  if (previous) {
    if (mine.size() < 2) {
      return not_found("previous terminated container \"" + name + "\" in pod \"" + pod + "\" not found");
    }
    pick = &mine[1];
  } else {
    pick = &mine.front();
  }
  ContainerRef ref;
  ref.container_id = pick->id;
  auto u = pick->labels.find(kPodUidLabel);
  ref.pod_uid = u == pick->labels.end() ? uid : u->second;
  auto st = k.runtime.container_status(pick->id);
  if (st) ref.log_path = st->log_path;
  if (ref.log_path.empty()) {
    std::string root = k.opts.pod_log_dir.empty()
                           ? (k.opts.root_dir.empty() ? std::string("/var/log") : k.opts.root_dir) + "/pods"
                           : k.opts.pod_log_dir;
    ref.log_path = root + "/" + namespace_ + "_" + pod + "_" + ref.pod_uid + "/" + name + "/" +
                   std::to_string(restart_count_of(*pick)) + ".log";
  }
  return ref;
}

std::vector<PodUsage> Kubelet::pod_usage() {
  Impl& k = *impl_;
  std::map<std::string, PodUsage> by_uid;
  std::lock_guard l(k.stats_mu);
  for (const auto& [id, s] : k.stats) {
    PodUsage& p = by_uid[s.uid];
    p.uid = s.uid;
    p.name = s.pod;
    p.namespace_ = s.ns;
    ContainerUsage cu;
    cu.name = s.name;
    cu.cpu_usage_core_nanos = s.cpu;
    cu.cpu_usage_nano_cores = s.nano_cores;
    cu.memory_working_set_bytes = s.mem;
    cu.timestamp = s.ts;
    p.cpu_usage_nano_cores += s.nano_cores;
    p.memory_working_set_bytes += s.mem;
    p.containers.push_back(std::move(cu));
  }
  std::vector<PodUsage> out;
  for (auto& [uid, p] : by_uid) out.push_back(std::move(p));
  return out;
}

size_t Kubelet::running_pods() {
  Impl& k = *impl_;
  std::vector<std::shared_ptr<PodWorker>> all;
  {
    std::lock_guard l(k.workers_mu);
    for (auto& [uid, w] : k.workers) all.push_back(w);
  }
  size_t n = 0;
  for (auto& w : all) n += w->is_active();
  return n;
}

}  // namespace minik8s::kubelet
