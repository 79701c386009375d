#include "minik8s/server/server.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/apiserver/namespace_controller.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/scheduler/scheduler.h"
#include "minik8s/storage/storage.h"

namespace minik8s::server {

namespace {

std::string kubeconfig_text(const std::string& url) {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: minik8s\n"
         "  cluster:\n"
         "    server: " + url + "\n"
         "users:\n"
         "- name: admin\n"
         "  user: {}\n"
         "contexts:\n"
         "- name: minik8s\n"
         "  context:\n"
         "    cluster: minik8s\n"
         "    user: admin\n"
         "    namespace: default\n"
         "current-context: minik8s\n"
         "preferences: {}\n";
}

bool write_atomically(const std::filesystem::path& path, const std::string& text) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f << text;
    f.flush();
    if (!f) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int run_server(int argc, char** argv) {
  CLI::App app{"minik8s server: the control plane (API server and controllers)", "server"};
  std::string data_dir = "/var/lib/minik8s";
  std::string listen = "127.0.0.1:6443";
  std::string service_cidr = "10.96.0.0/12";
  std::string node_port_range = "30000-32767";
  int64_t keep_revisions = 10000;
  int64_t keep_age = 300;
  std::string log_level = "info";
  std::string scheduler_policy = "least-allocated";
  bool disable_scheduler = false;
  std::string cluster_cidr = "10.244.0.0/16";
  int node_cidr_mask = 24;
  bool allocate_node_cidrs = true;
  std::vector<std::string> disabled_controllers;
  app.add_option("--data-dir", data_dir, "state directory (store.db, kubeconfig)");
  app.add_option("--listen", listen, "HOST:PORT to serve the API on (port 0 picks one)");
  app.add_option("--service-cidr", service_cidr, "range for Service cluster IPs");
  app.add_option("--node-port-range", node_port_range, "range for NodePorts, MIN-MAX");
  app.add_option("--compaction-keep-revisions", keep_revisions, "revisions kept for watches");
  app.add_option("--compaction-keep-age", keep_age, "seconds of history kept for watches");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_option("--scheduler-policy", scheduler_policy, "least-allocated|round-robin|random");
  app.add_flag("--disable-scheduler", disable_scheduler, "do not run the scheduler (tests)");
  app.add_option("--cluster-cidr", cluster_cidr, "range the node IPAM controller cuts pod CIDRs from");
  app.add_option("--node-cidr-mask-size", node_cidr_mask, "prefix length of each node's pod CIDR");
  app.add_flag("--allocate-node-cidrs,!--no-allocate-node-cidrs", allocate_node_cidrs,
                 "assign spec.podCIDR to nodes (true|false; false disables the node IPAM controller)");
  app.add_option("--disable-controllers", disabled_controllers,
                 "controllers not to run: node-ipam, endpoints (comma-separated)")
      ->delimiter(',');
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  for (const auto& name : disabled_controllers) {
    if (name != "node-ipam" && name != "endpoints") {
      std::fprintf(stderr, "error: --disable-controllers: unknown controller \"%s\" (node-ipam, endpoints)\n",
                   name.c_str());
      return 2;
    }
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

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "error: cannot create %s: %s\n", data_dir.c_str(), ec.message().c_str());
    return 1;
  }
  storage::SqliteOptions so;
  so.path = (std::filesystem::path(data_dir) / "store.db").string();
  so.compaction_keep_revisions = keep_revisions;
  so.compaction_keep_age = std::chrono::seconds(keep_age);
  auto store = storage::open_sqlite_storage(so);
  if (!store) {
    std::fprintf(stderr, "error: opening %s: %s\n", so.path.c_str(),
                 store.status().to_string().c_str());
    return 1;
  }
  auto api = apiserver::ApiServer::start(**store, opts);
  if (!api) {
    std::fprintf(stderr, "error: %s\n", api.status().to_string().c_str());
    return 1;
  }
  apiserver::NamespaceController ns_controller(**api, **store);
  ns_controller.start();

  std::string url = (*api)->url();

  // The scheduler talks to the API server like any other client.
  std::unique_ptr<client::RestClient> sched_rest;
  std::unique_ptr<client::Client> sched_client;
  std::unique_ptr<scheduler::Scheduler> sched;
  if (!disable_scheduler) {
    client::HttpRestClientOptions ro;
    ro.server = url;
    auto rest = client::make_http_rest_client(ro);
    if (!rest) {
      std::fprintf(stderr, "error: scheduler client: %s\n", rest.status().to_string().c_str());
      return 1;
    }
    sched_rest = std::move(rest.value());
    sched_client = std::make_unique<client::Client>(*sched_rest);
    scheduler::SchedulerOptions so_sched;
    so_sched.policy = *policy;
    sched = std::make_unique<scheduler::Scheduler>(*sched_client, so_sched);
    if (auto st = sched->start(); !st.is_ok()) {
      std::fprintf(stderr, "error: scheduler: %s\n", st.to_string().c_str());
      return 1;
    }
    spdlog::info("scheduler started (policy {})", scheduler_policy);
  }
  // The controllers share one client of their own, again over HTTP.
  auto disabled = [&](const std::string& name) {
    return std::find(disabled_controllers.begin(), disabled_controllers.end(), name) != disabled_controllers.end();
  };
  bool run_ipam = allocate_node_cidrs && !disabled("node-ipam");
  bool run_endpoints = !disabled("endpoints");
  std::unique_ptr<client::RestClient> ctrl_rest;
  std::unique_ptr<client::Client> ctrl_client;
  std::unique_ptr<controllers::NodeIpamController> ipam;
  std::unique_ptr<controllers::EndpointsController> endpoints;
  if (run_ipam || run_endpoints) {
    client::HttpRestClientOptions ro;
    ro.server = url;
    auto rest = client::make_http_rest_client(ro);
    if (!rest) {
      std::fprintf(stderr, "error: controllers client: %s\n", rest.status().to_string().c_str());
      return 1;
    }
    ctrl_rest = std::move(rest.value());
    ctrl_client = std::make_unique<client::Client>(*ctrl_rest);
  }
  if (run_ipam) {
    controllers::NodeIpamOptions io;
    io.cluster_cidr = cluster_cidr;
    io.node_cidr_mask = node_cidr_mask;
    ipam = std::make_unique<controllers::NodeIpamController>(*ctrl_client, io);
    if (auto st = ipam->start(); !st.is_ok()) {
      std::fprintf(stderr, "error: node IPAM controller (--cluster-cidr %s, --node-cidr-mask-size %d): %s\n",
                   cluster_cidr.c_str(), node_cidr_mask, st.message().c_str());
      return 2;
    }
    spdlog::info("node IPAM controller started ({} in /{} blocks)", cluster_cidr, node_cidr_mask);
  }
  if (run_endpoints) {
    endpoints = std::make_unique<controllers::EndpointsController>(*ctrl_client);
    if (auto st = endpoints->start(); !st.is_ok()) {
      std::fprintf(stderr, "error: endpoints controller: %s\n", st.to_string().c_str());
      return 1;
    }
    spdlog::info("endpoints controller started");
  }
  if (!write_atomically(std::filesystem::path(data_dir) / "kubeconfig", kubeconfig_text(url))) {
    spdlog::warn("could not write {}/kubeconfig", data_dir);
  }
  spdlog::info("minik8s server ready at {}", url);
  spdlog::default_logger()->flush();

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("received signal {}, shutting down", sig);
  if (endpoints) endpoints->stop();
  if (ipam) ipam->stop();
  endpoints.reset();
  ipam.reset();
  ctrl_client.reset();
  ctrl_rest.reset();
  if (sched) sched->stop();
  sched.reset();
  sched_client.reset();
  sched_rest.reset();
  ns_controller.stop();
  (*api)->stop();
  api->reset();
  store->reset();
  return 0;
}

}  // namespace minik8s::server
