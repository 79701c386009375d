// Internal to mk_ingress: the pure half of the ingress data plane.
//
// build_routes() turns DNS objects + a Service lookup into routes (host →
// path → upstream or an error text); render_nginx_config() turns routes into
// one nginx.conf. No I/O, no threads: everything here is a function of its
// arguments, so the unit tests pin the exact output.
//
// Prefix stripping: a path /a matches the request /a exactly and every request
// under /a/; the matched prefix is replaced by "/" on the way to the Service
// (/a → /, /a/x?q → /x?q). A path "/" forwards everything unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::ingress {

// One path of one host. Exactly one of upstream / error is non-empty.
struct Route {
  std::string path;      // normalized: starts with '/', no trailing '/' unless "/"
  std::string upstream;  // "10.96.0.5:80"
  std::string error;     // why there is no upstream (answered as 503)
  std::string owner;     // "ns/name" of the DNS object the path comes from
};

struct HostRoutes {
  std::string host;
  std::vector<Route> routes;  // sorted by path
};

// Service lookup: the Service object namespace/name, or null when unknown.
using ServiceLookup =
    std::function<std::shared_ptr<const api::Json>(const std::string& ns, const std::string& name)>;

struct BuildResult {
  std::vector<HostRoutes> hosts;  // sorted by host name
  // Problems worth telling the DNS object's owner about: owner key → messages
  // (missing Service, missing port, no cluster IP, path conflicts, unsafe path).
  std::map<std::string, std::vector<std::string>> problems;
};

// DNS objects are taken in (creationTimestamp, ns/name) order: when two
// objects claim the same host+path, the older one wins and the other gets a
// problem entry. Malformed objects (no host, no paths) are skipped with a
// problem entry; nothing here throws.
BuildResult build_routes(const std::vector<std::shared_ptr<const api::Json>>& dns_objects,
                         const ServiceLookup& lookup);

struct RenderOptions {
  std::string prefix_dir;  // absolute, no trailing slash
  std::string listen_address = "0.0.0.0";
  int port = 80;
};

struct RenderedConfig {
  std::string text;
  // line_owner[i] = the DNS object ("ns/name") whose route produced line i+1
  // of text, or "" for the fixed parts; used to name the object when nginx
  // rejects a configuration.
  std::vector<std::string> line_owner;
};

RenderedConfig render_nginx_config(const std::vector<HostRoutes>& hosts, const RenderOptions& opts);

// Paths: api::is_ingress_path (the grammar) and api::normalize_ingress_path
// (minik8s/api/address_rules.h), the same functions the API server validates
// DNS objects with.

}  // namespace minik8s::ingress
