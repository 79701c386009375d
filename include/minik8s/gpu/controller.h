// The GPUJob controller of `minik8s server` ("gpujob-controller";
// docs/gpu.md "The controller" and "The submitter").
//
// A client::Controller keyed by GPUJob ("ns/name") on three shared informers:
// GPUJobs, SlurmClusters and Pods labelled minik8s.io/gpujob (a label
// selector: the cache holds only submitter pods). Handlers only enqueue: a
// GPUJob change its key; a SlurmCluster change every GPUJob that names it
// (spec.slurm.cluster, default "default"); a submitter pod change the job in
// its label. With no GPUJob the controller does nothing but hold three idle
// watches.
//
// reconcile(key) reads the caches and:
//   - job being deleted with the finalizer minik8s.io/slurm-job: removes the
//     finalizer itself when the job is terminal, has no status.jobId, or has
//     no running submitter pod (a Warning Event "Slurm job N may still run;
//     cancel it with scancel N" in the last case); otherwise the submitter
//     cancels the Slurm job and removes it;
//   - terminal job (Completed, Failed, Cancelled): nothing;
//   - spec.cancel with no jobId and no submitter that could act on it (no
//     pod, or one unscheduled, stuck or ended): phase Cancelled, reason
//     Cancelled ("cancelled before submission"), no pod created;
//   - no SlurmCluster of that name: phase Pending, reason
//     SlurmClusterNotFound (condition Submitted False, Warning Event);
//   - no submitter pod: creates it (submitter_pod()), phase Pending, reason
//     SubmitterNotRunning, status.submitterPod;
//   - the submitter pod Failed (or Succeeded with the job not terminal):
//     phase Failed, reason SubmitterFailed (condition Failed, Warning Event);
//   - while Pending without a jobId: the pod's stuck waiting reason
//     (ErrImagePull, ImagePullBackOff, CrashLoopBackOff, …) or
//     SubmitterNotRunning as status.reason/message; cleared once it runs;
//   - a pod of that name not controlled by this job: reason
//     SubmitterPodConflict, looked at again later.
// The controller writes status only through the status subresource, only
// when something changed, with the object's resourceVersion, re-reading and
// re-deciding on a conflict (the submitter writes the same status: a
// decision made on a stale copy is never written). It never changes a
// terminal phase, and leaves the phase to the submitter once a jobId is set.
//
// Threads: the runtime's workers (opts.workers) run reconcile; Events go out
// on an EventRecorder thread. start()/stop() from the owner's thread.
#pragma once

#include <string>

#include "minik8s/api/json.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/time.h"

namespace minik8s::gpu {

inline constexpr const char* kGpuApiVersion = "minik8s.io/v1";
// On every submitter pod: the GPUJob's name.
inline constexpr const char* kGpuJobLabel = "minik8s.io/gpujob";
// Added to every GPUJob at create (the GPUJob strategy).
inline constexpr const char* kSlurmJobFinalizer = "minik8s.io/slurm-job";
inline constexpr const char* kDefaultSubmitterImage = "minik8s.io/slurm-submitter:1";
inline constexpr const char* kDefaultSlurmWorkDir = "/var/tmp/minik8s-slurm/work";
inline constexpr const char* kSubmitterContainer = "submitter";
inline constexpr const char* kSubmitterCommand = "minik8s-submitter";
// The submitter pods' ServiceAccount (one per namespace with GPUJobs) and
// the default ClusterRoles it is bound to (docs/gpu.md "The submitter's
// rights"): its namespace's GPUJobs and events (a RoleBinding there), and
// cluster-wide reads of SlurmClusters and the blob store.
inline constexpr const char* kSubmitterServiceAccount = "minik8s-gpujob-submitter";
inline constexpr const char* kSubmitterRole = "system:minik8s:gpujob-submitter";
inline constexpr const char* kSubmitterClusterRole = "system:minik8s:gpujob-submitter-cluster";

struct GPUJobControllerOptions {
  // MINIK8S_SERVER in submitter pods: the API server's URL as a host-network
  // pod on a node reaches it ("http://HOST:PORT"). minik8s server passes its
  // own URL (ApiServer::url()).
  std::string server_url;
  // MINIK8S_SERVER_CA: the PEM CA an https server_url is verified with
  // (empty: not set).
  std::string server_ca_pem;
  // The images are imported locally (no registry): IfNotPresent, as the
  // function runtime pods.
  std::string image_pull_policy = "IfNotPresent";
  int workers = 2;
};

class GPUJobController : public client::ControllerHandle {
 public:
  // minik8s server: the shared factory.
  GPUJobController(client::SharedInformerFactory& factory, GPUJobControllerOptions opts,
                   Clock& clock = real_clock());
  // A private factory over client (tests).
  GPUJobController(client::Client& client, GPUJobControllerOptions opts,
                   Clock& clock = real_clock());

 private:
  struct Impl;
};

// "<job>-submitter".
std::string submitter_pod_name(const std::string& job_name);

// The submitter Pod of `job` on `cluster` (docs/gpu.md "The submitter"):
// name, label, ownerReference (controller, blockOwnerDeletion),
// restartPolicy OnFailure, hostNetwork, serviceAccountName
// kSubmitterServiceAccount (its projected token authenticates the
// submitter), container "submitter" (the
// cluster's spec.submitterImage or the default, command minik8s-submitter,
// env MINIK8S_SERVER / GPUJOB_NAMESPACE / GPUJOB_NAME), a hostPath volume
// (DirectoryOrCreate) of spec.workDir mounted at the same path, the
// cluster's nodeSelector. Pure.
api::Json submitter_pod(const api::Json& job, const api::Json& cluster,
                        const GPUJobControllerOptions& opts);

}  // namespace minik8s::gpu
