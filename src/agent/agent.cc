// `minik8s agent`: config → containerd (managed or given) → offline images →
// kubelet + its HTTP server → Node registration, status and Lease heartbeats
// → wait for SIGTERM/SIGINT (pods and a managed containerd keep running).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "agent_state.h"
#include "file_triggers.h"
#include "join.h"
#include "kubelet_tls.h"
#include "minik8s/auth/pki.h"
#include "minik8s/client/kubeconfig.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/cri/containerd.h"
#include "minik8s/cri/grpc_runtime.h"
#include "minik8s/images/images.h"
#include "minik8s/kubelet/kubelet.h"
#include "minik8s/kubelet/server.h"
#include "minik8s/kubelet/server_auth.h"
#include "minik8s/util/signals.h"
#include "node.h"
#include "node_services.h"
#include "serving_cert.h"

namespace minik8s::agent {

namespace fs = std::filesystem;

namespace {

// Builds (cached) and imports the images a managed containerd needs: pause
// (the sandbox image) and busybox. Present images are skipped after one CRI
// ImageStatus call each.
Status ensure_images(cri::Runtime& runtime, const std::string& socket,
                     const std::string& cache_dir) {
  for (const char* name : {"pause", "busybox"}) {
    const std::string ref = images::image_ref(name);
    auto present = runtime.image_status(ref);
    if (present && present->has_value()) continue;
    auto t0 = std::chrono::steady_clock::now();
    auto built = images::build_image(name, cache_dir);
    if (!built)
      return Status(built.status().code(),
                    std::string("building image ") + name + ": " + built.status().message());
    if (Status st = images::import_archive(built->archive, socket); !st) {
      return Status(st.code(), std::string("importing image ") + name + ": " + st.message());
    }
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    spdlog::info("image {} imported ({}{} ms)", ref, built->cached ? "cached archive, " : "", ms);
  }
  return Status::ok();
}

// The function runtime image (docs/serverless.md) is not needed to start a
// node, and importing its ~45 MiB archive takes a few seconds (3.6 s on the
// 2-core dev VM; pause + busybox take 0.4 s), so it is imported on a thread
// of its own while the node registers and sets up its network. A pod that
// asks for it meanwhile waits for the import in the kubelet's image step
// (PendingImports::await, KubeletOptions::await_local_image) instead of
// failing its pull and backing off. A failure is logged, not fatal: the node
// runs everything else. The archive is normally built up front
// (scripts/cluster.sh, scripts/run.sh); when it is not, this builds it
// (mmdebstrap, ~40 s, needs the Debian mirror).
constexpr const char* kOptionalImages[] = {"python-runtime"};
// The ML runtime image (Function runtime python3-ml, docs/workflows.md
// "Runtime images") is larger (~100 MiB gzipped) and rarely used, so a node
// imports it only when a pod first asks for it: the first python3-ml instance
// on a node waits for the import (seconds from the cached archive), and
// clusters that never run one pay nothing. Normally built up front by
// scripts/cluster.sh and scripts/run.sh; when it is not, the first import
// builds it (mmdebstrap, minutes, needs the Debian mirror). The GPUJob
// submitter image (docs/gpu.md) likewise: only nodes that run a submitter
// pod import it (41 MiB; its first build ~55 s, mmdebstrap; a rebuilt
// minik8s-submitter only re-packs it, ~6 s). The in-cluster client image
// (python-kubernetes, docs/auth.md "In-cluster clients") too: 60 MB, first
// build ~80 s.
constexpr const char* kOnDemandImages[] = {"python-ml-runtime", "slurm-submitter",
                                           "python-kubernetes"};

// The optional images still being imported, and the on-demand ones.
// Thread-safe.
class PendingImports {
 public:
  PendingImports(std::string socket, std::string cache_dir)
      : socket_(std::move(socket)), cache_dir_(std::move(cache_dir)) {
    for (const char* name : kOptionalImages) pending_.insert(images::image_ref(name));
    for (const char* name : kOnDemandImages) on_demand_[images::image_ref(name)] = name;
  }
  void done(const std::string& ref) {
    {
      std::lock_guard l(mu_);
      pending_.erase(ref);
    }
    cv_.notify_all();
  }
  // True once ref, if it was pending, is no longer (imported or failed: the
  // caller looks again); for an on-demand image not imported yet, imports it
  // first (one import at a time; a failed one is tried again by the next
  // pod). False at once for any other image, or at the deadline.
  bool await(const std::string& ref) {
    std::unique_lock l(mu_);
    auto od = on_demand_.find(ref);
    if (od != on_demand_.end() && !pending_.count(ref)) {
      pending_.insert(ref);
      const std::string name = od->second;
      l.unlock();
      import_on_demand(name, ref);
      done(ref);
      return true;
    }
    if (!pending_.count(ref)) return false;
    return cv_.wait_for(l, std::chrono::minutes(5), [&] { return !pending_.count(ref); });
  }

 private:
  void import_on_demand(const std::string& name, const std::string& ref) {
    auto t0 = std::chrono::steady_clock::now();
    auto built = images::build_image(name, cache_dir_);
    Status st = built ? images::import_archive(built->archive, socket_) : built.status();
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (!st) {
      spdlog::warn("image {} not imported on demand: {}", ref, st.to_string());
      return;
    }
    spdlog::info("image {} imported on demand ({}{} ms)", ref,
                 built->cached ? "cached archive, " : "", ms);
  }

  const std::string socket_;
  const std::string cache_dir_;
  std::map<std::string, std::string> on_demand_;  // ref → image name; const after construction
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> pending_;  // guarded by mu_
};

void import_optional_images(cri::Runtime& runtime, const std::string& socket,
                            const std::string& cache_dir, PendingImports& pending) {
  for (const char* name : kOptionalImages) {
    const std::string ref = images::image_ref(name);
    struct Done {
      PendingImports& p;
      const std::string& ref;
      ~Done() { p.done(ref); }
    } done{pending, ref};
    auto present = runtime.image_status(ref);
    if (present && present->has_value()) continue;
    auto t0 = std::chrono::steady_clock::now();
    auto built = images::build_image(name, cache_dir);
    Status st = built ? images::import_archive(built->archive, socket) : built.status();
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (!st) {
      spdlog::warn("image {} not imported (pods using it will not start on this node): {}", ref,
                   st.to_string());
      continue;
    }
    spdlog::info("image {} imported ({}{} ms)", ref, built->cached ? "cached archive, " : "", ms);
  }
}

}  // namespace

int run_agent(int argc, char** argv) {
  AgentFlags extra;
  int exit_code = 0;
  auto parsed = parse_agent_flags(argc, argv, &extra, &exit_code);
  if (!parsed) {
    if (parsed.status().code() == Code::kBadRequest) {  // CLI11: help or a usage error
      std::fputs(parsed.status().message().c_str(), exit_code == 0 ? stdout : stderr);
      return exit_code;
    }
    std::fprintf(stderr, "error: %s\n", parsed.status().message().c_str());
    return 2;
  }
  NodeConfig cfg = std::move(*parsed);
  fill_defaults(cfg);
  spdlog::set_level(spdlog::level::from_str(extra.log_level));

  const sigset_t sigs = block_stop_signals();

  // GPUs (docs/gpu.md "GPU nodes"): probed once; the count goes into the
  // Node's capacity, the devices and driver files to the kubelet.
  auto gpu_runner = kubelet::make_command_runner(std::chrono::seconds(15));
  kubelet::GpuProbe gpu_probe("/", *gpu_runner);
  auto gpus = node_gpus(cfg, gpu_probe);
  if (!gpus) {
    std::fprintf(stderr, "error: %s\n", gpus.status().message().c_str());
    return 2;
  }
  kubelet::GpuHostFiles gpu_files;
  if (!gpus->empty()) {
    gpu_files = gpu_probe.host_files();
    std::string list;
    for (const auto& g : *gpus)
      list += (list.empty() ? "" : ", ") + std::to_string(g.index) + " " + g.name;
    spdlog::info("{} NVIDIA GPU(s): {}; {} driver libraries, nvidia-smi {}", gpus->size(), list,
                 gpu_files.libraries.size(),
                 gpu_files.nvidia_smi.empty() ? "absent" : gpu_files.nvidia_smi);
  }

  std::error_code ec;
  fs::create_directories(cfg.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", cfg.data_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  cfg.data_dir = fs::canonical(cfg.data_dir).string();

  // The API server.
  // --server alone: that URL (http://, or https:// verified with the
  // system's roots); a kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config)
  // gives the server, the CA and the credentials (--server overrides its URL).
  // A bootstrap token, or the node credential an earlier join left in
  // <data-dir>/kubelet.conf (join.h), becomes the kubeconfig.
  if (cfg.kubeconfig.empty()) {
    JoinOptions jo;
    jo.server = cfg.server;
    jo.token = cfg.token;
    jo.ca_cert_hash = cfg.ca_cert_hash;
    jo.skip_ca_verification = cfg.discovery_token_unsafe_skip_ca_verification;
    jo.data_dir = cfg.data_dir;
    jo.node_name = cfg.node_name;
    auto joined = ensure_node_credential(jo);
    if (!joined) {
      std::fprintf(stderr, "error: join: %s\n", joined.status().message().c_str());
      return joined.status().code() == Code::kInvalid ? 2 : 1;
    }
    if (!joined->empty()) cfg.kubeconfig = *joined;  // --server, when given, still names the URL
  }
  client::HttpRestClientOptions ro;
  ro.server = cfg.server;
  if (cfg.server.empty() || !cfg.kubeconfig.empty()) {
    client::ConnectionFlags cf;
    cf.server = cfg.server;
    cf.kubeconfig_path = cfg.kubeconfig;
    if (const char* e = std::getenv("KUBECONFIG")) cf.kubeconfig_env = e;
    if (const char* h = std::getenv("HOME")) cf.home = h;
    auto kc = client::resolve_connection(cf);
    if (!kc) {
      std::fprintf(stderr, "error: %s\n", kc.status().message().c_str());
      return 2;
    }
    ro = client::rest_options(*kc);
  }
  const std::string server = ro.server;
  auto rest = client::make_http_rest_client(ro);
  if (!rest) {
    std::fprintf(stderr, "error: API server %s: %s\n", server.c_str(),
                 rest.status().message().c_str());
    return 2;
  }
  client::Client client(**rest);

  // The container runtime.
  const bool managed = cfg.container_runtime_endpoint == "managed";
  std::unique_ptr<cri::ManagedContainerd> containerd;
  std::string endpoint = cfg.container_runtime_endpoint;
  if (managed) {
    cri::ContainerdOptions co;
    co.data_dir = cfg.data_dir;
    co.sandbox_image = images::image_ref("pause");
    co.netns = cfg.netns;
    co.leave_running = true;  // SIGTERM leaves pods running, like k3s
    if (!cfg.cni_bridge.empty()) co.cni_bridge = cfg.cni_bridge;
    if (cfg.enabled("network")) co.pod_cidr.clear();  // the network part writes the CNI config
    containerd = std::make_unique<cri::ManagedContainerd>(co);
    if (Status st = containerd->start(); !st) {
      std::fprintf(stderr, "error: starting containerd: %s\n", st.to_string().c_str());
      return 1;
    }
    endpoint = "unix://" + containerd->socket_path();
    spdlog::info("containerd running (pid {}, socket {})", containerd->pid(),
                 containerd->socket_path());
  }
  cri::GrpcRuntimeOptions go;
  go.endpoint = endpoint;
  auto runtime = cri::make_grpc_runtime(go);
  if (!runtime) {
    std::fprintf(stderr, "error: CRI endpoint %s: %s\n", endpoint.c_str(),
                 runtime.status().message().c_str());
    return 2;
  }

  AgentState state;
  state.node_name = cfg.node_name;
  state.cgroup_root = "/minik8s/" + cfg.node_name;
  state.managed = managed;
  state.endpoint = endpoint;
  state.netns = cfg.netns;
  state.pid = getpid();
  if (Status st = write_agent_state(cfg.data_dir, state); !st) spdlog::warn("{}", st.to_string());

  if (managed) {
    if (Status st = ensure_images(**runtime, containerd->socket_path(),
                                  image_cache_dir(extra.image_cache, cfg.data_dir));
        !st) {
      std::fprintf(stderr, "error: %s\n", st.to_string().c_str());
      return 1;
    }
  }
  // Joined when run_agent returns (std::jthread), whichever way it does;
  // declared after `pending`, which it uses.
  // The images the thread below imports, and the on-demand ones.
  PendingImports pending(containerd ? containerd->socket_path() : std::string(),
                         image_cache_dir(extra.image_cache, cfg.data_dir));
  std::jthread optional_images;
  if (managed) {
    optional_images =
        std::jthread(import_optional_images, std::ref(**runtime), containerd->socket_path(),
                     image_cache_dir(extra.image_cache, cfg.data_dir), std::ref(pending));
  }

  kubelet::KubeletOptions ko;
  ko.node_name = cfg.node_name;
  ko.node_ip = cfg.node_ip;
  ko.root_dir = cfg.data_dir + "/kubelet";
  ko.pod_log_dir = cfg.data_dir + "/pod-logs";
  ko.cgroup_root = state.cgroup_root;
  ko.cluster_dns = cfg.cluster_dns;
  ko.max_pods = cfg.max_pods;
  ko.gpus = *gpus;
  ko.gpu_files = gpu_files;
  if (managed)
    ko.await_local_image = [&pending](const std::string& image) { return pending.await(image); };
  kubelet::Kubelet kubelet(client, **runtime, ko);
  const std::string cni_conf_dir =
      containerd ? containerd->cni_conf_dir() : std::string("/etc/cni/net.d");
  const std::string cni_ipam_dir =
      containerd ? containerd->cni_ipam_dir() : cfg.data_dir + "/cni/ipam";
  const std::string bridge = containerd               ? containerd->cni_bridge()
                             : cfg.cni_bridge.empty() ? std::string("mk0")
                                                      : cfg.cni_bridge;
  NodeServices services(client, cfg, cni_conf_dir, cni_ipam_dir, bridge);
  // The kubelet's server (docs/auth.md "The kubelet's server"): HTTPS, with
  // requests authenticated and authorized by the API server, when that is
  // https; plain HTTP only for a plain-http API server.
  auto ktls = kubelet_tls(cfg, ro);
  if (!ktls) {
    std::fprintf(stderr, "error: kubelet server: %s\n", ktls.status().message().c_str());
    return 2;
  }
  kubelet::KubeletServerOptions kso;
  kso.listen = cfg.listen;
  kso.node_name = cfg.node_name;
  kso.limits = cfg.http_limits;
  std::unique_ptr<kubelet::AuthReviewer> reviewer;
  if (ktls->https) {
    kso.tls_cert_file = ktls->cert_file;
    kso.tls_key_file = ktls->key_file;
    if (kso.tls_cert_file.empty()) {
      // No --tls-cert-file: one from a kubelet-serving CSR (serving_cert.h).
      ServingCertOptions sco;
      sco.data_dir = cfg.data_dir;
      sco.node_name = cfg.node_name;
      sco.ip_addresses = {cfg.node_ip};
      const std::string listen_host = cfg.listen.substr(0, cfg.listen.rfind(':'));
      if (!listen_host.empty() && listen_host != "0.0.0.0" && listen_host != cfg.node_ip &&
          listen_host.find_first_not_of("0123456789.") == std::string::npos)
        sco.ip_addresses.push_back(listen_host);
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) == 0 && host[0]) {
        std::string h = host;
        for (char& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        sco.dns_names.push_back(h);
      }
      sco.dns_names.push_back(cfg.node_name);
      sco.ca_pem = ro.tls.ca_pem;
      if (sco.ca_pem.empty() && !ktls->client_ca_file.empty()) {
        if (auto pem = auth::read_pem_file(ktls->client_ca_file)) sco.ca_pem = *pem;
      }
      bool stopped = false;
      auto sc = ensure_serving_certificate(**rest, sco, [&](std::chrono::milliseconds d) {
        stopped = wait_for_signal(sigs, d) != 0;
        return stopped;
      });
      if (!sc) {
        if (stopped) return 0;  // SIGTERM while waiting
        std::fprintf(stderr, "error: the kubelet's serving certificate: %s\n",
                     sc.status().message().c_str());
        return 1;
      }
      spdlog::info("kubelet serving certificate {}{}", sc->cert_file, sc->reused ? " (kept)" : "");
      kso.tls_cert_file = sc->cert_file;
      kso.tls_key_file = sc->key_file;
    }
    kso.client_ca_file = ktls->client_ca_file;
    reviewer = kubelet::make_api_reviewer(**rest);
    kso.reviewer = reviewer.get();
  } else {
    spdlog::warn(
        "the API server {} is plain http: so is the kubelet's server on {}, and it answers anyone",
        server, cfg.listen);
  }
  kubelet::KubeletServer kserver(kubelet, **runtime, kso);
  if (Status st = kserver.start(); !st) {
    std::fprintf(stderr, "error: kubelet server on %s: %s\n", cfg.listen.c_str(),
                 st.to_string().c_str());
    return 1;
  }

  HostInfo host = probe_host(cfg.data_dir);
  host.gpus = static_cast<int64_t>(gpus->size());
  NodeReporter reporter(client, **runtime, cfg, host, kserver.port());
  // The API server may come up after us: retry registration until it answers.
  for (bool warned = false;;) {
    Status st = reporter.register_node();
    if (st) break;
    if (!warned)
      spdlog::warn("registering node {} at {}: {} (retrying)", cfg.node_name, server,
                   st.to_string());
    warned = true;
    if (wait_for_signal(sigs, std::chrono::milliseconds(1000)) != 0) {
      kserver.stop();
      return 0;
    }
  }
  // The pod network (waits for spec.podCIDR), then Services, DNS and ingress,
  // then the pods.
  // Recorded first: a setup that fails halfway still gets torn down by `down`.
  services.record(state);
  if (Status st = write_agent_state(cfg.data_dir, state); !st) spdlog::warn("{}", st.to_string());
  if (Status st = services.setup_network(
          [&] { return wait_for_signal(sigs, std::chrono::milliseconds(0)) != 0; });
      !st) {
    std::fprintf(stderr, "error: pod network: %s\n", st.to_string().c_str());
    kserver.stop();
    return st.code() == Code::kUnavailable ? 0 : 1;
  }
  services.start();
  // Pods get the node's DNS server only when it is serving (on port 53:
  // resolv.conf has no port); else the configured servers or the host's.
  if (cfg.cluster_dns.empty() && !services.cluster_dns_ip().empty())
    kubelet.set_cluster_dns({services.cluster_dns_ip()}, cfg.cluster_domain);
  else
    kubelet.set_cluster_dns(cfg.cluster_dns, cfg.cluster_domain);
  if (Status st = kubelet.start(); !st) {
    std::fprintf(stderr, "error: kubelet: %s\n", st.to_string().c_str());
    kserver.stop();
    return 1;
  }
  reporter.start();
  // fileChange triggers on this node (docs/workflows.md): best effort, like the network parts.
  FileTriggerOptions fto;
  fto.node_name = cfg.node_name;
  // The host of the first API server stands for the gateway's loopback address.
  fto.api_server =
      client::split_servers(server).empty() ? server : client::split_servers(server).front();
  FileTriggerWatcher file_triggers(client, fto);
  if (Status st = file_triggers.start(); !st)
    spdlog::warn("fileChange triggers disabled: {}", st.to_string());
  spdlog::info("minik8s agent {} ready (kubelet on port {}, runtime {})", cfg.node_name,
               kserver.port(), endpoint);
  spdlog::default_logger()->flush();

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("received signal {}, stopping the agent (pods keep running)", sig);
  file_triggers.stop();
  reporter.stop();
  kserver.stop();
  kubelet.stop();
  services.stop();  // routes, rules, DNS answers' source and nginx stay until down
  if (containerd) containerd->stop();  // leave_running: containerd and its pods stay
  spdlog::info("agent stopped");
  return 0;
}

}  // namespace minik8s::agent
