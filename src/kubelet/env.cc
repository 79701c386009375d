// resolve_env: a container's environment as Kubernetes builds it — envFrom
// first, then env in order (later names override earlier ones), with
// $(VAR) references to earlier variables expanded, fieldRef /
// resourceFieldRef / configMapKeyRef / secretKeyRef resolved.
//
// Also home of the small helpers volumes.cc shares (declared there in
// namespace internal): ConfigMap/Secret fetch and data, fieldRef.
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/quantity.h"
#include "minik8s/api/resource.h"
#include "minik8s/kubelet/parts.h"
#include "minik8s/util/base64.h"

namespace minik8s::kubelet {
namespace internal {

// The ConfigMap ("configmaps") or Secret ("secrets") ns/name; nullopt when it
// does not exist; other errors (API unreachable) pass through.
Result<std::optional<api::Json>> get_object(client::Client& client, const std::string& plural,
                                            const std::string& ns, const std::string& name) {
  const api::ResourceType* type = api::find_resource("", "v1", plural);
  if (type == nullptr) return internal_error("unknown resource " + plural);
  auto got = client.get(*type, ns, name);
  if (!got.is_ok()) {
    if (got.status().code() == Code::kNotFound) return std::optional<api::Json>();
    return got.status();
  }
  return std::optional<api::Json>(std::move(got.value()));
}

// The data of a ConfigMap (data + binaryData decoded) or Secret (data decoded,
// stringData as is) as key → bytes.
Result<std::map<std::string, std::string>> object_data(const api::Json& obj, bool secret) {
  std::map<std::string, std::string> out;
  auto add = [&](const char* field, bool decode) -> Status {
    auto it = obj.find(field);
    if (it == obj.end() || !it->is_object()) return Status::ok();
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      if (!kv.value().is_string()) continue;
      std::string v = kv.value().get<std::string>();
      if (decode) {
        auto d = base64_decode_lenient(v);
        if (!d.is_ok()) return invalid("key " + kv.key() + ": " + d.status().message());
        v = std::move(d.value());
      }
      out[kv.key()] = std::move(v);
    }
    return Status::ok();
  };
  if (secret) {
    if (auto s = add("data", true); !s.is_ok()) return s;
    if (auto s = add("stringData", false); !s.is_ok()) return s;
  } else {
    if (auto s = add("data", false); !s.is_ok()) return s;
    if (auto s = add("binaryData", true); !s.is_ok()) return s;
  }
  return out;
}

namespace {
std::string str_at(const api::Json& j, const char* a, const char* b) {
  auto ia = j.find(a);
  if (ia == j.end() || !ia->is_object()) return "";
  auto ib = ia->find(b);
  if (ib == ia->end() || !ib->is_string()) return "";
  return ib->get<std::string>();
}

// metadata.labels['key'] → ("labels", "key").
std::optional<std::pair<std::string, std::string>> subscript(const std::string& path) {
  auto open = path.find('[');
  if (open == std::string::npos || path.back() != ']') return std::nullopt;
  std::string field = path.substr(0, open);
  std::string key = path.substr(open + 1, path.size() - open - 2);
  if (key.size() >= 2 && (key.front() == '\'' || key.front() == '"') && key.back() == key.front()) {
    key = key.substr(1, key.size() - 2);
  } else {
    return std::nullopt;
  }
  return std::make_pair(field, key);
}

std::string map_as_lines(const api::Json& pod, const char* field) {
  std::string out;
  auto md = pod.find("metadata");
  if (md == pod.end() || !md->is_object()) return out;
  auto m = md->find(field);
  if (m == md->end() || !m->is_object()) return out;
  for (auto it = m->begin(); it != m->end(); ++it) {
    if (!it.value().is_string()) continue;
    std::string v = it.value().get<std::string>();
    // Kubernetes quotes values (strconv.Quote); escape the basics.
    std::string q;
    for (char c : v) {
      if (c == '"' || c == '\\') q.push_back('\\');
      if (c == '\n') {
        q += "\\n";
        continue;
      }
      q.push_back(c);
    }
    out += it.key() + "=\"" + q + "\"\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}
}  // namespace

// One fieldRef.fieldPath of the pod. pod_ip/host_ip/node_name override what
// the pod object says when non-empty.
Result<std::string> resolve_field_ref(const api::Json& pod, const std::string& path, const EnvContext& ctx) {
  if (path == "metadata.name") return str_at(pod, "metadata", "name");
  if (path == "metadata.namespace") return str_at(pod, "metadata", "namespace");
  if (path == "metadata.uid") return str_at(pod, "metadata", "uid");
  if (path == "spec.nodeName") return ctx.node_name.empty() ? str_at(pod, "spec", "nodeName") : ctx.node_name;
  if (path == "spec.serviceAccountName") {
    std::string sa = str_at(pod, "spec", "serviceAccountName");
    return sa.empty() ? std::string("default") : sa;
  }
  if (path == "status.podIP") return ctx.pod_ip.empty() ? str_at(pod, "status", "podIP") : ctx.pod_ip;
  if (path == "status.podIPs") return ctx.pod_ip.empty() ? str_at(pod, "status", "podIP") : ctx.pod_ip;
  if (path == "status.hostIP") return ctx.host_ip.empty() ? str_at(pod, "status", "hostIP") : ctx.host_ip;
  if (path == "status.hostIPs") return ctx.host_ip.empty() ? str_at(pod, "status", "hostIP") : ctx.host_ip;
  if (path == "metadata.labels") return map_as_lines(pod, "labels");
  if (path == "metadata.annotations") return map_as_lines(pod, "annotations");
  if (auto sub = subscript(path)) {
    if (sub->first == "metadata.labels" || sub->first == "metadata.annotations") {
      const char* field = sub->first == "metadata.labels" ? "labels" : "annotations";
      auto md = pod.find("metadata");
      if (md != pod.end() && md->is_object()) {
        auto m = md->find(field);
        if (m != md->end() && m->is_object()) {
          auto v = m->find(sub->second);
          if (v != m->end() && v->is_string()) return v->get<std::string>();
        }
      }
      return std::string();
    }
  }
  return invalid("unsupported fieldPath: " + path);
}

}  // namespace internal

namespace {

using internal::get_object;
using internal::object_data;

int64_t node_memory_bytes() {
  static const int64_t bytes = [] {
    std::ifstream in("/proc/meminfo");
    std::string key;
    int64_t kb = 0;
    std::string unit;
    while (in >> key >> kb >> unit) {
      if (key == "MemTotal:") return kb * 1024;
    }
    return int64_t{0};
  }();
  return bytes;
}

// resourceFieldRef: limits.cpu/memory/ephemeral-storage, requests.*; a missing
// limit is the node's capacity (as Kubernetes uses allocatable).
Result<std::string> resolve_resource_ref(const api::Json& container, const api::Json& ref) {
  std::string res = ref.value("resource", "");
  auto dot = res.find('.');
  if (dot == std::string::npos) return invalid("unsupported resource: " + res);
  std::string kind = res.substr(0, dot), name = res.substr(dot + 1);
  if (kind != "limits" && kind != "requests") return invalid("unsupported resource: " + res);
  std::string text;
  if (auto r = container.find("resources"); r != container.end() && r->is_object()) {
    if (auto k = r->find(kind); k != r->end() && k->is_object()) {
      if (auto q = k->find(name); q != k->end()) text = q->is_string() ? q->get<std::string>() : q->dump();
    }
  }
  int64_t milli = 0;
  if (!text.empty()) {
    auto q = api::Quantity::parse(text);
    if (!q.is_ok()) return q.status();
    milli = q->milli_value();
  } else if (kind == "limits" || name == "memory" || name == "cpu") {
    if (kind == "requests") {
      milli = 0;
    } else if (name == "cpu") {
      milli = static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN)) * 1000;
    } else if (name == "memory") {
      milli = node_memory_bytes() * 1000;
    }
  }
  int64_t divisor_milli = 1000;
  if (auto d = ref.find("divisor"); d != ref.end() && !d->is_null()) {
    std::string dt = d->is_string() ? d->get<std::string>() : d->dump();
    auto q = api::Quantity::parse(dt);
    if (!q.is_ok()) return q.status();
    if (q->milli_value() > 0) divisor_milli = q->milli_value();
  }
  // Kubernetes rounds up (ceil(value / divisor)), minimum 1 for cpu limits.
  int64_t v = (milli + divisor_milli - 1) / divisor_milli;
  if (name == "cpu" && v == 0 && milli > 0) v = 1;
  return std::to_string(v);
}

// Expands $(NAME) from vars; $$ → $; unknown references stay verbatim.
std::string expand(const std::string& in, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out.push_back(in[i]);
      continue;
    }
    if (in[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (in[i + 1] == '(') {
      auto close = in.find(')', i + 2);
      if (close != std::string::npos) {
        std::string name = in.substr(i + 2, close - i - 2);
        auto it = vars.find(name);
        if (it != vars.end()) {
          out += it->second;
        } else {
          out += in.substr(i, close - i + 1);
        }
        i = close;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// Fetches configMaps/secrets once per resolve_env call.
class Lookup {
 public:
  Lookup(client::Client& client, std::string ns) : client_(client), ns_(std::move(ns)) {}

  // nullptr when the object does not exist.
  Result<const std::map<std::string, std::string>*> data(bool secret, const std::string& name) {
    auto& cache = secret ? secrets_ : config_maps_;
    auto it = cache.find(name);
    if (it == cache.end()) {
      auto got = get_object(client_, secret ? "secrets" : "configmaps", ns_, name);
      if (!got.is_ok()) return got.status();
      std::optional<std::map<std::string, std::string>> entry;
      if (got->has_value()) {
        auto d = object_data(**got, secret);
        if (!d.is_ok()) {
          return invalid(std::string(secret ? "secret" : "configmap") + " \"" + name + "\": " + d.status().message());
        }
        entry = std::move(d.value());
      }
      it = cache.emplace(name, std::move(entry)).first;
    }
    if (!it->second.has_value()) return static_cast<const std::map<std::string, std::string>*>(nullptr);
    return &*it->second;
  }

  const std::string& ns() const { return ns_; }

 private:
  client::Client& client_;
  std::string ns_;
  std::map<std::string, std::optional<std::map<std::string, std::string>>> config_maps_, secrets_;
};

// Kubernetes' makeEnvVariableName: "my-svc" → "MY_SVC".
std::string env_name(const std::string& s) {
  std::string out = s;
  for (char& ch : out)
    ch = ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

// One Service's variables (Kubernetes' envvars.FromServices for one Service).
void add_service_vars(const api::Json& svc, std::vector<cri::KeyValue>& out) {
  const std::string name = env_name(internal::str_at(svc, "metadata", "name"));
  const std::string ip = internal::str_at(svc, "spec", "clusterIP");
  auto spec = svc.find("spec");
  auto ports = spec->find("ports");
  if (ports == spec->end() || !ports->is_array() || ports->empty()) return;
  auto port_of = [](const api::Json& p) {
    auto it = p.find("port");
    return it != p.end() && it->is_number_integer() ? std::to_string(it->get<int64_t>())
                                                    : std::string();
  };
  const std::string first = (*ports)[0].is_object() ? port_of((*ports)[0]) : std::string();
  if (first.empty()) return;
  out.push_back({name + "_SERVICE_HOST", ip});
  out.push_back({name + "_SERVICE_PORT", first});
  for (const auto& p : *ports) {
    if (!p.is_object()) continue;
    std::string pname = p.value("name", "");
    if (!pname.empty() && !port_of(p).empty())
      out.push_back({name + "_SERVICE_PORT_" + env_name(pname), port_of(p)});
  }
  // Docker link variables.
  const std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  bool first_port = true;
  for (const auto& p : *ports) {
    if (!p.is_object() || port_of(p).empty()) continue;
    std::string proto = p.value("protocol", "");
    if (proto.empty()) proto = "TCP";
    std::string lower = proto, upper = proto;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    const std::string url = lower + "://" + host + ":" + port_of(p);
    if (first_port) out.push_back({name + "_PORT", url});
    first_port = false;
    const std::string prefix = name + "_PORT_" + port_of(p) + "_" + upper;
    out.push_back({prefix, url});
    out.push_back({prefix + "_PROTO", lower});
    out.push_back({prefix + "_PORT", port_of(p)});
    out.push_back({prefix + "_ADDR", ip});
  }
}

}  // namespace

std::vector<cri::KeyValue> service_env(
    const std::vector<std::shared_ptr<const api::Json>>& services, const std::string& ns,
    bool enable_service_links) {
  // name → Service; Kubernetes' getServiceEnvVarMap.
  std::map<std::string, const api::Json*> chosen;
  for (const auto& ptr : services) {
    if (!ptr || !ptr->is_object()) continue;
    const api::Json& svc = *ptr;
    auto spec = svc.find("spec");
    if (spec == svc.end() || !spec->is_object()) continue;
    const std::string ip = internal::str_at(svc, "spec", "clusterIP");
    if (ip.empty() || ip == "None") continue;  // headless or ExternalName
    const std::string name = internal::str_at(svc, "metadata", "name");
    const std::string sns = internal::str_at(svc, "metadata", "namespace");
    if (name.empty()) continue;
    if (sns == "default" && name == "kubernetes") {
      chosen.emplace(name, &svc);  // a Service "kubernetes" of ns itself wins
    } else if (sns == ns && enable_service_links) {
      chosen[name] = &svc;
    }
  }
  std::vector<cri::KeyValue> out;
  for (const auto& [name, svc] : chosen) add_service_vars(*svc, out);
  return out;
}

Result<std::vector<cri::KeyValue>> resolve_env(const api::Json& pod, const api::Json& container,
                                               const EnvContext& ctx, client::Client& client) {
  try {
    std::string ns = internal::str_at(pod, "metadata", "namespace");
    if (ns.empty()) ns = "default";
    Lookup lookup(client, ns);
    std::vector<cri::KeyValue> out;
    std::map<std::string, size_t> index;  // name → position in out
    // $(VAR) references may name the Service variables too.
    std::map<std::string, std::string> vars;
    for (const auto& kv : ctx.service_env) vars[kv.key] = kv.value;
    auto set = [&](const std::string& k, std::string v) {
      vars[k] = v;
      auto it = index.find(k);
      if (it != index.end()) {
        out[it->second].value = std::move(v);
      } else {
        index[k] = out.size();
        out.push_back({k, std::move(v)});
      }
    };

    if (auto ef = container.find("envFrom"); ef != container.end() && ef->is_array()) {
      for (const auto& src : *ef) {
        if (!src.is_object()) continue;
        std::string prefix = src.value("prefix", "");
        for (bool secret : {false, true}) {
          auto ref = src.find(secret ? "secretRef" : "configMapRef");
          if (ref == src.end() || !ref->is_object()) continue;
          std::string name = ref->value("name", "");
          auto d = lookup.data(secret, name);
          if (!d.is_ok()) return d.status();
          if (*d == nullptr) {
            if (api::bfield(*ref, "optional")) continue;
            return not_found(std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found");
          }
          for (const auto& [k, v] : **d) {
            std::string key = prefix + k;
            if (key.empty() || key.find('=') != std::string::npos) continue;  // not a valid env name
            set(key, v);
          }
        }
      }
    }

    if (auto env = container.find("env"); env != container.end() && env->is_array()) {
      for (const auto& e : *env) {
        if (!e.is_object()) continue;
        std::string name = e.value("name", "");
        if (name.empty()) continue;
        auto vf = e.find("valueFrom");
        if (vf == e.end() || !vf->is_object()) {
          std::string value;
          if (auto v = e.find("value"); v != e.end() && v->is_string()) value = v->get<std::string>();
          set(name, expand(value, vars));
          continue;
        }
        if (auto fr = vf->find("fieldRef"); fr != vf->end() && fr->is_object()) {
          auto v = internal::resolve_field_ref(pod, fr->value("fieldPath", ""), ctx);
          if (!v.is_ok()) return v.status();
          set(name, std::move(v.value()));
          continue;
        }
        if (auto rr = vf->find("resourceFieldRef"); rr != vf->end() && rr->is_object()) {
          const api::Json* target = &container;
          std::string cname = rr->value("containerName", "");
          if (!cname.empty() && cname != container.value("name", "")) {
            target = nullptr;
            for (const char* list : {"containers", "initContainers"}) {
              auto spec = pod.find("spec");
              if (spec == pod.end()) break;
              auto cs = spec->find(list);
              if (cs == spec->end() || !cs->is_array()) continue;
              for (const auto& c : *cs) {
                if (c.is_object() && c.value("name", "") == cname) target = &c;
              }
            }
            if (target == nullptr) return invalid("container \"" + cname + "\" not found in pod");
          }
          auto v = resolve_resource_ref(*target, *rr);
          if (!v.is_ok()) return v.status();
          set(name, std::move(v.value()));
          continue;
        }
        for (bool secret : {false, true}) {
          auto ref = vf->find(secret ? "secretKeyRef" : "configMapKeyRef");
          if (ref == vf->end() || !ref->is_object()) continue;
          std::string oname = ref->value("name", "");
          std::string key = ref->value("key", "");
          bool optional = api::bfield(*ref, "optional");
          auto d = lookup.data(secret, oname);
          if (!d.is_ok()) return d.status();
          if (*d == nullptr) {
            if (optional) break;
            return not_found(std::string(secret ? "secret" : "configmap") + " \"" + oname + "\" not found");
          }
          auto kv = (*d)->find(key);
          if (kv == (*d)->end()) {
            if (optional) break;
            return not_found("couldn't find key " + key + " in " + (secret ? "Secret " : "ConfigMap ") + ns + "/" +
                             oname);
          }
          set(name, kv->second);
          break;
        }
      }
    }
    // Then the Service variables the container did not set itself.
    for (const auto& kv : ctx.service_env) {
      if (!index.count(kv.key)) {
        index[kv.key] = out.size();
        out.push_back(kv);
      }
    }
    return out;
  } catch (const nlohmann::json::exception& e) {
    return invalid(std::string("malformed env: ") + e.what());
  }
}

std::vector<std::string> expand_command(const std::vector<std::string>& in, const std::vector<cri::KeyValue>& env) {
  std::map<std::string, std::string> vars;
  for (const auto& kv : env) vars[kv.key] = kv.value;
  std::vector<std::string> out;
  out.reserve(in.size());
  for (const auto& s : in) out.push_back(expand(s, vars));
  return out;
}

}  // namespace minik8s::kubelet
