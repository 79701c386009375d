// mkctl rollout status|history|undo|pause|resume|restart for Deployments,
// printing what kubectl prints and sending what kubectl sends:
// status watches the Deployment (fieldSelector metadata.name) until the
// rollout finishes; history lists the ReplicaSets the Deployment controls;
// undo sends kubectl's JSON patch (/spec/template and /metadata/annotations);
// pause/resume send a strategic merge patch of spec.paused; restart sets the
// template annotation kubectl.kubernetes.io/restartedAt.
#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "minik8s/api/pod_template.h"
#include "minik8s/api/resource.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/time.h"
#include "cli_common.h"
#include "rollout_format.h"
#include "workload_cmds.h"

namespace minik8s::cli {

using api::field;
using api::ifield;
using api::Json;
using api::sfield;

namespace rollout {
namespace {

constexpr const char* kRevision = "deployment.kubernetes.io/revision";
constexpr const char* kChangeCause = "kubernetes.io/change-cause";
constexpr const char* kHashLabel = api::kPodTemplateHashLabel;

long long revision_of(const Json& rs) {
  std::string s = sfield(field(field(rs, "metadata"), "annotations"), kRevision);
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(s);
}

std::string kv_lines(const Json& m, const std::string& indent) {
  if (!m.is_object() || m.empty()) return "<none>\n";
  std::string out;
  bool first = true;
  for (auto it = m.begin(); it != m.end(); ++it) {
    std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    out += (first ? "" : indent) + it.key() + "=" + v + "\n";
    first = false;
  }
  return out;
}

// kubectl's describe of a pod template (the common part).
std::string describe_template(const Json& tmpl) {
  std::ostringstream o;
  const Json& meta = field(tmpl, "metadata");
  const Json& spec = field(tmpl, "spec");
  const std::string pad = "                ";
  o << "Pod Template:\n";
  o << "  Labels:       " << kv_lines(field(meta, "labels"), pad);
  const Json& ann = field(meta, "annotations");
  if (ann.is_object() && !ann.empty()) o << "  Annotations:  " << kv_lines(ann, pad);
  o << "  Containers:\n";
  const Json& cs = field(spec, "containers");
  if (cs.is_array()) {
    for (const auto& c : cs) {
      o << "   " << sfield(c, "name") << ":\n";
      o << "    Image:      " << sfield(c, "image") << "\n";
      const Json& ports = field(c, "ports");
      if (ports.is_array() && !ports.empty()) {
        std::string list;
        for (const auto& p : ports) {
          std::string proto = sfield(p, "protocol").empty() ? "TCP" : sfield(p, "protocol");
          if (!list.empty()) list += ", ";
          list += std::to_string(ifield(p, "containerPort")) + "/" + proto;
        }
        o << "    Port:       " << list << "\n";
      } else {
        o << "    Port:       <none>\n";
      }
      const Json& cmd = field(c, "command");
      if (cmd.is_array() && !cmd.empty()) {
        o << "    Command:\n";
        for (const auto& a : cmd) o << "      " << (a.is_string() ? a.get<std::string>() : a.dump()) << "\n";
      }
      const Json& env = field(c, "env");
      if (env.is_array() && !env.empty()) {
        o << "    Environment:\n";
        for (const auto& e : env) o << "      " << sfield(e, "name") << ":  " << sfield(e, "value") << "\n";
      } else {
        o << "    Environment:  <none>\n";
      }
      o << "    Mounts:       <none>\n";
    }
  }
  o << "  Volumes:        <none>\n";
  return o.str();
}

}  // namespace

StatusLine deployment_status(const Json& d) {
  StatusLine s;
  const Json& meta = field(d, "metadata");
  const Json& st = field(d, "status");
  std::string name = sfield(meta, "name");
  if (ifield(meta, "generation") <= ifield(st, "observedGeneration")) {
    const Json& conds = field(st, "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (sfield(c, "type") == "Progressing" && sfield(c, "reason") == "ProgressDeadlineExceeded") {
          s.error = "deployment \"" + name + "\" exceeded its progress deadline";
          return s;
        }
      }
    }
    const Json& r = field(field(d, "spec"), "replicas");
    int64_t updated = ifield(st, "updatedReplicas");
    if (r.is_number_integer() && updated < r.get<int64_t>()) {
      s.text = "Waiting for deployment \"" + name + "\" rollout to finish: " + std::to_string(updated) + " out of " +
               std::to_string(r.get<int64_t>()) + " new replicas have been updated...\n";
      return s;
    }
    if (ifield(st, "replicas") > updated) {
      s.text = "Waiting for deployment \"" + name + "\" rollout to finish: " +
               std::to_string(ifield(st, "replicas") - updated) + " old replicas are pending termination...\n";
      return s;
    }
    if (ifield(st, "availableReplicas") < updated) {
      s.text = "Waiting for deployment \"" + name + "\" rollout to finish: " +
               std::to_string(ifield(st, "availableReplicas")) + " of " + std::to_string(updated) +
               " updated replicas are available...\n";
      return s;
    }
    s.text = "deployment \"" + name + "\" successfully rolled out\n";
    s.done = true;
    return s;
  }
  s.text = "Waiting for deployment spec update to be observed...\n";
  return s;
}

std::vector<Json> owned_replica_sets(const Json& d, const std::vector<Json>& rs_list) {
  std::string uid = sfield(field(d, "metadata"), "uid");
  std::vector<Json> out;
  for (const auto& rs : rs_list) {
    const Json& refs = field(field(rs, "metadata"), "ownerReferences");
    if (!refs.is_array()) continue;
    for (const auto& r : refs) {
      if (field(r, "controller") == Json(true) && sfield(r, "uid") == uid) {
        out.push_back(rs);
        break;
      }
    }
  }
  return out;
}

std::string history_table(const std::vector<Json>& owned) {
  std::map<long long, std::string> rows;
  for (const auto& rs : owned) {
    long long rev = revision_of(rs);
    if (rev < 0) continue;
    std::string cause = sfield(field(field(rs, "metadata"), "annotations"), kChangeCause);
    rows[rev] = cause.empty() ? "<none>" : cause;
  }
  // Go's tabwriter, padding 2: the first column as wide as its widest cell + 2.
  size_t w = std::string("REVISION").size();
  for (const auto& [rev, cause] : rows) w = std::max(w, std::to_string(rev).size());
  auto cell = [&](const std::string& s) { return s + std::string(w + 2 - s.size(), ' '); };
  std::string out = cell("REVISION") + "CHANGE-CAUSE\n";
  for (const auto& [rev, cause] : rows) out += cell(std::to_string(rev)) + cause + "\n";
  return out;
}

bool revision_template(const std::vector<Json>& owned, long long revision, std::string* out) {
  for (const auto& rs : owned) {
    if (revision_of(rs) != revision) continue;
    Json tmpl = field(field(rs, "spec"), "template");
    if (tmpl.contains("metadata") && tmpl["metadata"].contains("labels") && tmpl["metadata"]["labels"].is_object()) {
      tmpl["metadata"]["labels"].erase(kHashLabel);
    }
    std::string cause = sfield(field(field(rs, "metadata"), "annotations"), kChangeCause);
    if (!cause.empty()) tmpl["metadata"]["annotations"][kChangeCause] = cause;
    *out = describe_template(tmpl);
    return true;
  }
  return false;
}

UndoPlan plan_undo(const Json& d, const std::vector<Json>& owned, long long to_revision) {
  UndoPlan plan;
  std::string name = sfield(field(d, "metadata"), "name");
  const Json* target = nullptr;
  if (to_revision > 0) {
    for (const auto& rs : owned) {
      if (revision_of(rs) == to_revision) target = &rs;
    }
    if (!target) {
      plan.error = "unable to find specified revision " + std::to_string(to_revision) + " in history";
      return plan;
    }
  } else {
    long long latest = -1, previous = -1;
    const Json* latest_rs = nullptr;
    for (const auto& rs : owned) {
      long long v = revision_of(rs);
      if (v < 0) continue;
      if (latest < v) {
        previous = latest;
        target = latest_rs;
        latest = v;
        latest_rs = &rs;
      } else if (previous < v) {
        previous = v;
        target = &rs;
      }
    }
    if (!target) {
      plan.error = "no rollout history found for deployment \"" + name + "\"";
      return plan;
    }
  }
  plan.revision = revision_of(*target);
  const Json& spec = field(d, "spec");
  if (field(spec, "paused") == Json(true)) {
    plan.error = "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/" +
                 name + "' and try again";
    return plan;
  }
  Json tmpl = field(field(*target, "spec"), "template");
  if (api::normalize_pod_template(tmpl) == api::normalize_pod_template(field(spec, "template"))) {
    plan.skipped = true;
    return plan;
  }
  if (tmpl.contains("metadata") && tmpl["metadata"].contains("labels") && tmpl["metadata"]["labels"].is_object()) {
    tmpl["metadata"]["labels"].erase(kHashLabel);
  }
  // The annotations kubectl keeps from the Deployment; the rest come from the RS.
  static const std::set<std::string> kSkip = {"kubectl.kubernetes.io/last-applied-configuration",
                                              kRevision,
                                              "deployment.kubernetes.io/revision-history",
                                              "deployment.kubernetes.io/desired-replicas",
                                              "deployment.kubernetes.io/max-replicas",
                                              "deprecated.deployment.rollback.to"};
  Json ann = Json::object();
  const Json& dann = field(field(d, "metadata"), "annotations");
  if (dann.is_object()) {
    for (const auto& k : kSkip) {
      if (dann.contains(k)) ann[k] = dann[k];
    }
  }
  const Json& rann = field(field(*target, "metadata"), "annotations");
  if (rann.is_object()) {
    for (auto it = rann.begin(); it != rann.end(); ++it) {
      if (!kSkip.count(it.key())) ann[it.key()] = it.value();
    }
  }
  plan.patch = Json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", tmpl}},
                            {{"op", "replace"}, {"path", "/metadata/annotations"}, {"value", ann}}});
  return plan;
}

}  // namespace rollout

namespace {

class Rollout {
 public:
  Rollout(client::Client& c, std::string ns, const RolloutOptions& o, std::ostream& out, std::ostream& err)
      : client_(c), ns_(std::move(ns)), o_(o), out_(out), err_(err) {}

  int run() {
    deploy_t_ = api::find_kind("apps/v1", "Deployment");
    rs_t_ = api::find_kind("apps/v1", "ReplicaSet");
    if (!deploy_t_ || !rs_t_) return fail("error: the kind table lacks Deployment or ReplicaSet");
    if (!parse_target()) return 1;
    auto got = client_.get(*deploy_t_, ns_, name_);
    if (!got) return fail(server_error(got.status()));
    Json d = std::move(got.value());
    const std::string& a = o_.action;
    if (a == "status") return status(std::move(d));
    if (a == "history") return history(d);
    if (a == "undo") return undo(d);
    if (a == "pause") return set_paused(d, true);
    if (a == "resume") return set_paused(d, false);
    if (a == "restart") return restart(d);
    return fail("error: unknown rollout action \"" + a + "\"");
  }

 private:
  int fail(const std::string& line) {
    err_ << line << "\n";
    return 1;
  }

  bool parse_target() {
    std::string kind, name;
    if (o_.args.size() == 1) {
      auto slash = o_.args[0].find('/');
      if (slash == std::string::npos) {
        fail("error: you must specify the type of resource to get along with the name (deployment/" + o_.args[0] + ")");
        return false;
      }
      kind = o_.args[0].substr(0, slash);
      name = o_.args[0].substr(slash + 1);
    } else if (o_.args.size() == 2) {
      kind = o_.args[0];
      name = o_.args[1];
    } else {
      fail("error: required resource not specified");
      return false;
    }
    std::string k = kind;
    auto dot = k.find('.');
    if (dot != std::string::npos) k = k.substr(0, dot);  // deployments.apps
    if (k != "deployment" && k != "deployments" && k != "deploy") {
      const api::ResourceType* t = api::find_by_user_name(k);
      if (!t) {
        fail("error: the server doesn't have a resource type \"" + kind + "\"");
      } else {
        fail("error: no " + o_.action + " has been implemented for {" + t->group + " " + t->kind + "}");
      }
      return false;
    }
    if (name.empty()) {
      fail("error: arguments in resource/name form must have a single resource and name");
      return false;
    }
    name_ = name;
    return true;
  }

  std::string ref() const { return "deployment.apps/" + name_; }

  Result<std::vector<Json>> owned(const Json& d) {
    client::ListOptions lo;
    auto sel = api::LabelSelector::from_json(field(field(d, "spec"), "selector"), true);
    if (sel) lo.label_selector = sel->to_string();
    auto r = client_.list(*rs_t_, ns_, lo);
    if (!r) return r.status();
    std::vector<Json> items;
    if ((*r)["items"].is_array()) {
      for (auto& i : (*r)["items"]) items.push_back(i);
    }
    return rollout::owned_replica_sets(d, items);
  }

  int status(Json d) {
    long long timeout_ms = parse_timeout_ms(o_.timeout);
    if (timeout_ms < 0) return fail("error: invalid --timeout \"" + o_.timeout + "\"");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string last;
    auto show = [&](const Json& obj, bool* done) -> int {
      auto s = rollout::deployment_status(obj);
      if (!s.error.empty()) return fail("error: " + s.error);
      if (s.text != last) out_ << s.text << std::flush;  // kubectl repeats it per event; once is enough
      last = s.text;
      *done = s.done;
      return 0;
    };
    bool done = false;
    if (int rc = show(d, &done); rc != 0 || done || !o_.watch) return rc;
    std::string rv = sfield(field(d, "metadata"), "resourceVersion");
    while (true) {
      client::ListOptions lo;
      lo.field_selector = "metadata.name=" + name_;
      lo.resource_version = rv;
      lo.timeout_seconds = 60;
      auto w = client_.watch(*deploy_t_, ns_, lo);
      if (!w) {
        if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        auto g = client_.get(*deploy_t_, ns_, name_);
        if (!g) return fail(server_error(g.status()));
        rv = sfield(field(*g, "metadata"), "resourceVersion");
        if (int rc = show(*g, &done); rc != 0 || done) return rc;
        continue;
      }
      auto& stream = *w.value();
      while (!stream.ended()) {
        if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline) {
          stream.close();
          return fail("error: timed out waiting for the condition");
        }
        auto ev = stream.next(std::chrono::milliseconds(200));
        if (!ev) continue;
        if (ev->type == "DELETED") {
          stream.close();
          return fail("error: object has been deleted");
        }
        if (ev->type != "ADDED" && ev->type != "MODIFIED") continue;
        rv = sfield(field(*ev->object, "metadata"), "resourceVersion");
        if (int rc = show(*ev->object, &done); rc != 0 || done) {
          stream.close();
          return rc;
        }
      }
      // The watch ended (server timeout, 410): start again from a fresh GET.
      auto g = client_.get(*deploy_t_, ns_, name_);
      if (!g) return fail(server_error(g.status()));
      rv = sfield(field(*g, "metadata"), "resourceVersion");
      if (int rc = show(*g, &done); rc != 0 || done) return rc;
    }
    return fail("error: timed out waiting for the condition");
  }

  int history(const Json& d) {
    auto rs = owned(d);
    if (!rs) return fail(server_error(rs.status()));
    if (o_.revision > 0) {
      std::string text;
      if (!rollout::revision_template(*rs, o_.revision, &text)) {
        return fail("error: unable to find the specified revision");
      }
      out_ << ref() << " with revision #" << o_.revision << "\n" << text << "\n";
      return 0;
    }
    out_ << ref() << " \n" << rollout::history_table(*rs) << "\n";
    return 0;
  }

  int undo(const Json& d) {
    auto rs = owned(d);
    if (!rs) return fail(server_error(rs.status()));
    auto plan = rollout::plan_undo(d, *rs, o_.revision);
    if (!plan.error.empty()) return fail("error: " + plan.error);
    if (plan.skipped) {
      out_ << ref() << " skipped rollback (current template already matches revision " << plan.revision << ")\n";
      return 0;
    }
    auto r = client_.patch(*deploy_t_, ns_, name_, client::PatchType::kJson, plan.patch);
    if (!r) return fail(server_error(r.status()));
    out_ << ref() << " rolled back\n";
    return 0;
  }

  int set_paused(const Json& d, bool pause) {
    bool paused = field(field(d, "spec"), "paused") == Json(true);
    if (paused == pause) {
      return fail(std::string("error: deployments.apps \"") + name_ + "\" is " + (pause ? "already" : "not") + " paused");
    }
    Json patch = {{"spec", {{"paused", pause}}}};
    if (!pause) patch = {{"spec", {{"paused", nullptr}}}};  // kubectl removes the field
    auto r = client_.patch(*deploy_t_, ns_, name_, client::PatchType::kStrategic, patch);
    if (!r) return fail(server_error(r.status()));
    out_ << ref() << (pause ? " paused\n" : " resumed\n");
    return 0;
  }

  int restart(const Json& d) {
    if (field(field(d, "spec"), "paused") == Json(true)) {
      return fail("error: can't restart paused deployment (run rollout resume first)");
    }
    std::string now = format_rfc3339(real_clock().now());
    Json patch = {{"spec", {{"template", {{"metadata", {{"annotations", {{"kubectl.kubernetes.io/restartedAt", now}}}}}}}}}};
    auto r = client_.patch(*deploy_t_, ns_, name_, client::PatchType::kStrategic, patch);
    if (!r) return fail(server_error(r.status()));
    out_ << ref() << " restarted\n";
    return 0;
  }

  client::Client& client_;
  std::string ns_;
  const RolloutOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  const api::ResourceType* deploy_t_ = nullptr;
  const api::ResourceType* rs_t_ = nullptr;
  std::string name_;
};

}  // namespace

int run_rollout(const client::HttpRestClientOptions& server, const std::string& ns, const RolloutOptions& o, std::ostream& out,
                std::ostream& err) {
  try {
    client::HttpRestClientOptions ro = server;
    auto rest = client::make_http_rest_client(ro);
    if (!rest) {
      err << "error: " << rest.status().message() << "\n";
      return 1;
    }
    client::Client c(**rest);
    return Rollout(c, ns, o, out, err).run();
  } catch (const std::exception& e) {  // malformed answers never crash the CLI
    err << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace minik8s::cli
