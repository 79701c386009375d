#include "minik8s/server/server.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cluster_info.h"
#include "minik8s/api/address_rules.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/auth/jwt.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/client/leader_election.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/controllers/apiserver_endpoints.h"
#include "minik8s/controllers/certificates.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/gpu/controller.h"
#include "minik8s/metrics/metrics.h"
#include "minik8s/scheduler/scheduler.h"
#include "minik8s/serverless/platform.h"
#include "minik8s/storage/etcd.h"
#include "minik8s/storage/storage.h"
#include "minik8s/util/file.h"
#include "minik8s/util/net.h"
#include "minik8s/util/signals.h"
#include "server_pki.h"

namespace minik8s::server {

namespace {

// "20s", "500ms", "1m", "1.5" (seconds) → milliseconds; nullopt when malformed or negative.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  std::string num = text.substr(0, i), unit = text.substr(i);
  if (num.empty() || std::count(num.begin(), num.end(), '.') > 1) return std::nullopt;
  double v = 0;
  try {
    v = std::stod(num);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1000;
  else if (unit == "ms")
    scale = 1;
  else if (unit == "m")
    scale = 60000;
  else if (unit == "h")
    scale = 3600000;
  else
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(v * scale + 0.5));
}

const std::vector<std::string>& controller_names() {
  static const std::vector<std::string> names = {"namespace",
                                                 "node-ipam",
                                                 "endpoints",
                                                 "replicaset",
                                                 "deployment",
                                                 "garbage-collector",
                                                 "horizontal-pod-autoscaler",
                                                 "node-lifecycle",
                                                 "metrics",
                                                 "serverless",
                                                 "gpujob",
                                                 "serviceaccount",
                                                 "csrapproving",
                                                 "csrsigning",
                                                 "tokencleaner"};
  return names;
}

}  // namespace

int run_server(int argc, char** argv) {
  // Request bodies and objects up to a few MiB are parsed, copied and freed
  // on many connection threads. glibc raises its mmap threshold after such
  // frees and then keeps the memory in per-thread heaps: 40 PUTs of a 1 MiB
  // ConfigMap left 330 MB resident instead of 190 MB. A fixed threshold
  // keeps every allocation of 128 KiB or more in its own mapping, returned
  // to the system when freed.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  CLI::App app{"minik8s server: the control plane (API server and controllers)", "server"};
  std::string data_dir = "/var/lib/minik8s";
  std::string listen = "127.0.0.1:6443";
  std::string service_cidr = "10.96.0.0/12";
  std::string node_port_range = "30000-32767";
  int64_t keep_revisions = 10000;
  int64_t keep_age = 300;
  // The store (docs/storage.md): the embedded SQLite file or etcd v3.
  std::string storage_kind = "sqlite";
  std::vector<std::string> etcd_servers;
  std::string etcd_cafile, etcd_certfile, etcd_keyfile;
  size_t watch_cache_bytes = apiserver::ApiServerOptions().watch_cache_bytes;
  std::string log_level = "info";
  std::string scheduler_policy = "least-allocated";
  bool disable_scheduler = false;
  std::string cluster_cidr = "10.244.0.0/16";
  int node_cidr_mask = 24;
  bool allocate_node_cidrs = true;
  std::vector<std::string> disabled_controllers;
  std::string node_monitor_grace = "20s", node_monitor_period = "1s";
  int64_t not_ready_toleration = 30, unreachable_toleration = 30;
  std::string hpa_sync = "15s", hpa_downscale = "5m";
  double hpa_tolerance = 0.1;
  std::string metric_resolution = "5s";
  // Connection limits of the API server (docs/api.md "Connection limits").
  std::string http_header_timeout = "30s", http_body_timeout = "60s", http_idle_timeout = "90s";
  size_t max_connections = 1024;
  std::string cluster_domain = "cluster.local", local_node;
  // Serverless functions (docs/serverless.md).
  std::string gateway_listen, gateway_queue_timeout = "30s";
  size_t gateway_max_body = serverless::GatewayOptions().max_body_bytes;
  int function_pool_size = 2;
  // High availability (docs/ha.md): only the Lease holder runs the controllers.
  bool leader_elect = false;
  std::string le_lease = "15s", le_renew = "10s", le_retry = "2s", le_resource = "minik8s-leader";
  // The Endpoints default/kubernetes (docs/ha.md "In-cluster clients").
  std::string endpoint_reconciler = "lease", ep_lease = "15s", ep_renew = "10s";
  app.add_option("--data-dir", data_dir, "state directory (store.db, kubeconfig)");
  app.add_option("--listen", listen, "HOST:PORT to serve the API on (port 0 picks one)");
  std::string advertise_address;
  app.add_option(
      "--advertise-address", advertise_address,
      "IPv4 address pods reach the API server at: the endpoint of the Service default/kubernetes "
      "(default: --listen's host; the default route's address when that is 0.0.0.0). When --listen "
      "names another single address (loopback), the server listens on this one too, same port");
  app.add_option(
         "--endpoint-reconciler-type", endpoint_reconciler,
         "lease: every live server keeps a Lease kube-system/apiserver-<hash> and the Endpoints "
         "default/kubernetes list them all; none: this server writes its own address there at "
         "start "
         "(one server only). --insecure-http always behaves as none")
      ->check(CLI::IsMember({"lease", "none"}));
  app.add_option(
      "--endpoint-lease-duration", ep_lease,
      "with --endpoint-reconciler-type lease: a server's endpoint leaves this long after its last "
      "Lease renewal (whole seconds, e.g. 15s)");
  app.add_option(
      "--endpoint-renew-interval", ep_renew,
      "with --endpoint-reconciler-type lease: how often a server renews its Lease (e.g. 10s)");
  app.add_option("--service-cidr", service_cidr, "range for Service cluster IPs");
  app.add_option("--node-port-range", node_port_range, "range for NodePorts, MIN-MAX");
  app.add_option("--compaction-keep-revisions", keep_revisions, "revisions kept for watches");
  app.add_option("--compaction-keep-age", keep_age, "seconds of history kept for watches");
  app.add_option("--storage", storage_kind,
                 "sqlite (DATA-DIR/store.db, default) or etcd (--etcd-servers)");
  app.add_option("--etcd-servers", etcd_servers, "etcd client URLs, http(s)://HOST:PORT[,...]")
      ->delimiter(',');
  app.add_option("--etcd-cafile", etcd_cafile, "CA certificate that signed etcd's (https URLs)");
  app.add_option("--etcd-certfile", etcd_certfile,
                 "client certificate for etcd (with --etcd-keyfile)");
  app.add_option("--etcd-keyfile", etcd_keyfile, "client key for etcd");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_option("--scheduler-policy", scheduler_policy, "least-allocated|round-robin|random");
  app.add_flag("--disable-scheduler", disable_scheduler, "do not run the scheduler (tests)");
  app.add_option("--watch-cache-bytes", watch_cache_bytes,
                 "most bytes of recent events the watch cache keeps (older watches get 410)");
  app.add_option("--cluster-cidr", cluster_cidr,
                 "range the node IPAM controller cuts pod CIDRs from");
  app.add_option("--node-cidr-mask-size", node_cidr_mask, "prefix length of each node's pod CIDR");
  app.add_flag(
      "--allocate-node-cidrs,!--no-allocate-node-cidrs", allocate_node_cidrs,
      "assign spec.podCIDR to nodes (true|false; false disables the node IPAM controller)");
  app.add_option(
         "--disable-controllers", disabled_controllers,
         "controllers not to run (comma-separated): namespace, node-ipam, endpoints, replicaset, "
         "deployment, garbage-collector, horizontal-pod-autoscaler, node-lifecycle, metrics, "
         "serverless (the function gateway, autoscaler and controllers), gpujob (GPUJob submitter "
         "pods), "
         "serviceaccount, csrapproving, csrsigning, tokencleaner")
      ->delimiter(',');
  app.add_option("--node-monitor-grace-period", node_monitor_grace,
                 "a node whose Lease is older than this becomes NotReady/Unknown (e.g. 20s)");
  app.add_option("--node-monitor-period", node_monitor_period,
                 "how often node health is checked (e.g. 1s)");
  app.add_option(
      "--default-not-ready-toleration-seconds", not_ready_toleration,
      "tolerationSeconds of the not-ready NoExecute toleration added to every pod (-1: none)");
  app.add_option(
      "--default-unreachable-toleration-seconds", unreachable_toleration,
      "tolerationSeconds of the unreachable NoExecute toleration added to every pod (-1: none)");
  app.add_option("--horizontal-pod-autoscaler-sync-period", hpa_sync,
                 "HPA evaluation period (e.g. 15s, 2s)");
  app.add_option("--horizontal-pod-autoscaler-tolerance", hpa_tolerance,
                 "ratio distance from 1.0 within which the HPA does not scale");
  app.add_option("--horizontal-pod-autoscaler-downscale-stabilization", hpa_downscale,
                 "default scale-down stabilization window (e.g. 5m)");
  app.add_option("--metric-resolution", metric_resolution,
                 "how often kubelets are scraped for metrics (1s..60s)");
  // TLS (docs/auth.md "TLS").
  bool insecure_http = false;
  std::string tls_cert_file, tls_key_file, client_ca_file, ca_cert, ca_key;
  std::vector<std::string> tls_sans;
  app.add_flag("--insecure-http", insecure_http,
               "serve plain HTTP (no TLS; not for a real cluster)");
  app.add_option("--tls-cert-file", tls_cert_file,
                 "serving certificate (default: <data-dir>/pki/apiserver.crt)");
  app.add_option("--tls-private-key-file", tls_key_file,
                 "serving key (default: <data-dir>/pki/apiserver.key)");
  app.add_option("--client-ca-file", client_ca_file,
                 "CA bundle client certificates are verified with (default: the cluster CA)");
  app.add_option("--ca-cert", ca_cert,
                 "cluster CA certificate (default: <data-dir>/pki/ca.crt, created)");
  app.add_option("--ca-key", ca_key, "cluster CA key (default: <data-dir>/pki/ca.key, created)");
  std::string sa_signing_key_file;
  app.add_option("--service-account-signing-key-file", sa_signing_key_file,
                 "private key ServiceAccount tokens are signed and verified with (default: "
                 "<data-dir>/pki/sa.key, created); servers of one cluster share it (docs/ha.md)");
  app.add_option("--tls-san", tls_sans,
                 "extra subjectAltName (name or IP) of the serving certificate; repeatable")
      ->delimiter(',');
  app.add_option("--http-header-timeout", http_header_timeout,
                 "time for a request's header (e.g. 30s)");
  app.add_option("--http-body-timeout", http_body_timeout,
                 "time for a request's whole body (e.g. 60s)");
  app.add_option("--http-idle-timeout", http_idle_timeout,
                 "keep-alive wait for the next request (e.g. 90s)");
  app.add_option("--max-connections", max_connections,
                 "concurrent API connections; more are refused with 429");
  app.add_option("--cluster-domain", cluster_domain,
                 "the cluster DNS zone (the agents' clusterDomain); DNS objects may not claim "
                 "names inside it");
  // Authentication and authorization (docs/auth.md): on whenever TLS is
  // (--insecure-http turns them off unless a token file is given).
  std::string token_auth_file, authorization_mode = "Node,RBAC";
  app.add_option("--token-auth-file", token_auth_file,
                 "static bearer tokens (token,user,uid,\"group1,group2\"); with --insecure-http it "
                 "turns authentication and authorization on");
  app.add_option("--authorization-mode", authorization_mode,
                 "comma-separated authorizers in order: Node, RBAC, AlwaysAllow, AlwaysDeny");
  app.add_option("--local-node", local_node,
                 "the node on this machine: logs/exec may reach its kubelet on a loopback or "
                 "link-local address "
                 "(minik8s up sets it)");
  app.add_option(
      "--gateway-listen", gateway_listen,
      "HOST:PORT of the function gateway (default: --listen's host, port 31080; port 0 when "
      "--listen's port is 0)");
  app.add_option("--gateway-queue-timeout", gateway_queue_timeout,
                 "how long an invocation waits for a function instance before 503 (e.g. 30s)");
  app.add_option("--gateway-max-body", gateway_max_body,
                 "largest invocation body in bytes (larger: 413)");
  app.add_option("--function-pool-size", function_pool_size,
                 "warm runtime pods per node in each namespace with functions (0: no pool)");
  app.add_flag("--leader-elect,!--no-leader-elect", leader_elect,
               "run the scheduler and controllers only while holding the Lease kube-system/"
               "<--leader-elect-resource-name> (several servers on one store; docs/ha.md; "
               "default: on with --storage etcd, off with sqlite)");
  app.add_option(
      "--leader-elect-lease-duration", le_lease,
      "how long followers wait after the last renewal they saw before taking the lease (e.g. 15s)");
  app.add_option(
      "--leader-elect-renew-deadline", le_renew,
      "the leader stops its controllers when it could not renew for this long (e.g. 10s)");
  app.add_option("--leader-elect-retry-period", le_retry,
                 "time between acquire/renew attempts (e.g. 2s)");
  app.add_option("--leader-elect-resource-name", le_resource, "name of the Lease in kube-system");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  // Several servers share an etcd store: elect a leader unless told not to.
  if (storage_kind == "etcd" && app.count("--leader-elect") == 0) leader_elect = true;
  if (storage_kind != "sqlite" && storage_kind != "etcd") {
    std::fprintf(stderr, "error: --storage: \"%s\" is not sqlite or etcd\n", storage_kind.c_str());
    return 2;
  }
  if ((storage_kind == "etcd") != !etcd_servers.empty()) {
    std::fprintf(stderr,
                 "error: --etcd-servers goes with --storage etcd, and --storage etcd needs it\n");
    return 2;
  }
  for (const auto& name : disabled_controllers) {
    const auto& known = controller_names();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      std::fprintf(stderr, "error: --disable-controllers: unknown controller \"%s\" (%s)\n",
                   name.c_str(), list.c_str());
      return 2;
    }
  }
  struct DurationFlag {
    const char* flag;
    const std::string& text;
    std::chrono::milliseconds min;
    std::chrono::milliseconds value{0};
  };
  DurationFlag durations[] = {
      {"--node-monitor-grace-period", node_monitor_grace, std::chrono::milliseconds(1)},
      {"--node-monitor-period", node_monitor_period, std::chrono::milliseconds(1)},
      {"--horizontal-pod-autoscaler-sync-period", hpa_sync, std::chrono::milliseconds(1)},
      {"--horizontal-pod-autoscaler-downscale-stabilization", hpa_downscale,
       std::chrono::milliseconds(0)},
      {"--metric-resolution", metric_resolution, std::chrono::milliseconds(1000)},
      {"--http-header-timeout", http_header_timeout, std::chrono::milliseconds(1)},
      {"--http-body-timeout", http_body_timeout, std::chrono::milliseconds(1)},
      {"--http-idle-timeout", http_idle_timeout, std::chrono::milliseconds(1)},
      {"--gateway-queue-timeout", gateway_queue_timeout, std::chrono::milliseconds(1)},
      {"--leader-elect-lease-duration", le_lease, std::chrono::milliseconds(1000)},
      {"--leader-elect-renew-deadline", le_renew, std::chrono::milliseconds(1)},
      {"--leader-elect-retry-period", le_retry, std::chrono::milliseconds(1)},
      {"--endpoint-lease-duration", ep_lease, std::chrono::milliseconds(1000)},
      {"--endpoint-renew-interval", ep_renew, std::chrono::milliseconds(1)}};
  for (auto& d : durations) {
    auto v = parse_duration(d.text);
    if (!v || *v < d.min) {
      std::fprintf(stderr,
                   "error: %s: invalid duration \"%s\" (e.g. 20s, 500ms, 1m; at least %lld ms)\n",
                   d.flag, d.text.c_str(), static_cast<long long>(d.min.count()));
      return 2;
    }
    d.value = *v;
  }
  if (function_pool_size < 0 || function_pool_size > 50) {
    std::fprintf(stderr, "error: --function-pool-size must be 0..50\n");
    return 2;
  }
  if (gateway_max_body == 0) {
    std::fprintf(stderr, "error: --gateway-max-body must be positive\n");
    return 2;
  }
  if (max_connections == 0) {
    std::fprintf(stderr, "error: --max-connections must be positive\n");
    return 2;
  }
  if (hpa_tolerance < 0 || hpa_tolerance >= 1) {
    std::fprintf(stderr, "error: --horizontal-pod-autoscaler-tolerance must be in [0, 1)\n");
    return 2;
  }
  auto policy = scheduler::parse_policy(scheduler_policy);
  if (!policy) {
    std::fprintf(stderr, "error: --scheduler-policy: %s\n", policy.status().message().c_str());
    return 2;
  }

  apiserver::ApiServerOptions opts;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "error: --listen must be HOST:PORT\n");
    return 2;
  }
  opts.bind_address = listen.substr(0, colon);
  if (advertise_address.empty() && (opts.bind_address == "0.0.0.0" || opts.bind_address == "::")) {
    advertise_address = default_route_ipv4();  // Kubernetes' choice; empty when there is none
  }
  if (!advertise_address.empty()) {
    if (std::string e = api::non_special_ip_error(advertise_address);
        !e.empty() || advertise_address.find(':') != std::string::npos) {
      std::fprintf(stderr, "error: --advertise-address: \"%s\" %s\n", advertise_address.c_str(),
                   e.empty() ? "is not an IPv4 address" : e.c_str());
      return 2;
    }
  }
  opts.advertise_address = advertise_address;
  int np_min = 0, np_max = 0, port = -1;
  try {
    port = std::stoi(listen.substr(colon + 1));
    auto dash = node_port_range.find('-');
    np_min = std::stoi(node_port_range.substr(0, dash));
    np_max = std::stoi(node_port_range.substr(dash + 1));
  } catch (const std::exception&) {
    std::fprintf(stderr, "error: bad --listen or --node-port-range\n");
    return 2;
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "error: bad port in --listen\n");
    return 2;
  }
  opts.port = static_cast<uint16_t>(port);
  opts.service_cidr = service_cidr;
  opts.node_port_min = np_min;
  opts.node_port_max = np_max;
  opts.default_not_ready_toleration_seconds = not_ready_toleration;
  opts.default_unreachable_toleration_seconds = unreachable_toleration;
  auto duration_of = [&](std::string_view flag) {
    for (const auto& d : durations) {
      if (flag == d.flag) return d.value;
    }
    return std::chrono::milliseconds(0);
  };
  opts.conn_limits.header_timeout = duration_of("--http-header-timeout");
  opts.conn_limits.body_timeout = duration_of("--http-body-timeout");
  opts.conn_limits.idle_timeout = duration_of("--http-idle-timeout");
  opts.conn_limits.max_connections = max_connections;
  client::LeaderElectionOptions le_opts;
  le_opts.lease_name = le_resource;
  le_opts.lease_duration = duration_of("--leader-elect-lease-duration");
  le_opts.renew_deadline = duration_of("--leader-elect-renew-deadline");
  le_opts.retry_period = duration_of("--leader-elect-retry-period");
  if (Status st = client::validate_leader_election_options(le_opts); !st) {
    std::fprintf(stderr, "error: --leader-elect-*: %s\n", st.message().c_str());
    return 2;
  }
  // The lease endpoint reconciler keeps the Endpoints default/kubernetes
  // when this server has an address pods can use (as bootstrap judges it);
  // --insecure-http and --endpoint-reconciler-type none keep the start-time
  // write of this server's own address.
  controllers::ApiserverEndpointsOptions ep_opts;
  ep_opts.address = opts.advertise_address.empty() ? opts.bind_address : opts.advertise_address;
  ep_opts.lease_duration = duration_of("--endpoint-lease-duration");
  ep_opts.renew_interval = duration_of("--endpoint-renew-interval");
  const bool ep_leases = endpoint_reconciler == "lease" && !insecure_http &&
                         api::non_special_ip_error(ep_opts.address).empty() &&
                         ep_opts.address.find(':') == std::string::npos;
  if (ep_leases) {
    ep_opts.port = 1;  // the real one is known once the server listens
    if (Status st = controllers::validate_apiserver_endpoints_options(ep_opts); !st) {
      std::fprintf(stderr, "error: --endpoint-*: %s\n", st.message().c_str());
      return 2;
    }
  }
  opts.write_kubernetes_endpoints = !ep_leases;
  opts.cluster_domain = cluster_domain;
  opts.local_node = local_node;
  // Authentication and authorization are on with TLS (or, over plain HTTP,
  // with a token file); the in-process clients (controllers, scheduler,
  // leader elector, platform, metrics) authenticate with the loopback token,
  // made afresh at every start (system:apiserver in system:masters).
  opts.auth.enabled = !insecure_http || !token_auth_file.empty();
  opts.auth.token_file = token_auth_file;
  opts.auth.authorization_modes.clear();
  for (size_t b = 0; b <= authorization_mode.size();) {
    size_t e = std::min(authorization_mode.find(',', b), authorization_mode.size());
    if (e > b) opts.auth.authorization_modes.push_back(authorization_mode.substr(b, e - b));
    b = e + 1;
  }
  std::string loopback_token;
  {
    std::random_device rd;
    char hex[65];
    for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", rd() & 0xff);
    loopback_token = hex;
  }
  if (opts.auth.enabled) opts.auth.loopback_token = loopback_token;
  opts.code_dir = (std::filesystem::path(data_dir) / "code").string();   // serverless code store
  opts.blob_dir = (std::filesystem::path(data_dir) / "blobs").string();  // GPU job blob store

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so every thread inherits the mask.
  const sigset_t sigs = block_stop_signals();
  opts.watch_cache_bytes = watch_cache_bytes;

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", data_dir.c_str(), ec.message().c_str());
    return 1;
  }
  // The PKI (docs/auth.md "TLS"); --insecure-http: none.
  ServerPki pki;
  if (insecure_http) {
    spdlog::warn(
        "--insecure-http: the API server speaks plain HTTP; anyone who can reach {} can do "
        "anything",
        listen);
  } else {
    ServerPkiOptions po;
    po.pki_dir = (std::filesystem::path(data_dir) / "pki").string();
    po.bind_address = opts.bind_address;
    po.advertise_address = opts.advertise_address;
    po.service_cidr = service_cidr;
    po.cluster_domain = cluster_domain;
    po.extra_sans = tls_sans;
    po.ca_cert = ca_cert;
    po.ca_key = ca_key;
    po.tls_cert_file = tls_cert_file;
    po.tls_key_file = tls_key_file;
    po.client_ca_file = client_ca_file;
    auto got = ensure_server_pki(po);
    if (!got) {
      std::fprintf(stderr, "error: pki: %s\n", got.status().message().c_str());
      return 1;
    }
    pki = std::move(*got);
    opts.tls.cert_file = pki.cert_file;
    opts.tls.key_file = pki.key_file;
    opts.tls.client_ca_file = pki.client_ca_file;
    // Kubelets are dialled over HTTPS (docs/auth.md "The kubelet's server"):
    // their serving certificates come from the cluster CA.
    opts.kubelet_client.https = true;
    opts.kubelet_client.ca_file = pki.ca_file;
    opts.kubelet_client.cert_file = po.pki_dir + "/apiserver-kubelet-client.crt";
    opts.kubelet_client.key_file = po.pki_dir + "/apiserver-kubelet-client.key";
  }
  // The CSR signer's CA (docs/auth.md "CertificateSigningRequest"): the
  // cluster CA when this server holds its key.
  std::optional<auth::CertificateAuthority> signing_ca;
  std::string signing_ca_file;
  {
    std::filesystem::path pki_dir = std::filesystem::path(data_dir) / "pki";
    std::string cert = ca_cert.empty() ? (pki_dir / "ca.crt").string() : ca_cert;
    std::string key = ca_key.empty() ? (pki_dir / "ca.key").string() : ca_key;
    std::error_code ec;
    if (std::filesystem::exists(cert, ec) && std::filesystem::exists(key, ec)) {
      auto ca = auth::CertificateAuthority::load(cert, key);
      if (!ca) {
        std::fprintf(stderr, "error: the CSR signer's CA: %s\n", ca.status().message().c_str());
        return 1;
      }
      signing_ca = std::move(*ca);
      signing_ca_file = cert;
    } else {
      spdlog::info("no CA key ({}): the csrsigning controller does not run", key);
    }
  }
  // The ServiceAccount token signing key (docs/auth.md "TLS"), made on first start.
  // Given: it must exist (a server that made its own would refuse the tokens
  // its peers issue); default: made on first start.
  if (!sa_signing_key_file.empty()) {
    std::error_code sa_ec;
    if (!std::filesystem::is_regular_file(sa_signing_key_file, sa_ec)) {
      std::fprintf(stderr, "error: --service-account-signing-key-file: %s does not exist\n",
                   sa_signing_key_file.c_str());
      return 1;
    }
  }
  opts.auth.sa_key_file = sa_signing_key_file.empty()
                              ? (std::filesystem::path(data_dir) / "pki" / "sa.key").string()
                              : sa_signing_key_file;
  if (Status st = auth::ensure_private_key_file(opts.auth.sa_key_file); !st.is_ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  Result<std::unique_ptr<storage::Storage>> store = Status(Code::kInternal, "no store");
  std::string store_name;
  if (storage_kind == "etcd") {
    storage::EtcdOptions eo;
    eo.endpoints = etcd_servers;
    eo.ca_file = etcd_cafile;
    eo.cert_file = etcd_certfile;
    eo.key_file = etcd_keyfile;
    eo.compaction_keep_revisions = keep_revisions;
    eo.compaction_keep_age = std::chrono::seconds(keep_age);
    for (const auto& u : etcd_servers) store_name += (store_name.empty() ? "etcd at " : ",") + u;
    store = storage::open_etcd_storage(eo);
  } else {
    storage::SqliteOptions so;
    so.path = (std::filesystem::path(data_dir) / "store.db").string();
    so.compaction_keep_revisions = keep_revisions;
    so.compaction_keep_age = std::chrono::seconds(keep_age);
    store_name = so.path;
    store = storage::open_sqlite_storage(so);
  }
  if (!store) {
    std::fprintf(stderr, "error: opening %s: %s\n", store_name.c_str(),
                 store.status().to_string().c_str());
    return 1;
  }
  auto api = apiserver::ApiServer::start(**store, opts);
  if (!api) {
    std::fprintf(stderr, "error: %s\n", api.status().to_string().c_str());
    return 1;
  }
  std::string url = (*api)->url();

  // The controllers share one client of their own, again over HTTP.
  auto disabled = [&](const std::string& name) {
    return std::find(disabled_controllers.begin(), disabled_controllers.end(), name) !=
           disabled_controllers.end();
  };
  std::unique_ptr<client::RestClient> ctrl_rest;
  std::unique_ptr<client::Client> ctrl_client;
  {
    client::HttpRestClientOptions ro;
    ro.server = url;
    // Over HTTPS, verified with the cluster CA, as system:apiserver (the loopback token).
    ro.bearer_token = loopback_token;
    ro.tls.ca_pem = pki.ca_pem;
    auto rest = client::make_http_rest_client(ro);
    if (!rest) {
      std::fprintf(stderr, "error: controllers client: %s\n", rest.status().to_string().c_str());
      return 1;
    }
    ctrl_rest = std::move(rest.value());
    ctrl_client = std::make_unique<client::Client>(*ctrl_rest);
  }
  // Every server, leader or not, keeps its endpoint in default/kubernetes.
  std::unique_ptr<controllers::ApiserverEndpointsReconciler> ep_reconciler;
  if (ep_leases) {
    ep_opts.port = (*api)->port();
    ep_reconciler =
        std::make_unique<controllers::ApiserverEndpointsReconciler>(*ctrl_client, ep_opts);
    if (Status st = ep_reconciler->start(); !st) {
      std::fprintf(stderr, "error: apiserver endpoint reconciler: %s\n", st.to_string().c_str());
      return 1;
    }
    spdlog::info(
        "endpoint reconciler: {}:{} kept in default/kubernetes through the Lease kube-system/{}",
        ep_opts.address, ep_opts.port,
        controllers::apiserver_lease_name(ep_opts.address, ep_opts.port));
    if (!ep_reconciler->wait_until_listed(std::chrono::seconds(10))) {
      spdlog::warn("endpoint reconciler: {}:{} is not in default/kubernetes yet", ep_opts.address,
                   ep_opts.port);
    }
  }
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!disabled("metrics")) {
    metrics::MetricsOptions mo;
    mo.resolution = durations[4].value;
    mo.kubelet_https = opts.kubelet_client.https;
    mo.kubelet_tls.ca_file = opts.kubelet_client.ca_file;
    mo.kubelet_tls.cert_file = opts.kubelet_client.cert_file;
    mo.kubelet_tls.key_file = opts.kubelet_client.key_file;
    auto m = std::make_unique<metrics::MetricsServer>(*ctrl_client, mo);
    if (auto st = m->start(); !st.is_ok()) {
      std::fprintf(stderr, "error: metrics server (--metric-resolution %s): %s\n",
                   metric_resolution.c_str(), st.message().c_str());
      return 2;
    }
    if (auto group = m->api_group()) (*api)->add_api_group(group);
    metrics_server = std::move(m);
    spdlog::info("metrics server started (resolution {})", metric_resolution);
  }
  // The leader-only set (docs/ha.md): the scheduler, the controllers, the
  // GPUJob controller and the serverless platform, with one list+watch and
  // cache per kind for them on client::Controller (docs/controllers.md) — a
  // fresh factory each time the set starts, stopped after them. Started in
  // this order, stopped in reverse. Their work-queue and reconcile metrics
  // are served on the API server's /metrics.
  struct Running {
    std::mutex mu;
    std::unique_ptr<client::SharedInformerFactory> informers;            // guarded by mu
    std::vector<std::unique_ptr<client::ControllerHandle>> controllers;  // guarded by mu
    std::unique_ptr<serverless::Platform> serverless;                    // guarded by mu
  };
  auto running = std::make_shared<Running>();
  (*api)->add_metrics_source([running] {
    std::vector<std::pair<std::string, client::ControllerMetrics>> all;
    std::lock_guard lock(running->mu);
    for (const auto& c : running->controllers) all.emplace_back(c->name(), c->metrics());
    if (running->serverless) {
      for (auto& m : running->serverless->controller_metrics()) all.push_back(std::move(m));
    }
    return client::render_controller_metrics(all);
  });
  auto stop_all = [&] {
    std::lock_guard lock(running->mu);
    if (running->serverless) running->serverless->stop();
    running->serverless.reset();
    for (auto it = running->controllers.rbegin(); it != running->controllers.rend(); ++it)
      (*it)->stop();
    running->controllers.clear();
    if (running->informers) running->informers->stop();
    running->informers.reset();
  };
  // Every return from here on stops the running controllers before the
  // informers they use go.
  struct StopOnReturn {
    std::function<void()> stop;
    ~StopOnReturn() { stop(); }
  } stop_on_return{stop_all};
  auto launch = [&](const std::string& name, std::unique_ptr<client::ControllerHandle> controller,
                    const std::string& detail) -> bool {
    if (auto st = controller->start(); !st.is_ok()) {
      std::fprintf(stderr, "error: %s controller%s: %s\n", name.c_str(), detail.c_str(),
                   st.to_string().c_str());
      stop_all();
      return false;
    }
    spdlog::info("{} controller started{}", name, detail);
    std::lock_guard lock(running->mu);
    running->controllers.push_back(std::move(controller));
    return true;
  };

  // Starts the leader-only set; on failure stops what started and returns the
  // exit code. Runs once at start-up, or on the elector's thread each time
  // this server becomes the leader (--leader-elect).
  auto start_leader_work = [&]() -> int {
    auto fresh = std::make_unique<client::SharedInformerFactory>(*ctrl_client);
    client::SharedInformerFactory& informers = *fresh;
    {
      std::lock_guard lock(running->mu);
      running->informers = std::move(fresh);
    }
    int rc = [&]() -> int {
      // The scheduler is a client::Controller too: one pod and one node informer
      // serve it and the controllers.
      if (!disable_scheduler) {
        scheduler::SchedulerOptions so_sched;
        so_sched.policy = *policy;
        if (!launch("scheduler", std::make_unique<scheduler::Scheduler>(informers, so_sched),
                    " (policy " + scheduler_policy + ")")) {
          return 1;
        }
      }

      if (!disabled("serviceaccount")) {
        // kube-root-ca.crt is published once the cluster CA exists: the one
        // this server uses (--ca-cert, or <data-dir>/pki/ca.crt).
        controllers::ServiceAccountsOptions sao;
        std::error_code ca_ec;
        std::string ca = !pki.ca_file.empty()
                             ? pki.ca_file
                             : (std::filesystem::path(data_dir) / "pki" / "ca.crt").string();
        if (std::filesystem::exists(ca, ca_ec)) sao.root_ca_file = ca;
        if (!launch("serviceaccount",
                    std::make_unique<controllers::ServiceAccountsController>(informers, sao), "")) {
          return 1;
        }
      }
      if (!pki.ca_pem.empty()) {
        // What a joining node reads without credentials (docs/auth.md).
        if (Status st = publish_cluster_info(*ctrl_client, url, pki.ca_pem); !st) {
          spdlog::warn("could not publish kube-public/cluster-info: {}", st.message());
        }
      }
      if (!disabled("csrapproving") &&
          !launch("csrapproving", std::make_unique<controllers::CsrApprovingController>(informers),
                  "")) {
        return 1;
      }
      if (signing_ca && !disabled("csrsigning") &&
          !launch("csrsigning",
                  std::make_unique<controllers::CsrSigningController>(informers, *signing_ca),
                  " (CA " + signing_ca_file + ")")) {
        return 1;
      }
      if (!disabled("tokencleaner") &&
          !launch("tokencleaner", std::make_unique<controllers::BootstrapTokenCleaner>(informers),
                  "")) {
        return 1;
      }
      if (!disabled("namespace") &&
          !launch("namespace", std::make_unique<controllers::NamespaceController>(informers), "")) {
        return 1;
      }
      if (allocate_node_cidrs && !disabled("node-ipam")) {
        controllers::NodeIpamOptions io;
        io.cluster_cidr = cluster_cidr;
        io.node_cidr_mask = node_cidr_mask;
        if (!launch("node IPAM", std::make_unique<controllers::NodeIpamController>(informers, io),
                    " (--cluster-cidr " + cluster_cidr + ", /" + std::to_string(node_cidr_mask) +
                        " blocks)")) {
          return 2;
        }
      }
      if (!disabled("endpoints") &&
          !launch("endpoints", std::make_unique<controllers::EndpointsController>(informers), "")) {
        return 1;
      }
      if (!disabled("node-lifecycle")) {
        controllers::NodeLifecycleOptions no;
        no.grace_period = durations[0].value;
        no.monitor_period = durations[1].value;
        if (!launch("node lifecycle",
                    std::make_unique<controllers::NodeLifecycleController>(informers, no),
                    " (grace " + node_monitor_grace + ")")) {
          return 1;
        }
      }
      if (!disabled("garbage-collector") &&
          !launch("garbage collector", std::make_unique<controllers::GarbageCollector>(informers),
                  "")) {
        return 1;
      }
      if (!disabled("replicaset") &&
          !launch("replicaset", std::make_unique<controllers::ReplicaSetController>(informers),
                  "")) {
        return 1;
      }
      if (!disabled("deployment") &&
          !launch("deployment", std::make_unique<controllers::DeploymentController>(informers),
                  "")) {
        return 1;
      }
      if (!disabled("horizontal-pod-autoscaler")) {
        controllers::HpaOptions ho;
        ho.sync_period = durations[2].value;
        ho.downscale_stabilization = durations[3].value;
        ho.tolerance = hpa_tolerance;
        if (!launch("horizontal pod autoscaler",
                    std::make_unique<controllers::HpaController>(informers, ho),
                    " (sync period " + hpa_sync + ")")) {
          return 1;
        }
      }
      if (!disabled("gpujob")) {
        // Submitter pods run with hostNetwork and reach the API server as this
        // machine's clients do (docs/gpu.md "The submitter").
        gpu::GPUJobControllerOptions go;
        go.server_url = url;
        go.server_ca_pem = pki.ca_pem;
        if (!launch("gpujob", std::make_unique<gpu::GPUJobController>(informers, go),
                    " (submitter pods use MINIK8S_SERVER=" + url + ")")) {
          return 1;
        }
      }
      if (!disabled("serverless")) {
        serverless::PlatformOptions po;
        const std::string api_host = opts.bind_address;
        po.advertise_host = (api_host.empty() || api_host == "0.0.0.0" || api_host == "::")
                                ? "127.0.0.1"
                                : api_host;
        po.gateway.listen = !gateway_listen.empty()
                                ? gateway_listen
                                : api_host + ":" + (opts.port == 0 ? "0" : "31080");
        po.gateway.queue_timeout = duration_of("--gateway-queue-timeout");
        po.gateway.max_body_bytes = gateway_max_body;
        po.gateway.limits = opts.conn_limits;
        po.pool_size = function_pool_size;
        auto platform = std::make_unique<serverless::Platform>(informers, po);
        if (Status st = platform->start(); !st) {
          std::fprintf(stderr, "error: serverless: %s\n", st.to_string().c_str());
          return 1;
        }
        spdlog::info("function gateway ready at {}", platform->gateway_url());
        std::lock_guard lock(running->mu);
        running->serverless = std::move(platform);
      }
      return 0;
    }();
    if (rc != 0) stop_all();
    return rc;
  };
  // With --leader-elect every server serves the API and only the Lease holder
  // runs the leader-only set, stopped (on the elector's thread) before the
  // lease can pass to another server (docs/ha.md).
  std::atomic<bool> leader_work_failed{false};
  std::unique_ptr<client::RestClient> elector_rest;
  std::unique_ptr<client::Client> elector_client;
  std::shared_ptr<client::LeaderElector> elector;
  if (!leader_elect) {
    if (int rc = start_leader_work(); rc != 0) return rc;
  } else {
    client::HttpRestClientOptions ro;
    ro.server = url;
    ro.bearer_token = loopback_token;
    ro.tls.ca_pem = pki.ca_pem;
    ro.timeout = le_opts.retry_period;  // an attempt never outlasts the renew deadline
    auto rest = client::make_http_rest_client(ro);
    if (!rest) {
      std::fprintf(stderr, "error: leader election client: %s\n",
                   rest.status().to_string().c_str());
      return 1;
    }
    elector_rest = std::move(rest.value());
    elector_client = std::make_unique<client::Client>(*elector_rest);
    client::LeaderCallbacks cb;
    cb.on_started_leading = [&] {
      spdlog::info("leader election: leading; starting the scheduler and controllers");
      if (start_leader_work() != 0) {
        // A leader without its controllers would hold the lease for nothing:
        // exit (releasing it) so another server takes over.
        spdlog::error("leader election: the controllers did not start; shutting down");
        leader_work_failed = true;
        ::kill(::getpid(), SIGTERM);
      }
    };
    cb.on_stopped_leading = [&] {
      stop_all();
      spdlog::info("leader election: the scheduler and controllers stopped");
    };
    cb.on_new_leader = [](const std::string& holder) {
      spdlog::info("leader election: the leader is {}",
                   holder.empty() ? "nobody (released)" : holder);
    };
    elector = std::make_shared<client::LeaderElector>(*elector_client, real_clock(), le_opts,
                                                      std::move(cb));
    (*api)->add_metrics_source([elector] { return elector->render_metrics(); });
    if (Status st = elector->start(); !st) {
      std::fprintf(stderr, "error: leader election: %s\n", st.to_string().c_str());
      return 2;
    }
    spdlog::info("leader election: {} is a candidate for lease kube-system/{}", elector->identity(),
                 le_resource);
  }
  if (Status st = write_file_atomically(
          data_dir + "/kubeconfig",
          admin_kubeconfig(url, pki.ca_pem, pki.admin, opts.auth.enabled ? loopback_token : ""));
      !st) {
    spdlog::warn("could not write {}/kubeconfig: {}", data_dir, st.message());
  }
  spdlog::info("minik8s server ready at {}", url);
  spdlog::default_logger()->flush();

  // While waiting for a signal, hand memory freed in the per-thread heaps
  // back to the system every 10 s: after a burst of large or many objects
  // (docs/security.md) glibc would otherwise keep it resident for good —
  // 335 MB against 174 MB live after the robustness suite's mutations.
  int sig = 0;
  while ((sig = wait_for_signal(sigs, std::chrono::seconds(10))) == 0) malloc_trim(0);
  spdlog::info("received signal {}, shutting down", sig);
  // First, so in-cluster clients move to the other servers while this one
  // still answers.
  if (ep_reconciler) {
    if (Status st = ep_reconciler->stop_and_remove(); !st) {
      spdlog::warn("endpoint reconciler: could not remove this server from default/kubernetes: {}",
                   st.to_string());
    }
  }
  if (elector) elector->stop();  // stops the leader-only set, then releases the lease
  stop_all();
  if (metrics_server) metrics_server->stop();
  metrics_server.reset();
  ctrl_client.reset();
  ctrl_rest.reset();
  (*api)->stop();
  api->reset();
  store->reset();
  return leader_work_failed ? 1 : 0;
}

}  // namespace minik8s::server
