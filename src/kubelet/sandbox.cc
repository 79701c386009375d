#include "sandbox.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "labels.h"

namespace minik8s::kubelet {

namespace {

// dnsPolicy → the sandbox's DNS, then dnsConfig merged in.
cri::DnsConfig pod_dns(const json& s, const std::string& ns, bool host_network, const KubeletOptions& opts) {
  cri::DnsConfig dns;
  std::string dns_policy = sget(s, "dnsPolicy");
  if (dns_policy.empty()) dns_policy = "ClusterFirst";
  if (dns_policy == "ClusterFirst" && host_network) dns_policy = "Default";
  if (dns_policy == "ClusterFirstWithHostNet") dns_policy = "ClusterFirst";
  if (dns_policy == "ClusterFirst" && !opts.cluster_dns.empty()) {
    const std::string& d = opts.cluster_domain;
    dns.servers = opts.cluster_dns;
    dns.searches = {ns + ".svc." + d, "svc." + d, d};
    dns.options = {"ndots:5"};
  } else if (dns_policy != "None") {
    dns = host_dns();
  }
  const json& dc = at(s, "dnsConfig");
  for (const auto& v : at(dc, "nameservers")) {
    if (v.is_string()) dns.servers.push_back(v.get<std::string>());
  }
  for (const auto& v : at(dc, "searches")) {
    if (v.is_string()) dns.searches.push_back(v.get<std::string>());
  }
  for (const auto& o : at(dc, "options")) {
    std::string n = sget(o, "name");
    if (n.empty()) continue;
    std::string v = sget(o, "value");
    dns.options.erase(std::remove_if(dns.options.begin(), dns.options.end(),
                                     [&](const std::string& x) { return x == n || x.rfind(n + ":", 0) == 0; }),
                      dns.options.end());
    dns.options.push_back(v.empty() ? n : n + ":" + v);
  }
  return dns;
}

std::vector<cri::PortMapping> host_ports(const json& s) {
  std::vector<cri::PortMapping> out;
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
        out.push_back(pm);
      }
    }
  }
  return out;
}

void copy_strings(const json& from, cri::Labels& to) {
  if (!from.is_object()) return;
  for (const auto& [key, v] : from.items()) {
    if (v.is_string()) to[key] = v.get<std::string>();
  }
}

}  // namespace

std::string pod_log_root(const KubeletOptions& opts) {
  if (!opts.pod_log_dir.empty()) return opts.pod_log_dir;
  return (opts.root_dir.empty() ? std::string("/var/log") : opts.root_dir) + "/pods";
}

cri::SandboxConfig sandbox_config(const json& pod, const std::string& uid, uint32_t attempt,
                                  const KubeletOptions& opts, const std::string& cgroup_parent) {
  const json& m = meta(pod);
  const json& s = spec(pod);
  cri::SandboxConfig c;
  c.name = sget(m, "name");
  c.uid = uid;
  c.namespace_ = sget(m, "namespace");
  if (c.namespace_.empty()) c.namespace_ = "default";
  c.attempt = attempt;
  c.host_network = at(s, "hostNetwork").is_boolean() && at(s, "hostNetwork").get<bool>();
  // A hostNetwork pod shares the node's UTS namespace too (containerd drops
  // it with the network one) and keeps the node's hostname: runc refuses a
  // hostname without a private UTS namespace. The Kubernetes kubelet sets
  // none for such pods either.
  if (!c.host_network) {
    c.hostname = sget(s, "hostname");
    if (c.hostname.empty()) c.hostname = c.name;
    if (c.hostname.size() > 63) c.hostname.resize(63);
  }
  c.log_directory = pod_log_root(opts) + "/" + c.namespace_ + "_" + c.name + "_" + uid;
  c.dns = pod_dns(s, c.namespace_, c.host_network, opts);
  c.port_mappings = host_ports(s);
  copy_strings(at(m, "labels"), c.labels);
  c.labels[kPodNameLabel] = c.name;
  c.labels[kPodNamespaceLabel] = c.namespace_;
  c.labels[kPodUidLabel] = uid;
  c.labels[kNodeLabel] = opts.node_name;
  copy_strings(at(m, "annotations"), c.annotations);
  c.cgroup_parent = cgroup_parent;
  return c;
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

void stop_dead_sandboxes(cri::Runtime& runtime, const std::vector<cri::Sandbox>& sandboxes,
                         const std::vector<cri::Container>& containers) {
  for (const auto& sb : sandboxes) {
    for (const auto& c : containers) {
      if (c.sandbox_id == sb.id && c.state == cri::ContainerState::kRunning) (void)runtime.stop_container(c.id, 0);
    }
    (void)runtime.stop_pod_sandbox(sb.id);
  }
}

Result<RunningSandbox> run_sandbox(cri::Runtime& runtime, const cri::SandboxConfig& cfg,
                                   const std::vector<cri::Sandbox>& old) {
  std::error_code ec;
  std::filesystem::create_directories(cfg.log_directory, ec);
  auto id = runtime.run_pod_sandbox(cfg);
  if (!id) return id.status();
  for (const auto& sb : old) (void)runtime.remove_pod_sandbox(sb.id);
  return RunningSandbox{*id, sandbox_ip(runtime, *id)};
}

std::string sandbox_ip(cri::Runtime& runtime, const std::string& sandbox_id) {
  auto sst = runtime.pod_sandbox_status(sandbox_id);
  return sst ? sst->ip : "";
}

}  // namespace minik8s::kubelet
