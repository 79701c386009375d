#include "node_services.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "minik8s/dns/dns.h"
#include "minik8s/ingress/ingress.h"
#include "minik8s/network/network.h"
#include "minik8s/proxy/proxy.h"

namespace minik8s::agent {

namespace {

network::NetworkOptions network_options(const NodeConfig& c, const std::string& conf_dir,
                                        const std::string& ipam_dir, const std::string& bridge) {
  network::NetworkOptions o;
  o.node_name = c.node_name;
  o.node_ip = c.node_ip;
  o.cluster_cidr = c.cluster_cidr;
  o.pod_cidr = c.pod_cidr;
  if (auto b = network::parse_backend(c.network_backend)) o.backend = *b;
  o.bridge = bridge;
  o.cni_conf_dir = conf_dir;
  o.cni_ipam_dir = ipam_dir;
  o.chain_prefix = c.chain_prefix;
  return o;
}

proxy::ProxyOptions proxy_options(const NodeConfig& c) {
  proxy::ProxyOptions o;
  o.node_name = c.node_name;
  o.cluster_cidr = c.cluster_cidr;
  o.chain_prefix = c.chain_prefix;
  if (auto b = proxy::parse_balance(c.proxy_balance)) o.balance = *b;
  return o;
}

ingress::IngressOptions ingress_options(const NodeConfig& c) {
  ingress::IngressOptions o;
  o.prefix_dir = c.data_dir + "/ingress";
  o.port = c.ingress_port;
  o.hosts_file = c.hosts_file;
  o.hosts_ip = c.node_ip;
  o.block_tag = c.node_name;
  return o;
}

}  // namespace

struct NodeServices::Impl {
  client::Client& client;
  NodeConfig config;
  network::NetworkOptions net_opts;
  std::unique_ptr<network::NetworkAgent> network;
  std::unique_ptr<proxy::Proxy> proxy;
  std::unique_ptr<dns::DnsServer> dns;
  std::unique_ptr<ingress::Ingress> ingress;
  std::string gateway;

  Impl(client::Client& c, const NodeConfig& cfg, network::NetworkOptions no)
      : client(c), config(cfg), net_opts(std::move(no)) {}
};

NodeServices::NodeServices(client::Client& client, const NodeConfig& config,
                           std::string cni_conf_dir, std::string cni_ipam_dir, std::string bridge)
    : impl_(std::make_unique<Impl>(client, config,
                                   network_options(config, cni_conf_dir, cni_ipam_dir, bridge))) {}

NodeServices::~NodeServices() { stop(); }

Status NodeServices::setup_network(const std::function<bool()>& cancelled) {
  if (!impl_->config.enabled("network")) return Status::ok();
  impl_->net_opts.pod_cidr_timeout = std::chrono::milliseconds(2000);
  impl_->network = std::make_unique<network::NetworkAgent>(impl_->client, impl_->net_opts);
  for (bool warned = false;;) {
    Status st = impl_->network->setup();
    if (st) break;
    if (st.code() != Code::kTimeout) return st;
    if (!warned)
      spdlog::warn("waiting for node {} to get spec.podCIDR from the node controller",
                   impl_->config.node_name);
    warned = true;
    if (cancelled()) return Status(Code::kUnavailable, "stopped while waiting for the pod CIDR");
  }
  impl_->gateway = impl_->network->gateway_ip();
  spdlog::info("pod network: {} on bridge {} (gateway {})", impl_->network->pod_cidr(),
               impl_->net_opts.bridge, impl_->gateway);
  return Status::ok();
}

std::string NodeServices::cluster_dns_ip() const {
  if (!impl_->dns || impl_->dns->port() != 53) return "";
  return impl_->gateway;
}

void NodeServices::start() {
  const NodeConfig& c = impl_->config;
  if (impl_->network) {
    if (Status st = impl_->network->start(); !st) spdlog::error("pod routes: {}", st.to_string());
  }
  if (c.enabled("proxy")) {
    impl_->proxy = std::make_unique<proxy::Proxy>(impl_->client, proxy_options(c));
    if (Status st = impl_->proxy->start(); !st) {
      spdlog::error("service proxy not started: {}", st.to_string());
      impl_->proxy.reset();
    }
  }
  if (c.enabled("dns") && !impl_->gateway.empty()) {
    dns::DnsOptions o;
    o.listen_ip = impl_->gateway;
    o.port = c.dns_port;
    o.cluster_domain = c.cluster_domain;
    o.upstream = c.dns_upstream;
    o.ingress_ip = impl_->gateway;
    impl_->dns = std::make_unique<dns::DnsServer>(&impl_->client, o);
    if (Status st = impl_->dns->start(); !st) {
      spdlog::error("cluster DNS not started: {}", st.to_string());
      impl_->dns.reset();
    } else {
      spdlog::info("cluster DNS on {}:{}", o.listen_ip, impl_->dns->port());
    }
  }
  if (c.enabled("ingress")) {
    impl_->ingress = std::make_unique<ingress::Ingress>(impl_->client, ingress_options(c));
    if (Status st = impl_->ingress->start(); !st) {
      spdlog::error("DNS-object ingress not started: {}", st.to_string());
      impl_->ingress.reset();
    }
  }
}

void NodeServices::stop() {
  if (impl_->ingress) impl_->ingress->stop();
  if (impl_->dns) impl_->dns->stop();
  if (impl_->proxy) impl_->proxy->stop();
  if (impl_->network) impl_->network->stop();
}

void NodeServices::record(AgentState& s) const {
  const NodeConfig& c = impl_->config;
  s.network = c.enabled("network");
  s.cni_bridge = impl_->net_opts.bridge;
  s.vxlan_device = impl_->net_opts.vxlan_device;
  s.chain_prefix = c.chain_prefix;
  s.cluster_cidr = c.cluster_cidr;
  s.cni_conf_dir = impl_->net_opts.cni_conf_dir;
  s.cni_ipam_dir = impl_->net_opts.cni_ipam_dir;
  s.proxy = c.enabled("proxy");
  s.ingress = c.enabled("ingress");
  auto io = ingress_options(c);
  s.ingress_prefix = io.prefix_dir;
  s.hosts_file = io.hosts_file;
  s.hosts_block_tag = io.block_tag;
}

void teardown_node_services(const AgentState& s, std::vector<std::string>& problems) {
  if (s.ingress) {
    ingress::IngressOptions o;
    o.prefix_dir = s.ingress_prefix;
    o.hosts_file = s.hosts_file;
    o.block_tag = s.hosts_block_tag;
    if (Status st = ingress::Ingress::cleanup(o); !st) problems.push_back("ingress: " + st.to_string());
  }
  if (s.proxy && !s.chain_prefix.empty()) {
    proxy::ProxyOptions o;
    o.chain_prefix = s.chain_prefix;
    if (Status st = proxy::Proxy::cleanup(o); !st) problems.push_back("proxy: " + st.to_string());
  }
  if (s.network) {
    network::NetworkOptions o;
    o.node_name = s.node_name;
    o.bridge = s.cni_bridge;
    o.vxlan_device = s.vxlan_device;
    o.chain_prefix = s.chain_prefix;
    if (!s.cluster_cidr.empty()) o.cluster_cidr = s.cluster_cidr;
    o.cni_conf_dir = s.cni_conf_dir;
    o.cni_ipam_dir = s.cni_ipam_dir;
    if (Status st = network::NetworkAgent::teardown(o); !st)
      problems.push_back("network: " + st.to_string());
  }
}

}  // namespace minik8s::agent
