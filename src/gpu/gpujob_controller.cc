// GPUJobController (include/minik8s/gpu/controller.h; docs/gpu.md "The
// controller"). No state of its own: every decision is read from the three
// caches, and every write is re-decided on a fresh read after a conflict.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/resource.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/gpu/controller.h"

namespace minik8s::gpu {

using api::field;
using api::Json;
using api::sfield;
using client::ObjectPtr;

namespace {

constexpr const char* kComponent = "gpujob-controller";
constexpr const char* kClusterIndex = "gpujob-slurm-cluster";
constexpr int kWriteTries = 5;
// A pod of the submitter's name that is not this job's: looked at again
// after this long (a pod without our label sends no event).
constexpr auto kConflictRetry = std::chrono::seconds(5);

const Json& meta(const Json& o) { return field(o, "metadata"); }
std::string ns_of(const Json& o) { return sfield(meta(o), "namespace"); }
std::string name_of(const Json& o) { return sfield(meta(o), "name"); }
std::string uid_of(const Json& o) { return sfield(meta(o), "uid"); }
bool terminating(const Json& o) { return !field(meta(o), "deletionTimestamp").is_null(); }

bool terminal_phase(const std::string& p) {
  return p == "Completed" || p == "Failed" || p == "Cancelled";
}

std::string cluster_name(const Json& job) {
  std::string c = sfield(field(field(job, "spec"), "slurm"), "cluster");
  return c.empty() ? "default" : c;
}

bool has_finalizer(const Json& o) {
  for (const Json& f : api::afield(meta(o), "finalizers")) {
    if (f.is_string() && f.get<std::string>() == kSlurmJobFinalizer) return true;
  }
  return false;
}

bool controlled_by(const Json& pod, const std::string& uid) {
  for (const Json& r : api::afield(meta(pod), "ownerReferences")) {
    if (sfield(r, "uid") == uid && api::bfield(r, "controller")) return true;
  }
  return false;
}

// Waiting reasons that mean the submitter cannot start without help.
bool stuck_reason(const std::string& r) {
  static const std::set<std::string> kStuck = {"ErrImagePull",
                                               "ImagePullBackOff",
                                               "ErrImageNeverPull",
                                               "InvalidImageName",
                                               "CrashLoopBackOff",
                                               "CreateContainerError",
                                               "CreateContainerConfigError",
                                               "RunContainerError"};
  return kStuck.count(r) > 0;
}

// The submitter container's waiting state ({reason, message}), if stuck.
std::pair<std::string, std::string> stuck_waiting(const Json& pod) {
  for (const Json& cs : api::afield(field(pod, "status"), "containerStatuses")) {
    const Json& w = field(field(cs, "state"), "waiting");
    std::string reason = sfield(w, "reason");
    if (stuck_reason(reason)) return {reason, sfield(w, "message")};
  }
  return {};
}

std::string pod_phase(const Json& pod) { return sfield(field(pod, "status"), "phase"); }

// A submitter that can still cancel its Slurm job and drop the finalizer.
bool submitter_running(const Json* pod) {
  return pod && !terminating(*pod) && pod_phase(*pod) == "Running" &&
         stuck_waiting(*pod).first.empty();
}

// A submitter pod that started, or may still start, and would act on
// spec.cancel itself: scheduled, not being deleted, not ended, not stuck.
bool submitter_may_act(const Json* pod) {
  return pod && !terminating(*pod) && !sfield(field(*pod, "spec"), "nodeName").empty() &&
         pod_phase(*pod) != "Failed" && pod_phase(*pod) != "Succeeded" &&
         stuck_waiting(*pod).first.empty();
}

bool cancel_requested(const Json& job) { return api::bfield(field(job, "spec"), "cancel"); }

// Why a pod ended: its status message/reason, else the container's last
// termination.
std::string pod_failure(const Json& pod) {
  const Json& st = field(pod, "status");
  std::string why = sfield(st, "message");
  if (why.empty()) why = sfield(st, "reason");
  for (const Json& cs : api::afield(st, "containerStatuses")) {
    const Json& t = field(field(cs, "state"), "terminated");
    const Json& lt = field(field(cs, "lastState"), "terminated");
    const Json& term = t.is_object() ? t : lt;
    if (!term.is_object()) continue;
    std::string s = "exit code " + std::to_string(field(term, "exitCode").is_number_integer()
                                                      ? field(term, "exitCode").get<int64_t>()
                                                      : -1);
    if (!sfield(term, "reason").empty()) s += " (" + sfield(term, "reason") + ")";
    if (!sfield(term, "message").empty()) s += ": " + sfield(term, "message");
    why = why.empty() ? s : why + "; " + s;
    break;
  }
  return why;
}

// Sets (or updates) a condition; lastTransitionTime only moves when status
// changes. Returns the status object changed or not via the caller's compare.
void set_condition(Json& status, const std::string& type, bool value, const std::string& reason,
                   const std::string& message, const std::string& now) {
  if (!status["conditions"].is_array()) status["conditions"] = Json::array();
  const std::string s = value ? "True" : "False";
  for (Json& c : status["conditions"]) {
    if (sfield(c, "type") != type) continue;
    if (sfield(c, "status") != s) c["lastTransitionTime"] = now;
    c["status"] = s;
    c["reason"] = reason;
    c["message"] = message;
    return;
  }
  status["conditions"].push_back({{"type", type},
                                  {"status", s},
                                  {"reason", reason},
                                  {"message", message},
                                  {"lastTransitionTime", now}});
}

void set_or_erase(Json& obj, const char* key, const std::string& value) {
  if (value.empty()) {
    obj.erase(key);
  } else {
    obj[key] = value;
  }
}

}  // namespace

std::string submitter_pod_name(const std::string& job_name) { return job_name + "-submitter"; }

Json submitter_pod(const Json& job, const Json& cluster, const GPUJobControllerOptions& opts) {
  const std::string ns = ns_of(job), name = name_of(job);
  const Json& cspec = field(cluster, "spec");
  std::string image = sfield(cspec, "submitterImage");
  if (image.empty()) image = kDefaultSubmitterImage;
  std::string work_dir = sfield(cspec, "workDir");
  if (work_dir.empty()) work_dir = kDefaultSlurmWorkDir;
  Json env = Json::array({{{"name", "MINIK8S_SERVER"}, {"value", opts.server_url}},
                          {{"name", "GPUJOB_NAMESPACE"}, {"value", ns}},
                          {{"name", "GPUJOB_NAME"}, {"value", name}}});
  if (!opts.server_ca_pem.empty()) env.push_back({{"name", "MINIK8S_SERVER_CA"}, {"value", opts.server_ca_pem}});
  Json container = {
      {"name", kSubmitterContainer},
      {"image", image},
      {"imagePullPolicy", opts.image_pull_policy},
      {"command", Json::array({kSubmitterCommand})},
      {"env", env},
      {"volumeMounts", Json::array({{{"name", "workdir"}, {"mountPath", work_dir}}})}};
  Json spec = {
      {"restartPolicy", "OnFailure"},
      {"hostNetwork", true},
      {"serviceAccountName", kSubmitterServiceAccount},
      {"containers", Json::array({container})},
      {"volumes",
       Json::array({{{"name", "workdir"},
                     {"hostPath", {{"path", work_dir}, {"type", "DirectoryOrCreate"}}}}})}};
  const Json& sel = field(cspec, "nodeSelector");
  if (sel.is_object() && !sel.empty()) {
    Json ns_sel = Json::object();
    for (auto it = sel.begin(); it != sel.end(); ++it) {
      if (it.value().is_string()) ns_sel[it.key()] = it.value();
    }
    if (!ns_sel.empty()) spec["nodeSelector"] = ns_sel;
  }
  Json owner = {{"apiVersion", kGpuApiVersion}, {"kind", "GPUJob"},   {"name", name},
                {"uid", uid_of(job)},           {"controller", true}, {"blockOwnerDeletion", true}};
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", submitter_pod_name(name)},
                {"namespace", ns},
                {"labels", {{kGpuJobLabel, name}}},
                {"ownerReferences", Json::array({owner})}}},
              {"spec", spec}};
}

struct GPUJobController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, GPUJobControllerOptions o, Clock& clk)
      : client::Controller(
            f, {kComponent, o.workers, std::chrono::milliseconds(5), std::chrono::seconds(30)},
            clk),
        opts(std::move(o)),
        events(f.client(), {kComponent, ""}) {}
  ~Impl() override { stop(); }

  const GPUJobControllerOptions opts;
  client::EventRecorder events;
  const api::ResourceType* job_type = nullptr;
  const api::ResourceType* cluster_type = nullptr;
  const api::ResourceType* pod_type = nullptr;
  client::Informer* jobs = nullptr;
  client::Informer* clusters = nullptr;
  client::Informer* pods = nullptr;

  // The submitter's identity and rights (docs/gpu.md "The submitter's
  // rights"), made before its pod: the ServiceAccount in the job's namespace;
  // a RoleBinding there to kSubmitterRole; the ClusterRoleBinding
  // kSubmitterClusterRole listing each namespace's ServiceAccount; and, in
  // the namespace of the cluster's munge key Secret, a Role that may get
  // that one Secret, bound to the same ServiceAccounts. Idempotent: what
  // exists is kept, a missing subject is added.
  Status ensure_submitter_access(const std::string& ns, const Json& cluster) {
    const Json sa_subject = {{"apiGroup", ""},
                             {"kind", "ServiceAccount"},
                             {"name", kSubmitterServiceAccount},
                             {"namespace", ns}};
    auto ensure = [&](const char* kind, const std::string& ons, const std::string& name,
                      const Json& want, bool add_subject) -> Status {
      const api::ResourceType* t = api::find_kind(
          kind == std::string("ServiceAccount") ? "v1" : "rbac.authorization.k8s.io/v1", kind);
      if (!t) return internal_error(std::string("the kind table lacks ") + kind);
      auto cur = api_client().get(*t, ons, name);
      if (!cur) {
        if (cur.status().code() != Code::kNotFound) return cur.status();
        auto c = api_client().create(*t, want, ons);
        return c || c.status().code() == Code::kAlreadyExists ? Status::ok() : c.status();
      }
      Json obj = std::move(*cur);
      bool changed = false;
      if (want.contains("rules") && obj["rules"] != want["rules"]) {
        obj["rules"] = want["rules"];
        changed = true;
      }
      if (add_subject) {
        if (!obj["subjects"].is_array()) obj["subjects"] = Json::array();
        bool found = false;
        for (const Json& x : obj["subjects"])
          found = found ||
                  (sfield(x, "kind") == "ServiceAccount" &&
                   sfield(x, "name") == kSubmitterServiceAccount && sfield(x, "namespace") == ns);
        if (!found) {
          obj["subjects"].push_back(sa_subject);
          changed = true;
        }
      }
      if (!changed) return Status::ok();
      auto u = api_client().update(*t, obj);
      return u ? Status::ok() : u.status();  // a conflict: the retry reads again
    };
    auto meta_of = [](const std::string& name, const std::string& ons) {
      Json m = {{"name", name}, {"labels", {{"app.kubernetes.io/managed-by", kComponent}}}};
      if (!ons.empty()) m["namespace"] = ons;
      return m;
    };
    auto binding = [&](const char* kind, const std::string& name, const std::string& ons,
                       const char* role_kind, const std::string& role) {
      return Json{
          {"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", kind},
          {"metadata", meta_of(name, ons)},
          {"roleRef",
           {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", role_kind}, {"name", role}}},
          {"subjects", Json::array({sa_subject})}};
    };
    Json sa = {{"apiVersion", "v1"},
               {"kind", "ServiceAccount"},
               {"metadata", meta_of(kSubmitterServiceAccount, ns)}};
    if (Status st = ensure("ServiceAccount", ns, kSubmitterServiceAccount, sa, false); !st)
      return st;
    if (Status st = ensure(
            "RoleBinding", ns, kSubmitterServiceAccount,
            binding("RoleBinding", kSubmitterServiceAccount, ns, "ClusterRole", kSubmitterRole),
            true);
        !st)
      return st;
    if (Status st = ensure("ClusterRoleBinding", "", kSubmitterClusterRole,
                           binding("ClusterRoleBinding", kSubmitterClusterRole, "", "ClusterRole",
                                   kSubmitterClusterRole),
                           true);
        !st)
      return st;
    const Json& ref = field(field(field(cluster, "spec"), "auth"), "secretRef");
    const std::string sname = sfield(ref, "name");
    if (sname.empty()) return Status::ok();
    std::string sns = sfield(ref, "namespace");
    if (sns.empty()) sns = "kube-system";
    const std::string rname = std::string(kSubmitterServiceAccount) + "-" + name_of(cluster);
    Json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                 {"kind", "Role"},
                 {"metadata", meta_of(rname, sns)},
                 {"rules", Json::array({{{"apiGroups", Json::array({""})},
                                         {"resources", Json::array({"secrets"})},
                                         {"resourceNames", Json::array({sname})},
                                         {"verbs", Json::array({"get"})}}})}};
    if (Status st = ensure("Role", sns, rname, role, false); !st) return st;
    return ensure("RoleBinding", sns, rname, binding("RoleBinding", rname, sns, "Role", rname),
                  true);
  }

  Status setup() override {
    job_type = api::find_kind(kGpuApiVersion, "GPUJob");
    cluster_type = api::find_kind(kGpuApiVersion, "SlurmCluster");
    pod_type = api::find_kind("v1", "Pod");
    if (!job_type || !cluster_type || !pod_type)
      return internal_error("the kind table lacks GPUJob, SlurmCluster or Pod");
    jobs = &factory().informer(*job_type);
    clusters = &factory().informer(*cluster_type);
    client::InformerOptions po;
    po.label_selector = kGpuJobLabel;
    pods = &factory().informer(*pod_type, po);
    jobs->add_index(kClusterIndex,
                    [](const Json& j) { return std::vector<std::string>{cluster_name(j)}; });

    auto on_job = [this](const ObjectPtr& o) { enqueue(client::object_key(*o)); };
    watch(*jobs, {on_job,
                  [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
                    if (api::meta_string(*old_obj, "resourceVersion") ==
                        api::meta_string(*o, "resourceVersion"))
                      return;  // a resync
                    enqueue(client::object_key(*o));
                  },
                  on_job});
    auto on_cluster = [this](const ObjectPtr& o) {
      for (const ObjectPtr& j : jobs->indexer().by_index(kClusterIndex, name_of(*o)))
        enqueue(client::object_key(*j));
    };
    watch(*clusters, {on_cluster,
                      [on_cluster](const ObjectPtr& old_obj, const ObjectPtr& o) {
                        if (api::meta_string(*old_obj, "resourceVersion") ==
                            api::meta_string(*o, "resourceVersion"))
                          return;
                        on_cluster(o);
                      },
                      on_cluster});
    auto on_pod = [this](const ObjectPtr& o) {
      std::string job = sfield(field(meta(*o), "labels"), kGpuJobLabel);
      if (!job.empty()) enqueue(ns_of(*o) + "/" + job);
    };
    watch(*pods, {on_pod, [on_pod](const ObjectPtr&, const ObjectPtr& o) { on_pod(o); }, on_pod});
    events.start();
    return Status::ok();
  }

  void on_stopped() override { events.stop(); }

  void record(const Json& job, const std::string& type, const std::string& reason,
              const std::string& message) {
    events.record(job, kGpuApiVersion, "GPUJob", type, reason, message);
  }

  std::string now() { return format_rfc3339(clock().now()); }

  // change(status, job) edits a copy of the job's status and returns false
  // when nothing is to be written for that job. Written with the job's
  // resourceVersion; after a conflict, change runs again on a fresh read.
  // true when written.
  Result<bool> write_status(const Json& cached,
                            const std::function<bool(Json&, const Json&)>& change) {
    Json job = cached;
    Status last = Status::ok();
    for (int attempt = 0; attempt < kWriteTries; ++attempt) {
      if (attempt > 0) {
        auto g = api_client().get(*job_type, ns_of(cached), name_of(cached));
        if (!g)
          return g.status().code() == Code::kNotFound ? Result<bool>(false)
                                                      : Result<bool>(g.status());
        job = std::move(*g);
        if (uid_of(job) != uid_of(cached)) return false;  // replaced by a new job of that name
      }
      Json status = field(job, "status").is_object() ? job["status"] : Json::object();
      const Json before = status;
      if (!change(status, job) || status == before) return false;
      job["status"] = status;
      auto r = api_client().update_status(*job_type, job);
      if (r) return true;
      last = r.status();
      if (last.code() == Code::kNotFound) return false;
      if (last.code() != Code::kConflict) return last;
    }
    return last;
  }

  // Pending with reason/message (both may be empty: cleared) while the
  // submitter has not submitted; nothing once a jobId or a later phase is
  // there. submitter_pod, when set, goes into status.submitterPod.
  Result<bool> set_pending(const Json& job, const std::string& reason, const std::string& message,
                           const std::string& pod_name, const std::string& condition_reason = "") {
    return write_status(job, [&](Json& st, const Json&) {
      const std::string phase = sfield(st, "phase");
      if (!sfield(st, "jobId").empty() || (!phase.empty() && phase != "Pending")) return false;
      st["phase"] = "Pending";
      set_or_erase(st, "reason", reason);
      set_or_erase(st, "message", message);
      if (!pod_name.empty()) st["submitterPod"] = pod_name;
      set_condition(st, "Submitted", false, condition_reason.empty() ? reason : condition_reason,
                    message, now());
      return true;
    });
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    ObjectPtr obj = jobs->indexer().get(key);
    if (!obj) return client::ReconcileResult::done();
    const Json& job = *obj;
    const std::string ns = ns_of(job), name = name_of(job), uid = uid_of(job);
    const std::string pod_name = submitter_pod_name(name);
    ObjectPtr pod_obj = pods->indexer().get(ns, pod_name);
    const Json* pod = pod_obj && controlled_by(*pod_obj, uid) ? pod_obj.get() : nullptr;

    if (terminating(job)) return finalize(job, pod);
    const std::string phase = sfield(field(job, "status"), "phase");
    if (terminal_phase(phase)) return client::ReconcileResult::done();

    // Cancelled before submission with no submitter to do it (none, not
    // scheduled, stuck or ended): the controller ends the job itself.
    if (cancel_requested(job) && sfield(field(job, "status"), "jobId").empty() &&
        !submitter_may_act(pod)) {
      // The cache may not have seen the pod scheduled yet: ask the API.
      auto live = live_submitter(job);
      if (!live) return live.status();
      if (submitter_may_act(live->has_value() ? &**live : nullptr))
        return client::ReconcileResult::done();  // its events bring the job back
      const std::string msg = "cancelled before submission";
      auto w = write_status(job, [&](Json& st, const Json& fresh) {
        if (terminal_phase(sfield(st, "phase")) || !sfield(st, "jobId").empty() ||
            !cancel_requested(fresh))
          return false;
        st["phase"] = "Cancelled";
        st["reason"] = "Cancelled";
        st["message"] = msg;
        if (pod) st["submitterPod"] = pod_name;
        if (sfield(st, "endTime").empty()) st["endTime"] = now();
        set_condition(st, "Submitted", false, "Cancelled", msg, now());
        return true;
      });
      if (!w) return w.status();
      if (*w) record(job, "Normal", "Cancelled", "Cancelled before submission");
      return client::ReconcileResult::done();
    }

    const std::string cname = cluster_name(job);
    ObjectPtr cluster = clusters->indexer().get(cname);
    if (!cluster && !pod) {
      const std::string msg =
          "SlurmCluster \"" + cname +
          "\" not found: create it (scripts/slurm.sh up --kubeconfig FILE registers one) "
          "or set spec.slurm.cluster";
      auto w = set_pending(job, "SlurmClusterNotFound", msg, "");
      if (!w) return w.status();
      if (*w && sfield(field(job, "status"), "reason") != "SlurmClusterNotFound")
        record(job, "Warning", "SlurmClusterNotFound", msg);
      return client::ReconcileResult::done();  // SlurmCluster events enqueue the job again
    }

    if (pod_obj && !pod) {
      const std::string msg = "a pod named " + pod_name + " exists and is not this GPUJob's" +
                              (terminating(*pod_obj) ? " (it is being deleted)" : "");
      auto w = set_pending(job, "SubmitterPodConflict", msg, "");
      if (!w) return w.status();
      return client::ReconcileResult::requeue_after(kConflictRetry);
    }

    if (!pod) {
      if (Status st = ensure_submitter_access(ns, *cluster); !st) return st;
      Json want = submitter_pod(job, *cluster, opts);
      auto c = api_client().create(*pod_type, want, ns);
      if (!c) {
        if (c.status().code() != Code::kAlreadyExists) return c.status();
        // Not in our cache: a pod of that name without our label (or the
        // cache is behind; the next look tells).
        auto w = set_pending(job, "SubmitterPodConflict",
                             "a pod named " + pod_name + " exists and is not this GPUJob's", "");
        if (!w) return w.status();
        return client::ReconcileResult::requeue_after(kConflictRetry);
      }
      record(job, "Normal", "SubmitterCreated", "Created submitter pod " + pod_name);
      auto w = set_pending(job, "SubmitterNotRunning", "submitter pod " + pod_name + " is Pending",
                           pod_name);
      if (!w) return w.status();
      return client::ReconcileResult::done();
    }

    const std::string pphase = pod_phase(*pod);
    if (pphase == "Failed" || pphase == "Succeeded") {
      // Succeeded with the job not terminal: the submitter exited 0 without
      // a final state. A stale cache (the final state written just before
      // the exit) is caught by the conflict re-read.
      std::string why = pphase == "Failed"
                            ? "submitter pod " + pod_name + " failed"
                            : "submitter pod " + pod_name + " exited without a final state";
      std::string detail = pod_failure(*pod);
      if (!detail.empty()) why += ": " + detail;
      std::string job_id;
      auto w = write_status(job, [&](Json& st, const Json&) {
        if (terminal_phase(sfield(st, "phase"))) return false;
        job_id = sfield(st, "jobId");
        std::string msg = why;
        if (!job_id.empty())
          msg += "; Slurm job " + job_id + " may still run; cancel it with scancel " + job_id;
        st["phase"] = "Failed";
        st["reason"] = "SubmitterFailed";
        st["message"] = msg;
        st["submitterPod"] = pod_name;
        if (sfield(st, "endTime").empty()) st["endTime"] = now();
        set_condition(st, "Failed", true, "SubmitterFailed", msg, now());
        return true;
      });
      if (!w) return w.status();
      if (*w) record(job, "Warning", "SubmitterFailed", why);
      return client::ReconcileResult::done();
    }

    // The pod is Pending or Running: surface why it does not run yet.
    auto [reason, message] = stuck_waiting(*pod);
    if (!reason.empty()) {
      if (message.empty())
        message = "submitter pod " + pod_name + ": " + reason;
      else
        message = "submitter pod " + pod_name + ": " + message;
    } else if (pphase != "Running") {
      reason = "SubmitterNotRunning";
      message =
          "submitter pod " + pod_name + " is " + (pphase.empty() ? std::string("Pending") : pphase);
      for (const Json& c : api::afield(field(*pod, "status"), "conditions")) {
        if (sfield(c, "type") == "PodScheduled" && sfield(c, "status") == "False" &&
            !sfield(c, "message").empty())
          message += ": " + sfield(c, "message");
      }
    }
    Result<bool> w = false;
    if (!reason.empty()) {
      w = set_pending(job, reason, message, pod_name);
      // One Event per stuck spell (ErrImagePull and ImagePullBackOff alternate).
      if (w && *w && stuck_reason(reason) && !stuck_reason(sfield(field(job, "status"), "reason")))
        record(job, "Warning", reason, message);
    } else {
      // Running: the submitter takes over; a reason of ours is cleared.
      w = write_status(job, [&](Json& st, const Json&) {
        const std::string phase_now = sfield(st, "phase");
        if (terminal_phase(phase_now)) return false;
        if (sfield(st, "submitterPod") != pod_name) st["submitterPod"] = pod_name;
        if ((phase_now.empty() || phase_now == "Pending") && sfield(st, "jobId").empty()) {
          const std::string r = sfield(st, "reason");
          if (phase_now.empty() || r == "SubmitterNotRunning" || r == "SlurmClusterNotFound" ||
              r == "SubmitterPodConflict" || stuck_reason(r)) {
            st["phase"] = "Pending";
            st.erase("reason");
            st.erase("message");
            set_condition(st, "Submitted", false, "SubmitterRunning",
                          "submitter pod " + pod_name + " is running", now());
          }
        }
        return true;
      });
    }
    if (!w) return w.status();
    return client::ReconcileResult::done();
  }

  // The job's submitter pod read from the API (nullopt: none, or not this
  // job's).
  Result<std::optional<Json>> live_submitter(const Json& job) {
    auto g = api_client().get(*pod_type, ns_of(job), submitter_pod_name(name_of(job)));
    if (!g) {
      if (g.status().code() == Code::kNotFound) return std::optional<Json>();
      return g.status();
    }
    if (!controlled_by(*g, uid_of(job))) return std::optional<Json>();
    return std::optional<Json>(std::move(*g));
  }

  // A job being deleted (docs/gpu.md "The controller").
  client::ReconcileResult finalize(const Json& cached, const Json* pod) {
    Json job = cached;
    Status last = Status::ok();
    for (int attempt = 0; attempt < kWriteTries; ++attempt) {
      if (attempt > 0) {
        auto g = api_client().get(*job_type, ns_of(cached), name_of(cached));
        if (!g) return g.status().code() == Code::kNotFound ? Status::ok() : g.status();
        job = std::move(*g);
        if (uid_of(job) != uid_of(cached)) return Status::ok();
      }
      if (!has_finalizer(job)) return Status::ok();
      const Json& st = field(job, "status");
      const std::string job_id = sfield(st, "jobId");
      const bool terminal = terminal_phase(sfield(st, "phase"));
      if (!terminal && !job_id.empty()) {
        if (submitter_running(pod)) {
          return Status::ok();  // the submitter cancels and removes the finalizer
        }
        // Letting go abandons a Slurm job: decided on the pod as the API
        // has it now, not on a cache that may not have seen it start yet
        // (the pod and job watches are separate streams).
        auto live = live_submitter(job);
        if (!live) return live.status();
        if (submitter_running(live->has_value() ? &**live : nullptr)) return Status::ok();
      }
      Json& fins = job["metadata"]["finalizers"];
      fins.erase(std::remove(fins.begin(), fins.end(), Json(kSlurmJobFinalizer)), fins.end());
      auto r = api_client().update(*job_type, job);
      if (r) {
        if (!terminal && !job_id.empty()) {
          const std::string msg =
              "Slurm job " + job_id + " may still run; cancel it with scancel " + job_id;
          spdlog::warn("gpujob {}: deleted without a running submitter: {}",
                       client::object_key(job), msg);
          record(job, "Warning", "SlurmJobNotCancelled", msg);
        }
        return Status::ok();
      }
      last = r.status();
      if (last.code() == Code::kNotFound) return Status::ok();
      if (last.code() != Code::kConflict) return last;
    }
    return last;
  }
};

GPUJobController::GPUJobController(client::SharedInformerFactory& factory,
                                   GPUJobControllerOptions opts, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(opts), clock));
}

GPUJobController::GPUJobController(client::Client& client, GPUJobControllerOptions opts,
                                   Clock& clock) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(opts), clock));
}

}  // namespace minik8s::gpu
