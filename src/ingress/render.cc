#include "render.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "minik8s/api/address_rules.h"

namespace minik8s::ingress {
namespace {

using api::Json;


bool is_ipv4(const std::string& s) {
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('.', i);
    if (j == std::string::npos) j = s.size();
    std::string p = s.substr(i, j - i);
    if (p.empty() || p.size() > 3) return false;
    for (char c : p) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    if (std::stoi(p) > 255) return false;
    ++parts;
    i = j + 1;
  }
  return parts == 4;
}

// The port text a DNS path asks for ("80" or a port name).
std::string port_text(const Json& e) {
  const Json& p = api::field(e, "servicePort");
  if (p.is_number_integer()) return std::to_string(p.get<long long>());
  if (p.is_string()) return p.get<std::string>();
  return "";
}

// Resolves one path to "ip:port", or sets error.
void resolve(const Json& svc, const std::string& ns, const std::string& name,
             const std::string& want_port, Route& r) {
  std::string svc_key = ns + "/" + name;
  const Json& spec = api::field(svc, "spec");
  std::string ip = api::sfield(spec, "clusterIP");
  if (ip.empty() || ip == "None") {
    r.error = "service " + svc_key + " has no cluster IP";
    return;
  }
  if (!is_ipv4(ip)) {
    r.error = "service " + svc_key + " has an unsupported cluster IP " + ip;
    return;
  }
  const Json& ports = api::field(spec, "ports");
  if (ports.is_array()) {
    for (const Json& p : ports) {
      const Json& num = api::field(p, "port");
      if (!num.is_number_integer()) continue;
      std::string n = std::to_string(num.get<long long>());
      if (n == want_port || (!want_port.empty() && api::sfield(p, "name") == want_port)) {
        r.upstream = ip + ":" + n;
        return;
      }
    }
  }
  r.error = "service " + svc_key + " has no port " + want_port;
}

}  // namespace

BuildResult build_routes(const std::vector<std::shared_ptr<const api::Json>>& dns_objects,
                         const ServiceLookup& lookup) {
  BuildResult out;
  // Oldest first, then by key: deterministic winner for conflicting paths.
  std::vector<std::tuple<std::string, std::string, const Json*>> order;
  for (const auto& o : dns_objects) {
    if (!o || !o->is_object()) continue;
    const Json& m = api::field(*o, "metadata");
    std::string ns = api::sfield(m, "namespace");
    if (ns.empty()) ns = "default";
    order.emplace_back(api::sfield(m, "creationTimestamp"), ns + "/" + api::sfield(m, "name"), o.get());
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });

  std::map<std::string, std::map<std::string, Route>> by_host;
  for (const auto& [created, key, obj] : order) {
    (void)created;
    std::string ns = key.substr(0, key.find('/'));
    const Json& spec = api::field(*obj, "spec");
    std::string host = api::sfield(spec, "host");
    // The apiserver validates host as a DNS subdomain; re-check the characters
    // since the text lands in nginx.conf and the hosts file.
    bool host_ok =
        !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
          return std::islower(static_cast<unsigned char>(c)) ||
                 std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
        });
    if (!host_ok) {
      out.problems[key].push_back("spec.host \"" + host +
                                  "\" is not a usable host name; object ignored");
      continue;
    }
    const Json& paths = api::field(spec, "paths");
    if (!paths.is_array() || paths.empty()) {
      out.problems[key].push_back("spec.paths is empty; object ignored");
      continue;
    }
    for (const Json& e : paths) {
      std::string raw = api::sfield(e, "path");
      if (!api::is_ingress_path(raw)) {
        out.problems[key].push_back("path \"" + raw +
                                    "\" has characters the ingress does not forward; skipped");
        continue;
      }
      Route r;
      r.path = api::normalize_ingress_path(raw);
      r.owner = key;
      auto& routes = by_host[host];
      if (auto it = routes.find(r.path); it != routes.end()) {
        if (it->second.owner != key) {
          out.problems[key].push_back("path " + host + r.path + " is already served by DNS " +
                                      it->second.owner + "; skipped");
        } else {
          out.problems[key].push_back("path " + r.path + " is listed twice; the first one is used");
        }
        continue;
      }
      std::string svc = api::sfield(e, "serviceName");
      std::string port = port_text(e);
      auto obj_svc = svc.empty() ? nullptr : lookup(ns, svc);
      if (svc.empty()) {
        r.error = "path " + r.path + " names no service";
      } else if (!obj_svc) {
        r.error = "service " + ns + "/" + svc + " not found";
      } else {
        resolve(*obj_svc, ns, svc, port, r);
      }
      if (!r.error.empty()) out.problems[key].push_back(r.error);
      routes.emplace(r.path, std::move(r));
    }
  }
  for (auto& [host, routes] : by_host) {
    HostRoutes h;
    h.host = host;
    for (auto& [path, r] : routes) h.routes.push_back(std::move(r));
    out.hosts.push_back(std::move(h));
  }
  return out;
}

namespace {

class Writer {
 public:
  void line(const std::string& text, const std::string& owner = "") {
    text_ += text;
    text_ += '\n';
    owners_.push_back(owner);
  }
  RenderedConfig done() { return {std::move(text_), std::move(owners_)}; }

 private:
  std::string text_;
  std::vector<std::string> owners_;
};

// An nginx double-quoted string ending in a newline: '"' and '\\' escaped,
// '$' (a variable) and control characters dropped.
std::string quoted_line(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '$' || static_cast<unsigned char>(c) < 0x20) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\\n\"";
}

void location(Writer& w, const std::string& match, const Route& r) {
  w.line("    location " + match + " {", r.owner);
  if (r.upstream.empty()) {
    w.line("      return 503 " + quoted_line("minik8s DNS " + r.owner + ": " + r.error) + ";",
           r.owner);
  } else {
    w.line("      proxy_pass http://" + r.upstream + "/;", r.owner);
  }
  w.line("    }", r.owner);
}

}  // namespace

RenderedConfig render_nginx_config(const std::vector<HostRoutes>& hosts,
                                   const RenderOptions& opts) {
  const std::string& p = opts.prefix_dir;
  std::string listen = opts.listen_address + ":" + std::to_string(opts.port);
  if (opts.listen_address.find(':') != std::string::npos)
    listen = "[" + opts.listen_address + "]:" + std::to_string(opts.port);
  Writer w;
  w.line("# Written by the minik8s agent (ingress); edits are overwritten.");
  w.line("worker_processes 1;");
  w.line("daemon on;");
  w.line("pid " + p + "/nginx.pid;");
  w.line("error_log " + p + "/logs/error.log warn;");
  w.line("events {");
  w.line("  worker_connections 1024;");
  w.line("}");
  w.line("http {");
  w.line("  access_log off;");
  w.line("  default_type text/plain;");
  w.line("  client_body_temp_path " + p + "/temp/client_body;");
  w.line("  proxy_temp_path " + p + "/temp/proxy;");
  w.line("  fastcgi_temp_path " + p + "/temp/fastcgi;");
  w.line("  uwsgi_temp_path " + p + "/temp/uwsgi;");
  w.line("  scgi_temp_path " + p + "/temp/scgi;");
  w.line("  server_names_hash_bucket_size 128;");
  w.line("  server_names_hash_max_size 4096;");
  w.line("  proxy_http_version 1.1;");
  w.line("  proxy_set_header Host $host;");
  w.line("  proxy_set_header Connection \"\";");
  w.line("  proxy_set_header X-Real-IP $remote_addr;");
  w.line("  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;");
  w.line("  proxy_set_header X-Forwarded-Host $host;");
  w.line("  proxy_connect_timeout 2s;");
  w.line("  proxy_next_upstream error timeout;");
  w.line("  proxy_buffering off;");
  w.line("  server {");
  w.line("    listen " + listen + " default_server;");
  w.line("    server_name _;");
  w.line("    return 404 \"minik8s: no DNS object serves host $host\\n\";");
  w.line("  }");
  for (const HostRoutes& h : hosts) {
    w.line("  server {");
    w.line("    listen " + listen + ";");
    w.line("    server_name " + h.host + ";");
    bool has_root = false;
    for (const Route& r : h.routes) {
      w.line("    # " + r.path + " from DNS " + r.owner, r.owner);
      if (r.path == "/") {
        has_root = true;
        location(w, "/", r);
      } else {
        location(w, "= " + r.path, r);
        location(w, r.path + "/", r);
      }
    }
    if (!has_root) {
      w.line("    location / {");
      w.line("      return 404 \"minik8s: no DNS path of host $host matches $uri\\n\";");
      w.line("    }");
    }
    w.line("  }");
  }
  w.line("}");
  return w.done();
}

}  // namespace minik8s::ingress
