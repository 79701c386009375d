// Kubelet: the coordinator. It wires the parts together and owns their
// lifetimes:
//   informer (pods with spec.nodeName = node) → PodWorkers (pod_workers.h:
//   one thread per pod UID; sandbox.h, image_manager.h, status_manager.h)
//   informer (Services, every namespace) → the containers' Service
//   environment variables (parts.h service_env)
//   Pleg (pleg.h: relists the runtime, wakes the workers of changed pods,
//   finds orphans) → StatsCollector (stats.h)
//   client::EventRecorder (events on their own thread, never delaying a
//   pod start).
#include "minik8s/kubelet/kubelet.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

#include "image_manager.h"
#include "labels.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/kubelet/parts.h"
#include "pleg.h"
#include "pod_util.h"
#include "pod_workers.h"
#include "sandbox.h"
#include "stats.h"
#include "status_manager.h"

namespace minik8s::kubelet {

struct Kubelet::Impl {
  Impl(client::Client& c, cri::Runtime& r, KubeletOptions o)
      : client(c),
        runtime(r),
        opts(std::move(o)),
        volumes(c, opts.root_dir.empty() ? std::string("/var/lib/minik8s/kubelet") : opts.root_dir),
        cgroups(opts.cgroup_fs, opts.cgroup_root),
        prober(r),
        events(c, client::EventSource{"kubelet", opts.node_name}),
        images(r, events, opts.await_local_image),
        gpus(opts.gpus),
        env{c,
            r,
            opts,
            api::find_kind("v1", "Pod"),
            volumes,
            cgroups,
            prober,
            images,
            events,
            gpus,
            [this] { return current_informer(); },
            [this] { return current_services(); }},
        workers(env),
        pleg(r, opts.node_name, opts.relist_period),
        stats(r) {}

  std::shared_ptr<client::Informer> current_informer() {
    std::lock_guard l(informer_mu);
    return informer;
  }
  std::shared_ptr<client::Informer> current_services() {
    std::lock_guard l(informer_mu);
    return services;
  }
  // After each relist: wake the workers of changed pods, clean up orphans
  // (once the informer has synced), sample stats; then reap finished workers.
  void on_relist(const Result<RelistResult>& r, bool wake);
  void on_pod_update(const client::ObjectPtr& old_obj, const client::ObjectPtr& new_obj);
  void restore_gpus(const std::vector<cri::Container>& containers);

  client::Client& client;
  cri::Runtime& runtime;
  KubeletOptions opts;  // cluster_dns/cluster_domain set before start(), then read-only
  VolumeManager volumes;
  PodCgroups cgroups;
  Prober prober;
  client::EventRecorder events;
  ImageManager images;
  GpuAllocator gpus;
  PodWorkerEnv env;
  PodWorkers workers;
  Pleg pleg;
  StatsCollector stats;

  // Set in start(), reset in stop(); read from workers, the relister and the
  // HTTP threads (find_container) through current_informer().
  std::mutex informer_mu;
  std::shared_ptr<client::Informer> informer;  // guarded by informer_mu
  // Services of every namespace: the containers' Service variables.
  std::shared_ptr<client::Informer> services;  // guarded by informer_mu
  std::atomic<bool> running{false};
};

void Kubelet::Impl::on_relist(const Result<RelistResult>& r, bool wake) {
  if (r) {
    if (wake) workers.wake(r->changed);
    // Orphans: runtime objects of ours whose pod is not in the API (anymore).
    auto inf = current_informer();
    if (inf && inf->has_synced() && running) workers.adopt_orphans(r->pods, *inf);
    stats.sample(r->containers);
  }
  if (wake) workers.reap(current_informer());
}

// A restarted kubelet: the GPUs of pods whose containers still run (or
// were created) stay theirs; the pod workers' admission finds them held.
void Kubelet::Impl::restore_gpus(const std::vector<cri::Container>& containers) {
  for (const auto& c : containers) {
    if (c.state != cri::ContainerState::kRunning && c.state != cri::ContainerState::kCreated) continue;
    auto a = c.annotations.find(kGpuAnnotation);
    auto u = c.labels.find(kPodUidLabel);
    if (a == c.annotations.end() || u == c.labels.end()) continue;
    auto indices = parse_gpu_indices(a->second);
    if (!indices) {
      spdlog::warn("kubelet: container {}: {}", c.id, indices.status().message());
      continue;
    }
    gpus.restore(u->second, *indices);
  }
}

void Kubelet::Impl::on_pod_update(const client::ObjectPtr& old_obj, const client::ObjectPtr& new_obj) {
  // Our own status writes come back as updates: wake only when what we act on changed.
  const json& om = meta(*old_obj);
  const json& nm = meta(*new_obj);
  bool wake = spec(*old_obj) != spec(*new_obj) || at(om, "deletionTimestamp") != at(nm, "deletionTimestamp") ||
              at(om, "deletionGracePeriodSeconds") != at(nm, "deletionGracePeriodSeconds");
  // Someone else may have rewritten the status (Ready=False by the node
  // lifecycle controller): the worker compares and writes it again.
  if (!wake) wake = status_essence(at(*old_obj, "status")) != status_essence(at(*new_obj, "status"));
  workers.dispatch(new_obj, wake);
}

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
  if (!k.env.pod_type) return internal_error("kubelet: the Pod kind is not registered");
  if (k.opts.node_name.empty()) return invalid("kubelet: node_name is required");
  k.running = true;
  k.events.start();
  // Baseline of what runs, so that the first relist wakes only on changes.
  {
    auto r = k.pleg.relist();
    if (!r) spdlog::warn("kubelet: relist failed: {}", r.status().to_string());
    if (r) k.restore_gpus(r->containers);
    k.on_relist(r, false);
  }
  client::InformerOptions io;
  io.field_selector = "spec.nodeName=" + k.opts.node_name;
  auto informer = std::make_shared<client::Informer>(k.client, *k.env.pod_type, io);
  informer->add_index(kUidIndex, [](const api::Json& o) {
    std::string u = pod_uid(o);
    return u.empty() ? std::vector<std::string>{} : std::vector<std::string>{u};
  });
  client::EventHandlers h;
  h.on_add = [&k](const client::ObjectPtr& o) { k.workers.dispatch(o, true); };
  h.on_update = [&k](const client::ObjectPtr& o, const client::ObjectPtr& n) { k.on_pod_update(o, n); };
  h.on_delete = [&k](const client::ObjectPtr& o) { k.workers.on_deleted(o); };
  informer->add_event_handlers(std::move(h));
  std::shared_ptr<client::Informer> services;
  if (const api::ResourceType* svc_type = api::find_kind("v1", "Service")) {
    services = std::make_shared<client::Informer>(k.client, *svc_type);
  }
  {
    std::lock_guard l(k.informer_mu);
    k.informer = informer;
    k.services = services;
  }
  if (services) services->start();
  informer->start();
  k.pleg.start([&k](const Result<RelistResult>& r) { k.on_relist(r, true); });
  return Status::ok();
}

void Kubelet::stop() {
  Impl& k = *impl_;
  if (!k.running.exchange(false)) return;
  if (auto inf = k.current_informer()) inf->stop();
  if (auto svc = k.current_services()) svc->stop();
  k.pleg.stop();
  k.workers.stop_all();
  k.events.stop();
  std::shared_ptr<client::Informer> last, last_services;
  {
    std::lock_guard l(k.informer_mu);
    last = std::move(k.informer);  // destroyed outside the lock (a reader may still hold a copy)
    last_services = std::move(k.services);
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
  if (previous && mine.size() < 2) {
    return not_found("previous terminated container \"" + name + "\" in pod \"" + pod + "\" not found");
  }
  const cri::Container& pick = previous ? mine[1] : mine.front();
  ContainerRef ref;
  ref.container_id = pick.id;
  auto u = pick.labels.find(kPodUidLabel);
  ref.pod_uid = u == pick.labels.end() ? uid : u->second;
  auto st = k.runtime.container_status(pick.id);
  if (st) ref.log_path = st->log_path;
  if (ref.log_path.empty()) {
    ref.log_path = pod_log_root(k.opts) + "/" + namespace_ + "_" + pod + "_" + ref.pod_uid + "/" + name + "/" +
                   std::to_string(restart_count_of(pick)) + ".log";
  }
  return ref;
}

std::vector<PodUsage> Kubelet::pod_usage() { return impl_->stats.pod_usage(); }

size_t Kubelet::running_pods() { return impl_->workers.active(); }

}  // namespace minik8s::kubelet
