// The pod workers: PodWorkers (admission, the map by uid) and one
// PodWorker's sync, split as the header lists: sandbox → volumes →
// containers → status; terminate for deleted pods.
#include "pod_workers.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "labels.h"
#include "sandbox.h"

namespace minik8s::kubelet {

using std::chrono::milliseconds;

// ---------------------------------------------------------------- PodWorkers

void PodWorkers::dispatch(const client::ObjectPtr& pod, bool wake) {
  std::string uid = pod_uid(*pod);
  if (uid.empty()) return;
  std::shared_ptr<PodWorker> w;
  bool created = false;
  {
    std::lock_guard l(mu_);
    auto it = workers_.find(uid);
    if (it == workers_.end()) {
      w = std::make_shared<PodWorker>(env_, uid, pod);
      admit(*pod, *w);
      if (!w->rejected()) admit_gpus(*pod, *w);
      workers_[uid] = w;
      created = true;
    } else {
      w = it->second;
    }
  }
  if (created) {
    if (w->rejected() && sget(at(*pod, "status"), "reason") != w->reject_reason()) {
      env_.event(*pod, "Warning", w->reject_reason(), w->reject_message());
    }
    w->start();
  } else {
    w->update(pod, wake);
  }
}

// Admission of a pod new to this kubelet (mu_ held; w not started yet):
// like the kubelet's predicate admit handler for the pod count, a pod
// beyond max_pods is rejected — phase Failed, reason OutOfpods — and never
// run. A pod rejected before (e.g. by an earlier kubelet) stays rejected.
void PodWorkers::admit(const json& pod, PodWorker& w) {
  const json& st = at(pod, "status");
  std::string phase = sget(st, "phase");
  if (phase == "Failed" && sget(st, "reason") == "OutOfpods") {
    w.reject("OutOfpods", sget(st, "message"));
    return;
  }
  if (phase == "Succeeded" || phase == "Failed" || meta(pod).contains("deletionTimestamp")) return;
  const int32_t max_pods = env_.opts.max_pods;
  if (max_pods <= 0) return;
  int64_t used = 0;
  for (auto& [u, other] : workers_) used += other->holds_pod_slot();
  if (used + 1 <= max_pods) return;
  std::string msg = "Node didn't have enough resource: pods, requested: 1, used: " + std::to_string(used) +
                    ", capacity: " + std::to_string(max_pods);
  spdlog::info("kubelet: pod {}/{} rejected: {}", sget(meta(pod), "namespace"), sget(meta(pod), "name"), msg);
  w.reject("OutOfpods", msg);
}

// The pod's GPUs are taken at admission, like the device manager's
// allocation in the kubelet's admit handler: a pod asking for more than are
// free is refused (phase Failed, reason OutOfnvidia.com/gpu). A pod already
// holding GPUs (kubelet restart) keeps them.
void PodWorkers::admit_gpus(const json& pod, PodWorker& w) {
  const std::string reason = std::string("OutOf") + kGpuResource;
  const json& st = at(pod, "status");
  std::string phase = sget(st, "phase");
  if (phase == "Failed" && sget(st, "reason") == reason) {
    w.reject(reason, sget(st, "message"));
    return;
  }
  if (phase == "Succeeded" || phase == "Failed" || meta(pod).contains("deletionTimestamp")) return;
  int64_t want = pod_gpu_count(pod);
  if (want <= 0) return;
  auto got = env_.gpus.allocate(pod_uid(pod), want);
  if (got) {
    spdlog::info("kubelet: pod {}/{} holds GPUs {}", sget(meta(pod), "namespace"), sget(meta(pod), "name"),
                 format_gpu_indices(*got));
    return;
  }
  spdlog::info("kubelet: pod {}/{} rejected: {}", sget(meta(pod), "namespace"), sget(meta(pod), "name"),
               got.status().message());
  w.reject(reason, got.status().message());
}

void PodWorkers::on_deleted(const client::ObjectPtr& pod) {
  std::string uid = pod_uid(*pod);
  std::shared_ptr<PodWorker> w;
  {
    std::lock_guard l(mu_);
    auto it = workers_.find(uid);
    if (it != workers_.end()) w = it->second;
  }
  if (w) w->mark_deleted(pod);
}

void PodWorkers::wake(const std::set<std::string>& uids) {
  std::vector<std::shared_ptr<PodWorker>> to_wake;
  {
    std::lock_guard l(mu_);
    for (const auto& uid : uids) {
      auto it = workers_.find(uid);
      if (it != workers_.end()) to_wake.push_back(it->second);
    }
  }
  for (auto& w : to_wake) w->wake();
}

void PodWorkers::adopt_orphans(const std::map<std::string, std::pair<std::string, std::string>>& pods,
                               client::Informer& informer) {
  std::vector<std::shared_ptr<PodWorker>> to_start;
  {
    std::lock_guard l(mu_);
    for (const auto& [uid, names] : pods) {
      if (workers_.count(uid)) continue;
      if (!informer.indexer().by_index(kUidIndex, uid).empty()) continue;
      json stub = {{"metadata", {{"uid", uid}, {"name", names.second}, {"namespace", names.first}}}};
      auto w = std::make_shared<PodWorker>(env_, uid, std::make_shared<const json>(std::move(stub)), true);
      workers_[uid] = w;
      to_start.push_back(w);
      spdlog::info("kubelet: cleaning up orphaned pod {}/{} ({})", names.first, names.second, uid);
    }
  }
  for (auto& w : to_start) w->start();
}

void PodWorkers::reap(const std::shared_ptr<client::Informer>& informer) {
  std::vector<std::shared_ptr<PodWorker>> done;
  {
    std::lock_guard l(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      bool gone = informer && informer->indexer().by_index(kUidIndex, it->first).empty();
      if (gone && it->second->is_finished()) {
        done.push_back(it->second);
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : done) w->join();
}

void PodWorkers::stop_all() {
  std::vector<std::shared_ptr<PodWorker>> all;
  {
    std::lock_guard l(mu_);
    for (auto& [uid, w] : workers_) all.push_back(w);
    workers_.clear();
  }
  for (auto& w : all) w->request_stop();
  for (auto& w : all) w->join();
}

size_t PodWorkers::active() {
  std::vector<std::shared_ptr<PodWorker>> all;
  {
    std::lock_guard l(mu_);
    for (auto& [uid, w] : workers_) all.push_back(w);
  }
  size_t n = 0;
  for (auto& w : all) n += w->is_active();
  return n;
}

// ---------------------------------------------------------------- PodWorker: control

PodWorker::PodWorker(PodWorkerEnv& env, std::string uid, client::ObjectPtr desired, bool deleted)
    : env_(env), uid_(std::move(uid)), desired_(std::move(desired)), deleted_(deleted) {}

void PodWorker::reject(std::string reason, std::string message) {
  rejected_ = true;
  reject_reason_ = std::move(reason);
  reject_message_ = std::move(message);
}

void PodWorker::start() { thread_ = std::thread([this] { loop(); }); }

void PodWorker::join() {
  if (thread_.joinable()) thread_.join();
}

void PodWorker::update(client::ObjectPtr pod, bool wake_now) {
  std::lock_guard l(mu_);
  if (!deleted_) desired_ = std::move(pod);
  if (wake_now) {
    dirty_ = true;
    cv_.notify_one();
  }
}

void PodWorker::mark_deleted(client::ObjectPtr last) {
  std::lock_guard l(mu_);
  deleted_ = true;
  if (last) desired_ = std::move(last);
  dirty_ = true;
  cv_.notify_one();
}

void PodWorker::wake() {
  std::lock_guard l(mu_);
  dirty_ = true;
  cv_.notify_one();
}

void PodWorker::request_stop() {
  std::lock_guard l(mu_);
  stopping_ = true;
  cv_.notify_one();
}

bool PodWorker::is_finished() {
  std::lock_guard l(mu_);
  return finished_;
}

bool PodWorker::is_active() {
  std::lock_guard l(mu_);
  return !rejected_ && !finished_ && !deleted_ && desired_ && !meta(*desired_).contains("deletionTimestamp");
}

bool PodWorker::holds_pod_slot() {
  std::lock_guard l(mu_);
  if (rejected_ || finished_ || deleted_ || !desired_) return false;
  std::string phase = sget(at(*desired_, "status"), "phase");
  return phase != "Succeeded" && phase != "Failed";
}

void PodWorker::loop() {
  TimePoint next = Steady::now();
  while (true) {
    client::ObjectPtr pod;
    bool gone;
    {
      std::unique_lock l(mu_);
      if (next == kNever) {
        cv_.wait(l, [&] { return dirty_ || stopping_; });
      } else {
        cv_.wait_until(l, next, [&] { return dirty_ || stopping_; });
      }
      if (stopping_) return;
      dirty_ = false;
      pod = desired_;
      gone = deleted_;
    }
    bool terminating = !pod || gone || meta(*pod).contains("deletionTimestamp");
    if (terminating) {
      if (terminate(pod, gone)) {
        std::lock_guard l(mu_);
        finished_ = true;
        return;
      }
      next = Steady::now() + milliseconds(1000);
      continue;
    }
    status_cache_.clear();
    next = sync(*pod);
    TimePoint resync = Steady::now() + env_.opts.status_resync;
    if (next > resync) next = resync;
  }
}

// ---------------------------------------------------------------- PodWorker: sync

Status PodWorker::list_runtime(RuntimePod& rt, bool containers_only) {
  cri::Labels mine = {{kPodUidLabel, uid_}, {kNodeLabel, env_.opts.node_name}};
  if (!containers_only) {
    auto sbs = env_.runtime.list_pod_sandboxes(mine);
    if (!sbs) return sbs.status();
    rt.sandboxes = std::move(*sbs);
  }
  auto cts = env_.runtime.list_containers(by_labels(mine));
  if (!cts) return cts.status();
  rt.containers = std::move(*cts);
  rt.by_name = group_by_name(rt.containers);
  return Status::ok();
}

Result<cri::ContainerStatus> PodWorker::status_of(const std::string& id) {
  auto it = status_cache_.find(id);
  if (it != status_cache_.end()) return it->second;
  auto r = env_.runtime.container_status(id);
  if (r) status_cache_[id] = *r;
  return r;
}

TimePoint PodWorker::sync(const json& pod) {
  TimePoint next = kNever;
  auto now = Steady::now();
  if (!last_written_) {
    // Adoption / first sight: what the API has is what we last wrote.
    const json& st = at(pod, "status");
    if (st.is_object()) last_written_ = st;
    start_time_ = sget(st, "startTime");
  }
  if (start_time_.empty()) start_time_ = now_rfc3339();
  if (rejected_) {
    if (sget(at(pod, "status"), "reason") == reject_reason_) return kNever;  // written already
    write_status(pod, rejected_status(pod, reject_reason_, reject_message_), next);
    return next;
  }
  RuntimePod rt;
  if (auto st = list_runtime(rt); !st) {
    spdlog::warn("kubelet: pod {}: runtime: {}", uid_, st.to_string());
    return now + milliseconds(1000);
  }
  bool finished = pod_finished(pod, rt.by_name);
  if (finished) env_.gpus.release(uid_);  // no container of it runs again
  if (auto retry = sync_sandbox(pod, rt, finished, next)) return *retry;
  if (!sandbox_id_.empty() && !finished) {
    sync_containers(pod, rt.by_name, next);
    // What we did changed the runtime: look again for the status.
    status_cache_.clear();
    if (!list_runtime(rt, true)) return Steady::now() + milliseconds(1000);
  }
  update_status(pod, rt.by_name, next);
  return next;
}

// Has the pod finished for good (no container will ever run again)? Every
// container exited and stays so under the restart policy, or (policy
// Never) an init container failed.
bool PodWorker::pod_finished(const json& pod, const ContainersByName& by_name) {
  const json& s = spec(pod);
  const std::string policy = restart_policy(pod);
  // The latest instance of c when it has exited.
  auto latest_exited = [&](const json& c) -> const cri::Container* {
    auto it = by_name.find(sget(c, "name"));
    if (it == by_name.end() || it->second.empty()) return nullptr;
    const auto& latest = it->second.front();
    return latest.state == cri::ContainerState::kExited ? &latest : nullptr;
  };
  auto all_done = [&] {
    if (policy == "Always") return false;
    const json& containers = at(s, "containers");
    if (!containers.is_array() || containers.empty()) return false;
    for (const auto& c : containers) {
      const cri::Container* latest = latest_exited(c);
      if (!latest) return false;
      auto st = status_of(latest->id);
      if (!st || want_restart(policy, st->exit_code, false)) return false;
    }
    return true;
  };
  auto init_failed = [&] {
    if (policy != "Never") return false;
    for (const auto& c : at(s, "initContainers")) {
      const cri::Container* latest = latest_exited(c);
      if (!latest) continue;
      auto st = status_of(latest->id);
      if (st && st->exit_code != 0) return true;
    }
    return false;
  };
  return all_done() || init_failed();
}

// The pod's sandbox: given back when the pod finished; (re)created when
// none is ready; adopted when a ready one is new to this worker (kubelet
// restart); volumes set up and refreshed.
std::optional<TimePoint> PodWorker::sync_sandbox(const json& pod, RuntimePod& rt, bool finished, TimePoint& next) {
  const cri::Sandbox* ready_sb = nullptr;
  for (const auto& sb : rt.sandboxes) {
    if (sb.state == cri::SandboxState::kReady && (!ready_sb || sb.created_at > ready_sb->created_at)) ready_sb = &sb;
  }
  if (finished && ready_sb) {
    // A pod that will never run a container again gives back its sandbox
    // (and IP); the exited containers stay for status and logs.
    (void)env_.runtime.stop_pod_sandbox(ready_sb->id);
    ready_sb = nullptr;
  }
  if (!ready_sb && !finished) return create_sandbox(pod, rt);
  if (!ready_sb) return std::nullopt;
  if (sandbox_id_ != ready_sb->id) {
    // Adopted (kubelet restart) or first sight.
    sandbox_id_ = ready_sb->id;
    sb_cfg_ = sandbox_config(pod, uid_, ready_sb->attempt, env_.opts, env_.cgroups.parent_for(uid_));
    pod_ip_ = sandbox_ip(env_.runtime, sandbox_id_);
  }
  if (finished) return std::nullopt;
  return sync_volumes(pod, next);
}

// A new sandbox (the dead ones stopped first): pod cgroup, volumes, then the
// runtime's RunPodSandbox (network namespace, CNI). A failure is an event
// and a retry after a back-off doubling from min(backoff_initial, 2 s).
std::optional<TimePoint> PodWorker::create_sandbox(const json& pod, RuntimePod& rt) {
  if (Steady::now() < sandbox_retry_at_) return sandbox_retry_at_;
  auto retry = [&](const std::string& reason, const std::string& msg) {
    event(pod, "Warning", reason, msg);
    sandbox_backoff_ = sandbox_backoff_.count() == 0 ? std::min(env_.opts.backoff_initial, milliseconds(2000))
                                                     : std::min(sandbox_backoff_ * 2, env_.opts.backoff_max);
    sandbox_retry_at_ = Steady::now() + sandbox_backoff_;
    return sandbox_retry_at_;
  };
  // A dead sandbox takes its containers with it: clean them up, start over.
  stop_dead_sandboxes(env_.runtime, rt.sandboxes, rt.containers);
  if (auto st = env_.cgroups.create(uid_); !st) return retry("Failed", "Failed to create pod cgroup: " + st.message());
  if (!volumes_ready_) {
    auto v = env_.volumes.setup(pod);
    if (!v) return retry("FailedMount", "MountVolume.SetUp failed: " + v.status().message());
    volume_paths_ = std::move(*v);
    volumes_ready_ = true;
    volumes_refresh_at_ = Steady::now() + env_.opts.status_resync;
  }
  uint32_t attempt = 0;
  for (const auto& sb : rt.sandboxes) attempt = std::max(attempt, sb.attempt + 1);
  cri::SandboxConfig cfg = sandbox_config(pod, uid_, attempt, env_.opts, env_.cgroups.parent_for(uid_));
  auto sb = run_sandbox(env_.runtime, cfg, rt.sandboxes);
  if (!sb) return retry("FailedCreatePodSandBox", "Failed to create pod sandbox: " + sb.status().message());
  sandbox_backoff_ = milliseconds(0);
  sandbox_id_ = sb->id;
  sb_cfg_ = cfg;
  pod_ip_ = sb->ip;
  // Containers of the old sandboxes are gone with them.
  if (!list_runtime(rt, true)) return Steady::now() + milliseconds(1000);
  return std::nullopt;
}

// Volumes of a pod with a ready sandbox: set up once, then refreshed every
// status_resync (configMap/secret contents follow their objects; a failed
// refresh keeps the pod and its last good contents).
std::optional<TimePoint> PodWorker::sync_volumes(const json& pod, TimePoint& next) {
  auto now = Steady::now();
  if (!volumes_ready_) {
    auto v = env_.volumes.setup(pod);
    if (!v) {
      event(pod, "Warning", "FailedMount", "MountVolume.SetUp failed: " + v.status().message());
      return now + std::min(env_.opts.backoff_initial, milliseconds(2000));
    }
    volume_paths_ = std::move(*v);
    volumes_ready_ = true;
    volumes_refresh_at_ = Steady::now() + env_.opts.status_resync;
  } else if (now >= volumes_refresh_at_) {
    auto v = env_.volumes.setup(pod);
    if (v) {
      volume_paths_ = std::move(*v);
      volumes_refresh_error_.clear();
    } else if (v.status().message() != volumes_refresh_error_) {
      volumes_refresh_error_ = v.status().message();
      spdlog::warn("kubelet: pod {}: volume refresh: {}", uid_, volumes_refresh_error_);
      event(pod, "Warning", "FailedMount", "MountVolume.SetUp failed: " + volumes_refresh_error_);
    }
    volumes_refresh_at_ = Steady::now() + env_.opts.status_resync;
  }
  next = std::min(next, volumes_refresh_at_);
  return std::nullopt;
}

// ---------------------------------------------------------------- PodWorker: containers

void PodWorker::sync_containers(const json& pod, const ContainersByName& by_name, TimePoint& next) {
  const json& s = spec(pod);
  for (const auto& c : at(s, "initContainers")) {
    bool done = sync_container(pod, c, true, "spec.initContainers{" + sget(c, "name") + "}", by_name, next);
    if (!done) return;  // init containers run one at a time, in order
  }
  for (const auto& c : at(s, "containers")) {
    sync_container(pod, c, false, "spec.containers{" + sget(c, "name") + "}", by_name, next);
  }
}

// One container: running (spec hash, probes), or exited and to be
// restarted (policy, crash back-off), or to be started. Returns whether it
// lets the next init container go: running (regular), or succeeded (init).
bool PodWorker::sync_container(const json& pod, const json& c, bool init, const std::string& fp,
                               const ContainersByName& by_name, TimePoint& next) {
  std::string name = sget(c, "name");
  ContainerState& cs = cstates_[name];
  auto it = by_name.find(name);
  const cri::Container* latest = nullptr;
  if (it != by_name.end() && !it->second.empty()) latest = &it->second.front();
  if (latest && latest->sandbox_id != sandbox_id_ && latest->state == cri::ContainerState::kRunning) {
    latest = nullptr;  // of a dead sandbox
  }
  uint32_t attempt = latest ? restart_count_of(*latest) + 1 : 0;
  if (latest && latest->state == cri::ContainerState::kRunning) {
    return sync_running(pod, c, init, *latest, cs, fp, next);
  }
  if (latest && latest->state == cri::ContainerState::kCreated) {
    (void)env_.runtime.remove_container(latest->id);  // a start that did not finish
    attempt = restart_count_of(*latest);
    latest = nullptr;
  }
  if (latest) {
    auto st = status_of(latest->id);
    int32_t code = st ? st->exit_code : -1;
    if (init && code == 0) return true;
    if (!cs.restart_requested && !want_restart(restart_policy(pod), code, init)) return false;
    if (crash_backing_off(pod, name, st ? &*st : nullptr, cs, fp, next)) return false;
  }
  start_container(pod, c, init, attempt, cs, fp, next);
  // Exited already (e.g. a quick init container)? Look again soon.
  next = std::min(next, Steady::now() + env_.opts.relist_period);
  return false;
}

// A running container: restarted when its spec changed (regular containers),
// probed otherwise. A running init container blocks the next ones.
bool PodWorker::sync_running(const json& pod, const json& c, bool init, const cri::Container& latest,
                             ContainerState& cs, const std::string& fp, TimePoint& next) {
  if (init) return false;
  auto h = latest.annotations.find(kHashAnnotation);
  if (h != latest.annotations.end() && h->second != container_hash(c)) {
    event(pod, "Normal", "Killing", "Container " + sget(c, "name") + " definition changed, will be restarted", fp);
    (void)env_.runtime.stop_container(latest.id, iget(spec(pod), "terminationGracePeriodSeconds", 30));
    cs.restart_requested = true;
    next = Steady::now();
    return false;
  }
  if (auto st = status_of(latest.id)) {
    bool killed = false;
    run_probes(pod, c, *st, cs, fp, next, killed);
    if (killed) {
      status_cache_.erase(latest.id);
      next = Steady::now();
    }
  }
  return true;
}

// The crash back-off of an exited container that is to restart: true while
// it still has to wait (waiting CrashLoopBackOff, a BackOff event when it
// starts waiting, a wake-up at the end). When it may restart, the back-off
// for the next crash doubles (not for a requested restart); a container
// that ran longer than twice the maximum back-off starts from zero again,
// as in Kubernetes. st: null when the runtime gave no status.
bool PodWorker::crash_backing_off(const json& pod, const std::string& name, const cri::ContainerStatus* st,
                                  ContainerState& cs, const std::string& fp, TimePoint& next) {
  if (st && st->started_at > 0 && st->finished_at > st->started_at &&
      std::chrono::nanoseconds(st->finished_at - st->started_at) > 2 * env_.opts.backoff_max) {
    cs.crash_backoff = milliseconds(0);
  }
  if (!cs.restart_requested && cs.crash_backoff.count() > 0 && st && st->finished_at > 0) {
    int64_t until = st->finished_at + std::chrono::duration_cast<std::chrono::nanoseconds>(cs.crash_backoff).count();
    if (now_ns() < until) {
      std::string pod_ref = sb_cfg_.name + "_" + sb_cfg_.namespace_ + "(" + uid_ + ")";
      if (cs.waiting_reason != "CrashLoopBackOff") {
        event(pod, "Warning", "BackOff", "Back-off restarting failed container " + name + " in pod " + pod_ref, fp);
      }
      cs.waiting_reason = "CrashLoopBackOff";
      cs.waiting_message =
          "back-off " + go_duration(cs.crash_backoff) + " restarting failed container=" + name + " pod=" + pod_ref;
      next = std::min(next, steady_at_ns(until));
      return true;
    }
  }
  if (cs.waiting_reason == "CrashLoopBackOff") cs.waiting_reason.clear();
  if (!cs.restart_requested) {
    cs.crash_backoff = cs.crash_backoff.count() == 0 ? env_.opts.backoff_initial
                                                     : std::min(cs.crash_backoff * 2, env_.opts.backoff_max);
  }
  return false;
}

void PodWorker::fail(ContainerState& cs, const std::string& reason, const std::string& message) {
  cs.waiting_reason = reason;
  cs.waiting_message = message;
  cs.fail_backoff = cs.fail_backoff.count() == 0 ? env_.opts.backoff_initial
                                                 : std::min(cs.fail_backoff * 2, env_.opts.backoff_max);
  cs.retry_at = Steady::now() + cs.fail_backoff;
  cs.backoff_event_sent = false;
}

// Still backing off after a failure? ErrImagePull turns ImagePullBackOff
// (with one BackOff event) while it waits.
bool PodWorker::pull_backing_off(const json& pod, const json& c, ContainerState& cs, const std::string& fp) {
  if (cs.waiting_reason.empty() || Steady::now() >= cs.retry_at) return false;
  if (cs.waiting_reason == "ErrImagePull" || cs.waiting_reason == "ImagePullBackOff") {
    std::string image = sget(c, "image");
    cs.waiting_reason = "ImagePullBackOff";
    cs.waiting_message = ImageManager::backoff_message(image, cs.pull_error);
    if (!cs.backoff_event_sent) {
      env_.images.backoff_event(pod, image, fp);
      cs.backoff_event_sent = true;
    }
  }
  return true;
}

// Image, config, create, start. A failure sets the container waiting with
// its reason and backs off (fail()).
void PodWorker::start_container(const json& pod, const json& c, bool init, uint32_t attempt, ContainerState& cs,
                                const std::string& fp, TimePoint& next) {
  std::string name = sget(c, "name");
  if (pull_backing_off(pod, c, cs, fp)) {
    next = std::min(next, cs.retry_at);
    return;
  }
  if (auto failure = env_.images.ensure(pod, c, sb_cfg_, fp)) {
    if (failure->reason == "ErrImagePull") cs.pull_error = failure->message;
    fail(cs, failure->reason, failure->message);
    // Flip ErrImagePull → ImagePullBackOff at the next look, as the kubelet's resync does.
    next = std::min({next, cs.retry_at, Steady::now() + std::min(env_.opts.relist_period, cs.fail_backoff / 2)});
    return;
  }
  auto failed = [&](const std::string& reason, const std::string& message) {
    event(pod, "Warning", "Failed", "Error: " + message, fp);
    fail(cs, reason, message);
    next = std::min(next, cs.retry_at);
  };
  auto cc = container_config(pod, c, init, attempt);
  if (!cc) return failed("CreateContainerConfigError", cc.status().message());
  auto id = env_.runtime.create_container(sandbox_id_, *cc, sb_cfg_);
  if (!id) return failed("CreateContainerError", id.status().message());
  event(pod, "Normal", "Created", "Created container " + name, fp);
  if (auto st = env_.runtime.start_container(*id); !st) {
    failed("RunContainerError", st.message());
    (void)env_.runtime.remove_container(*id);
    return;
  }
  event(pod, "Normal", "Started", "Started container " + name, fp);
  cs.waiting_reason.clear();
  cs.waiting_message.clear();
  cs.fail_backoff = milliseconds(0);
  cs.backoff_event_sent = false;
  cs.restart_requested = false;
  if (attempt >= 2) prune_old_instances(name);  // nothing older than the previous instance can exist before
}

// The CRI config of a container: env resolved (fieldRef, configMap/secret
// refs), $(VAR) expanded in command/args, volume mounts, labels (labels.h),
// the restart count and spec hash annotations, resources. An error (a
// missing configMap, a bad subPath) is CreateContainerConfigError.
Result<cri::ContainerConfig> PodWorker::container_config(const json& pod, const json& c, bool init,
                                                         uint32_t attempt) {
  EnvContext ctx{pod_ip_, env_.opts.node_ip, env_.opts.node_name};
  // Service variables (KUBERNETES_SERVICE_HOST, ...): like Kubernetes' kubelet,
  // no container starts before the Services were read once, or it would start
  // without them for good.
  if (auto svc = env_.services ? env_.services() : nullptr) {
    if (!svc->has_synced()) {
      return Status(Code::kUnavailable,
                    "services have not yet been read at least once, cannot construct envvars");
    }
    const json& links = at(spec(pod), "enableServiceLinks");
    ctx.service_env = service_env(svc->indexer().list(), sget(meta(pod), "namespace"),
                                  !links.is_boolean() || links.get<bool>());
  }
  auto env = resolve_env(pod, c, ctx, env_.client);
  if (!env) return env.status();
  auto mounts = container_mounts(c, volume_paths_, env_.volumes.subpath_dir(uid_));
  if (!mounts) return mounts.status();
  std::string name = sget(c, "name");
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
  cc.labels = {{kPodNameLabel, sb_cfg_.name},
               {kPodNamespaceLabel, sb_cfg_.namespace_},
               {kPodUidLabel, uid_},
               {kContainerNameLabel, name},
               {kNodeLabel, env_.opts.node_name},
               {kContainerTypeLabel, init ? "init" : "regular"}};
  cc.annotations = {{kRestartCountAnnotation, std::to_string(attempt)}, {kHashAnnotation, container_hash(c)}};
  cc.log_path = name + "/" + std::to_string(attempt) + ".log";
  std::error_code ec;
  std::filesystem::create_directories(sb_cfg_.log_directory + "/" + name, ec);
  auto flag = [&](const char* key) { return at(c, key).is_boolean() && at(c, key).get<bool>(); };
  cc.stdin_ = flag("stdin");
  cc.stdin_once = flag("stdinOnce");
  cc.tty = flag("tty");
  cc.resources = container_resources(pod, c);
  if (int64_t want = container_gpu_count(c); want > 0) {
    // The pod's GPUs were taken at admission; a pod that lost them (the
    // table was rebuilt while none of its containers ran) takes them again.
    auto held = env_.gpus.allocate(uid_, pod_gpu_count(pod));
    if (!held) return held.status();
    std::vector<int> mine = gpu_slice(pod, name, *held);
    std::vector<GpuDevice> devs;
    for (int i : mine) {
      if (const GpuDevice* d = env_.gpus.device(i)) devs.push_back(*d);
    }
    if (static_cast<int64_t>(devs.size()) != want) {
      return Status(Code::kUnavailable, "container " + name + " needs " + std::to_string(want) + " " +
                                            kGpuResource + ", the pod holds " + format_gpu_indices(*held));
    }
    GpuContainerConfig g = gpu_container_config(devs, env_.opts.gpu_files);
    cc.devices = std::move(g.devices);
    cc.mounts.insert(cc.mounts.end(), g.mounts.begin(), g.mounts.end());
    // Ours win over the spec's own NVIDIA_VISIBLE_DEVICES.
    std::erase_if(cc.envs, [&](const cri::KeyValue& kv) {
      return std::any_of(g.envs.begin(), g.envs.end(), [&](const cri::KeyValue& e) { return e.key == kv.key; });
    });
    cc.envs.insert(cc.envs.end(), g.envs.begin(), g.envs.end());
    cc.annotations[kGpuAnnotation] = format_gpu_indices(*held);
  }
  return cc;
}

// Keeps the previous instance (lastState, logs --previous); removes older dead ones.
void PodWorker::prune_old_instances(const std::string& name) {
  auto all = env_.runtime.list_containers(by_labels({{kPodUidLabel, uid_}, {kContainerNameLabel, name}}));
  if (!all) return;
  sort_newest_first(*all);
  for (size_t i = 2; i < all->size(); ++i) {
    if ((*all)[i].state != cri::ContainerState::kRunning) (void)env_.runtime.remove_container((*all)[i].id);
  }
}

// Probes of a running container, each on its own period: startup first
// (liveness and readiness start once it succeeded); a startup or liveness
// failure past failureThreshold kills the container (killed = true).
void PodWorker::run_probes(const json& pod, const json& c, const cri::ContainerStatus& st, ContainerState& cs,
                           const std::string& fp, TimePoint& next, bool& killed) {
  const json& startup = at(c, "startupProbe");
  const json& live = at(c, "livenessProbe");
  const json& ready = at(c, "readinessProbe");
  const std::string& cid = st.container.id;
  if (cs.probe_cid != cid) {
    cs.probe_cid = cid;
    cs.started = !startup.is_object();
    cs.ready = cs.started && !ready.is_object();
    const std::pair<const json*, ProbeTrack*> tracks[] = {
        {&startup, &cs.startup_probe}, {&live, &cs.live_probe}, {&ready, &cs.ready_probe}};
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
    auto res = env_.prober.run(probe, c, pod_ip_, cid);
    t.next = Steady::now() + std::chrono::seconds(period);
    next = std::min(next, t.next);
    if (res.outcome == ProbeOutcome::kSuccess) {
      ++t.successes;
      t.failures = 0;
      return true;
    }
    ++t.failures;
    t.successes = 0;
    event(pod, "Warning", "Unhealthy", std::string(kind) + " probe failed: " + res.message, fp);
    return false;
  };
  auto threshold = [](const json& p, const char* key, int64_t d) { return std::max<int64_t>(1, iget(p, key, d)); };
  auto kill = [&](const std::string& why) {
    event(pod, "Normal", "Killing", "Container " + sget(c, "name") + " failed " + why + " probe, will be restarted",
          fp);
    (void)env_.runtime.stop_container(cid, iget(spec(pod), "terminationGracePeriodSeconds", 30));
    killed = true;
  };
  if (!cs.started) {
    auto r = run_one(startup, cs.startup_probe, "Startup");
    if (r && *r && cs.startup_probe.successes >= 1) {
      cs.started = true;
      cs.ready = !ready.is_object();
      // liveness/readiness start now (their initial delay counted from container start).
      now = Steady::now();
    } else if (r && !*r && cs.startup_probe.failures >= threshold(startup, "failureThreshold", 3)) {
      return kill("startup");
    }
    if (!cs.started) return;
  }
  if (auto r = run_one(live, cs.live_probe, "Liveness"); r && !*r) {
    if (cs.live_probe.failures >= threshold(live, "failureThreshold", 3)) return kill("liveness");
  }
  if (auto r = run_one(ready, cs.ready_probe, "Readiness")) {
    if (*r && cs.ready_probe.successes >= threshold(ready, "successThreshold", 1)) cs.ready = true;
    if (!*r && cs.ready_probe.failures >= threshold(ready, "failureThreshold", 3)) cs.ready = false;
  }
}

// ---------------------------------------------------------------- PodWorker: status

// The status from the runtime (the source of truth) and what this worker
// knows (status_manager.h), then written when it changed.
void PodWorker::update_status(const json& pod, const ContainersByName& by_name, TimePoint& next) {
  PodRuntimeState rt;
  rt.containers = by_name;
  for (const auto& id : status_ids_needed(pod, by_name)) {
    if (auto st = status_of(id)) rt.statuses[id] = *st;
  }
  for (const auto& [name, cs] : cstates_) rt.views[name] = cs;
  StatusContext ctx;
  ctx.node_ip = env_.opts.node_ip;
  ctx.pod_ip = pod_ip_;
  ctx.host_network = sb_cfg_.host_network;
  ctx.start_time = start_time_;
  // Conditions keep their lastTransitionTime from what we wrote last (the
  // informer's copy may not have caught up with our own write yet).
  ctx.previous = last_written_ ? *last_written_ : at(pod, "status").is_object() ? at(pod, "status") : json::object();
  ctx.now = std::chrono::system_clock::now();
  write_status(pod, compute_status(pod, rt, ctx), next);
}

namespace {
int64_t resource_version_of(const json& obj) {
  try {
    return std::stoll(sget(meta(obj), "resourceVersion"));
  } catch (const std::exception&) {
    return 0;
  }
}
}  // namespace

void PodWorker::write_status(const json& pod, const json& status, TimePoint& next) {
  const bool unchanged = last_written_ && *last_written_ == status;
  const json& m = meta(pod);
  std::string ns = sget(m, "namespace");
  if (ns.empty()) ns = "default";
  // pods/<name>/status is addressed by name: when this pod (our uid) is gone
  // from the API, or was deleted and re-created under the same name, the
  // write would land on someone else's pod. Skip it (the informer is the
  // freshest view we have; the uid in the patch is for servers that reject a
  // mismatch — this API server overwrites it, Kubernetes answers 409).
  client::ObjectPtr cur;
  if (auto inf = env_.informer()) {
    cur = inf->indexer().get(ns, sget(m, "name"));
    if (!cur || pod_uid(*cur) != uid_) {
      if (!unchanged) {
        spdlog::debug("kubelet: pod {}/{} ({}): not in the API any more, status not written", ns, sget(m, "name"), uid_);
      }
      last_written_ = status;
      return;
    }
  }
  if (unchanged) {
    // Same as our last write. Written again only when someone else changed
    // the API object's status after that write — the node lifecycle
    // controller marks the pods of an unreachable node not ready, and when
    // the node is back the API must show what really runs. A cache older
    // than our write (informer lagging) is not a reason.
    if (!cur || resource_version_of(*cur) <= last_written_rv_ ||
        status_essence(at(*cur, "status")) == status_essence(status)) {
      return;
    }
    spdlog::info("kubelet: pod {}/{}: status in the API ({}) differs from the pod's, writing it again", ns,
                 sget(m, "name"), status_essence(at(*cur, "status")).dump());
  }
  json patch = {{"metadata", {{"uid", uid_}}}, {"status", status}};
  auto r = env_.client.patch(*env_.pod_type, ns, sget(m, "name"), client::PatchType::kMerge, patch, "status");
  if (r || r.status().code() == Code::kNotFound || r.status().code() == Code::kConflict) {
    // NotFound: gone; Conflict: the uid precondition failed (re-created pod). Either way not ours to write.
    last_written_ = status;
    if (r) last_written_rv_ = resource_version_of(*r);
    return;
  }
  spdlog::warn("kubelet: pod {}/{}: status write failed: {}", sget(m, "namespace"), sget(m, "name"),
               r.status().to_string());
  next = std::min(next, Steady::now() + milliseconds(500));
}

// ---------------------------------------------------------------- PodWorker: termination

bool PodWorker::terminate(const client::ObjectPtr& podp, bool deleted) {
  json pod = podp ? *podp : json::object();
  const json& m = meta(pod);
  int64_t grace = iget(m, "deletionGracePeriodSeconds", iget(spec(pod), "terminationGracePeriodSeconds", 30));
  if (!podp || spec(pod).is_null()) grace = 0;  // orphan: nothing to be graceful for
  if (grace < 0) grace = 0;
  cri::Labels mine = {{kPodUidLabel, uid_}, {kNodeLabel, env_.opts.node_name}};
  auto cts = env_.runtime.list_containers(by_labels(mine));
  auto sbs = env_.runtime.list_pod_sandboxes(mine);
  if (!cts || !sbs) return false;
  // The running containers stop in parallel, each within the grace period.
  std::vector<std::thread> stoppers;
  for (const auto& c : *cts) {
    if (c.state != cri::ContainerState::kRunning) continue;
    if (!spec(pod).is_null()) {
      event(pod, "Normal", "Killing", "Stopping container " + c.name, "spec.containers{" + c.name + "}");
    }
    json cspec;
    const json& podspec = spec(pod);
    if (podspec.is_object() && podspec.contains("containers") && podspec["containers"].is_array()) {
      for (const auto& cj : podspec["containers"]) {
        if (cj.is_object() && sget(cj, "name") == c.name) cspec = cj;
      }
    }
    stoppers.emplace_back([this, pod, cspec, id = c.id, name = c.name, grace] {
      stop_container_gracefully(pod, cspec, id, name, grace);
    });
  }
  for (auto& t : stoppers) t.join();
  if (!remove_runtime_objects(*sbs, *cts)) return false;
  env_.gpus.release(uid_);
  if (auto st = env_.cgroups.remove(uid_); !st) spdlog::warn("kubelet: pod {} cgroup: {}", uid_, st.to_string());
  if (auto st = env_.volumes.teardown(uid_); !st) {
    spdlog::warn("kubelet: pod {} volumes: {}", uid_, st.to_string());
  }
  sandbox_id_.clear();
  volumes_ready_ = false;
  if (podp && !deleted && m.contains("deletionTimestamp")) return delete_from_api(pod);
  return true;
}

// lifecycle.preStop (exec or sleep) runs first and counts against the grace
// period, as in Kubernetes; then the runtime stops the container.
void PodWorker::stop_container_gracefully(const json& pod, const json& cspec, const std::string& id,
                                          const std::string& name, int64_t grace) {
  int64_t left = grace;
  const json& pre = at(at(cspec, "lifecycle"), "preStop");
  if (pre.is_object() && grace > 0) {
    auto started = Steady::now();
    std::string failure;
    if (at(pre, "exec").is_object()) {
      std::vector<std::string> cmd;
      const json& command = at(pre["exec"], "command");
      for (const auto& a : command.is_array() ? command : json::array()) {
        if (a.is_string()) cmd.push_back(a.get<std::string>());
      }
      if (!cmd.empty()) {
        auto r = env_.runtime.exec_sync(id, cmd, grace);
        if (!r) failure = r.status().message();
        else if (r->exit_code != 0) failure = "exited with " + std::to_string(r->exit_code);
      }
    } else if (at(pre, "sleep").is_object()) {
      int64_t secs = std::clamp<int64_t>(iget(pre["sleep"], "seconds", 0), 0, grace);
      std::this_thread::sleep_for(std::chrono::seconds(secs));
    } else if (pre.contains("httpGet")) {
      failure = "httpGet preStop hooks are not supported";
    }
    if (!failure.empty()) {
      event(pod, "Warning", "FailedPreStopHook", "PreStopHook failed: " + failure, "spec.containers{" + name + "}");
    }
    auto spent = std::chrono::duration_cast<std::chrono::seconds>(Steady::now() - started).count();
    left = std::max<int64_t>(grace - spent, 2);  // Kubernetes gives at least 2 s after the hook
  }
  (void)env_.runtime.stop_container(id, left);
}

// Stops and removes the pod's sandboxes and removes its containers; false
// (to retry) when a sandbox could not be stopped or removed.
bool PodWorker::remove_runtime_objects(const std::vector<cri::Sandbox>& sbs, const std::vector<cri::Container>& cts) {
  bool ok = true;
  for (const auto& sb : sbs) {
    if (auto st = env_.runtime.stop_pod_sandbox(sb.id); !st) {
      spdlog::warn("kubelet: stop sandbox {}: {}", sb.id, st.to_string());
      ok = false;
    }
  }
  for (const auto& c : cts) (void)env_.runtime.remove_container(c.id);
  for (const auto& sb : sbs) {
    if (auto st = env_.runtime.remove_pod_sandbox(sb.id); !st) {
      spdlog::warn("kubelet: remove sandbox {}: {}", sb.id, st.to_string());
      ok = false;
    }
  }
  return ok;
}

// The final delete of a terminated pod (grace 0, uid precondition: a pod
// re-created under the same name is not ours).
bool PodWorker::delete_from_api(const json& pod) {
  const json& m = meta(pod);
  json opts = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0}, {"preconditions", {{"uid", uid_}}}};
  auto r = env_.client.remove(*env_.pod_type, sget(m, "namespace"), sget(m, "name"), &opts);
  if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) {
    spdlog::warn("kubelet: delete pod {}/{}: {}", sget(m, "namespace"), sget(m, "name"), r.status().to_string());
    return false;
  }
  return true;
}

}  // namespace minik8s::kubelet
