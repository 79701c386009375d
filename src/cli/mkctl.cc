// mkctl: kubectl-like commands over minik8s::client.
#include "minik8s/cli/mkctl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/kubeconfig.h"
#include "function_cmds.h"
#include "gpujob_cmds.h"
#include "workflow_cmds.h"
#include "printers.h"
#include "stream_cmds.h"
#include "workload_cmds.h"

namespace minik8s::cli {
namespace {

using api::Json;
using client::Client;

constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

// JSON as Go's encoding/json writes it: keys sorted (nlohmann's default) and
// '<', '>', '&' escaped as \u003c, \u003e, \u0026 (they only occur in strings).
std::string go_json(const Json& v) {
  std::string in = v.dump(-1, ' ', false, Json::error_handler_t::replace), out;
  out.reserve(in.size());
  for (char c : in) {
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  return out;
}

constexpr const char* kTableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

// A failure already reported to the user (exit code 1).
struct Reported {};

struct Globals {
  std::string kubeconfig;
  std::string server;
  std::string ns;
  std::string context;
  std::string request_timeout = "0";
};

long long now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "pod", "deployment.apps" — kubectl's prefix for "kind/name" output.
std::string kind_prefix(const api::ResourceType& t) {
  std::string k = lower(t.kind);
  return t.group.empty() ? k : k + "." + t.group;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) {
    if (!cur.empty()) out.push_back(cur);
  }
  return out;
}

std::string jstr(const Json& obj, std::initializer_list<const char*> path) {
  const Json& v = api::field_at(obj, path);
  return v.is_string() ? v.get<std::string>() : "";
}

std::chrono::milliseconds parse_duration(const std::string& s) {
  if (s.empty() || s == "0") return std::chrono::seconds(30);
  try {
    size_t pos = 0;
    double v = std::stod(s, &pos);
    std::string unit = s.substr(pos);
    double ms = unit == "ms" ? v : unit == "m" ? v * 60000 : unit == "h" ? v * 3600000 : v * 1000;
    return std::chrono::milliseconds(static_cast<long long>(ms));
  } catch (...) {
    return std::chrono::seconds(30);
  }
}

struct DescribeFetched;  // describe's extra objects (defined with cmd_describe)

class Mkctl {
 public:
  Mkctl(std::ostream& out, std::ostream& err, std::istream& in) : out_(out), err_(err), in_(in) {}

  int run(const std::vector<std::string>& args);

 private:
  // ---- plumbing ----
  void connect() {
    if (client_) return;
    client::ConnectionFlags flags;
    flags.server = g_.server;
    flags.kubeconfig_path = g_.kubeconfig;
    if (const char* e = std::getenv("KUBECONFIG")) flags.kubeconfig_env = e;
    if (const char* h = std::getenv("HOME")) flags.home = h;
    auto cfg = client::resolve_connection(flags);
    if (!cfg) fail("error: " + cfg.status().message());
    if (!g_.context.empty() && !g_.kubeconfig.empty()) {
      auto c2 = client::load_kubeconfig(g_.kubeconfig, g_.context);
      if (!c2) fail("error: " + c2.status().message());
      *cfg = *c2;
      if (!g_.server.empty()) cfg->server = g_.server;
    }
    server_ = client::rest_options(*cfg);
    default_ns_ = g_.ns.empty() ? cfg->namespace_ : g_.ns;
    if (default_ns_.empty()) default_ns_ = "default";
    client::HttpRestClientOptions opts = server_;
    opts.timeout = parse_duration(g_.request_timeout);
    auto rest = client::make_http_rest_client(opts);
    if (!rest) fail("error: " + rest.status().message());
    rest_ = std::move(*rest);
    client_ = std::make_unique<Client>(*rest_);
  }

  [[noreturn]] void fail(const std::string& line) {
    err_ << line << "\n";
    throw Reported{};
  }
  // kubectl: "Error from server (NotFound): pods \"x\" not found".
  std::string server_error(const Status& s) {
    if (s.code() == Code::kUnavailable || s.code() == Code::kTimeout) {
      if (s.message().rfind("dial tcp", 0) == 0 || s.message().find("timed out") != std::string::npos) {
        return "error: " + s.message();
      }
    }
    return std::string("Error from server (") + s.reason() + "): " + s.message();
  }

  const api::ResourceType& resolve(const std::string& name) {
    const api::ResourceType* t = api::find_by_user_name(name);
    if (!t) fail("error: the server doesn't have a resource type \"" + name + "\"");
    return *t;
  }

  std::string ns_for(const api::ResourceType& t) const { return t.namespaced ? default_ns_ : ""; }

  // Reads manifests from -f values (files, dirs, "-").
  std::vector<std::pair<std::string, Json>> read_manifests(const std::vector<std::string>& files, bool recursive) {
    std::vector<std::pair<std::string, Json>> out;
    for (const auto& f : files) {
      std::vector<std::string> paths;
      std::error_code ec;
      if (f == "-") {
        paths.push_back("-");
      } else if (std::filesystem::is_directory(f, ec)) {
        auto add = [&](const std::filesystem::path& p) {
          auto ext = p.extension().string();
          if (ext == ".yaml" || ext == ".yml" || ext == ".json") paths.push_back(p.string());
        };
        if (recursive) {
          for (auto& e : std::filesystem::recursive_directory_iterator(f, ec)) {
            if (e.is_regular_file()) add(e.path());
          }
        } else {
          for (auto& e : std::filesystem::directory_iterator(f, ec)) {
            if (e.is_regular_file()) add(e.path());
          }
        }
        std::sort(paths.begin(), paths.end());
      } else {
        paths.push_back(f);
      }
      for (const auto& p : paths) {
        std::string text;
        if (p == "-") {
          std::stringstream ss;
          ss << in_.rdbuf();
          text = ss.str();
        } else {
          std::ifstream file(p);
          if (!file) fail("error: the path \"" + p + "\" does not exist");
          std::stringstream ss;
          ss << file.rdbuf();
          text = ss.str();
        }
        auto docs = api::parse_manifests(text);
        if (!docs) fail("error: error parsing " + (p == "-" ? std::string("STDIN") : p) + ": " + docs.status().message());
        for (auto& d : *docs) out.emplace_back(p == "-" ? "STDIN" : p, std::move(d));
      }
    }
    if (out.empty()) fail("error: no objects passed to apply");
    return out;
  }

  const api::ResourceType* type_of(const Json& obj, const std::string& source) {
    std::string av = jstr(obj, {"apiVersion"});
    std::string kind = jstr(obj, {"kind"});
    const api::ResourceType* t = api::find_kind(av, kind);
    if (!t) {
      err_ << "error: resource mapping not found for name: \"" << jstr(obj, {"metadata", "name"})
           << "\" namespace: \"" << jstr(obj, {"metadata", "namespace"}) << "\" from \"" << source
           << "\": no matches for kind \"" << kind << "\" in version \"" << av << "\"\n";
    }
    return t;
  }

  std::string obj_ns(const api::ResourceType& t, const Json& obj) const {
    if (!t.namespaced) return "";
    std::string ns = jstr(obj, {"metadata", "namespace"});
    return ns.empty() ? default_ns_ : ns;
  }

  // Reads the manifests, connects, and calls fn for each object of a served
  // kind (type_of reports the others) with its namespace; 1 when any object
  // failed (fn returned false), else 0.
  using ManifestFn =
      std::function<bool(const std::string& source, Json& obj, const api::ResourceType& t, const std::string& ns)>;
  int for_each_manifest(const std::vector<std::string>& files, bool recursive, const ManifestFn& fn) {
    auto docs = read_manifests(files, recursive);
    connect();
    int rc = 0;
    for (auto& [source, obj] : docs) {
      const api::ResourceType* t = type_of(obj, source);
      if (!t || !fn(source, obj, *t, obj_ns(*t, obj))) rc = 1;
    }
    return rc;
  }

  // ---- commands ----
  int cmd_apply(const std::vector<std::string>& files, bool recursive);
  bool apply_one(const std::string& source, const Json& obj, const api::ResourceType& t, const std::string& ns);
  int cmd_create(const std::vector<std::string>& files, bool recursive);
  int cmd_get(std::vector<std::string> args);
  int cmd_describe(const std::vector<std::string>& args);
  void describe_related(const api::ResourceType& t, const std::string& ns, const Json& obj,
                        DescribeFetched& fetched);
  int cmd_delete(std::vector<std::string> args);
  int cmd_scale(const std::vector<std::string>& args, int replicas);
  int cmd_patch(const std::vector<std::string>& args, const std::string& patch, const std::string& type);
  int cmd_api_resources();
  int cmd_version();

  // Splits ["pods", "a", "b"] / ["pod/a", "deploy/b"] into (type, name) pairs.
  std::vector<std::pair<const api::ResourceType*, std::string>> targets(const std::vector<std::string>& args,
                                                                        std::vector<const api::ResourceType*>* kinds);

  std::ostream& out_;
  std::ostream& err_;
  std::istream& in_;
  Globals g_;
  std::string default_ns_ = "default";
  client::HttpRestClientOptions server_;  // the server and credentials (kubeconfig)
  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<Client> client_;

  // get flags
  bool all_namespaces_ = false;
  std::string selector_, field_selector_, output_;
  bool watch_ = false, show_labels_ = false, no_headers_ = false;
  // delete flags
  std::vector<std::string> files_;
  bool recursive_ = false;
  int grace_period_ = -1;
  std::string cascade_ = "background";
  bool ignore_not_found_ = false;
};

std::vector<std::pair<const api::ResourceType*, std::string>> Mkctl::targets(
    const std::vector<std::string>& args, std::vector<const api::ResourceType*>* kinds) {
  std::vector<std::pair<const api::ResourceType*, std::string>> out;
  if (args.empty()) return out;
  if (args[0].find('/') != std::string::npos) {
    for (const auto& a : args) {
      auto slash = a.find('/');
      if (slash == std::string::npos) {
        fail("error: there is no need to specify a resource type as a separate argument when passing arguments in "
             "resource/name form (e.g. 'mkctl get resource/<resource_name>' instead of 'mkctl get resource "
             "resource/<resource_name>'");
      }
      out.emplace_back(&resolve(a.substr(0, slash)), a.substr(slash + 1));
    }
    return out;
  }
  std::vector<const api::ResourceType*> types;
  for (const auto& k : split(args[0], ',')) {
    // A category ("all") stands for every kind that lists it, as in kubectl.
    size_t before = types.size();
    for (const api::ResourceType* t : api::all_resources()) {
      if (std::find(t->categories.begin(), t->categories.end(), k) != t->categories.end()) {
        types.push_back(t);
      }
    }
    if (types.size() == before) types.push_back(&resolve(k));
  }
  if (kinds) *kinds = types;
  for (size_t i = 1; i < args.size(); ++i) {
    for (auto* t : types) out.emplace_back(t, args[i]);
  }
  return out;
}

int Mkctl::cmd_apply(const std::vector<std::string>& files, bool recursive) {
  return for_each_manifest(files, recursive, [&](const std::string& source, Json& obj, const api::ResourceType& t,
                                                 const std::string& ns) { return apply_one(source, obj, t, ns); });
}

bool Mkctl::apply_one(const std::string& source, const Json& obj, const api::ResourceType& type,
                      const std::string& ns) {
  const api::ResourceType* t = &type;
  bool ok = true;
  std::string name = jstr(obj, {"metadata", "name"});
  if (name.empty()) {
    err_ << "error: error when retrieving current configuration of resource from " << source
         << ": resource name may not be empty\n";
    return false;
  }
  // The applied configuration as recorded in the annotation (without itself).
  // Encoded exactly as kubectl does (keys sorted, an "annotations" map
  // always present, HTML-escaped, trailing newline), so that kubectl and
  // mkctl applies of the same file see no difference.
  Json applied = obj;
  if (!applied["metadata"].contains("annotations") || !applied["metadata"]["annotations"].is_object()) {
    applied["metadata"]["annotations"] = Json::object();
  }
  applied["metadata"]["annotations"].erase(kLastApplied);
  if (t->namespaced) applied["metadata"]["namespace"] = ns;
  Json modified = applied;
  modified["metadata"]["annotations"][kLastApplied] = go_json(applied) + "\n";
  std::string label = kind_prefix(*t) + "/" + name;
  bool done = false;
  for (int attempt = 0; attempt < 5 && !done; ++attempt) {
    auto live = client_->get(*t, ns, name);
    if (!live && live.status().code() == Code::kNotFound) {
      Json to_create = modified;
      if (t->namespaced) to_create["metadata"]["namespace"] = ns;
      auto created = client_->create(*t, to_create, ns, "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
      if (!created) {
        if (created.status().code() == Code::kAlreadyExists) continue;  // raced: patch instead
        err_ << server_error(created.status()) << "\n";
        ok = false;
      } else {
        out_ << label << " created\n";
      }
      done = true;
      break;
    }
    if (!live) {
      err_ << server_error(live.status()) << "\n";
      ok = false;
      done = true;
      break;
    }
    Json original;
    if (auto s = jstr(*live, {"metadata", "annotations", kLastApplied}); !s.empty()) {
      auto original_parsed = api::parse_json_response(s);
      if (original_parsed) original = std::move(original_parsed.value());
    }
    Json patch = three_way_merge_patch(original, modified, *live);
    if (patch.empty()) {
      out_ << label << " unchanged\n";
      done = true;
      break;
    }
    // Guard against lost updates like kubectl: patch carries the live resourceVersion.
    patch["metadata"]["resourceVersion"] = jstr(*live, {"metadata", "resourceVersion"});
    // Pods: a strategic merge, so that a changed container keeps what the
    // server added to it (the ServiceAccount volume mount) — a pod's
    // containers can only change their image anyway. Other kinds: a JSON
    // merge patch (lists replaced, so removed items go).
    client::PatchType pt = t->group.empty() && t->kind == "Pod" ? client::PatchType::kStrategic
                                                                 : client::PatchType::kMerge;
    auto res = client_->patch(*t, ns, name, pt, patch);
    if (!res && res.status().code() == Code::kConflict) continue;
    if (!res) {
      err_ << server_error(res.status()) << "\n";
      ok = false;
    } else {
      out_ << label << " configured\n";
    }
    done = true;
  }
  if (!done) {
    err_ << "error: " << label << ": giving up after 5 conflicting attempts\n";
    ok = false;
  }
  return ok;
}

int Mkctl::cmd_create(const std::vector<std::string>& files, bool recursive) {
  return for_each_manifest(files, recursive, [&](const std::string&, Json& obj, const api::ResourceType& t,
                                                 const std::string& ns) {
    auto created = client_->create(t, obj, ns, "?fieldManager=kubectl-create&fieldValidation=Strict");
    if (!created) {
      err_ << server_error(created.status()) << "\n";
      return false;
    }
    out_ << kind_prefix(t) << "/" << jstr(*created, {"metadata", "name"}) << " created\n";
    return true;
  });
}

int Mkctl::cmd_get(std::vector<std::string> args) {
  if (args.empty()) {
    fail("You must specify the type of resource to get. Use \"mkctl api-resources\" for a complete list of "
         "supported resources.");
  }
  std::vector<const api::ResourceType*> kinds;
  auto named = targets(args, &kinds);
  if (kinds.empty()) {
    for (auto& [t, n] : named) {
      if (std::find(kinds.begin(), kinds.end(), t) == kinds.end()) kinds.push_back(t);
    }
  }
  connect();
  std::string ns = all_namespaces_ ? "" : default_ns_;
  client::ListOptions lo;
  lo.label_selector = selector_;
  lo.field_selector = field_selector_;
  bool multi = kinds.size() > 1;
  int rc = 0;

  if (output_ == "yaml" || output_ == "json" || output_ == "name") {
    std::vector<Json> items;
    auto fill = [](Json obj, const api::ResourceType& t) {
      if (!obj.contains("kind")) obj["kind"] = t.kind;
      if (!obj.contains("apiVersion")) obj["apiVersion"] = t.api_version();
      return obj;
    };
    if (!named.empty()) {
      for (auto& [t, name] : named) {
        auto got = client_->get(*t, t->namespaced ? default_ns_ : "", name);
        if (!got) {
          err_ << server_error(got.status()) << "\n";
          rc = 1;
          continue;
        }
        items.push_back(fill(std::move(*got), *t));
      }
    } else {
      for (auto* t : kinds) {
        auto list = client_->list(*t, t->namespaced ? ns : "", lo);
        if (!list) fail(server_error(list.status()));
        for (auto& item : (*list)["items"]) items.push_back(fill(std::move(item), *t));
      }
    }
    if (output_ == "name") {
      for (auto& o : items) {
        auto* t = api::find_kind(jstr(o, {"apiVersion"}), jstr(o, {"kind"}));
        out_ << (t ? kind_prefix(*t) : lower(jstr(o, {"kind"}))) << "/" << jstr(o, {"metadata", "name"}) << "\n";
      }
      return rc;
    }
    Json doc;
    if (items.size() == 1 && !named.empty()) {
      doc = std::move(items[0]);
    } else {
      if (items.empty() && !named.empty()) return rc;
      doc = Json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}, {"metadata", {{"resourceVersion", ""}}}};
      for (auto& i : items) doc["items"].push_back(std::move(i));
    }
    if (output_ == "json") {
      out_ << doc.dump(4) << "\n";
    } else {
      out_ << api::to_yaml(doc);
    }
    return rc;
  }
  if (!output_.empty() && output_ != "wide") fail("error: unable to match a printer suitable for the output format \"" + output_ + "\", allowed formats are: json,name,wide,yaml");

  TableOptions topts;
  topts.wide = output_ == "wide";
  topts.with_namespace = all_namespaces_;
  topts.show_labels = show_labels_;
  topts.no_headers = no_headers_;
  bool printed_any = false;
  std::string last_rv;
  std::vector<size_t> widths;
  for (size_t ki = 0; ki < kinds.size(); ++ki) {
    const api::ResourceType* t = kinds[ki];
    topts.name_prefix = multi || (!named.empty() && args[0].find('/') != std::string::npos && named.size() > 1 &&
                                  kinds.size() > 1)
                            ? kind_prefix(*t) + "/"
                            : "";
    Json table = Json{{"columnDefinitions", Json::array()}, {"rows", Json::array()}};
    bool have_table = false;
    if (!named.empty()) {
      for (auto& [nt, name] : named) {
        if (nt != t) continue;
        auto res = client_->rest().request("GET", Client::path(*t, t->namespaced ? default_ns_ : "", name), "",
                                           "application/json", kTableAccept);
        if (!res) fail("error: " + res.status().message());
        if (Status s = client::check_response(*res); !s) {
          err_ << server_error(s) << "\n";
          rc = 1;
          continue;
        }
        auto one_parsed = api::parse_json_response(res->body);
        Json one = one_parsed ? std::move(one_parsed.value()) : Json(Json::value_t::discarded);
        if (!one.is_object()) continue;
        if (!have_table) {
          table["columnDefinitions"] = one.value("columnDefinitions", Json::array());
          have_table = true;
        }
        if (one.contains("rows") && one["rows"].is_array()) {
          for (auto& r : one["rows"]) table["rows"].push_back(r);
        }
      }
      if (!have_table) continue;
    } else {
      auto res = client_->rest().request("GET", Client::path(*t, t->namespaced ? ns : "") + Client::query(lo, false), "",
                                         "application/json", kTableAccept);
      if (!res) fail("error: " + res.status().message());
      if (Status s = client::check_response(*res); !s) fail(server_error(s));
      auto table_parsed = api::parse_json_response(res->body);
      table = table_parsed ? std::move(table_parsed.value()) : Json(Json::value_t::discarded);
      if (!table.is_object()) fail("error: the server returned an invalid table");
      if (table.value("kind", "") != "Table") {
        // A plain list: NAME and AGE only, like kubectl.
        Json t2 = {{"columnDefinitions", {{{"name", "Name"}, {"type", "string"}, {"format", "name"}},
                                          {{"name", "Age"}, {"type", "date"}}}},
                   {"rows", Json::array()}};
        for (auto& item : table.value("items", Json::array())) {
          t2["rows"].push_back({{"cells", {jstr(item, {"metadata", "name"}),
                                           human_age(jstr(item, {"metadata", "creationTimestamp"}), now_unix())}},
                                {"object", item}});
        }
        t2["metadata"] = table.value("metadata", Json::object());
        table = std::move(t2);
      }
      last_rv = jstr(table, {"metadata", "resourceVersion"});
    }
    if (!table.contains("rows") || table["rows"].empty()) continue;
    if (printed_any) out_ << "\n";
    auto rows = table_rows(table, topts);
    if (watch_) {
      for (auto& r : rows) out_ << format_row(r, widths) << "\n";
    } else {
      out_ << format_columns(rows);
    }
    printed_any = true;
  }
  if (!printed_any && named.empty() && !watch_) {
    if (all_namespaces_ || !kinds[0]->namespaced) {
      err_ << "No resources found\n";
    } else {
      err_ << "No resources found in " << ns << " namespace.\n";
    }
  }
  if (watch_ && kinds.size() == 1 && named.empty()) {
    const api::ResourceType* t = kinds[0];
    lo.resource_version = last_rv;
    // --request-timeout bounds a watch too (server side and here).
    bool bounded = !g_.request_timeout.empty() && g_.request_timeout != "0";
    auto watch_deadline = std::chrono::steady_clock::now() + parse_duration(g_.request_timeout);
    if (bounded) {
      lo.timeout_seconds = std::max<int64_t>(
          1, std::chrono::duration_cast<std::chrono::seconds>(parse_duration(g_.request_timeout)).count());
    }
    auto lines = client_->rest().watch(Client::path(*t, t->namespaced ? ns : "") + Client::query(lo, true), kTableAccept);
    if (!lines) fail(server_error(lines.status()));
    TableOptions wopts = topts;
    wopts.no_headers = true;
    bool header_done = printed_any;
    while (true) {
      auto wait = std::chrono::milliseconds(3600 * 1000);
      if (bounded) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(watch_deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        wait = left;
      }
      auto line = (*lines)->next(wait);
      if (!line) {
        if ((*lines)->ended()) break;
        continue;
      }
      auto ev_parsed = api::parse_json_response(*line);
      Json ev = ev_parsed ? std::move(ev_parsed.value()) : Json(Json::value_t::discarded);
      if (!ev.is_object()) continue;
      if (ev.value("type", "") == "ERROR") fail(server_error(client::status_from_response(410, ev["object"].dump())));
      Json obj = ev.value("object", Json::object());
      if (obj.value("kind", "") != "Table") continue;
      if (!header_done) {
        TableOptions h = topts;
        auto rows = table_rows(obj, h);
        if (!rows.empty()) out_ << format_row(rows[0], widths) << "\n";
        header_done = true;
      }
      for (auto& r : table_rows(obj, wopts)) out_ << format_row(r, widths) << "\n";
      out_.flush();
    }
  }
  return rc;
}

// What kubectl fetches besides the object for `describe`: a node's
// non-terminated pods and Lease; a service's EndpointSlices, else Endpoints.
// Failed fetches leave the member null (describe prints <none>).
struct DescribeFetched {
  Json pods, lease, endpoint_slices, endpoints;
  DescribeRelated related;
};

void Mkctl::describe_related(const api::ResourceType& t, const std::string& ns, const Json& obj,
                             DescribeFetched& f) {
  f.related.now_unix = now_unix();
  std::string name = jstr(obj, {"metadata", "name"});
  auto list = [&](const char* group, const char* version, const char* plural, const std::string& list_ns,
                  const client::ListOptions& lo, Json& out) {
    const api::ResourceType* rt = api::find_resource(group, version, plural);
    if (!rt) return false;
    auto l = client_->list(*rt, list_ns, lo);
    if (!l) return false;
    out = std::move(*l);
    return true;
  };
  if (t.group.empty() && t.kind == "Node") {
    client::ListOptions lo;
    lo.field_selector = "spec.nodeName=" + name + ",status.phase!=Failed,status.phase!=Succeeded";
    if (list("", "v1", "pods", "", lo, f.pods)) f.related.pods = &f.pods;
    if (const api::ResourceType* lt = api::find_resource("coordination.k8s.io", "v1", "leases")) {
      if (auto lease = client_->get(*lt, "kube-node-lease", name)) {
        f.lease = std::move(*lease);
        f.related.lease = &f.lease;
      }
    }
  } else if (t.group.empty() && t.kind == "Service") {
    client::ListOptions lo;
    lo.label_selector = "kubernetes.io/service-name=" + name;
    if (list("discovery.k8s.io", "v1", "endpointslices", ns, lo, f.endpoint_slices) &&
        f.endpoint_slices.contains("items") && f.endpoint_slices["items"].is_array() &&
        !f.endpoint_slices["items"].empty()) {
      f.related.endpoint_slices = &f.endpoint_slices;
      return;
    }
    // No slices (an older server, or Endpoints written by hand): the Endpoints.
    if (const api::ResourceType* et = api::find_resource("", "v1", "endpoints")) {
      if (auto ep = client_->get(*et, ns, name)) {
        f.endpoints = std::move(*ep);
        f.related.endpoints = &f.endpoints;
      }
    }
  }
}

int Mkctl::cmd_describe(const std::vector<std::string>& args) {
  if (args.empty()) fail("You must specify the type of resource to describe. Use \"mkctl api-resources\" for a complete list of supported resources.");
  std::vector<const api::ResourceType*> kinds;
  auto named = targets(args, &kinds);
  connect();
  if (named.empty()) {
    // describe KIND: every object of the kind (with -l).
    for (auto* t : kinds) {
      client::ListOptions lo;
      lo.label_selector = selector_;
      auto list = client_->list(*t, t->namespaced ? (all_namespaces_ ? "" : default_ns_) : "", lo);
      if (!list) fail(server_error(list.status()));
      for (auto& item : (*list)["items"]) named.emplace_back(t, jstr(item, {"metadata", "name"}));
    }
    if (named.empty()) {
      err_ << "No resources found in " << default_ns_ << " namespace.\n";
      return 0;
    }
  }
  int rc = 0;
  bool first = true;
  for (auto& [t, name] : named) {
    std::string ns = t->namespaced ? default_ns_ : "";
    auto obj = client_->get(*t, ns, name);
    if (!obj) {
      err_ << server_error(obj.status()) << "\n";
      rc = 1;
      continue;
    }
    if (!obj->contains("kind")) (*obj)["kind"] = t->kind;
    if (!first) out_ << "\n\n";
    first = false;
    DescribeFetched fetched;
    describe_related(*t, ns, *obj, fetched);
    out_ << describe_object(*obj, fetched.related);
    std::string uid = jstr(*obj, {"metadata", "uid"});
    std::string fs = "involvedObject.name=" + name;
    if (!ns.empty()) fs += ",involvedObject.namespace=" + ns;
    if (!uid.empty()) fs += ",involvedObject.uid=" + uid;
    const api::ResourceType* ev_type = api::find_resource("", "v1", "events");
    Json events = Json::object();
    if (ev_type) {
      client::ListOptions lo;
      lo.field_selector = fs;
      auto list = client_->list(*ev_type, ns, lo);
      if (list) events = std::move(*list);
    }
    out_ << describe_events(events, now_unix());
  }
  return rc;
}

int Mkctl::cmd_delete(std::vector<std::string> args) {
  std::vector<std::pair<const api::ResourceType*, std::pair<std::string, std::string>>> work;  // type, (ns, name)
  if (!files_.empty()) {
    auto docs = read_manifests(files_, recursive_);
    connect();  // before obj_ns: the namespace of -n or the kubeconfig context
    for (auto& [source, obj] : docs) {
      const api::ResourceType* t = type_of(obj, source);
      if (!t) continue;
      work.push_back({t, {obj_ns(*t, obj), jstr(obj, {"metadata", "name"})}});
    }
  } else {
    if (args.empty()) fail("error: You must provide one or more resources by argument or filename.");
    std::vector<const api::ResourceType*> kinds;
    auto named = targets(args, &kinds);
    connect();
    if (named.empty()) {
      if (selector_.empty() && field_selector_.empty()) {
        fail("error: resource(s) were provided, but no name was specified");
      }
      for (auto* t : kinds) {
        client::ListOptions lo;
        lo.label_selector = selector_;
        lo.field_selector = field_selector_;
        auto list = client_->list(*t, t->namespaced ? (all_namespaces_ ? "" : default_ns_) : "", lo);
        if (!list) fail(server_error(list.status()));
        for (auto& item : (*list)["items"]) {
          work.push_back({t, {t->namespaced ? jstr(item, {"metadata", "namespace"}) : "", jstr(item, {"metadata", "name"})}});
        }
      }
      if (work.empty()) {
        err_ << "No resources found\n";
        return 0;
      }
    } else {
      for (auto& [t, name] : named) work.push_back({t, {t->namespaced ? default_ns_ : "", name}});
    }
  }
  std::string policy = lower(cascade_);
  if (policy == "background" || policy == "true") {
    policy = "Background";
  } else if (policy == "foreground") {
    policy = "Foreground";
  } else if (policy == "orphan" || policy == "false") {
    policy = "Orphan";
  } else {
    fail("error: invalid cascade value (" + cascade_ + "). Must be \"background\", \"foreground\", or \"orphan\"");
  }
  Json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", policy}};
  if (grace_period_ >= 0) opts["gracePeriodSeconds"] = grace_period_;
  int rc = files_.empty() ? 0 : (work.size() < 1 ? 1 : 0);
  for (auto& [t, key] : work) {
    auto res = client_->remove(*t, key.first, key.second, &opts);
    if (!res) {
      if (ignore_not_found_ && res.status().code() == Code::kNotFound) continue;
      err_ << server_error(res.status()) << "\n";
      rc = 1;
      continue;
    }
    out_ << kind_prefix(*t) << " \"" << key.second << "\" deleted\n";
  }
  return rc;
}

int Mkctl::cmd_scale(const std::vector<std::string>& args, int replicas) {
  if (replicas < 0) fail("error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0");
  auto named = targets(args, nullptr);
  if (named.empty()) fail("error: resource(s) were provided, but no name was specified");
  connect();
  int rc = 0;
  for (auto& [t, name] : named) {
    if (!t->has_scale) {
      err_ << "error: " << kind_prefix(*t) << "/" << name << " cannot be scaled\n";
      rc = 1;
      continue;
    }
    auto res = client_->patch(*t, ns_for(*t), name, client::PatchType::kMerge, Json{{"spec", {{"replicas", replicas}}}},
                              "scale");
    if (!res) {
      err_ << server_error(res.status()) << "\n";
      rc = 1;
      continue;
    }
    out_ << kind_prefix(*t) << "/" << name << " scaled\n";
  }
  return rc;
}

int Mkctl::cmd_patch(const std::vector<std::string>& args, const std::string& patch_text, const std::string& type) {
  auto named = targets(args, nullptr);
  if (named.empty()) fail("error: resource(s) were provided, but no name was specified");
  auto patch = api::parse_json(patch_text);
  if (!patch) {
    auto y = api::yaml_to_json(patch_text);
    if (!y) fail("error: unable to parse \"" + patch_text + "\": " + patch.status().message());
    patch = std::move(y);
  }
  client::PatchType pt = client::PatchType::kStrategic;
  if (type == "merge") {
    pt = client::PatchType::kMerge;
  } else if (type == "json") {
    pt = client::PatchType::kJson;
  } else if (type != "strategic") {
    fail("error: --type must be one of [json merge strategic], not \"" + type + "\"");
  }
  connect();
  int rc = 0;
  for (auto& [t, name] : named) {
    auto before = client_->get(*t, ns_for(*t), name);
    auto res = client_->patch(*t, ns_for(*t), name, pt, *patch);
    if (!res) {
      err_ << server_error(res.status()) << "\n";
      rc = 1;
      continue;
    }
    bool same = before && jstr(*before, {"metadata", "resourceVersion"}) == jstr(*res, {"metadata", "resourceVersion"});
    out_ << kind_prefix(*t) << "/" << name << (same ? " patched (no change)\n" : " patched\n");
  }
  return rc;
}

int Mkctl::cmd_api_resources() {
  connect();
  std::vector<std::vector<std::string>> rows{{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}};
  std::vector<std::string> gvs;
  auto core = client_->rest().request("GET", "/api", "", "", "application/json");
  if (!core) fail("error: " + core.status().message());
  if (Status s = client::check_response(*core); !s) fail(server_error(s));
  auto api_versions_parsed = api::parse_json_response(core->body);
  Json api_versions =
      api_versions_parsed ? std::move(api_versions_parsed.value()) : Json(Json::value_t::discarded);
  for (auto& v : api::field_at(api_versions, {"versions"})) {
    if (v.is_string()) gvs.push_back("/api/" + v.get<std::string>());
  }
  auto groups = client_->rest().request("GET", "/apis", "", "", "application/json");
  if (groups && groups->status == 200) {
    auto gl_parsed = api::parse_json_response(groups->body);
    Json gl = gl_parsed ? std::move(gl_parsed.value()) : Json(Json::value_t::discarded);
    for (auto& g : api::field_at(gl, {"groups"})) {
      std::string pv = jstr(g, {"preferredVersion", "groupVersion"});
      if (!pv.empty()) gvs.push_back("/apis/" + pv);
    }
  }
  for (auto& gv : gvs) {
    auto res = client_->rest().request("GET", gv, "", "", "application/json");
    if (!res || res->status != 200) continue;
    auto list_parsed = api::parse_json_response(res->body);
    Json list = list_parsed ? std::move(list_parsed.value()) : Json(Json::value_t::discarded);
    std::string group_version = jstr(list, {"groupVersion"});
    for (auto& r : api::field_at(list, {"resources"})) {
      std::string name = jstr(r, {"name"});
      if (name.find('/') != std::string::npos) continue;
      std::string shorts;
      for (auto& s : api::field_at(r, {"shortNames"})) shorts += (shorts.empty() ? "" : ",") + s.get<std::string>();
      rows.push_back({name, shorts, group_version, api::field_at(r, {"namespaced"}).is_boolean() && r["namespaced"].get<bool>() ? "true" : "false",
                      jstr(r, {"kind"})});
    }
  }
  out_ << format_columns(rows);
  return 0;
}

int Mkctl::cmd_version() {
  out_ << "Client Version: v0.1.0\n";
  connect();
  auto res = client_->rest().request("GET", "/version", "", "", "application/json");
  if (!res) fail("error: " + res.status().message());
  if (Status s = client::check_response(*res); !s) fail(server_error(s));
  auto v_parsed = api::parse_json_response(res->body);
  Json v = v_parsed ? std::move(v_parsed.value()) : Json(Json::value_t::discarded);
  out_ << "Server Version: " << jstr(v, {"gitVersion"}) << "\n";
  return 0;
}

int Mkctl::run(const std::vector<std::string>& args) {
  CLI::App app{"mkctl controls the minik8s cluster manager.", "mkctl"};
  app.require_subcommand(1);
  app.add_option("--kubeconfig", g_.kubeconfig, "Path to the kubeconfig file");
  app.add_option("-s,--server", g_.server, "The address of the API server (http://host:port); several comma-separated: fail over (docs/ha.md)");
  app.add_option("-n,--namespace", g_.ns, "The namespace scope for this request");
  app.add_option("--context", g_.context, "The kubeconfig context to use");
  app.add_option("--request-timeout", g_.request_timeout, "Time to wait for one server request (e.g. 5s, 1m)");

  std::vector<std::string> pos;
  std::vector<std::string> files;
  bool recursive = false;
  auto add_file_flags = [&](CLI::App* c) {
    c->add_option("-f,--filename", files, "File, directory or - (stdin)")->allow_extra_args(false);
    c->add_flag("-R,--recursive", recursive, "Process directories recursively");
  };

  auto* apply = app.add_subcommand("apply", "Apply a configuration to resources from files or stdin");
  add_file_flags(apply);
  auto* create = app.add_subcommand("create", "Create resources from files or stdin");
  add_file_flags(create);

  auto* get = app.add_subcommand("get", "Display one or many resources");
  get->add_option("args", pos, "KIND[,KIND] [NAME...] or KIND/NAME...");
  get->add_flag("-A,--all-namespaces", all_namespaces_, "List across all namespaces");
  get->add_option("-l,--selector", selector_, "Label selector");
  get->add_option("--field-selector", field_selector_, "Field selector");
  get->add_option("-o,--output", output_, "wide|yaml|json|name");
  get->add_flag("-w,--watch", watch_, "Watch for changes after listing");
  get->add_flag("--show-labels", show_labels_, "Show labels as the last column");
  get->add_flag("--no-headers", no_headers_, "Do not print headers");

  auto* describe = app.add_subcommand("describe", "Show details of a resource");
  describe->add_option("args", pos, "KIND NAME... or KIND/NAME");
  describe->add_option("-l,--selector", selector_, "Label selector");
  describe->add_flag("-A,--all-namespaces", all_namespaces_, "Across all namespaces");

  auto* del = app.add_subcommand("delete", "Delete resources by names, files or label selector");
  del->add_option("args", pos, "KIND NAME... or KIND/NAME");
  del->add_option("-f,--filename", files_, "File, directory or -")->allow_extra_args(false);
  del->add_flag("-R,--recursive", recursive_, "Process directories recursively");
  del->add_option("-l,--selector", selector_, "Label selector");
  del->add_option("--field-selector", field_selector_, "Field selector");
  del->add_flag("-A,--all-namespaces", all_namespaces_, "Across all namespaces (with -l)");
  del->add_option("--grace-period", grace_period_, "Seconds given to the resource to terminate");
  del->add_option("--cascade", cascade_, "background|foreground|orphan");
  del->add_flag("--ignore-not-found", ignore_not_found_, "Treat NotFound as success");
  bool wait = true;
  del->add_option("--wait", wait, "Accepted for kubectl compatibility");

  int replicas = -1;
  auto* scale = app.add_subcommand("scale", "Set a new size for a deployment or replica set");
  scale->add_option("args", pos, "KIND NAME or KIND/NAME");
  scale->add_option("--replicas", replicas, "The new desired number of replicas")->required();

  std::string patch_text, patch_type = "strategic";
  auto* patch = app.add_subcommand("patch", "Update fields of a resource");
  patch->add_option("args", pos, "KIND NAME or KIND/NAME");
  patch->add_option("-p,--patch", patch_text, "The patch (JSON or YAML)")->required();
  patch->add_option("--type", patch_type, "json|merge|strategic");

  auto* api_resources = app.add_subcommand("api-resources", "Print the supported API resources");
  auto* version = app.add_subcommand("version", "Print the client and server version");

  LogsOptions logs_opts;
  auto* logs = app.add_subcommand("logs", "Print the logs of a container in a pod");
  logs->add_option("pod", logs_opts.pod, "POD")->required();
  logs->add_option("-c,--container", logs_opts.container, "Container name (needed when the pod has several)");
  logs->add_flag("-f,--follow", logs_opts.follow, "Stream the logs");
  logs->add_flag("-p,--previous", logs_opts.previous, "The previous, terminated instance of the container");
  logs->add_flag("--timestamps", logs_opts.timestamps, "Prefix each line with its RFC3339 timestamp");
  logs->add_option("--tail", logs_opts.tail, "Lines of recent log to show (-1 = all)");
  logs->add_option("--since-seconds", logs_opts.since_seconds, "Only lines newer than this many seconds");
  logs->add_option("--limit-bytes", logs_opts.limit_bytes, "At most this many bytes");

  ExecOptions exec_opts;
  auto* exec = app.add_subcommand("exec", "Run a command in a container: mkctl exec POD [-c C] [-i] [-t] -- CMD...");
  exec->add_option("pod", exec_opts.pod, "POD")->required();
  exec->add_option("command", exec_opts.command, "-- COMMAND [ARGS...]");
  exec->add_option("-c,--container", exec_opts.container, "Container name (needed when the pod has several)");
  exec->add_flag("-i,--stdin", exec_opts.stdin_, "Pass stdin to the container");
  exec->add_flag("-t,--tty", exec_opts.tty, "Stdin is a TTY (raw mode, window size)");

  RolloutOptions rollout_opts;
  auto* rollout = app.add_subcommand("rollout", "Manage the rollout of a deployment");
  rollout->require_subcommand(1);
  for (const char* action : {"status", "history", "undo", "pause", "resume", "restart"}) {
    auto* sub = rollout->add_subcommand(action, std::string("rollout ") + action);
    sub->add_option("args", rollout_opts.args, "deployment/NAME or deployment NAME")->required();
    if (std::string(action) == "history") {
      sub->add_option("--revision", rollout_opts.revision, "Show the details of this revision");
    }
    if (std::string(action) == "undo") {
      sub->add_option("--to-revision", rollout_opts.revision, "The revision to roll back to (0 = previous)");
    }
    if (std::string(action) == "status") {
      sub->add_flag("-w,--watch,!--no-watch", rollout_opts.watch, "Watch until the rollout finishes");
      sub->add_option("--timeout", rollout_opts.timeout, "Give up after this long (e.g. 60s)");
    }
    sub->callback([&rollout_opts, action] { rollout_opts.action = action; });
  }

  TopOptions top_opts;
  auto* top = app.add_subcommand("top", "Display resource (CPU/memory) usage of nodes or pods");
  top->require_subcommand(1);
  for (const char* what : {"nodes", "pods"}) {
    auto* sub = top->add_subcommand(what, std::string("top ") + what);
    if (std::string(what) == "nodes") sub->alias("node")->alias("no");
    if (std::string(what) == "pods") sub->alias("pod")->alias("po");
    sub->add_option("name", top_opts.name, "NAME");
    sub->add_option("-l,--selector", top_opts.selector, "Label selector");
    sub->add_flag("--no-headers", top_opts.no_headers, "Do not print headers");
    sub->add_option("--sort-by", top_opts.sort_by, "cpu or memory");
    if (std::string(what) == "pods") {
      sub->add_flag("-A,--all-namespaces", top_opts.all_namespaces, "All namespaces");
      sub->add_flag("--containers", top_opts.containers, "Per container");
    }
    sub->callback([&top_opts, what] { top_opts.what = what; });
  }

  FunctionOptions fn_opts;
  auto* function = add_function_commands(app, fn_opts);
  WorkflowOptions wf_opts;
  auto* workflow = add_workflow_commands(app, wf_opts);
  GpuJobOptions gj_opts;
  auto* gpujob = add_gpujob_commands(app, gj_opts);

  for (auto* sub : app.get_subcommands({})) {
    sub->fallthrough();
    for (auto* nested : sub->get_subcommands({})) nested->fallthrough();
  }

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out_, err_);
  }

  try {
    if (apply->parsed()) {
      if (files.empty()) fail("error: must specify one of -f and -k");
      return cmd_apply(files, recursive);
    }
    if (create->parsed()) {
      if (files.empty()) fail("error: must specify one of -f and -k");
      return cmd_create(files, recursive);
    }
    if (get->parsed()) return cmd_get(pos);
    if (describe->parsed()) return cmd_describe(pos);
    if (del->parsed()) return cmd_delete(pos);
    if (scale->parsed()) return cmd_scale(pos, replicas);
    if (patch->parsed()) return cmd_patch(pos, patch_text, patch_type);
    if (api_resources->parsed()) return cmd_api_resources();
    if (version->parsed()) return cmd_version();
    if (logs->parsed()) {
      connect();
      return run_logs(server_, default_ns_, logs_opts, out_, err_);
    }
    if (rollout->parsed()) {
      connect();
      return run_rollout(server_, default_ns_, rollout_opts, out_, err_);
    }
    if (top->parsed()) {
      connect();
      return run_top(server_, default_ns_, top_opts, out_, err_);
    }
    if (exec->parsed()) {
      connect();
      return run_exec(server_, default_ns_, exec_opts, in_, out_, err_);
    }
    if (function->parsed()) {
      connect();
      return run_function(server_, default_ns_, parse_duration(g_.request_timeout), fn_opts, in_, out_, err_);
    }
    if (workflow->parsed()) {
      connect();
      return run_workflow(server_, default_ns_, parse_duration(g_.request_timeout), wf_opts, in_, out_, err_);
    }
    if (gpujob->parsed()) {
      connect();
      return run_gpujob(server_, default_ns_, parse_duration(g_.request_timeout), gj_opts, in_, out_, err_);
    }
  } catch (const Reported&) {
    return 1;
  } catch (const std::exception& e) {
    err_ << "error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}

}  // namespace

int run_mkctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, std::istream& in) {
  try {
    Mkctl m(out, err, in);
    return m.run(args);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
}

int run_mkctl(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return run_mkctl(args, std::cout, std::cerr, std::cin);
}

}  // namespace minik8s::cli
