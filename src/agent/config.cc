// Node config: YAML (parse_node_config) and `minik8s agent` flags.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "node.h"

#include "minik8s/util/net.h"

namespace minik8s::agent {

namespace {

const std::set<std::string> kKnownKeys = {"server",
                                          "kubeconfig",
                                          "nodeName",
                                          "nodeIP",
                                          "labels",
                                          "taints",
                                          "roles",
                                          "dataDir",
                                          "containerRuntimeEndpoint",
                                          "netns",
                                          "listen",
                                          "leaseRenewIntervalSeconds",
                                          "statusUpdateIntervalSeconds",
                                          "clusterDNS",
                                          "maxPods",
                                          "gpus",
                                          "podCIDR",
                                          "clusterCIDR",
                                          "networkBackend",
                                          "cniBridge",
                                          "clusterDomain",
                                          "dnsUpstream",
                                          "dnsPort",
                                          "proxyBalance",
                                          "chainPrefix",
                                          "ingressPort",
                                          "hostsFile",
                                          "disable",
                                          "tlsCertFile",
                                          "tlsPrivateKeyFile",
                                          "clientCAFile"};

const std::set<std::string> kComponents = {"network", "proxy", "dns", "ingress"};

bool valid_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{};
  if (inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1) return false;
  const std::string len = s.substr(slash + 1);
  if (len.empty() || len.size() > 2 ||
      !std::all_of(len.begin(), len.end(), [](unsigned char ch) { return std::isdigit(ch); }))
    return false;
  return std::stoi(len) <= 32;
}

Status field_error(const std::string& field, const std::string& why) {
  return invalid("node config: field \"" + field + "\": " + why);
}

Result<std::string> scalar(const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) return field_error(field, "must be a string");
  return n.Scalar();
}

Result<std::vector<std::string>> string_list(const YAML::Node& n, const std::string& field) {
  if (n.IsNull()) return std::vector<std::string>{};
  if (!n.IsSequence()) return field_error(field, "must be a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar())
      return field_error(field + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back(n[i].Scalar());
  }
  return out;
}

Result<double> number(const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) return field_error(field, "must be a number");
  const std::string& s = n.Scalar();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == nullptr || *end != '\0' || errno != 0) {
    return field_error(field, "must be a number, got \"" + s + "\"");
  }
  return v;
}

Result<std::chrono::milliseconds> seconds_field(const YAML::Node& n, const std::string& field) {
  auto v = number(n, field);
  if (!v) return v.status();
  if (*v <= 0 || *v > 86400)
    return field_error(field, "must be between 0 and 86400 seconds (exclusive of 0)");
  return std::chrono::milliseconds(static_cast<int64_t>(*v * 1000.0 + 0.5));
}

bool valid_effect(const std::string& e) {
  return e == "NoSchedule" || e == "PreferNoSchedule" || e == "NoExecute";
}

bool valid_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool valid_listen(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 >= s.size()) return false;
  const std::string port = s.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  return port.size() <= 5 && std::stoi(port) <= 65535;
}

// "auto" | a whole number 0..1024.
Result<int32_t> parse_gpus(const std::string& s) {
  if (s == "auto") return NodeConfig::kGpusAuto;
  if (s.empty() || s.size() > 4 ||
      !std::all_of(s.begin(), s.end(), [](unsigned char ch) { return std::isdigit(ch); }) ||
      std::stoi(s) > 1024) {
    return field_error("gpus",
                       "must be \"auto\" or a whole number between 0 and 1024, got \"" + s + "\"");
  }
  return static_cast<int32_t>(std::stoi(s));
}

Status check_config(const NodeConfig& c) {
  if (!c.node_ip.empty() && !valid_ipv4(c.node_ip)) {
    return field_error("nodeIP", "\"" + c.node_ip + "\" is not an IPv4 address");
  }
  if (!valid_listen(c.listen))
    return field_error("listen", "\"" + c.listen + "\" must be HOST:PORT");
  if (c.max_pods <= 0) return field_error("maxPods", "must be positive");
  for (const auto& t : c.taints) {
    if (t.key.empty()) return field_error("taints", "a taint needs a key");
    if (!valid_effect(t.effect)) {
      return field_error("taints", "effect \"" + t.effect + "\" of taint \"" + t.key +
                                       "\" must be NoSchedule, PreferNoSchedule or NoExecute");
    }
  }
  for (const auto& ip : c.cluster_dns) {
    if (!valid_ipv4(ip)) return field_error("clusterDNS", "\"" + ip + "\" is not an IPv4 address");
  }
  if (c.data_dir.empty()) return field_error("dataDir", "must not be empty");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return field_error(
        c.tls_cert_file.empty() ? "tlsCertFile" : "tlsPrivateKeyFile",
        "the kubelet's serving certificate and its key go together (--tls-cert-file, "
        "--tls-private-key-file)");
  }
  if (!c.pod_cidr.empty() && !valid_cidr(c.pod_cidr))
    return field_error("podCIDR", "\"" + c.pod_cidr + "\" is not an IPv4 CIDR");
  if (!valid_cidr(c.cluster_cidr))
    return field_error("clusterCIDR", "\"" + c.cluster_cidr + "\" is not an IPv4 CIDR");
  static const std::set<std::string> backends = {"auto", "host-gw", "vxlan", "none"};
  if (!backends.count(c.network_backend))
    return field_error("networkBackend",
                       "\"" + c.network_backend + "\" must be auto, host-gw, vxlan or none");
  if (c.cni_bridge.size() > 15 ||
      c.cni_bridge.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos)
    return field_error("cniBridge", "must be at most 15 of the characters A-Z a-z 0-9 _ . -");
  if (c.proxy_balance != "random" && c.proxy_balance != "round-robin")
    return field_error("proxyBalance", "\"" + c.proxy_balance + "\" must be random or round-robin");
  if (c.chain_prefix.empty() || c.chain_prefix.size() > 6 ||
      c.chain_prefix.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != std::string::npos)
    return field_error("chainPrefix", "must be 1 to 6 characters of A-Z 0-9");
  if (c.cluster_domain.empty() ||
      c.cluster_domain.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") !=
          std::string::npos)
    return field_error("clusterDomain", "must be a lower-case DNS domain");
  if (c.dns_port < 0 || c.dns_port > 65535) return field_error("dnsPort", "must be a port number");
  if (c.ingress_port < 0 || c.ingress_port > 65535)
    return field_error("ingressPort", "must be a port number");
  for (const auto& d : c.disable) {
    if (!kComponents.count(d))
      return field_error("disable", "\"" + d + "\" must be one of network, proxy, dns, ingress");
  }
  for (const auto& u : c.dns_upstream) {
    if (!valid_ipv4(u.substr(0, u.rfind(':') == std::string::npos ? u.size() : u.rfind(':'))))
      return field_error("dnsUpstream", "\"" + u + "\" must be IP or IP:PORT");
  }
  if (c.lease_renew_interval.count() <= 0)
    return field_error("leaseRenewIntervalSeconds", "must be positive");
  return Status::ok();
}

Result<NodeConfig> parse_yaml_into(NodeConfig c, const YAML::Node& root) {
  if (root.IsNull()) return c;
  if (!root.IsMap()) return invalid("node config: the document must be a mapping of settings");
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) return invalid("node config: keys must be strings");
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (!kKnownKeys.count(key)) return invalid("node config: unknown key \"" + key + "\"");
    if (key == "labels") {
      if (v.IsNull()) continue;
      if (!v.IsMap()) return field_error("labels", "must be a mapping of label keys to values");
      for (const auto& l : v) {
        if (!l.first.IsScalar() || !(l.second.IsScalar() || l.second.IsNull())) {
          return field_error("labels", "keys and values must be strings");
        }
        c.labels[l.first.Scalar()] = l.second.IsNull() ? "" : l.second.Scalar();
      }
    } else if (key == "taints") {
      if (v.IsNull()) continue;
      if (!v.IsSequence()) return field_error("taints", "must be a list of {key, value, effect}");
      for (size_t i = 0; i < v.size(); ++i) {
        const std::string f = "taints[" + std::to_string(i) + "]";
        if (!v[i].IsMap()) return field_error(f, "must be a mapping {key, value, effect}");
        Taint t;
        for (const auto& tk : v[i]) {
          const std::string k = tk.first.IsScalar() ? tk.first.Scalar() : "";
          if (!tk.second.IsScalar()) return field_error(f + "." + k, "must be a string");
          if (k == "key")
            t.key = tk.second.Scalar();
          else if (k == "value")
            t.value = tk.second.Scalar();
          else if (k == "effect")
            t.effect = tk.second.Scalar();
          else
            return field_error(f, "unknown key \"" + k + "\"");
        }
        if (t.key.empty()) return field_error(f + ".key", "required");
        if (!valid_effect(t.effect)) {
          return field_error(
              f + ".effect",
              "\"" + t.effect + "\" must be NoSchedule, PreferNoSchedule or NoExecute");
        }
        c.taints.push_back(t);
      }
    } else if (key == "roles" || key == "clusterDNS" || key == "dnsUpstream" || key == "disable") {
      auto l = string_list(v, key);
      if (!l) return l.status();
      (key == "roles"        ? c.roles
       : key == "clusterDNS" ? c.cluster_dns
       : key == "disable"    ? c.disable
                             : c.dns_upstream) = *l;
    } else if (key == "dnsPort" || key == "ingressPort") {
      auto n = number(v, key);
      if (!n) return n.status();
      if (*n != static_cast<double>(static_cast<int64_t>(*n)) || *n < 0 || *n > 65535)
        return field_error(key, "must be a port number");
      (key == "dnsPort" ? c.dns_port : c.ingress_port) = static_cast<int>(*n);
    } else if (key == "leaseRenewIntervalSeconds" || key == "statusUpdateIntervalSeconds") {
      auto d = seconds_field(v, key);
      if (!d) return d.status();
      (key == "leaseRenewIntervalSeconds" ? c.lease_renew_interval : c.status_update_interval) = *d;
    } else if (key == "gpus") {
      auto s = scalar(v, key);
      if (!s) return s.status();
      auto g = parse_gpus(*s);
      if (!g) return g.status();
      c.gpus = *g;
    } else if (key == "maxPods") {
      auto n = number(v, key);
      if (!n) return n.status();
      if (*n != static_cast<double>(static_cast<int64_t>(*n)) || *n < 1 || *n > 100000) {
        return field_error(key, "must be an integer between 1 and 100000");
      }
      c.max_pods = static_cast<int32_t>(*n);
    } else {
      auto s = scalar(v, key);
      if (!s) return s.status();
      if (key == "server")
        c.server = *s;
      else if (key == "kubeconfig")
        c.kubeconfig = *s;
      else if (key == "nodeName")
        c.node_name = *s;
      else if (key == "nodeIP")
        c.node_ip = *s;
      else if (key == "dataDir")
        c.data_dir = *s;
      else if (key == "containerRuntimeEndpoint")
        c.container_runtime_endpoint = *s;
      else if (key == "netns")
        c.netns = *s;
      else if (key == "listen")
        c.listen = *s;
      else if (key == "podCIDR")
        c.pod_cidr = *s;
      else if (key == "clusterCIDR")
        c.cluster_cidr = *s;
      else if (key == "networkBackend")
        c.network_backend = *s;
      else if (key == "cniBridge")
        c.cni_bridge = *s;
      else if (key == "clusterDomain")
        c.cluster_domain = *s;
      else if (key == "proxyBalance")
        c.proxy_balance = *s;
      else if (key == "chainPrefix")
        c.chain_prefix = *s;
      else if (key == "hostsFile")
        c.hosts_file = *s;
      else if (key == "tlsCertFile")
        c.tls_cert_file = *s;
      else if (key == "tlsPrivateKeyFile")
        c.tls_key_file = *s;
      else if (key == "clientCAFile")
        c.client_ca_file = *s;
    }
  }
  if (Status st = check_config(c); !st) return st;
  return c;
}

Result<NodeConfig> parse_yaml_text(NodeConfig base, const std::string& text) {
  try {
    return parse_yaml_into(std::move(base), YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return invalid(std::string("node config: YAML: ") + e.what());
  } catch (const std::exception& e) {
    return invalid(std::string("node config: ") + e.what());
  }
}

}  // namespace

bool NodeConfig::enabled(const std::string& component) const {
  return std::find(disable.begin(), disable.end(), component) == disable.end();
}

Result<NodeConfig> parse_node_config(const std::string& yaml_text) {
  return parse_yaml_text(NodeConfig{}, yaml_text);
}

Result<Taint> parse_taint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return invalid("taint \"" + text + "\" must be key[=value]:Effect");
  Taint t;
  t.effect = text.substr(colon + 1);
  std::string kv = text.substr(0, colon);
  auto eq = kv.find('=');
  t.key = kv.substr(0, eq);
  if (eq != std::string::npos) t.value = kv.substr(eq + 1);
  if (t.key.empty()) return invalid("taint \"" + text + "\" has no key");
  if (!valid_effect(t.effect)) {
    return invalid("taint \"" + text +
                   "\": effect must be NoSchedule, PreferNoSchedule or NoExecute");
  }
  return t;
}

Result<NodeConfig> parse_agent_flags(int argc, char** argv, AgentFlags* extra, int* exit_code) {
  CLI::App app{"minik8s agent: the node agent (kubelet on containerd)", "agent"};
  std::string config_path, server, kubeconfig, node_name, node_ip, data_dir, endpoint, netns,
      listen;
  std::vector<std::string> labels, taints, roles, dns;
  double lease_s = 0, status_s = 0;
  int32_t max_pods = 0;
  AgentFlags local;
  AgentFlags& ex = extra ? *extra : local;
  app.add_option("--config", config_path,
                 "node config YAML (see deploy/node.yaml); flags override it");
  auto* o_server = app.add_option(
      "--server", server,
      "API server URL, e.g. http://127.0.0.1:6443; several servers comma-separated (docs/ha.md)");
  auto* o_kc = app.add_option("--kubeconfig", kubeconfig,
                              "kubeconfig to find the API server (instead of --server)");
  std::string token, ca_cert_hash;
  bool skip_ca = false;
  auto* o_token = app.add_option(
      "--token", token, "bootstrap token <id>.<secret> to join with (minik8s token create)");
  auto* o_hash = app.add_option("--ca-cert-hash", ca_cert_hash,
                                "sha256:<hex> pin of the cluster CA's public key (with --token)");
  app.add_flag("--discovery-token-unsafe-skip-ca-verification", skip_ca,
               "join with --token without --ca-cert-hash (trusts whoever answers)");
  auto* o_name = app.add_option("--node-name", node_name, "node name (default: hostname)");
  auto* o_ip = app.add_option("--node-ip", node_ip,
                              "node InternalIP (default: the default route's address)");
  auto* o_labels = app.add_option("--label", labels, "extra node label k=v (repeatable)");
  auto* o_taints = app.add_option("--taint", taints, "node taint key[=value]:Effect (repeatable)");
  auto* o_roles =
      app.add_option("--role", roles, "node role label node-role.kubernetes.io/ROLE (repeatable)");
  auto* o_dir =
      app.add_option("--data-dir", data_dir, "state dir (default /var/lib/minik8s/agent)");
  auto* o_ep = app.add_option("--container-runtime-endpoint", endpoint,
                              "\"managed\" (own containerd under the data dir) or a CRI socket");
  auto* o_netns = app.add_option("--netns", netns, "run the managed containerd in /run/netns/NAME");
  auto* o_listen =
      app.add_option("--listen", listen, "kubelet HTTP server HOST:PORT (port 0 picks one)");
  auto* o_lease =
      app.add_option("--lease-renew-interval", lease_s, "seconds between Lease renewals");
  auto* o_status =
      app.add_option("--status-update-interval", status_s, "seconds between node status updates");
  auto* o_dns = app.add_option("--cluster-dns", dns, "DNS server IPs for pods (repeatable)");
  auto* o_max = app.add_option("--max-pods", max_pods, "pods this node accepts");
  std::string gpus;
  auto* o_gpus =
      app.add_option("--gpus", gpus, "nvidia.com/gpu to offer: auto (default), 0 (none) or N");
  std::string pod_cidr, cluster_cidr, backend, bridge, domain, balance, prefix, hosts;
  std::vector<std::string> upstream, disable;
  int dns_port = 0, ingress_port = 0;
  auto* o_pod_cidr =
      app.add_option("--pod-cidr", pod_cidr, "static pod CIDR (default: from the node controller)");
  auto* o_cluster_cidr =
      app.add_option("--cluster-cidr", cluster_cidr, "CIDR of all pods (default 10.244.0.0/16)");
  auto* o_backend = app.add_option("--backend", backend, "pod routes: auto|host-gw|vxlan|none");
  auto* o_bridge = app.add_option("--cni-bridge", bridge, "CNI bridge name (default mk-<hash>)");
  auto* o_domain = app.add_option("--cluster-domain", domain, "DNS domain (default cluster.local)");
  auto* o_upstream =
      app.add_option("--dns-upstream", upstream, "upstream resolver IP[:PORT] (repeatable)");
  auto* o_dns_port = app.add_option("--dns-port", dns_port, "cluster DNS port (default 53)");
  auto* o_balance = app.add_option("--proxy-balance", balance, "random|round-robin");
  auto* o_prefix = app.add_option("--chain-prefix", prefix, "iptables chain prefix (default MK)");
  auto* o_ingress_port =
      app.add_option("--ingress-port", ingress_port, "nginx port for DNS objects (default 80)");
  auto* o_hosts =
      app.add_option("--hosts-file", hosts, "hosts file for DNS-object names (default /etc/hosts)");
  auto* o_disable = app.add_option("--disable", disable, "network|proxy|dns|ingress (repeatable)");
  std::string header_timeout, body_timeout, idle_timeout;
  size_t max_connections = 0;
  auto* o_header_timeout =
      app.add_option("--http-header-timeout", header_timeout,
                     "kubelet server: time for a request's header (default 30s)");
  auto* o_body_timeout =
      app.add_option("--http-body-timeout", body_timeout,
                     "kubelet server: time for a request's whole body (default 60s)");
  auto* o_idle_timeout =
      app.add_option("--http-idle-timeout", idle_timeout,
                     "kubelet server: keep-alive wait for the next request (default 90s)");
  auto* o_max_connections = app.add_option("--max-connections", max_connections,
                                           "kubelet server: concurrent connections (default 1024)");
  std::string tls_cert, tls_key, client_ca;
  auto* o_tls_cert =
      app.add_option("--tls-cert-file", tls_cert,
                     "kubelet server: serving certificate, PEM (default: a kubelet-serving CSR)");
  auto* o_tls_key = app.add_option("--tls-private-key-file", tls_key,
                                   "kubelet server: the serving certificate's key");
  auto* o_client_ca =
      app.add_option("--client-ca-file", client_ca,
                     "kubelet server: CA for client certificates (default: the kubeconfig's CA)");
  app.add_option("--image-cache", ex.image_cache, "directory for built offline images");
  app.add_option("--log-level", ex.log_level, "trace|debug|info|warn|error");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    int code = app.exit(e, out, err);
    if (exit_code) *exit_code = code;
    return bad_request(out.str() + err.str());
  }
  NodeConfig c;
  if (!config_path.empty()) {
    std::ifstream f(config_path);
    if (!f) return not_found("cannot read node config " + config_path);
    std::stringstream ss;
    ss << f.rdbuf();
    auto parsed = parse_yaml_text(NodeConfig{}, ss.str());
    if (!parsed)
      return Status(parsed.status().code(), config_path + ": " + parsed.status().message());
    c = std::move(*parsed);
  }
  if (o_server->count()) c.server = server;
  if (o_kc->count()) c.kubeconfig = kubeconfig;
  if (o_token->count()) {
    if (token.size() != 23 || token[6] != '.' ||
        !std::all_of(token.begin(), token.end(), [](char ch) {
          return ch == '.' || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        })) {
      return invalid("--token must look like abcdef.0123456789abcdef ([a-z0-9]{6}.[a-z0-9]{16})");
    }
    c.token = token;
  }
  if (o_hash->count()) c.ca_cert_hash = ca_cert_hash;
  if (skip_ca) c.discovery_token_unsafe_skip_ca_verification = true;
  if (!c.token.empty()) {
    if (c.server.empty()) return invalid("--token needs --server");
    if (!c.kubeconfig.empty()) return invalid("--token and --kubeconfig exclude each other");
    if (c.ca_cert_hash.empty() && !c.discovery_token_unsafe_skip_ca_verification) {
      return invalid(
          "--token needs --ca-cert-hash sha256:<hex> (or "
          "--discovery-token-unsafe-skip-ca-verification)");
    }
  }
  if (o_name->count()) c.node_name = node_name;
  if (o_ip->count()) c.node_ip = node_ip;
  if (o_dir->count()) c.data_dir = data_dir;
  if (o_ep->count()) c.container_runtime_endpoint = endpoint;
  if (o_netns->count()) c.netns = netns;
  if (o_listen->count()) c.listen = listen;
  if (o_lease->count()) {
    if (lease_s <= 0) return invalid("--lease-renew-interval must be positive");
    c.lease_renew_interval = std::chrono::milliseconds(static_cast<int64_t>(lease_s * 1000 + 0.5));
  }
  if (o_status->count()) {
    if (status_s <= 0) return invalid("--status-update-interval must be positive");
    c.status_update_interval =
        std::chrono::milliseconds(static_cast<int64_t>(status_s * 1000 + 0.5));
  }
  if (o_max->count()) c.max_pods = max_pods;
  if (o_gpus->count()) {
    auto g = parse_gpus(gpus);
    if (!g) return invalid("--gpus: " + g.status().message());
    c.gpus = *g;
  }
  if (o_dns->count()) c.cluster_dns = dns;
  if (o_roles->count()) c.roles = roles;
  if (o_pod_cidr->count()) c.pod_cidr = pod_cidr;
  if (o_cluster_cidr->count()) c.cluster_cidr = cluster_cidr;
  if (o_backend->count()) c.network_backend = backend;
  if (o_bridge->count()) c.cni_bridge = bridge;
  if (o_domain->count()) c.cluster_domain = domain;
  if (o_upstream->count()) c.dns_upstream = upstream;
  if (o_dns_port->count()) c.dns_port = dns_port;
  if (o_balance->count()) c.proxy_balance = balance;
  if (o_prefix->count()) c.chain_prefix = prefix;
  if (o_ingress_port->count()) c.ingress_port = ingress_port;
  if (o_hosts->count()) c.hosts_file = hosts;
  if (o_disable->count()) c.disable = disable;
  if (o_tls_cert->count()) c.tls_cert_file = tls_cert;
  if (o_tls_key->count()) c.tls_key_file = tls_key;
  if (o_client_ca->count()) c.client_ca_file = client_ca;
  struct {
    CLI::Option* opt;
    const char* flag;
    const std::string& text;
    std::chrono::milliseconds& into;
  } durations[] = {
      {o_header_timeout, "--http-header-timeout", header_timeout, c.http_limits.header_timeout},
      {o_body_timeout, "--http-body-timeout", body_timeout, c.http_limits.body_timeout},
      {o_idle_timeout, "--http-idle-timeout", idle_timeout, c.http_limits.idle_timeout}};
  for (auto& d : durations) {
    if (d.opt->count() && !parse_conn_duration(d.text, &d.into)) {
      return invalid(std::string(d.flag) + ": invalid duration \"" + d.text +
                     "\" (e.g. 30s, 500ms, 2m)");
    }
  }
  if (o_max_connections->count()) {
    if (max_connections == 0) return invalid("--max-connections must be positive");
    c.http_limits.max_connections = max_connections;
  }
  if (o_labels->count()) {
    for (const auto& l : labels) {
      auto eq = l.find('=');
      if (eq == std::string::npos || eq == 0)
        return invalid("--label \"" + l + "\" must be key=value");
      c.labels[l.substr(0, eq)] = l.substr(eq + 1);
    }
  }
  if (o_taints->count()) {
    c.taints.clear();
    for (const auto& t : taints) {
      auto parsed = parse_taint(t);
      if (!parsed) return Status(parsed.status().code(), "--taint: " + parsed.status().message());
      c.taints.push_back(*parsed);
    }
  }
  if (Status st = check_config(c); !st) return st;
  return c;
}

std::string default_node_ip() {
  std::string ip = default_route_ipv4();
  return ip.empty() ? "127.0.0.1" : ip;
}

void fill_defaults(NodeConfig& config) {
  if (config.node_name.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    std::string h = host;
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    config.node_name = h.empty() ? "localhost" : h;
  }
  if (config.node_ip.empty()) config.node_ip = default_node_ip();
  // ":PORT" (the default) binds the kubelet to the node IP only: it has no
  // authentication yet, so it is not offered on every interface.
  if (!config.listen.empty() && config.listen.front() == ':')
    config.listen = config.node_ip + config.listen;
}

}  // namespace minik8s::agent
