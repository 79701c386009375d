// Building blocks of the kubelet's pod worker, each a small unit with its
// own tests (src/kubelet/{volumes,env,resources,probe,cgroups}.cc):
//   VolumeManager  — emptyDir (medium Memory = tmpfs), hostPath, configMap,
//                    secret volumes under <root_dir>/pods/<uid>/volumes/<name>
//   container_mounts — volumeMounts → CRI mounts (readOnly, subPath bind
//                    mounts under <root_dir>/pods/<uid>/volume-subpaths)
//   resolve_env    — env: literal, fieldRef, configMapKeyRef, secretKeyRef
//   container_resources — requests/limits → CPU shares/quota/period, memory
//   Prober         — one liveness/readiness/startup probe attempt
//   PodCgroups     — the per-pod cgroup parent in every cgroup v1 hierarchy
// Errors carry a message fit for a pod Event / container waiting message
// (e.g. `configmap "cfg" not found`, `secret "s" has no key "k"`).
// Thread safety: all are safe to use from several pod workers at once.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/cri/runtime.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

// A pod volume made ready on the host.
struct HostVolume {
  std::string path;        // directory (or file, for a hostPath of type File)
  bool read_only = false;  // configMap, secret, downwardAPI, projected: only the
                           // kubelet writes them, containers get them read-only
};

class VolumeManager {
 public:
  // root_dir: the kubelet root (volumes live in <root_dir>/pods/<uid>/volumes).
  VolumeManager(client::Client& client, std::string root_dir);
  // Makes every volume of the pod ready (idempotent; configMap/secret
  // contents refreshed on each call, written atomically; file modes & 0777).
  // A projected serviceAccountToken source gets a token from the API server
  // (POST serviceaccounts/<pod's>/token: its audience, expirationSeconds
  // (default 3600), bound to the pod) and keeps it until 80 % of its
  // lifetime or 24 h has passed; a later call then asks for a new one.
  // Returns volume name → host volume.
  // An unsupported volume type or a missing configMap/secret (not optional)
  // is an error whose message names it (→ FailedMount event).
  Result<std::map<std::string, HostVolume>> setup(const api::Json& pod);
  // Unmounts tmpfs volumes and subPath bind mounts, then removes
  // <root_dir>/pods/<uid>; an error (and nothing removed) if a mount stays.
  // Forgets the pod's tokens too.
  Status teardown(const std::string& pod_uid);
  std::string pod_dir(const std::string& pod_uid) const;
  // <pod dir>/volume-subpaths: container_mounts' staging area for the pod.
  std::string subpath_dir(const std::string& pod_uid) const;

 private:
  struct Token {
    std::string token;
    std::chrono::steady_clock::time_point refresh_at;
  };
  // The token for one projected source (key "<pod uid>/<volume>/<path>"),
  // cached or newly requested.
  Result<std::string> service_account_token(const api::Json& pod, const std::string& volume,
                                            const api::Json& source);

  client::Client& client_;
  std::string root_dir_;
  std::mutex tokens_mu_;
  std::map<std::string, Token> tokens_;  // guarded by tokens_mu_
};

// volumeMounts of a container → CRI mounts (read-only when the mount says so
// or the volume is read-only). A subPath is opened inside the volume by file
// descriptor (openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS; missing
// directories created one by one under their parent's descriptor) and that
// descriptor is bind-mounted onto <subpath_dir>/<volume>/<container>/<index>,
// which is what CRI gets: a symlink swapped into the volume later changes
// nothing (CVE-2017-1002101). A subPath that leaves the volume ("..", a
// symlink pointing outside), subPathExpr, or a mount naming an unknown volume
// is an error naming it (→ CreateContainerConfigError). subPath needs
// CAP_SYS_ADMIN in the runtime's mount namespace; the mounts go with
// VolumeManager::teardown.
Result<std::vector<cri::Mount>> container_mounts(const api::Json& container,
                                                 const std::map<std::string, HostVolume>& volumes,
                                                 const std::string& subpath_dir);

struct EnvContext {
  std::string pod_ip;
  std::string host_ip;
  std::string node_name;
  // The pod's Service environment variables (service_env below): usable in
  // $(VAR) references, and added after the container's own env for the names
  // it does not set, as Kubernetes does.
  std::vector<cri::KeyValue> service_env{};
};
// Kubernetes' Service environment variables of a pod in namespace ns:
// for every Service with a cluster IP (not headless) — those of ns when
// enableServiceLinks (the default), and always default/kubernetes, the API
// server — NAME_SERVICE_HOST, NAME_SERVICE_PORT (first port),
// NAME_SERVICE_PORT_<PORTNAME> (named ports) and the Docker link variables
// NAME_PORT, NAME_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR} (NAME: the
// Service's name upper-cased, '-' → '_'). In-cluster clients find the API
// server through KUBERNETES_SERVICE_HOST/PORT. Sorted by Service name, each
// Service's variables in Kubernetes' order.
std::vector<cri::KeyValue> service_env(
    const std::vector<std::shared_ptr<const api::Json>>& services, const std::string& ns,
    bool enable_service_links);
// The container's env in order (later duplicates win, like Kubernetes), with
// fieldRef (metadata.name, metadata.namespace, metadata.uid, status.podIP,
// status.hostIP, spec.nodeName, spec.serviceAccountName, metadata.labels['k'],
// metadata.annotations['k']), configMapKeyRef and secretKeyRef (optional
// honoured) resolved; also envFrom (configMapRef/secretRef with prefix).
Result<std::vector<cri::KeyValue>> resolve_env(const api::Json& pod, const api::Json& container,
                                               const EnvContext& ctx, client::Client& client);

// command/args with $(VAR) references expanded from the container's resolved
// env (the output of resolve_env), as Kubernetes does: $$ escapes to $ (so
// $$(X) stays the literal "$(X)"), an unknown $(X) stays verbatim.
std::vector<std::string> expand_command(const std::vector<std::string>& in, const std::vector<cri::KeyValue>& env);

// resources.requests/limits → CRI resources: cpu limit → quota = milli*100 µs
// per 100000 µs period; cpu request (or limit) → shares = milli*1024/1000
// (min 2); memory limit → limit bytes; oom_score_adj from the QoS class,
// clamped to [0, 1000] (never negative, see RECIPES.md).
cri::Resources container_resources(const api::Json& pod, const api::Json& container);
// "Guaranteed" | "Burstable" | "BestEffort".
std::string qos_class(const api::Json& pod);

enum class ProbeOutcome { kSuccess, kFailure };
struct ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::kFailure;
  std::string message;  // e.g. "HTTP probe failed with statuscode: 500"
};
class Prober {
 public:
  explicit Prober(cri::Runtime& runtime) : runtime_(runtime) {}
  // One attempt of probe (the Kubernetes Probe object: exec, httpGet,
  // tcpSocket; timeoutSeconds honoured) against a container of a pod at pod_ip.
  // A named port is looked up in the container's ports.
  ProbeResult run(const api::Json& probe, const api::Json& container, const std::string& pod_ip,
                  const std::string& container_id);

 private:
  cri::Runtime& runtime_;
};

class PodCgroups {
 public:
  // cgroup_fs: "/sys/fs/cgroup"; root: "/minik8s/<node>" — pods go to <root>/pod<uid>.
  PodCgroups(std::string cgroup_fs, std::string root);
  std::string parent_for(const std::string& pod_uid) const;  // "<root>/pod<uid>" (cgroupfs path for CRI)
  // Creates the pod directory in each v1 hierarchy (cpu, cpuacct, memory,
  // pids, cpuset — copying cpuset.cpus/mems from the parent, blkio, devices,
  // freezer) or in the unified hierarchy on cgroup v2.
  Status create(const std::string& pod_uid);
  // Removes the pod directory in every hierarchy (kills leftover tasks first).
  Status remove(const std::string& pod_uid);
  bool exists(const std::string& pod_uid) const;
  // Pod UIDs that have a cgroup under root (for orphan cleanup).
  std::vector<std::string> list() const;

 private:
  std::string cgroup_fs_;
  std::string root_;
};

}  // namespace minik8s::kubelet
