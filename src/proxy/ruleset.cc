// Rendering of the proxy's iptables ruleset (see include/minik8s/proxy/proxy.h).
#include <arpa/inet.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "minik8s/proxy/proxy.h"
#include "model.h"

namespace minik8s::proxy {
namespace {

using api::Json;

using api::field;
using api::sfield;

int port_number(const Json& v) {
  if (!v.is_number_integer()) return 0;
  auto n = v.get<int64_t>();
  return n >= 1 && n <= 65535 ? static_cast<int>(n) : 0;
}

std::string lower_protocol(const Json& obj) {
  std::string p = sfield(obj, "protocol");
  if (p.empty() || p == "TCP") return "tcp";
  if (p == "UDP") return "udp";
  return "";  // SCTP and anything else: not handled
}

// Names appear in rule comments; keep the characters a quoted comment holds safely.
bool safe_name(const std::string& s) {
  if (s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

std::string fmt_probability(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10f", p);
  return buf;
}

struct Names {
  std::string services, nodeports, postrouting, mark_masq, external;
  explicit Names(const std::string& p)
      : services(p + "-SERVICES"),
        nodeports(p + "-NODEPORTS"),
        postrouting(p + "-POSTROUTING"),
        mark_masq(p + "-MARK-MASQ"),
        external(p + "-EXTERNAL-SERVICES") {}
  bool is_base(const std::string& table, const std::string& chain) const {
    if (table == "filter") return chain == services || chain == external;
    return chain == services || chain == nodeports || chain == postrouting || chain == mark_masq;
  }
};

}  // namespace

bool valid_ipv4(const std::string& s) {
  in_addr a{};
  return !s.empty() && s.size() <= 15 && ::inet_pton(AF_INET, s.c_str(), &a) == 1;
}

Status validate_options(const ProxyOptions& o) {
  const std::string& p = o.chain_prefix;
  if (p.empty() || p.size() > 6 ||
      !std::all_of(p.begin(), p.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }))
    return invalid("chain prefix \"" + p + "\" must be 1-6 characters A-Z, 0-9");
  auto slash = o.cluster_cidr.find('/');
  bool cidr_ok = slash != std::string::npos && valid_ipv4(o.cluster_cidr.substr(0, slash));
  if (cidr_ok) {
    std::string bits = o.cluster_cidr.substr(slash + 1);
    cidr_ok = !bits.empty() && bits.size() <= 2 && std::all_of(bits.begin(), bits.end(), ::isdigit) &&
              std::stoi(bits) <= 32;
  }
  if (!cidr_ok) return invalid("cluster CIDR \"" + o.cluster_cidr + "\" is not an IPv4 CIDR");
  const std::string& m = o.masquerade_mark;
  if (m.size() < 3 || m.size() > 10 || m.rfind("0x", 0) != 0 ||
      !std::all_of(m.begin() + 2, m.end(), ::isxdigit))
    return invalid("masquerade mark \"" + m + "\" is not a hex value like 0x4000");
  return Status::ok();
}

Result<Balance> parse_balance(const std::string& name) {
  if (name == "random") return Balance::kRandom;
  if (name == "round-robin" || name == "roundrobin" || name == "rr") return Balance::kRoundRobin;
  return invalid("load balancing \"" + name + "\" is not one of random, round-robin");
}

std::string chain_hash(const std::string& input) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned int i = 0; i < len && out.size() < 16; ++i) {
    buffer = (buffer << 8) | digest[i];
    bits += 8;
    while (bits >= 5 && out.size() < 16) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  return out;
}

std::string svc_chain(const std::string& prefix, const ServicePort& sp) {
  return prefix + "-SVC-" + chain_hash(sp.id() + sp.protocol);
}

std::string sep_chain(const std::string& prefix, const ServicePort& sp, const Endpoint& ep) {
  return prefix + "-SEP-" + chain_hash(sp.id() + sp.protocol + ep.ip + ":" + std::to_string(ep.port));
}

std::vector<ServicePort> service_ports(const std::vector<Json>& services, const std::vector<Json>& endpoints,
                                       Balance default_balance) {
  // ns/name → Endpoints object.
  std::map<std::string, const Json*> eps;
  for (const auto& e : endpoints) {
    const Json& meta = field(e, "metadata");
    eps[sfield(meta, "namespace") + "/" + sfield(meta, "name")] = &e;
  }
  std::vector<ServicePort> out;
  for (const auto& svc : services) {
    const Json& meta = field(svc, "metadata");
    const Json& spec = field(svc, "spec");
    std::string ns = sfield(meta, "namespace"), name = sfield(meta, "name");
    if (ns.empty()) ns = "default";
    if (!safe_name(ns) || !safe_name(name) || name.empty()) continue;
    std::string type = sfield(spec, "type");
    if (type == "ExternalName") continue;
    std::string cip = sfield(spec, "clusterIP");
    if (!valid_ipv4(cip)) continue;  // headless ("None"), unset, IPv6
    Balance balance = default_balance;
    const Json& ann = field(meta, "annotations");
    if (auto b = parse_balance(sfield(ann, kBalanceAnnotation)); b.is_ok()) balance = *b;
    bool node_ports = type == "NodePort" || type == "LoadBalancer";
    const Json* ep_obj = nullptr;
    if (auto it = eps.find(ns + "/" + name); it != eps.end()) ep_obj = it->second;
    const Json& ports = field(spec, "ports");
    if (!ports.is_array()) continue;
    for (const auto& p : ports) {
      ServicePort sp;
      sp.ns = ns;
      sp.name = name;
      sp.port_name = sfield(p, "name");
      sp.protocol = lower_protocol(p);
      sp.cluster_ip = cip;
      sp.port = port_number(field(p, "port"));
      sp.node_port = node_ports ? port_number(field(p, "nodePort")) : 0;
      sp.balance = balance;
      if (sp.protocol.empty() || sp.port == 0 || !safe_name(sp.port_name)) continue;
      if (ep_obj) {
        const Json& subsets = field(*ep_obj, "subsets");
        if (subsets.is_array()) {
          for (const auto& ss : subsets) {
            // The subset's port for this service port: same name (both may be "") and protocol.
            int target = 0;
            const Json& sports = field(ss, "ports");
            if (sports.is_array()) {
              for (const auto& ep : sports) {
                if (sfield(ep, "name") == sp.port_name && lower_protocol(ep) == sp.protocol) {
                  target = port_number(field(ep, "port"));
                  break;
                }
              }
            }
            if (target == 0) continue;
            const Json& addrs = field(ss, "addresses");
            if (!addrs.is_array()) continue;
            for (const auto& a : addrs) {
              std::string ip = sfield(a, "ip");
              if (valid_ipv4(ip)) sp.endpoints.push_back({ip, target});
            }
          }
        }
      }
      std::sort(sp.endpoints.begin(), sp.endpoints.end());
      sp.endpoints.erase(std::unique(sp.endpoints.begin(), sp.endpoints.end()), sp.endpoints.end());
      out.push_back(std::move(sp));
    }
  }
  std::sort(out.begin(), out.end(), [](const ServicePort& a, const ServicePort& b) {
    return std::tie(a.ns, a.name, a.port_name, a.protocol) < std::tie(b.ns, b.name, b.port_name, b.protocol);
  });
  // Two ports with the same name and protocol would render one chain twice; keep the first.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const ServicePort& a, const ServicePort& b) {
                          return a.ns == b.ns && a.name == b.name && a.port_name == b.port_name &&
                                 a.protocol == b.protocol;
                        }),
            out.end());
  return out;
}

size_t Ruleset::rule_count() const {
  size_t n = 0;
  for (const auto& [table, chains] : tables)
    for (const auto& [name, rules] : chains) n += static_cast<size_t>(std::count(rules.begin(), rules.end(), '\n'));
  return n;
}

Ruleset build_ruleset(const std::vector<Json>& services, const std::vector<Json>& endpoints,
                      const ProxyOptions& options) {
  return build_ruleset(service_ports(services, endpoints, options.balance), options);
}

Fragment render_fragment(std::vector<ServicePort> ports, const ProxyOptions& options) {
  const std::string& P = options.chain_prefix;
  Names n(P);
  Fragment f;
  for (const auto& sp : ports) {
    const std::string& proto = sp.protocol;
    std::string id = sp.id();
    std::string port = std::to_string(sp.port);
    std::string dst = " -d " + sp.cluster_ip + "/32 -p " + proto;
    if (sp.endpoints.empty()) {
      f.filter_services += "-A " + n.services + dst + " -m comment --comment \"" + id + " has no endpoints\" -m " +
                           proto + " --dport " + port + " -j REJECT --reject-with icmp-port-unreachable\n";
      if (sp.node_port) {
        f.filter_external += "-A " + n.external + " -p " + proto + " -m comment --comment \"" + id +
                             " has no endpoints\" -m addrtype --dst-type LOCAL -m " + proto + " --dport " +
                             std::to_string(sp.node_port) + " -j REJECT --reject-with icmp-port-unreachable\n";
      }
      continue;
    }
    std::string svc = svc_chain(P, sp);
    f.services += "-A " + n.services + dst + " -m comment --comment \"" + id + " cluster IP\" -m " + proto +
                  " --dport " + port + " -j " + svc + "\n";
    if (sp.node_port) {
      std::string np = "-A " + n.nodeports + " -p " + proto + " -m comment --comment \"" + id + "\" -m " + proto +
                       " --dport " + std::to_string(sp.node_port);
      f.nodeports += np + " -j " + n.mark_masq + "\n" + np + " -j " + svc + "\n";
    }
    std::string svc_rules = "-A " + svc + " ! -s " + options.cluster_cidr + dst + " -m comment --comment \"" + id +
                            " cluster IP\" -m " + proto + " --dport " + port + " -j " + n.mark_masq + "\n";
    size_t k = sp.endpoints.size();
    for (size_t i = 0; i < k; ++i) {
      const Endpoint& ep = sp.endpoints[i];
      std::string ep_s = ep.ip + ":" + std::to_string(ep.port);
      std::string sep = sep_chain(P, sp, ep);
      std::string balance;
      if (i + 1 < k) {
        if (sp.balance == Balance::kRoundRobin) {
          // Each rule's counter sees only what the earlier rules let through.
          balance = " -m statistic --mode nth --every " + std::to_string(k - i) + " --packet 0";
        } else {
          balance = " -m statistic --mode random --probability " + fmt_probability(1.0 / static_cast<double>(k - i));
        }
      }
      svc_rules += "-A " + svc + " -m comment --comment \"" + id + " -> " + ep_s + "\"" + balance + " -j " + sep + "\n";
      f.chains[sep] = "-A " + sep + " -s " + ep.ip + "/32 -m comment --comment \"" + id + "\" -j " + n.mark_masq +
                      "\n" + "-A " + sep + " -p " + proto + " -m comment --comment \"" + id + "\" -m " + proto +
                      " -j DNAT --to-destination " + ep_s + "\n";
    }
    f.chains[svc] = std::move(svc_rules);
  }
  f.ports = std::move(ports);
  return f;
}

Ruleset base_ruleset(const std::vector<const Fragment*>& fragments, const ProxyOptions& options) {
  Names n(options.chain_prefix);
  const std::string& mark = options.masquerade_mark;
  Ruleset rs;
  auto& nat = rs.tables["nat"];
  auto& filter = rs.tables["filter"];
  nat[n.postrouting] = "-A " + n.postrouting + " -m mark ! --mark " + mark + "/" + mark + " -j RETURN\n" +
                       "-A " + n.postrouting + " -j MARK --xor-mark " + mark + "\n" + "-A " + n.postrouting +
                       " -m comment --comment \"minik8s service traffic requiring SNAT\" -j MASQUERADE\n";
  nat[n.mark_masq] = "-A " + n.mark_masq + " -j MARK --or-mark " + mark + "\n";
  std::string& services = nat[n.services];
  std::string& nodeports = nat[n.nodeports];
  std::string& filter_services = filter[n.services];
  std::string& filter_external = filter[n.external];
  for (const Fragment* f : fragments) {
    services += f->services;
    nodeports += f->nodeports;
    filter_services += f->filter_services;
    filter_external += f->filter_external;
  }
  services += "-A " + n.services +
              " -m comment --comment \"minik8s service nodeports; NOTE: this must be the last rule in this "
              "chain\" -m addrtype --dst-type LOCAL -j " +
              n.nodeports + "\n";
  return rs;
}

Ruleset build_ruleset(const std::vector<ServicePort>& ports, const ProxyOptions& options) {
  // One fragment per Service (ports arrive sorted, so grouped).
  std::vector<Fragment> frags;
  for (size_t i = 0; i < ports.size();) {
    size_t j = i;
    while (j < ports.size() && ports[j].ns == ports[i].ns && ports[j].name == ports[i].name) ++j;
    frags.push_back(render_fragment(std::vector<ServicePort>(ports.begin() + static_cast<long>(i),
                                                             ports.begin() + static_cast<long>(j)),
                                    options));
    i = j;
  }
  std::vector<const Fragment*> ptrs;
  for (const auto& f : frags) ptrs.push_back(&f);
  Ruleset rs = base_ruleset(ptrs, options);
  auto& nat = rs.tables["nat"];
  for (auto& f : frags) nat.merge(f.chains);
  return rs;
}

std::string render_restore(const Ruleset& wanted, const Ruleset* applied,
                           const std::map<std::string, std::vector<std::string>>& stale_chains,
                           const ProxyOptions& options) {
  Names n(options.chain_prefix);
  const std::string own = options.chain_prefix + "-";
  std::string out;
  out.reserve(applied ? 4096 : wanted.rule_count() * 160 + 4096);
  static const std::map<std::string, std::string> kEmpty;
  for (const char* table : {"filter", "nat"}) {
    auto wit = wanted.tables.find(table);
    const auto& want = wit == wanted.tables.end() ? kEmpty : wit->second;
    const std::map<std::string, std::string>* have = nullptr;
    if (applied) {
      auto ait = applied->tables.find(table);
      have = ait == applied->tables.end() ? &kEmpty : &ait->second;
    }
    std::vector<const std::pair<const std::string, std::string>*> write;
    std::set<std::string> remove;
    for (const auto& entry : want) {
      if (have) {
        auto h = have->find(entry.first);
        if (h != have->end() && h->second == entry.second) continue;
      }
      write.push_back(&entry);
    }
    if (have) {
      for (const auto& [name, rules] : *have)
        if (!want.count(name)) remove.insert(name);
    }
    if (auto s = stale_chains.find(table); s != stale_chains.end()) {
      for (const auto& name : s->second)
        if (name.rfind(own, 0) == 0 && !want.count(name)) remove.insert(name);
    }
    // Base chains first (they are what the jumps from the built-in chains need).
    std::stable_partition(write.begin(), write.end(), [&](const auto* e) { return n.is_base(table, e->first); });
    if (write.empty() && remove.empty()) continue;
    out += "*";
    out += table;
    out += "\n";
    for (const auto* e : write) out += ":" + e->first + " - [0:0]\n";
    for (const auto& name : remove) out += ":" + name + " - [0:0]\n";
    for (const auto* e : write) out += e->second;
    for (const auto& name : remove) out += "-X " + name + "\n";
    out += "COMMIT\n";
  }
  return out;
}

std::string render_ruleset(const std::vector<Json>& services, const std::vector<Json>& endpoints,
                           const ProxyOptions& options, const std::vector<std::string>& stale_chains) {
  std::map<std::string, std::vector<std::string>> stale;
  if (!stale_chains.empty()) stale["nat"] = stale_chains;
  return render_restore(build_ruleset(services, endpoints, options), nullptr, stale, options);
}

std::map<std::string, std::vector<std::string>> parse_saved_chains(const std::string& save_output,
                                                                   const std::string& prefix) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(save_output);
  std::string line, table;
  const std::string own = prefix + "-";
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '*') {
      table = line.substr(1);
    } else if (!line.empty() && line[0] == ':' && !table.empty()) {
      std::string name = line.substr(1, line.find(' ') == std::string::npos ? std::string::npos : line.find(' ') - 1);
      // <P>-NET-* chains belong to the network agent (pod egress masquerade).
      if (name.rfind(own, 0) == 0 && name.rfind(own + "NET-", 0) != 0) out[table].push_back(name);
    }
  }
  return out;
}

}  // namespace minik8s::proxy
