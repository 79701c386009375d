#include "handler.h"

#include "default_tolerations.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <random>
#include <set>

#include "minik8s/api/address_rules.h"
#include "minik8s/api/json.h"
#include "minik8s/api/patch.h"
#include "minik8s/api/protobuf.h"
#include "minik8s/api/selector.h"
#include "minik8s/api/table.h"
#include "minik8s/util/time.h"
#include "minik8s/util/utf8.h"

namespace minik8s::apiserver {

namespace {

constexpr auto kFreshWait = std::chrono::milliseconds(3000);
constexpr int kMaxRetries = 8;
constexpr auto kBookmarkEvery = std::chrono::seconds(10);

std::string random_suffix(size_t n) {
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kChars[rng() % (sizeof(kChars) - 1)]);
  return s;
}

std::string new_uid() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string now_rfc3339() { return format_rfc3339(real_clock().now()); }

std::string cause_reason(const std::string& msg) {
  if (msg.rfind("Required value", 0) == 0) return "FieldValueRequired";
  if (msg.rfind("Unsupported value", 0) == 0) return "FieldValueNotSupported";
  if (msg.rfind("Forbidden", 0) == 0) return "FieldValueForbidden";
  if (msg.rfind("Duplicate value", 0) == 0) return "FieldValueDuplicate";
  if (msg.rfind("Too long", 0) == 0) return "FieldValueTooLong";
  return "FieldValueInvalid";
}

const json& meta_of(const json& o) {
  static const json kEmpty = json::object();
  auto it = o.find("metadata");
  return (it != o.end() && it->is_object()) ? *it : kEmpty;
}

std::string str_at(const json& o, const char* k) {
  auto it = o.find(k);
  return (it != o.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::string meta_str(const json& o, const char* k) { return str_at(meta_of(o), k); }

bool has_finalizers(const api::ResourceType& t, const json& o) {
  const json& m = meta_of(o);
  auto f = m.find("finalizers");
  if (f != m.end() && f->is_array() && !f->empty()) return true;
  if (t.kind == "Namespace" && t.group.empty()) {
    auto s = o.find("spec");
    if (s != o.end() && s->is_object()) {
      auto sf = s->find("finalizers");
      if (sf != s->end() && sf->is_array() && !sf->empty()) return true;
    }
  }
  return false;
}

// Everything but metadata and status (what a generation bump compares).
json spec_part(const json& o) {
  json c = o;
  if (c.is_object()) {
    c.erase("metadata");
    c.erase("status");
  }
  return c;
}

void dedupe(api::FieldErrors& errs) {
  std::set<std::pair<std::string, std::string>> seen;
  api::FieldErrors out;
  for (auto& e : errs) {
    if (seen.insert({e.field, e.message}).second) out.push_back(e);
  }
  errs.swap(out);
}

std::string invalid_message(const api::ResourceType& t, const std::string& name,
                            const api::FieldErrors& errs) {
  std::string m = t.kind + " \"" + name + "\" is invalid: ";
  if (errs.size() == 1) return m + errs[0].field + ": " + errs[0].message;
  m += "[";
  for (size_t i = 0; i < errs.size(); ++i) {
    if (i) m += ", ";
    m += errs[i].field + ": " + errs[i].message;
  }
  return m + "]";
}

std::string not_found_msg(const api::ResourceType& t, const std::string& name) {
  return t.qualified_plural() + " \"" + name + "\" not found";
}

std::string conflict_msg(const api::ResourceType& t, const std::string& name) {
  return "Operation cannot be fulfilled on " + t.qualified_plural() + " \"" + name +
         "\": the object has been modified; please apply your changes to the latest version "
         "and try again";
}

Result<json> parse_body(const HttpRequest& req) {
  std::string mt = media_type(req.content_type);
  if (mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml") {
    auto r = api::yaml_to_json(req.body);
    if (!r) return r.status();
    if (!r->is_object()) return bad_request("the request body must be an object");
    return std::move(r.value());
  }
  if (mt == api::kK8sProtobufContentType) {
    // kubectl 1.32+ send the bodies of typed commands (`kubectl create
    // deployment|configmap|namespace …`) as Kubernetes protobuf.
    return api::decode_k8s_protobuf(req.body);
  }
  auto j = api::parse_json(req.body);
  if (!j) return bad_request("invalid JSON in request body: " + j.status().message());
  if (!j->is_object()) return bad_request("the request body must be a JSON object");
  return std::move(j.value());
}

std::string query(const HttpRequest& req, const char* k) {
  auto it = req.query.find(k);
  return it == req.query.end() ? std::string() : it->second;
}

bool is_dry_run(const HttpRequest& req) { return query(req, "dryRun") == "All"; }

// A decimal integer with nothing else around it (no sign unless allow_negative).
std::optional<int64_t> parse_int(const std::string& s, bool allow_negative) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  size_t i = 0;
  if (s[0] == '-') {
    if (!allow_negative || s.size() == 1) return std::nullopt;
    i = 1;
  }
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] < '0' || s[k] > '9') return std::nullopt;
  }
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A resourceVersion query parameter: empty, or a non-negative integer.
Result<int64_t> parse_rv_query(const std::string& rv) {
  if (rv.empty()) return int64_t{0};
  auto v = parse_int(rv, false);
  if (!v) return bad_request("Invalid value for resourceVersion: \"" + rv + "\": must be a non-negative integer");
  return *v;
}

Status check_kind(const api::ResourceType& t, json& obj) {
  std::string kind = str_at(obj, "kind");
  std::string av = str_at(obj, "apiVersion");
  if (!kind.empty() && kind != t.kind) {
    return bad_request("the object kind \"" + kind + "\" does not match the URL kind \"" +
                       t.kind + "\"");
  }
  if (!av.empty() && av != t.api_version()) {
    return bad_request("the API version in the data (" + av +
                       ") does not match the expected API version (" + t.api_version() + ")");
  }
  obj["kind"] = t.kind;
  obj["apiVersion"] = t.api_version();
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = json::object();
  return Status::ok();
}

// Checks unknown fields per fieldValidation; Strict → error, Warn → warnings.
Status check_unknown_fields(const api::ResourceType& t, const json& obj, const std::string& fv,
                            std::vector<std::string>* warnings) {
  if (!t.unknown_fields || (fv != "Strict" && fv != "Warn")) return Status::ok();
  std::vector<std::string> paths;
  t.unknown_fields(obj, paths);
  if (paths.empty()) return Status::ok();
  if (fv == "Strict") {
    std::string m = "strict decoding error: ";
    for (size_t i = 0; i < paths.size(); ++i) {
      if (i) m += ", ";
      m += "unknown field \"" + paths[i] + "\"";
    }
    return bad_request(m);
  }
  if (warnings) {
    for (const auto& p : paths) warnings->push_back("unknown field \"" + p + "\"");
  }
  return Status::ok();
}

void run_validation(const api::ResourceType& t, const json& obj, const json* old,
                    api::FieldErrors& errs) {
  if (t.validate) {
    t.validate(obj, old, errs);
  } else {
    api::validate_object_meta(obj, t, false, errs);
  }
  dedupe(errs);
}

int64_t rv_of(const json& o) {
  std::string s = meta_str(o, "resourceVersion");
  if (s.empty()) return 0;
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return -1;
  }
}

json to_wire(const storage::KeyValue& kv) {
  auto p = api::parse_json(kv.value);
  if (!p || !p->is_object()) return json::object();
  json o = std::move(p.value());
  o["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
  return o;
}

// Bodies are parsed within the limit, but a patch (or YAML aliases, or a
// protobuf body) can build a deeper object; nothing deeper is stored.
Status check_depth(const json& obj) {
  if (api::json_depth_within(obj)) return Status::ok();
  return bad_request("the object nests deeper than " + std::to_string(api::kMaxJsonDepth) +
                     " levels");
}

std::string to_stored(json o) {
  if (o.contains("metadata") && o["metadata"].is_object()) o["metadata"].erase("resourceVersion");
  return o.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool allowed_field(const api::ResourceType& t, const std::string& f) {
  if (f == "metadata.name" || f == "metadata.namespace") return true;
  for (const auto& a : t.field_selectors) {
    if (a == f) return true;
  }
  return false;
}

struct Filter {
  api::LabelSelector labels;
  std::optional<api::FieldSelector> fields;
  bool empty() const { return labels.empty() && !fields; }
  bool matches(const json& o) const {
    if (!labels.empty()) {
      const json& m = meta_of(o);
      auto l = m.find("labels");
      if (!labels.matches_json(l == m.end() ? json() : *l)) return false;
    }
    if (fields && !fields->matches(o)) return false;
    return true;
  }
};

Result<Filter> make_filter(const api::ResourceType& t, const HttpRequest& req) {
  Filter f;
  std::string ls = query(req, "labelSelector");
  if (!ls.empty()) {
    auto r = api::LabelSelector::parse(ls);
    if (!r) return r.status();
    f.labels = std::move(r.value());
  }
  std::string fs = query(req, "fieldSelector");
  if (!fs.empty()) {
    auto r = api::FieldSelector::parse(fs);
    if (!r) return r.status();
    for (const auto& req2 : r->requirements()) {
      if (!allowed_field(t, req2.field)) {
        return bad_request("field label not supported: " + req2.field);
      }
    }
    if (!r->empty()) f.fields = std::move(r.value());
  }
  return f;
}

// Query parameters and bodies must be UTF-8: they end up in JSON objects and
// in Status messages.
Status check_utf8(const HttpRequest& req) {
  for (const auto& [k, v] : req.query) {
    if (!valid_utf8(k)) return bad_request("invalid UTF-8 in a query parameter name");
    if (!valid_utf8(v)) return bad_request("invalid UTF-8 in query parameter \"" + k + "\"");
  }
  // Protobuf bodies are binary; their strings are checked by the decoder.
  if (media_type(req.content_type) == api::kK8sProtobufContentType) return Status::ok();
  if (!valid_utf8(req.body)) return bad_request("invalid UTF-8 in the request body");
  return Status::ok();
}

bool uses_node_ports(const json& svc) {
  std::string type = svc.contains("spec") && svc["spec"].is_object() ? str_at(svc["spec"], "type") : "";
  return type == "NodePort" || type == "LoadBalancer";
}

// Like Kubernetes' dropTypeDependentFields: when an update moves a Service to
// a type without node ports, node ports (and the external traffic policy and
// health check port) carried over unchanged from the old object are cleared
// rather than rejected, so `type: ClusterIP` alone is a valid change.
void drop_type_dependent_fields(const json& old, json& desired) {
  if (!uses_node_ports(old) || uses_node_ports(desired)) return;
  if (!desired.contains("spec") || !desired["spec"].is_object()) return;
  json& spec = desired["spec"];
  const json& ospec = old["spec"];
  std::set<int64_t> old_ports;
  if (ospec.contains("ports") && ospec["ports"].is_array()) {
    for (const auto& p : ospec["ports"]) {
      if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer()) {
        old_ports.insert(p["nodePort"].get<int64_t>());
      }
    }
  }
  if (spec.contains("ports") && spec["ports"].is_array()) {
    for (auto& p : spec["ports"]) {
      if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer() &&
          old_ports.count(p["nodePort"].get<int64_t>())) {
        p.erase("nodePort");
      }
    }
  }
  for (const char* k : {"externalTrafficPolicy", "healthCheckNodePort"}) {
    if (spec.contains(k) && ospec.contains(k) && spec[k] == ospec[k]) spec.erase(k);
  }
}

// dryRun takes only "All" (Kubernetes rejects anything else rather than
// writing for real).
Status check_dry_run(const HttpRequest& req) {
  auto it = req.query.find("dryRun");
  if (it == req.query.end() || it->second == "All") return Status::ok();
  return bad_request("Invalid value for dryRun: \"" + it->second +
                     "\": supported values: \"All\"");
}

}  // namespace

std::string status_body(const Status& st, const std::string& name, const std::string& group,
                        const std::string& kind, const api::FieldErrors& causes) {
  json details = json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  if (!causes.empty()) {
    json cs = json::array();
    for (const auto& c : causes) {
      cs.push_back({{"reason", cause_reason(c.message)}, {"message", c.message}, {"field", c.field}});
    }
    details["causes"] = cs;
  }
  json j = {{"kind", "Status"},       {"apiVersion", "v1"},        {"metadata", json::object()},
            {"status", "Failure"},    {"message", st.message()},   {"reason", st.reason()},
            {"code", st.http_code()}};
  if (!details.empty()) j["details"] = details;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse error_response(const Status& st, const std::string& name, const api::ResourceType* t,
                            const api::FieldErrors& causes) {
  HttpResponse r;
  r.code = st.http_code();
  r.body = status_body(st, name, t ? t->group : "", t ? t->plural : "", causes);
  return r;
}

RestHandler::RestHandler(storage::Storage& store, WatchCache& cache, const ApiServerOptions& opts,
                         std::unique_ptr<IpAllocator> ips)
    : store_(store),
      cache_(cache),
      opts_(opts),
      ips_(std::move(ips)),
      ports_(opts.node_port_min, opts.node_port_max),
      admission_(store, opts) {}

Status RestHandler::init(const std::string& server_host, uint16_t server_port) {
  server_address_ = server_host + ":" + std::to_string(server_port);
  int64_t rev = 0;
  for (const auto& o : cache_.list("/registry/services/", &rev)) {
    const json& spec = o->object.contains("spec") ? o->object["spec"] : json::object();
    std::string ip = str_at(spec, "clusterIP");
    if (!ip.empty() && ip != "None" && ips_->contains(ip)) (void)ips_->allocate(ip);
    auto ports = spec.find("ports");
    if (ports != spec.end() && ports->is_array()) {
      for (const auto& p : *ports) {
        auto np = p.find("nodePort");
        if (np != p.end() && np->is_number_integer()) (void)ports_.allocate(np->get<int>());
      }
    }
  }
  if (opts_.create_default_namespaces) {
    const api::ResourceType* ns_type = api::find_resource("", "v1", "namespaces");
    if (!ns_type) return internal_error("the kind table has no namespaces");
    for (const char* n : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      if (store_.get(object_key(*ns_type, "", n))) continue;
      json obj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", n}}}};
      Outcome o = create_object(*ns_type, "", obj, "", false, nullptr);
      if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists) return o.status;
    }
    const api::ResourceType* svc = api::find_resource("", "v1", "services");
    if (svc && !store_.get(object_key(*svc, "default", "kubernetes"))) {
      json obj = {{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata",
                   {{"name", "kubernetes"},
                    {"namespace", "default"},
                    {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                  {"spec",
                   {{"type", "ClusterIP"},
                    {"clusterIP", ips_->nth(1)},
                    {"ports",
                     {{{"name", "https"},
                       {"port", 443},
                       {"protocol", "TCP"},
                       {"targetPort", server_port}}}}}}};
      Outcome o = create_object(*svc, "default", obj, "", false, nullptr);
      if (!o.status.is_ok()) {
        spdlog::warn("could not create the kubernetes Service: {}", o.status.to_string());
      }
    }
    // Its Endpoints: this server's address, when pods can reach it: an IPv4
    // address that Endpoints validation accepts (not a loopback, link-local
    // or wildcard bind; Kubernetes' endpoint reconciler refuses those too).
    // Replaced at start when the address moved.
    const api::ResourceType* ep = api::find_resource("", "v1", "endpoints");
    const std::string& host = opts_.bind_address;
    if (ep && api::non_special_ip_error(host).empty() && host.find(':') == std::string::npos) {
      json subsets = json::array({{{"addresses", json::array({{{"ip", host}}})},
                                   {"ports", json::array({{{"name", "https"},
                                                           {"port", server_port},
                                                           {"protocol", "TCP"}}})}}});
      auto cur = store_.get(object_key(*ep, "default", "kubernetes"));
      bool same = false;
      if (cur) {
        auto c = api::parse_json(cur->value);
        same = c && c->is_object() && c->value("subsets", json()) == subsets;
        if (!same) (void)delete_object(*ep, "default", "kubernetes", json::object(), false);
      }
      if (!same) {
        json obj = {{"apiVersion", "v1"},
                    {"kind", "Endpoints"},
                    {"metadata", {{"name", "kubernetes"}, {"namespace", "default"}}},
                    {"subsets", subsets}};
        Outcome o = create_object(*ep, "default", obj, "", false, nullptr);
        if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists)
          spdlog::warn("could not write the kubernetes Endpoints: {}", o.status.to_string());
      }
    }
  }
  return Status::ok();
}

// Boolean query parameters as Go's strconv.ParseBool reads them (clients send
// "1", "true" and, from the Python client, "True").
static bool query_bool(const std::string& v) {
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE";
}

bool RestHandler::is_watch(const HttpRequest& req) const {
  if (req.method != "GET") return false;
  auto it = req.query.find("watch");
  if (it != req.query.end() && query_bool(it->second)) return true;
  return req.path.find("/watch/") != std::string::npos && parse_path(req.path).legacy_watch;
}

HttpResponse RestHandler::handle(const HttpRequest& req) {
  auto start = std::chrono::steady_clock::now();
  std::string verb, resource;
  HttpResponse r;
  try {
    Status utf8 = check_utf8(req);
    if (utf8.is_ok()) utf8 = check_dry_run(req);
    r = utf8.is_ok() ? dispatch(req, &verb, &resource) : error_response(utf8);
  } catch (const std::exception& e) {
    spdlog::error("apiserver: internal error on {} {}: {}", req.method, req.path, e.what());
    r = error_response(internal_error(e.what()));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (verb.empty()) verb = req.method;
  metrics_.observe(verb, resource, r.code, secs);
  return r;
}

HttpResponse RestHandler::dispatch(const HttpRequest& req, std::string* verb,
                                   std::string* resource) {
  const std::string& p = req.path;
  if (p == "/healthz" || p == "/livez" || p == "/readyz" || p.rfind("/healthz/", 0) == 0 ||
      p.rfind("/livez/", 0) == 0 || p.rfind("/readyz/", 0) == 0) {
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    if (p.rfind("/readyz", 0) == 0 && !ready_) {
      r.code = 503;
      r.body = "not ready";
    } else {
      r.body = "ok";
    }
    return r;
  }
  if (p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.render();
    return r;
  }
  if (p == "/version" || p == "/version/") {
    HttpResponse r;
    r.body = json{{"major", "1"},
                  {"minor", "32"},
                  {"gitVersion", "v1.32.0-minik8s"},
                  {"gitCommit", "minik8s"},
                  {"gitTreeState", "clean"},
                  {"buildDate", "2025-01-01T00:00:00Z"},
                  {"goVersion", "go1.23.0"},
                  {"compiler", "gc"},
                  {"platform", "linux/amd64"}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (p == "/openapi/v2") {
    HttpResponse r;
    r.content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    return r;
  }
  if (p == "/openapi/v3" || p == "/openapi/v3/") {
    HttpResponse r;
    r.body = api::openapi_v3_index().dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (p.rfind("/openapi/v3/", 0) == 0) {
    json doc = api::openapi_v3_document(p.substr(std::string("/openapi/v3/").size()));
    if (doc.is_null()) return error_response(not_found("the server could not find the requested resource"));
    HttpResponse r;
    r.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (auto extra = dispatch_extra(req, verb, resource)) return std::move(*extra);
  RequestInfo ri = parse_path(p);
  switch (ri.path) {
    case PathKind::kApiVersions:
    case PathKind::kApiGroups:
    case PathKind::kResourceList:
      if (req.method != "GET") {
        return error_response(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
      }
      *verb = "get";
      return discovery(ri);
    case PathKind::kResource:
      if (ri.type) {
        // Only the kind's plural and known subresources: never a name from
        // the URL (label cardinality).
        const std::string& sub = ri.subresource;
        bool known = (sub == "status" && ri.type->has_status) ||
                     (sub == "scale" && ri.type->has_scale) ||
                     (sub == "binding" && ri.type->group.empty() && ri.type->plural == "pods") ||
                     (sub == "finalize" && ri.type->group.empty() && ri.type->kind == "Namespace");
        *resource = ri.type->plural + (known ? "/" + sub : "");
      } else if (ri.group.empty() && ri.plural == "bindings") {
        *resource = "bindings";
      }
      return handle_resource(req, ri, verb);
    case PathKind::kUnknown:
      break;
  }
  return error_response(not_found("the server could not find the requested resource"));
}

HttpResponse RestHandler::discovery(const RequestInfo& ri) {
  HttpResponse r;
  const auto& all = api::all_resources();
  if (ri.path == PathKind::kApiVersions) {
    r.body = json{{"kind", "APIVersions"},
                  {"versions", {"v1"}},
                  {"serverAddressByClientCIDRs",
                   {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address_}}}}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (ri.path == PathKind::kApiGroups) {
    json groups = json::array();
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::string>> versions;
    for (const auto* t : all) {
      if (t->group.empty()) continue;
      if (!versions.count(t->group)) order.push_back(t->group);
      auto& v = versions[t->group];
      if (std::find(v.begin(), v.end(), t->version) == v.end()) v.push_back(t->version);
    }
    for (const auto& provider : extra_groups()) {
      const std::string g = provider->group();
      if (!versions.count(g)) order.push_back(g);
      auto& v = versions[g];
      if (std::find(v.begin(), v.end(), provider->version()) == v.end()) v.push_back(provider->version());
    }
    for (const auto& g : order) {
      json vs = json::array();
      for (const auto& v : versions[g]) vs.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
      groups.push_back({{"name", g},
                        {"versions", vs},
                        {"preferredVersion", vs[0]}});
    }
    r.body = json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  json resources = json::array();
  bool any = false;
  for (const auto* t : all) {
    if (t->group != ri.group || t->version != ri.version) continue;
    any = true;
    json verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
    if (t->group.empty() && t->kind == "Namespace") {
      verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
    }
    json e = {{"name", t->plural},     {"singularName", t->singular}, {"namespaced", t->namespaced},
              {"kind", t->kind},       {"verbs", verbs}};
    if (!t->short_names.empty()) e["shortNames"] = t->short_names;
    if (!t->categories.empty()) e["categories"] = t->categories;
    resources.push_back(e);
    if (t->has_status) {
      resources.push_back({{"name", t->plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"kind", t->kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
    if (t->has_scale) {
      resources.push_back({{"name", t->plural + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", {"get", "patch", "update"}}});
    }
    if (t->group.empty() && t->plural == "pods") {
      resources.push_back({{"name", "pods/binding"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "Binding"},
                           {"verbs", {"create"}}});
      resources.push_back({{"name", "pods/log"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "Pod"},
                           {"verbs", {"get"}}});
      resources.push_back({{"name", "pods/exec"},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "PodExecOptions"},
                           {"verbs", {"create", "get"}}});
    }
  }
  if (!any) return error_response(not_found("the server could not find the requested resource"));
  std::string gv = ri.group.empty() ? ri.version : ri.group + "/" + ri.version;
  r.body = json{{"kind", "APIResourceList"},
                {"apiVersion", "v1"},
                {"groupVersion", gv},
                {"resources", resources}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse RestHandler::handle_resource(const HttpRequest& req, const RequestInfo& ri,
                                          std::string* verb) {
  const std::string& m = req.method;
  if (!ri.type) {
    // POST /api/v1/namespaces/<ns>/bindings (the older scheduler form).
    if (ri.group.empty() && ri.plural == "bindings" && !ri.ns.empty() && m == "POST" &&
        ri.name.empty()) {
      *verb = "create";
      return do_binding(req, ri, "");
    }
    return error_response(not_found("the server could not find the requested resource"));
  }
  const api::ResourceType& t = *ri.type;
  if (t.namespaced && ri.ns.empty() && !(ri.name.empty() && m == "GET")) {
    if (!ri.name.empty() || m != "GET") {
      return error_response(not_found("the server could not find the requested resource"));
    }
  }
  if (ri.name.empty()) {
    if (m == "GET") {
      *verb = "list";
      return do_list(req, ri);
    }
    if (m == "POST") {
      *verb = "create";
      return do_create(req, ri);
    }
    if (m == "DELETE" && !(t.group.empty() && t.kind == "Namespace")) {
      *verb = "deletecollection";
      return do_delete_collection(req, ri);
    }
    return error_response(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
  }
  const std::string& sub = ri.subresource;
  if (sub == "scale") {
    if (!t.has_scale) return error_response(not_found("the server could not find the requested resource"));
    *verb = m == "GET" ? "get" : m == "PUT" ? "update" : "patch";
    return do_scale(req, ri);
  }
  if (sub == "binding") {
    if (!(t.group.empty() && t.plural == "pods") || m != "POST") {
      return error_response(not_found("the server could not find the requested resource"));
    }
    *verb = "create";
    return do_binding(req, ri, ri.name);
  }
  if (!sub.empty() && sub != "status" && !(sub == "finalize" && t.kind == "Namespace")) {
    return error_response(not_found("the server could not find the requested resource"));
  }
  if (sub == "status" && !t.has_status) {
    return error_response(not_found("the server could not find the requested resource"));
  }
  if (m == "GET") {
    *verb = "get";
    return do_get(req, ri);
  }
  if (m == "PUT") {
    *verb = "update";
    return do_update(req, ri);
  }
  if (m == "PATCH") {
    *verb = "patch";
    return do_patch(req, ri);
  }
  if (m == "DELETE" && sub.empty()) {
    *verb = "delete";
    return do_delete(req, ri);
  }
  return error_response(Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
}

HttpResponse RestHandler::object_response(const HttpRequest& req, const api::ResourceType& t,
                                          const json& obj, int code) {
  HttpResponse r;
  r.code = code;
  if (wants_table(req.accept)) {
    std::string io = query(req, "includeObject");
    json table = api::make_table(t, {obj}, json{{"resourceVersion", meta_str(obj, "resourceVersion")}},
                                 io != "None");
    if (io == "Object" && table.contains("rows") && table["rows"].size() == 1) {
      table["rows"][0]["object"] = obj;
    }
    r.body = table.dump(-1, ' ', false, json::error_handler_t::replace);
  } else {
    r.body = obj.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return r;
}

HttpResponse RestHandler::outcome_response(const HttpRequest& req, const api::ResourceType& t,
                                           const std::string& name, Outcome& o,
                                           const std::vector<std::string>& warnings) {
  if (!o.status.is_ok()) return error_response(o.status, name, &t, o.causes);
  HttpResponse r = object_response(req, t, o.object, o.code);
  for (const auto& w : warnings) r.headers.emplace_back("Warning", "299 - \"" + w + "\"");
  return r;
}

HttpResponse RestHandler::do_get(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  std::string rv = query(req, "resourceVersion");
  if (auto v = parse_rv_query(rv); !v) return error_response(v.status(), ri.name, &t);
  if (rv != "0") cache_.wait_fresh(kFreshWait);
  ObjectPtr o = cache_.get(object_key(t, ri.ns, ri.name));
  if (!o) {
    auto kv = store_.get(object_key(t, ri.ns, ri.name));
    if (!kv) return error_response(not_found(not_found_msg(t, ri.name)), ri.name, &t);
    return object_response(req, t, to_wire(*kv), 200);
  }
  if (wants_table(req.accept)) return object_response(req, t, o->object, 200);
  HttpResponse r;
  r.body = o->wire;
  return r;
}

HttpResponse RestHandler::do_list(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto filter = make_filter(t, req);
  if (!filter) return error_response(filter.status());
  int64_t limit = 0;
  if (std::string l = query(req, "limit"); !l.empty()) {
    auto v = parse_int(l, true);
    if (!v) return error_response(bad_request("Invalid value for limit: \"" + l + "\": must be an integer"));
    limit = std::max<int64_t>(*v, 0);
  }
  if (auto v = parse_rv_query(query(req, "resourceVersion")); !v) return error_response(v.status());
  std::string prefix = collection_prefix(t, ri.ns);
  std::vector<ObjectPtr> items;
  int64_t revision = 0;
  std::string next_continue;
  std::string cont = query(req, "continue");
  if (!cont.empty()) {
    auto tok = decode_continue(cont);
    if (!tok || tok->start_after.rfind(prefix, 0) != 0) {
      return error_response(bad_request("continue key is not valid"));
    }
    revision = tok->revision;
    std::string start = tok->start_after;
    while (true) {
      int64_t batch = limit > 0 ? std::max<int64_t>(limit, 64) : 0;
      auto page = store_.list(prefix, start, batch, revision);
      if (!page) {
        if (page.status().code() == Code::kGone) {
          return error_response(Status(Code::kGone,
                                       "The provided continue parameter is too old to display a "
                                       "consistent list result. You can start a new list "
                                       "without the continue parameter."));
        }
        return error_response(page.status());
      }
      bool stopped = false;
      for (const auto& kv : page->items) {
        start = kv.key;
        auto o = make_cached_object(kv.key, kv.value, kv.mod_revision, kv.create_revision);
        if (!o || !filter->matches(o->object)) continue;
        items.push_back(std::move(o));
        if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
          stopped = true;
          break;
        }
      }
      if (stopped) {
        // More may follow unless this was the store's last key.
        auto probe = store_.list(prefix, start, 1, revision);
        if (probe && !probe->items.empty()) next_continue = encode_continue({revision, start});
        break;
      }
      if (!page->more) break;
    }
  } else {
    std::string rv = query(req, "resourceVersion");
    if (rv.empty()) {
      cache_.wait_fresh(kFreshWait);
    } else if (rv != "0") {
      int64_t want = parse_rv_query(rv).value();
      if (!cache_.wait_for_revision(want, kFreshWait)) {
        return error_response(Status(Code::kTimeout, "Too large resource version: " + rv +
                                                         ", current: " +
                                                         std::to_string(cache_.revision())));
      }
    }
    auto all = cache_.list(prefix, &revision);
    for (size_t i = 0; i < all.size(); ++i) {
      if (!filter->matches(all[i]->object)) continue;
      if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) {
        next_continue = encode_continue({revision, items.back()->key});
        break;
      }
      items.push_back(all[i]);
    }
  }
  json lm = {{"resourceVersion", std::to_string(revision)}};
  if (!next_continue.empty()) lm["continue"] = next_continue;
  HttpResponse r;
  if (wants_table(req.accept)) {
    std::vector<json> objs;
    objs.reserve(items.size());
    for (const auto& o : items) objs.push_back(o->object);
    std::string io = query(req, "includeObject");
    json table = api::make_table(t, objs, lm, io != "None");
    if (io == "Object" && table.contains("rows")) {
      for (size_t i = 0; i < table["rows"].size() && i < objs.size(); ++i) {
        table["rows"][i]["object"] = objs[i];
      }
    }
    r.body = table.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  std::string body;
  size_t total = 128;
  for (const auto& o : items) total += o->wire.size() + 1;
  body.reserve(total);
  body += "{\"apiVersion\":" + json(t.api_version()).dump(-1, ' ', false, json::error_handler_t::replace) + ",\"kind\":" +
          json(t.list_kind()).dump(-1, ' ', false, json::error_handler_t::replace) + ",\"metadata\":" + lm.dump(-1, ' ', false, json::error_handler_t::replace) + ",\"items\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    body += items[i]->wire;
  }
  body += "]}";
  r.body = std::move(body);
  return r;
}

Status RestHandler::check_namespace(const std::string& ns) {
  const api::ResourceType* nst = api::find_resource("", "v1", "namespaces");
  if (!nst) return Status::ok();
  std::string key = object_key(*nst, "", ns);
  // Read the store, not the cache: a stale cache could still show a
  // namespace that the namespace controller is already emptying.
  auto kv = store_.get(key);
  if (!kv) {
    if (kv.status().code() != Code::kNotFound) return kv.status();
    return not_found("namespaces \"" + ns + "\" not found");
  }
  json obj = to_wire(*kv);
  bool terminating = meta_of(obj).contains("deletionTimestamp");
  if (obj.contains("status") && obj["status"].is_object() &&
      str_at(obj["status"], "phase") == "Terminating") {
    terminating = true;
  }
  if (terminating) {
    return Status(Code::kForbidden, "unable to create new content in namespace " + ns +
                                        " because it is being terminated");
  }
  return Status::ok();
}

RestHandler::Outcome RestHandler::create_object(const api::ResourceType& t, const std::string& ns,
                                                json obj, const std::string& fv, bool dry_run,
                                                std::vector<std::string>* warnings) {
  Outcome out;
  out.status = check_depth(obj);
  if (!out.status.is_ok()) return out;
  out.status = check_kind(t, obj);
  if (!out.status.is_ok()) return out;
  json& meta = obj["metadata"];
  if (t.namespaced) {
    std::string bns = str_at(meta, "namespace");
    if (!bns.empty() && bns != ns) {
      out.status = bad_request(
          "the namespace of the provided object does not match the namespace sent on the request");
      return out;
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  out.status = check_unknown_fields(t, obj, fv, warnings);
  if (!out.status.is_ok()) return out;
  if (t.namespaced) {
    out.status = check_namespace(ns);
    if (!out.status.is_ok()) return out;
  }
  // Server-owned metadata.
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("managedFields");
  meta.erase("selfLink");
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  if (t.bump_generation || obj.contains("spec")) meta["generation"] = 1;
  if (t.clear_status_on_create) {
    json st = json::object();
    obj["status"] = st;
    if (t.initial_status) t.initial_status(obj);
  }
  if (t.kind == "Namespace" && t.group.empty()) {
    // A spec of the wrong type is left for validation to refuse.
    if (!obj.contains("spec") || obj["spec"].is_null()) obj["spec"] = json::object();
    if (obj["spec"].is_object()) obj["spec"]["finalizers"] = json::array({"kubernetes"});
    obj["status"] = {{"phase", "Active"}};
  }
  std::string generate = str_at(meta, "generateName");
  bool generated = str_at(meta, "name").empty() && !generate.empty();
  if (t.set_defaults) t.set_defaults(obj);
  if (t.group.empty() && t.kind == "Pod") {
    add_default_tolerations(obj, opts_.default_not_ready_toleration_seconds,
                            opts_.default_unreachable_toleration_seconds);
  }
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (generated) obj["metadata"]["name"] = generate + random_suffix(5);
    std::string name = str_at(obj["metadata"], "name");
    api::FieldErrors errs;
    run_validation(t, obj, nullptr, errs);
    if (name.empty() && errs.empty()) {
      errs.push_back({"metadata.name", "Required value: name or generateName is required"});
    }
    SvcAlloc newly;
    bool is_service = t.group.empty() && t.kind == "Service";
    if (errs.empty() && is_service && !dry_run) allocate_service(obj, nullptr, newly, errs);
    CrossObjectAdmission::Hold hold;  // kept until the store write below has returned
    if (errs.empty()) {
      Status adm = admission_.admit(t, obj, nullptr, errs, hold);
      if (!adm.is_ok()) {
        rollback(newly);
        out.status = adm;
        return out;
      }
    }
    if (!errs.empty()) {
      rollback(newly);
      out.status = invalid(invalid_message(t, name, errs));
      out.causes = std::move(errs);
      return out;
    }
    if (dry_run) {
      out.object = obj;
      out.code = 201;
      return out;
    }
    auto rev = store_.create(object_key(t, ns, name), to_stored(obj));
    if (!rev) {
      rollback(newly);
      if (rev.status().code() == Code::kAlreadyExists) {
        if (generated) continue;
        out.status = already_exists(t.qualified_plural() + " \"" + name + "\" already exists");
        return out;
      }
      out.status = rev.status();
      return out;
    }
    if (t.namespaced) {
      // The namespace may have started terminating between the check above
      // and the write; the namespace controller may then already have made
      // its final pass. Undo the create so that nothing outlives its namespace.
      Status again = check_namespace(ns);
      if (!again.is_ok()) {
        auto removed = store_.remove(object_key(t, ns, name), *rev);
        if (removed || removed.status().code() == Code::kNotFound) {
          rollback(newly);
          out.status = again;
          return out;
        }
        // Changed since (by someone who saw it): the namespace controller's
        // next pass deletes it.
      }
    }
    obj["metadata"]["resourceVersion"] = std::to_string(*rev);
    out.object = std::move(obj);
    out.code = 201;
    return out;
  }
  out.status = already_exists(t.qualified_plural() + " with generateName \"" + generate +
                              "\" could not get a unique name");
  return out;
}

HttpResponse RestHandler::do_create(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  if (t.namespaced && ri.ns.empty()) {
    return error_response(not_found("the server could not find the requested resource"));
  }
  auto body = parse_body(req);
  if (!body) return error_response(body.status());
  std::vector<std::string> warnings;
  std::string name = meta_str(*body, "name");
  Outcome o = create_object(t, ri.ns, std::move(body.value()), query(req, "fieldValidation"),
                            is_dry_run(req), &warnings);
  if (o.status.is_ok()) name = meta_str(o.object, "name");
  return outcome_response(req, t, name, o, warnings);
}

RestHandler::Outcome RestHandler::update_object(const api::ResourceType& t, const std::string& ns,
                                                const std::string& name, UpdateMode mode,
                                                const Mutator& mutate, const std::string& fv,
                                                bool dry_run, std::vector<std::string>* warnings) {
  Outcome out;
  const std::string key = object_key(t, ns, name);
  const bool is_service = t.group.empty() && t.kind == "Service";
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) {
      out.status = kv.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name))
                                                         : kv.status();
      return out;
    }
    json cur = to_wire(*kv);
    json desired;
    out.status = mutate(cur, desired);
    if (!out.status.is_ok()) return out;
    if (!desired.is_object()) {
      out.status = bad_request("the object must be a JSON object");
      return out;
    }
    out.status = check_depth(desired);
    if (!out.status.is_ok()) return out;
    out.status = check_kind(t, desired);
    if (!out.status.is_ok()) return out;
    json& meta = desired["metadata"];
    std::string dname = str_at(meta, "name");
    if (!dname.empty() && dname != name) {
      out.status = bad_request("the name of the object (" + dname +
                               ") does not match the name on the URL (" + name + ")");
      return out;
    }
    if (t.namespaced) {
      std::string dns = str_at(meta, "namespace");
      if (!dns.empty() && dns != ns) {
        out.status = bad_request(
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
        return out;
      }
    }
    if (meta.contains("resourceVersion") && !meta["resourceVersion"].is_null()) {
      const json& r = meta["resourceVersion"];
      if (!r.is_string()) {
        out.status = bad_request(
            "metadata.resourceVersion: Invalid value: must be a string, not " +
            std::string(r.type_name()));
        return out;
      }
      std::string rs = r.get<std::string>();
      if (!rs.empty() && !parse_int(rs, false)) {
        out.status = bad_request("metadata.resourceVersion: Invalid value: \"" + rs +
                                 "\": must be a valid resource version");
        return out;
      }
    }
    int64_t want_rv = rv_of(desired);
    if (want_rv != 0 && want_rv != kv->mod_revision) {
      out.status = conflict(conflict_msg(t, name));
      return out;
    }
    out.status = check_unknown_fields(t, desired, fv, warnings);
    if (!out.status.is_ok()) return out;
    // Subresource scoping: status writes change only status; main writes keep status.
    const json& cmeta = cur["metadata"];
    if (mode == UpdateMode::kStatus) {
      json next = cur;
      if (desired.contains("status")) {
        next["status"] = desired["status"];
      } else {
        next.erase("status");
      }
      desired = std::move(next);
    } else if (mode == UpdateMode::kFinalize) {
      json next = cur;
      if (desired.contains("spec") && desired["spec"].is_object() &&
          desired["spec"].contains("finalizers")) {
        next["spec"]["finalizers"] = desired["spec"]["finalizers"];
      } else if (next.contains("spec") && next["spec"].is_object()) {
        next["spec"].erase("finalizers");
      }
      desired = std::move(next);
    } else if (mode == UpdateMode::kMain && t.has_status) {
      if (cur.contains("status")) {
        desired["status"] = cur["status"];
      } else {
        desired.erase("status");
      }
    }
    json& m = desired["metadata"];
    m["name"] = name;
    if (t.namespaced) m["namespace"] = ns;
    // Immutable and server-owned metadata.
    for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (cmeta.contains(k)) {
        m[k] = cmeta[k];
      } else {
        m.erase(k);
      }
    }
    m.erase("managedFields");
    if (cmeta.contains("deletionTimestamp") && mode != UpdateMode::kStatus) {
      std::set<std::string> had;
      if (cmeta.contains("finalizers") && cmeta["finalizers"].is_array()) {
        for (const auto& f : cmeta["finalizers"]) {
          if (f.is_string()) had.insert(f.get<std::string>());
        }
      }
      std::vector<std::string> added;
      if (m.contains("finalizers") && m["finalizers"].is_array()) {
        for (const auto& f : m["finalizers"]) {
          if (f.is_string() && !had.count(f.get<std::string>())) added.push_back(f.get<std::string>());
        }
      }
      if (!added.empty()) {
        std::string list;
        for (const auto& f : added) list += (list.empty() ? "\"" : ", \"") + f + "\"";
        api::FieldErrors errs = {
            {"metadata.finalizers",
             "Forbidden: no new finalizers can be added if the object is being deleted, found "
             "new finalizers [" + list + "]"}};
        out.status = invalid(invalid_message(t, name, errs));
        out.causes = std::move(errs);
        return out;
      }
    }
    // Binding (kInternal) sets spec.nodeName without a generation bump, as in Kubernetes.
    if (mode != UpdateMode::kStatus && mode != UpdateMode::kInternal &&
        (t.bump_generation || desired.contains("spec"))) {
      if (spec_part(desired) != spec_part(cur)) {
        int64_t g = cmeta.contains("generation") && cmeta["generation"].is_number_integer()
                        ? cmeta["generation"].get<int64_t>()
                        : 0;
        m["generation"] = g + 1;
      }
    }
    if (is_service && mode == UpdateMode::kMain) drop_type_dependent_fields(cur, desired);
    if (mode != UpdateMode::kInternal && t.set_defaults) t.set_defaults(desired);
    api::FieldErrors errs;
    run_validation(t, desired, &cur, errs);
    SvcAlloc newly;
    if (errs.empty() && is_service && !dry_run) allocate_service(desired, &cur, newly, errs);
    CrossObjectAdmission::Hold hold;  // kept until the store write below has returned
    if (errs.empty()) {
      Status adm = admission_.admit(t, desired, &cur, errs, hold);
      if (!adm.is_ok()) {
        rollback(newly);
        out.status = adm;
        return out;
      }
    }
    if (!errs.empty()) {
      rollback(newly);
      out.status = invalid(invalid_message(t, name, errs));
      out.causes = std::move(errs);
      return out;
    }
    desired["metadata"]["resourceVersion"] = std::to_string(kv->mod_revision);
    // A terminating object whose last finalizer went away is deleted now
    // (bound pods wait for the kubelet's final delete).
    bool finalize_delete = desired["metadata"].contains("deletionTimestamp") &&
                           !has_finalizers(t, desired);
    if (finalize_delete && t.group.empty() && t.kind == "Pod") {
      const json& dm = desired["metadata"];
      bool bound = desired.contains("spec") && desired["spec"].is_object() &&
                   !str_at(desired["spec"], "nodeName").empty();
      int64_t grace = dm.contains("deletionGracePeriodSeconds") &&
                              dm["deletionGracePeriodSeconds"].is_number_integer()
                          ? dm["deletionGracePeriodSeconds"].get<int64_t>()
                          : 0;
      if (bound && grace > 0) finalize_delete = false;
    }
    if (dry_run) {
      out.object = std::move(desired);
      return out;
    }
    if (finalize_delete) {
      auto rev = store_.remove(key, kv->mod_revision);
      if (!rev) {
        rollback(newly);
        if (rev.status().code() == Code::kConflict) continue;
        out.status = rev.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name))
                                                            : rev.status();
        return out;
      }
      if (is_service) release_service_diff(cur, nullptr);
      out.object = std::move(desired);
      return out;
    }
    if (desired == cur) {  // no-op: nothing to write
      out.object = std::move(desired);
      return out;
    }
    auto rev = store_.update(key, to_stored(desired), kv->mod_revision);
    if (!rev) {
      rollback(newly);
      if (rev.status().code() == Code::kConflict) continue;
      out.status = rev.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name))
                                                          : rev.status();
      return out;
    }
    if (is_service) release_service_diff(cur, &desired);
    desired["metadata"]["resourceVersion"] = std::to_string(*rev);
    out.object = std::move(desired);
    return out;
  }
  out.status = conflict(conflict_msg(t, name));
  return out;
}

HttpResponse RestHandler::do_update(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto body = parse_body(req);
  if (!body) return error_response(body.status(), ri.name, &t);
  UpdateMode mode = ri.subresource == "status"     ? UpdateMode::kStatus
                    : ri.subresource == "finalize" ? UpdateMode::kFinalize
                                                   : UpdateMode::kMain;
  json b = std::move(body.value());
  std::vector<std::string> warnings;
  Outcome o = update_object(
      t, ri.ns, ri.name, mode,
      [&](const json&, json& desired) {
        desired = b;
        return Status::ok();
      },
      query(req, "fieldValidation"), is_dry_run(req), &warnings);
  return outcome_response(req, t, ri.name, o, warnings);
}

namespace {
Result<json> apply_patch(const api::ResourceType& t, const std::string& content_type,
                         const json& cur, const json& patch) {
  std::string mt = media_type(content_type);
  if (mt == "application/merge-patch+json") return api::apply_merge_patch(cur, patch);
  if (mt == "application/json-patch+json") return api::apply_json_patch(cur, patch);
  if (mt == "application/strategic-merge-patch+json") {
    if (t.group.find("minik8s.io") != std::string::npos) return api::apply_merge_patch(cur, patch);
    return api::apply_strategic_merge_patch(cur, patch, t.kind);
  }
  return Status(Code::kUnsupported,
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/strategic-merge-patch+json");
}

Result<json> parse_patch_body(const HttpRequest& req) {
  std::string mt = media_type(req.content_type);
  if (mt != "application/merge-patch+json" && mt != "application/json-patch+json" &&
      mt != "application/strategic-merge-patch+json") {
    return Status(Code::kUnsupported,
                  "the body of the request was in an unknown format - accepted media types "
                  "include: application/json-patch+json, application/merge-patch+json, "
                  "application/strategic-merge-patch+json");
  }
  auto j = api::parse_json(req.body);
  if (!j) return bad_request("invalid JSON in patch: " + j.status().message());
  return j;
}
}  // namespace

HttpResponse RestHandler::do_patch(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto patch = parse_patch_body(req);
  if (!patch) return error_response(patch.status(), ri.name, &t);
  UpdateMode mode = ri.subresource == "status"     ? UpdateMode::kStatus
                    : ri.subresource == "finalize" ? UpdateMode::kFinalize
                                                   : UpdateMode::kMain;
  std::vector<std::string> warnings;
  Outcome o = update_object(
      t, ri.ns, ri.name, mode,
      [&](const json& cur, json& desired) {
        auto r = apply_patch(t, req.content_type, cur, *patch);
        if (!r) return r.status();
        desired = std::move(r.value());
        return Status::ok();
      },
      query(req, "fieldValidation"), is_dry_run(req), &warnings);
  return outcome_response(req, t, ri.name, o, warnings);
}

RestHandler::Outcome RestHandler::delete_object(const api::ResourceType& t, const std::string& ns,
                                                const std::string& name, const json& opts,
                                                bool dry_run) {
  Outcome out;
  const std::string key = object_key(t, ns, name);
  const bool is_pod = t.group.empty() && t.kind == "Pod";
  const bool is_ns = t.group.empty() && t.kind == "Namespace";
  if (is_ns && (name == "default" || name == "kube-system" || name == "kube-public")) {
    out.status = Status(Code::kForbidden, "namespaces \"" + name +
                                              "\" is forbidden: this namespace may not be deleted");
    return out;
  }
  std::optional<int64_t> grace_opt;
  if (opts.contains("gracePeriodSeconds") && opts["gracePeriodSeconds"].is_number_integer()) {
    grace_opt = opts["gracePeriodSeconds"].get<int64_t>();
  }
  std::string policy = str_at(opts, "propagationPolicy");
  if (opts.contains("orphanDependents") && opts["orphanDependents"].is_boolean() && policy.empty()) {
    policy = opts["orphanDependents"].get<bool>() ? "Orphan" : "Background";
  }
  json pre = opts.contains("preconditions") && opts["preconditions"].is_object()
                 ? opts["preconditions"]
                 : json::object();
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    auto kv = store_.get(key);
    if (!kv) {
      out.status = kv.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name))
                                                         : kv.status();
      return out;
    }
    json cur = to_wire(*kv);
    json& cm = cur["metadata"];
    if (std::string u = str_at(pre, "uid"); !u.empty() && u != str_at(cm, "uid")) {
      out.status = conflict("Precondition failed: UID in precondition: " + u +
                            ", UID in object meta: " + str_at(cm, "uid"));
      return out;
    }
    if (std::string r = str_at(pre, "resourceVersion");
        !r.empty() && r != std::to_string(kv->mod_revision)) {
      out.status = conflict("Precondition failed: ResourceVersion in precondition: " + r +
                            ", ResourceVersion in meta: " + std::to_string(kv->mod_revision));
      return out;
    }
    json desired = cur;
    json& dm = desired["metadata"];
    bool terminating = cm.contains("deletionTimestamp");
    bool write = false;  // update instead of remove
    if (is_ns) {
      if (terminating) {
        out.object = cur;
        return out;
      }
      dm["deletionTimestamp"] = now_rfc3339();
      dm["deletionGracePeriodSeconds"] = 0;
      desired["status"]["phase"] = "Terminating";
      if (!desired.contains("spec") || !desired["spec"].is_object()) desired["spec"] = json::object();
      desired["spec"]["finalizers"] = json::array({"kubernetes"});
      write = true;
    } else {
      int64_t grace = 0;
      bool bound = false;
      if (is_pod) {
        const json& spec = cur.contains("spec") ? cur["spec"] : json::object();
        bound = !str_at(spec, "nodeName").empty();
        grace = 30;
        if (spec.contains("terminationGracePeriodSeconds") &&
            spec["terminationGracePeriodSeconds"].is_number_integer()) {
          grace = spec["terminationGracePeriodSeconds"].get<int64_t>();
        }
        if (grace_opt) grace = *grace_opt;
        if (grace < 0) grace = 0;
      }
      if (!terminating) {
        std::string fin = policy == "Foreground" ? "foregroundDeletion"
                          : policy == "Orphan"   ? "orphan"
                                                 : "";
        if (!fin.empty()) {
          if (!dm.contains("finalizers") || !dm["finalizers"].is_array()) {
            dm["finalizers"] = json::array();
          }
          bool present = false;
          for (const auto& f : dm["finalizers"]) present = present || f == fin;
          if (!present) dm["finalizers"].push_back(fin);
        }
        std::string phase = cur.contains("status") && cur["status"].is_object()
                                ? str_at(cur["status"], "phase")
                                : "";
        bool finished = phase == "Succeeded" || phase == "Failed";
        bool graceful = is_pod && bound && grace > 0 && !finished;
        if (has_finalizers(t, desired) || graceful) {
          dm["deletionTimestamp"] =
              format_rfc3339(real_clock().now() + std::chrono::seconds(graceful ? grace : 0));
          dm["deletionGracePeriodSeconds"] = graceful ? grace : 0;
          write = true;
        }
      } else {
        // Already terminating: a shorter grace period shortens the pod's
        // deadline (never lengthens it); grace 0 finishes it.
        int64_t had = cm.contains("deletionGracePeriodSeconds") &&
                              cm["deletionGracePeriodSeconds"].is_number_integer()
                          ? cm["deletionGracePeriodSeconds"].get<int64_t>()
                          : 0;
        bool now = is_pod && grace_opt && *grace_opt <= 0;
        bool shorter = is_pod && grace_opt && *grace_opt > 0 && *grace_opt < had;
        if (!now && !shorter) {
          out.object = cur;
          return out;
        }
        if (shorter) {
          dm["deletionGracePeriodSeconds"] = *grace_opt;
          dm["deletionTimestamp"] =
              format_rfc3339(real_clock().now() + std::chrono::seconds(*grace_opt));
          write = true;
        } else if (has_finalizers(t, cur)) {
          dm["deletionGracePeriodSeconds"] = 0;
          write = true;
        }
      }
    }
    if (dry_run) {
      out.object = desired;
      return out;
    }
    if (write) {
      if (desired == cur) {
        out.object = cur;
        return out;
      }
      auto rev = store_.update(key, to_stored(desired), kv->mod_revision);
      if (!rev) {
        if (rev.status().code() == Code::kConflict || rev.status().code() == Code::kNotFound) continue;
        out.status = rev.status();
        return out;
      }
      desired["metadata"]["resourceVersion"] = std::to_string(*rev);
      out.object = std::move(desired);
      return out;
    }
    auto rev = store_.remove(key, kv->mod_revision);
    if (!rev) {
      if (rev.status().code() == Code::kConflict) continue;
      out.status = rev.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name))
                                                          : rev.status();
      return out;
    }
    if (t.group.empty() && t.kind == "Service") release_service_diff(cur, nullptr);
    out.object = std::move(cur);
    return out;
  }
  out.status = conflict(conflict_msg(t, name));
  return out;
}

namespace {
json delete_options(const HttpRequest& req) {
  json opts = json::object();
  if (!req.body.empty()) {
    auto b = api::parse_json(req.body);
    if (b && b->is_object()) opts = std::move(b.value());
  }
  if (std::string g = query(req, "gracePeriodSeconds"); !g.empty()) {
    try {
      opts["gracePeriodSeconds"] = std::stoll(g);
    } catch (const std::exception&) {
    }
  }
  if (std::string p = query(req, "propagationPolicy"); !p.empty()) opts["propagationPolicy"] = p;
  return opts;
}
}  // namespace

// Checks DeleteOptions the way Kubernetes validates them.
static Status validate_delete_options(const json& opts, api::FieldErrors& causes) {
  if (opts.contains("propagationPolicy") && !opts["propagationPolicy"].is_null()) {
    const json& p = opts["propagationPolicy"];
    std::string v = p.is_string() ? p.get<std::string>() : p.dump(-1, ' ', false, json::error_handler_t::replace);
    if (v != "Foreground" && v != "Background" && v != "Orphan") {
      std::string m = "Unsupported value: \"" + v +
                      "\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"";
      causes.push_back({"propagationPolicy", m});
      return invalid("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: " + m);
    }
    if (opts.contains("orphanDependents") && opts["orphanDependents"].is_boolean()) {
      std::string m = "Invalid value: \"" + v +
                      "\": orphanDependents and deletionPropagation cannot be both set";
      causes.push_back({"propagationPolicy", m});
      return invalid("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: " + m);
    }
  }
  if (opts.contains("dryRun") && !opts["dryRun"].is_null()) {
    const json& d = opts["dryRun"];
    bool ok = d.is_array();
    if (ok) {
      for (const auto& v : d) ok = ok && v == "All";
    }
    if (!ok) return bad_request("Invalid dryRun value in DeleteOptions: only \"All\" is supported");
  }
  return Status::ok();
}

static bool body_dry_run(const json& opts) {
  return opts.contains("dryRun") && opts["dryRun"].is_array() && !opts["dryRun"].empty();
}

HttpResponse RestHandler::do_delete(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  if (!req.body.empty()) {
    auto b = api::parse_json(req.body);
    if (!b || !b->is_object()) {
      std::string why = b ? "" : ": " + b.status().message();
      return error_response(bad_request("invalid DeleteOptions in request body" + why), ri.name,
                            &t);
    }
  }
  json opts = delete_options(req);
  api::FieldErrors causes;
  if (Status st = validate_delete_options(opts, causes); !st.is_ok()) {
    return error_response(st, ri.name, &t, causes);
  }
  Outcome o = delete_object(t, ri.ns, ri.name, opts, is_dry_run(req) || body_dry_run(opts));
  return outcome_response(req, t, ri.name, o, {});
}

HttpResponse RestHandler::do_delete_collection(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto filter = make_filter(t, req);
  if (!filter) return error_response(filter.status());
  json opts = delete_options(req);
  api::FieldErrors causes;
  if (Status st = validate_delete_options(opts, causes); !st.is_ok()) {
    return error_response(st, "", &t, causes);
  }
  const bool dry_run = is_dry_run(req) || body_dry_run(opts);
  cache_.wait_fresh(kFreshWait);
  int64_t rev = 0;
  json items = json::array();
  for (const auto& o : cache_.list(collection_prefix(t, ri.ns), &rev)) {
    if (!filter->matches(o->object)) continue;
    Outcome d = delete_object(t, meta_str(o->object, "namespace"), meta_str(o->object, "name"),
                              opts, dry_run);
    if (d.status.is_ok()) {
      items.push_back(std::move(d.object));
    } else if (d.status.code() != Code::kNotFound) {
      return error_response(d.status, meta_str(o->object, "name"), &t);
    }
  }
  HttpResponse r;
  r.body = json{{"apiVersion", t.api_version()},
                {"kind", t.list_kind()},
                {"metadata", {{"resourceVersion", std::to_string(cache_.revision())}}},
                {"items", items}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

namespace {
json make_scale(const json& parent) {
  const json& m = meta_of(parent);
  json meta = json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (m.contains(k)) meta[k] = m[k];
  }
  int64_t spec_replicas = 0, status_replicas = 0;
  std::string selector;
  if (parent.contains("spec") && parent["spec"].is_object()) {
    const json& spec = parent["spec"];
    if (spec.contains("replicas") && spec["replicas"].is_number_integer()) {
      spec_replicas = spec["replicas"].get<int64_t>();
    }
    if (spec.contains("selector")) {
      const json& sel = spec["selector"];
      if (sel.is_object() && (sel.contains("matchLabels") || sel.contains("matchExpressions"))) {
        auto s = api::LabelSelector::from_json(sel);
        if (s) selector = s->to_string();
      } else if (sel.is_object()) {
        std::map<std::string, std::string> mm;
        for (auto it = sel.begin(); it != sel.end(); ++it) {
          if (it->is_string()) mm[it.key()] = it->get<std::string>();
        }
        selector = api::LabelSelector::from_map(mm).to_string();
      }
    }
  }
  if (parent.contains("status") && parent["status"].is_object() &&
      parent["status"].contains("replicas") && parent["status"]["replicas"].is_number_integer()) {
    status_replicas = parent["status"]["replicas"].get<int64_t>();
  }
  json status = {{"replicas", status_replicas}};
  if (!selector.empty()) status["selector"] = selector;
  return {{"apiVersion", "autoscaling/v1"},
          {"kind", "Scale"},
          {"metadata", meta},
          {"spec", {{"replicas", spec_replicas}}},
          {"status", status}};
}
}  // namespace

HttpResponse RestHandler::do_scale(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  if (req.method == "GET") {
    cache_.wait_fresh(kFreshWait);
    ObjectPtr o = cache_.get(object_key(t, ri.ns, ri.name));
    if (!o) return error_response(not_found(not_found_msg(t, ri.name)), ri.name, &t);
    HttpResponse r;
    r.body = make_scale(o->object).dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  json body;
  if (req.method == "PUT") {
    auto b = parse_body(req);
    if (!b) return error_response(b.status(), ri.name, &t);
    body = std::move(b.value());
  } else if (req.method == "PATCH") {
    auto p = parse_patch_body(req);
    if (!p) return error_response(p.status(), ri.name, &t);
    body = std::move(p.value());
  } else {
    return error_response(Status(Code::kMethodNotAllowed, "method not allowed on scale"));
  }
  Outcome o = update_object(
      t, ri.ns, ri.name, UpdateMode::kMain,
      [&](const json& cur, json& desired) -> Status {
        json scale = make_scale(cur);
        if (req.method == "PUT") {
          scale = body;
        } else {
          std::string mt = media_type(req.content_type);
          auto r = mt == "application/json-patch+json" ? api::apply_json_patch(scale, body)
                                                       : api::apply_merge_patch(scale, body);
          if (!r) return r.status();
          scale = std::move(r.value());
        }
        if (!scale.is_object() || !scale.contains("spec") || !scale["spec"].is_object() ||
            !scale["spec"].contains("replicas") || !scale["spec"]["replicas"].is_number_integer()) {
          return invalid("Scale \"" + ri.name + "\" is invalid: spec.replicas: Required value");
        }
        int64_t replicas = scale["spec"]["replicas"].get<int64_t>();
        if (replicas < 0 || replicas > 2147483647) {
          return invalid("Scale \"" + ri.name +
                         "\" is invalid: spec.replicas: Invalid value: " + std::to_string(replicas) +
                         (replicas < 0 ? ": must be greater than or equal to 0"
                                       : ": must be less than or equal to 2147483647"));
        }
        desired = cur;
        std::string want = meta_str(scale, "resourceVersion");
        if (!want.empty() && want != meta_str(cur, "resourceVersion")) {
          desired["metadata"]["resourceVersion"] = want;  // the CAS check reports the conflict
        }
        desired["spec"]["replicas"] = replicas;
        return Status::ok();
      },
      "", is_dry_run(req), nullptr);
  if (!o.status.is_ok()) return error_response(o.status, ri.name, &t, o.causes);
  HttpResponse r;
  r.body = make_scale(o.object).dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse RestHandler::do_binding(const HttpRequest& req, const RequestInfo& ri,
                                     const std::string& pod) {
  const api::ResourceType* t = api::find_resource("", "v1", "pods");
  if (!t) return error_response(not_found("pods are not served"));
  auto body = parse_body(req);
  if (!body) return error_response(body.status());
  std::string name = pod.empty() ? meta_str(*body, "name") : pod;
  if (name.empty()) return error_response(bad_request("binding has no pod name"));
  std::string node;
  if (body->contains("target") && (*body)["target"].is_object()) {
    node = str_at((*body)["target"], "name");
  }
  if (node.empty()) {
    return error_response(invalid("Binding \"" + name + "\" is invalid: target.name: Required value"),
                          name, t, {{"target.name", "Required value"}});
  }
  Outcome o = update_object(
      *t, ri.ns, name, UpdateMode::kInternal,
      [&](const json& cur, json& desired) -> Status {
        if (meta_of(cur).contains("deletionTimestamp")) {
          return conflict("pod " + name + " is being deleted, cannot be assigned to a host");
        }
        std::string have = cur.contains("spec") ? str_at(cur["spec"], "nodeName") : "";
        if (!have.empty()) {
          return conflict("pod " + name + " is already assigned to node \"" + have + "\"");
        }
        desired = cur;
        desired["spec"]["nodeName"] = node;
        json& st = desired["status"];
        if (!st.is_object()) st = json::object();
        if (!st.contains("conditions") || !st["conditions"].is_array()) st["conditions"] = json::array();
        json cond = {{"type", "PodScheduled"},
                     {"status", "True"},
                     {"lastProbeTime", nullptr},
                     {"lastTransitionTime", now_rfc3339()}};
        bool replaced = false;
        for (auto& c : st["conditions"]) {
          if (c.is_object() && str_at(c, "type") == "PodScheduled") {
            c = cond;
            replaced = true;
          }
        }
        if (!replaced) st["conditions"].push_back(cond);
        return Status::ok();
      },
      "", is_dry_run(req), nullptr);
  if (!o.status.is_ok()) return error_response(o.status, name, t, o.causes);
  HttpResponse r;
  r.code = 201;
  r.body = json{{"kind", "Status"},
                {"apiVersion", "v1"},
                {"metadata", json::object()},
                {"status", "Success"},
                {"code", 201}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

namespace {
bool needs_node_ports(const json& svc) {
  std::string type = svc.contains("spec") ? str_at(svc["spec"], "type") : "";
  return type == "NodePort" || type == "LoadBalancer";
}
std::set<int> node_ports_of(const json& svc) {
  std::set<int> out;
  if (!svc.contains("spec") || !svc["spec"].is_object()) return out;
  const json& spec = svc["spec"];
  if (!spec.contains("ports") || !spec["ports"].is_array()) return out;
  for (const auto& p : spec["ports"]) {
    if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer()) {
      out.insert(p["nodePort"].get<int>());
    }
  }
  return out;
}
std::string cluster_ip_of(const json& svc) {
  return svc.contains("spec") && svc["spec"].is_object() ? str_at(svc["spec"], "clusterIP") : "";
}
}  // namespace

void RestHandler::allocate_service(json& svc, const json* old, SvcAlloc& newly,
                                   api::FieldErrors& errs) {
  if (!svc.contains("spec") || !svc["spec"].is_object()) svc["spec"] = json::object();
  json& spec = svc["spec"];
  std::string type = str_at(spec, "type");
  if (type.empty()) type = "ClusterIP";
  std::string old_ip = old ? cluster_ip_of(*old) : "";
  std::string ip = str_at(spec, "clusterIP");
  if (type == "ExternalName") {
    // No cluster IP for ExternalName Services; a previous one is released after the write.
    spec.erase("clusterIP");
    spec.erase("clusterIPs");
  } else if (ip.empty() && !old_ip.empty()) {
    spec["clusterIP"] = old_ip;
    spec["clusterIPs"] = json::array({old_ip});
  } else if (!old_ip.empty() && ip != old_ip) {
    errs.push_back({"spec.clusterIP", "Invalid value: \"" + ip + "\": field is immutable"});
    return;
  } else if (ip == old_ip && !ip.empty()) {
    // unchanged
  } else if (ip == "None") {
    spec["clusterIPs"] = json::array({"None"});
  } else if (ip.empty()) {
    auto a = ips_->allocate_next();
    if (!a) {
      errs.push_back({"spec.clusterIP", "Internal error: " + a.status().message()});
      return;
    }
    newly.ips.push_back(*a);
    spec["clusterIP"] = *a;
    spec["clusterIPs"] = json::array({*a});
  } else {
    Status st = ips_->allocate(ip);
    if (!st.is_ok()) {
      errs.push_back({"spec.clusterIP", "Invalid value: \"" + ip + "\": " + st.message()});
      return;
    }
    newly.ips.push_back(ip);
    spec["clusterIPs"] = json::array({ip});
  }
  if (!spec.contains("ports") || !spec["ports"].is_array()) return;
  json& ports = spec["ports"];
  bool need = type == "NodePort" || type == "LoadBalancer";
  std::set<int> owned = old && needs_node_ports(*old) ? node_ports_of(*old) : std::set<int>{};
  std::set<int> used_here;
  // Old assignments by service port, for re-use when a port omits nodePort.
  std::map<int, int> old_by_port;
  if (old && needs_node_ports(*old)) {
    for (const auto& p : (*old)["spec"]["ports"]) {
      if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer() &&
          p.contains("port") && p["port"].is_number_integer()) {
        old_by_port[p["port"].get<int>()] = p["nodePort"].get<int>();
      }
    }
  }
  std::map<int, std::pair<int, std::set<std::string>>> shared_by_np;  // nodePort → port, protocols
  std::map<int, int> by_port;  // service port → nodePort given in this call
  for (size_t i = 0; i < ports.size(); ++i) {
    json& p = ports[i];
    if (!p.is_object()) continue;
    std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
    if (!need) {
      p.erase("nodePort");
      continue;
    }
    int np = p.contains("nodePort") && p["nodePort"].is_number_integer() ? p["nodePort"].get<int>() : 0;
    int port = p.contains("port") && p["port"].is_number_integer() ? p["port"].get<int>() : -1;
    std::string proto = p.contains("protocol") && p["protocol"].is_string()
                            ? p["protocol"].get<std::string>()
                            : "TCP";
    // One node port may serve the same port number over several protocols
    // (80/TCP and 80/UDP): that is one allocation owned by this Service.
    auto shared = shared_by_np.find(np != 0 ? np : (by_port.count(port) ? by_port[port] : 0));
    if (shared != shared_by_np.end() && shared->second.first == port &&
        !shared->second.second.count(proto)) {
      shared->second.second.insert(proto);
      p["nodePort"] = shared->first;
      continue;
    }
    auto note = [&](int n) {
      used_here.insert(n);
      shared_by_np[n] = {port, {proto}};
      by_port.emplace(port, n);
    };
    if (np != 0) {
      if (owned.count(np) && !used_here.count(np)) {
        note(np);
        continue;
      }
      Status st = ports_.allocate(np);
      if (!st.is_ok()) {
        errs.push_back({field, "Invalid value: " + std::to_string(np) + ": " + st.message()});
        return;
      }
      newly.ports.push_back(np);
      note(np);
      continue;
    }
    auto it = old_by_port.find(port);
    if (it != old_by_port.end() && owned.count(it->second) && !used_here.count(it->second)) {
      p["nodePort"] = it->second;
      note(it->second);
      continue;
    }
    auto a = ports_.allocate_next();
    if (!a) {
      errs.push_back({field, "Internal error: " + a.status().message()});
      return;
    }
    newly.ports.push_back(*a);
    note(*a);
    p["nodePort"] = *a;
  }
}

void RestHandler::rollback(const SvcAlloc& a) {
  for (const auto& ip : a.ips) ips_->release(ip);
  for (int p : a.ports) ports_.release(p);
}

void RestHandler::release_service_diff(const json& old, const json* now) {
  std::string old_ip = cluster_ip_of(old);
  std::string new_ip = now ? cluster_ip_of(*now) : "";
  if (!old_ip.empty() && old_ip != "None" && old_ip != new_ip) ips_->release(old_ip);
  std::set<int> keep = now && needs_node_ports(*now) ? node_ports_of(*now) : std::set<int>{};
  if (needs_node_ports(old)) {
    for (int p : node_ports_of(old)) {
      if (!keep.count(p)) ports_.release(p);
    }
  }
}

void RestHandler::handle_watch(const HttpRequest& req, StreamWriter& out,
                               const std::atomic<bool>& stopping) {
  auto start = std::chrono::steady_clock::now();
  RequestInfo ri = parse_path(req.path);
  auto fail = [&](const Status& st) {
    HttpResponse r = error_response(st);
    out.begin(r.code, "application/json");
    out.write(r.body);
    metrics_.observe("watch", ri.type ? ri.type->plural : "", r.code, 0);
  };
  if (Status utf8 = check_utf8(req); !utf8.is_ok()) {
    fail(utf8);
    return;
  }
  if (ri.path != PathKind::kResource || !ri.type || !ri.subresource.empty() ||
      (!ri.name.empty() && ri.ns.empty() && ri.type->namespaced)) {
    fail(not_found("the server could not find the requested resource"));
    return;
  }
  const api::ResourceType& t = *ri.type;
  auto filter = make_filter(t, req);
  if (!filter) {
    fail(filter.status());
    return;
  }
  if (!ri.name.empty()) {
    // Watching one object: /pods/NAME?watch=1 → a metadata.name field selector.
    auto fs = api::FieldSelector::parse("metadata.name=" + ri.name);
    if (fs) {
      if (filter->fields) {
        auto both = api::FieldSelector::parse(query(req, "fieldSelector") + ",metadata.name=" + ri.name);
        if (both) filter->fields = std::move(both.value());
      } else {
        filter->fields = std::move(fs.value());
      }
    }
  }
  auto rvr = parse_rv_query(query(req, "resourceVersion"));
  if (!rvr) {
    fail(rvr.status());
    return;
  }
  int64_t rv = *rvr;
  int64_t timeout_s = 0;
  if (std::string ts = query(req, "timeoutSeconds"); !ts.empty()) {
    auto v = parse_int(ts, true);
    if (!v) {
      fail(bad_request("Invalid value for timeoutSeconds: \"" + ts + "\": must be an integer"));
      return;
    }
    timeout_s = *v;
  }
  bool bookmarks = query_bool(query(req, "allowWatchBookmarks"));
  bool table = wants_table(req.accept);
  metrics_.watch_opened();
  metrics_.observe("watch", t.plural, 200, 0);
  struct Done {
    Metrics& m;
    ~Done() { m.watch_closed(); }
  } done{metrics_};
  (void)start;
  if (!out.begin(200, "application/json")) return;
  auto w = cache_.watch(collection_prefix(t, ri.ns), rv);
  if (!w) {
    Status st = w.status();
    json ev = {{"type", "ERROR"},
               {"object", json::parse(status_body(st, "", "", ""))}};
    out.write(ev.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    return;
  }
  std::shared_ptr<CacheWatcher> watcher = std::move(w.value());
  struct Unreg {
    WatchCache& c;
    std::shared_ptr<CacheWatcher>& w;
    ~Unreg() { c.unregister(w); }
  } unreg{cache_, watcher};
  auto deadline = timeout_s > 0 ? std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s)
                                 : std::chrono::steady_clock::time_point::max();
  auto last_bookmark = std::chrono::steady_clock::now();
  // Bookmarks every ~10 s when asked for, on idle and busy watches alike.
  auto maybe_bookmark = [&]() {
    if (!bookmarks || std::chrono::steady_clock::now() - last_bookmark < kBookmarkEvery) return true;
    last_bookmark = std::chrono::steady_clock::now();
    json b = {{"type", "BOOKMARK"},
              {"object",
               {{"kind", t.kind},
                {"apiVersion", t.api_version()},
                {"metadata", {{"resourceVersion", std::to_string(watcher->bookmark_revision())}}}}}};
    return out.write(b.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  };
  auto encode = [&](const char* type, const ObjectPtr& o) {
    std::string s = "{\"type\":\"";
    s += type;
    s += "\",\"object\":";
    if (table) {
      s += api::make_table(t, {o->object},
                           json{{"resourceVersion", std::to_string(o->mod_revision)}})
               .dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
      s += o->wire;
    }
    s += "}\n";
    return s;
  };
  while (!stopping) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto wait = std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::seconds(1));
    auto ev = watcher->next(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    if (!ev) {
      if (watcher->closed()) {
        if (watcher->overflowed()) {
          json e = {{"type", "ERROR"},
                    {"object", json::parse(status_body(Status(Code::kGone,
                                                              "watch fell behind; please re-list"),
                                                       "", "", ""))}};
          out.write(e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
        }
        break;
      }
      if (out.peer_closed()) break;
      if (!maybe_bookmark()) break;
      continue;
    }
    const char* type = nullptr;
    ObjectPtr obj = ev->object;
    if (filter->empty()) {
      type = ev->type == storage::Event::Type::kCreated   ? "ADDED"
             : ev->type == storage::Event::Type::kUpdated ? "MODIFIED"
                                                          : "DELETED";
    } else {
      bool cur = obj && filter->matches(obj->object);
      bool prev = ev->prev && filter->matches(ev->prev->object);
      switch (ev->type) {
        case storage::Event::Type::kCreated:
          if (cur) type = "ADDED";
          break;
        case storage::Event::Type::kUpdated:
          if (cur && prev) type = "MODIFIED";
          else if (cur) type = "ADDED";
          else if (prev) type = "DELETED";
          break;
        case storage::Event::Type::kDeleted:
          if (prev || cur) type = "DELETED";
          break;
      }
    }
    if (type && obj && !out.write(encode(type, obj))) break;
    if (!maybe_bookmark()) break;
  }
}

void RestHandler::add_api_group(std::shared_ptr<ApiGroupProvider> group) {
  if (!group) return;
  std::lock_guard lock(extra_mu_);
  extra_groups_.push_back(std::move(group));
}

std::vector<std::shared_ptr<ApiGroupProvider>> RestHandler::extra_groups() const {
  std::lock_guard lock(extra_mu_);
  return extra_groups_;
}

std::optional<HttpResponse> RestHandler::dispatch_extra(const HttpRequest& req, std::string* verb,
                                                        std::string* resource) {
  static const std::string kApis = "/apis/";
  const std::string& p = req.path;
  if (p.rfind(kApis, 0) != 0) return std::nullopt;
  std::vector<std::shared_ptr<ApiGroupProvider>> groups = extra_groups();
  if (groups.empty()) return std::nullopt;
  // /apis/<g>[/<v>[/<rest>]]
  size_t g_end = p.find('/', kApis.size());
  std::string group = p.substr(kApis.size(), g_end == std::string::npos ? std::string::npos : g_end - kApis.size());
  std::vector<std::shared_ptr<ApiGroupProvider>> mine;
  for (auto& provider : groups) {
    if (provider->group() == group) mine.push_back(provider);
  }
  if (mine.empty()) return std::nullopt;
  std::string after = g_end == std::string::npos ? "" : p.substr(g_end + 1);  // "<v>/<rest>" or ""
  size_t v_end = after.find('/');
  std::string version = after.substr(0, v_end);
  std::string rest = v_end == std::string::npos ? "" : after.substr(v_end);  // "" or "/..."
  auto not_served = [] { return error_response(not_found("the server could not find the requested resource")); };
  auto discovery_only = [&]() -> std::optional<HttpResponse> {
    if (req.method != "GET") {
      return error_response(
          Status(Code::kMethodNotAllowed, "the server does not allow this method on the requested resource"));
    }
    *verb = "get";
    return std::nullopt;
  };

  if (version.empty()) {  // /apis/<g> or /apis/<g>/: the APIGroup
    if (auto refused = discovery_only()) return refused;
    json vs = json::array();
    for (const auto& provider : mine) {
      vs.push_back({{"groupVersion", group + "/" + provider->version()}, {"version", provider->version()}});
    }
    HttpResponse r;
    r.body = json{{"kind", "APIGroup"}, {"apiVersion", "v1"}, {"name", group}, {"versions", vs},
                  {"preferredVersion", vs[0]}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  std::shared_ptr<ApiGroupProvider> provider;
  for (auto& candidate : mine) {
    if (candidate->version() == version) provider = candidate;
  }
  if (!provider) return not_served();
  std::vector<ExtraResource> resources = provider->resources();
  if (rest.empty() || rest == "/") {  // /apis/<g>/<v>: the APIResourceList
    if (auto refused = discovery_only()) return refused;
    json list = json::array();
    for (const auto& res : resources) {
      list.push_back({{"name", res.name},
                      {"singularName", ""},
                      {"namespaced", res.namespaced},
                      {"kind", res.kind},
                      {"verbs", res.verbs}});
    }
    HttpResponse r;
    r.body = json{{"kind", "APIResourceList"},
                  {"apiVersion", "v1"},
                  {"groupVersion", group + "/" + version},
                  {"resources", list}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  // The metrics label takes the resource's plural only when the provider
  // declares it (never a name from the URL).
  {
    std::vector<std::string> seg;
    for (size_t i = 1; i <= rest.size();) {
      size_t j = rest.find('/', i);
      if (j == std::string::npos) j = rest.size();
      if (j > i) seg.push_back(rest.substr(i, j - i));
      i = j + 1;
    }
    size_t at = (seg.size() >= 3 && seg[0] == "namespaces") ? 2 : 0;
    if (at < seg.size()) {
      for (const auto& res : resources) {
        if (res.name == seg[at]) *resource = res.name;
      }
    }
    bool named = seg.size() > at + 1;
    if (req.method == "GET") *verb = named ? "get" : "list";
  }
  std::string query;
  for (const auto& [k, v] : req.query) {
    if (!query.empty()) query += '&';
    query += url_encode(k) + "=" + url_encode(v);
  }
  LocalResponse answer = provider->handle(req.method, rest, query, req.accept);
  if (answer.code == 0) return error_response(internal_error("the " + group + " provider gave no answer"));
  HttpResponse r;
  r.code = answer.code;
  if (!answer.content_type.empty()) r.content_type = answer.content_type;
  r.body = std::move(answer.body);
  return r;
}

}  // namespace minik8s::apiserver
