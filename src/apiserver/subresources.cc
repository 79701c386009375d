// RestHandler: the scale and binding subresources (handler.h lists the other
// parts). scale is the autoscaling/v1 Scale view of any kind with has_scale
// (spec.replicas, status.replicas, the selector); binding hands a Binding to
// the strategy of the kind that serves it. Status and a strategy's own
// subresources are written by the REST verbs with a scoped update mode.
#include "handler.h"

#include <chrono>
#include <map>

#include "minik8s/api/patch.h"
#include "minik8s/api/selector.h"
#include "object_util.h"

namespace minik8s::apiserver {

namespace {

constexpr auto kFreshWait = std::chrono::milliseconds(3000);

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
  Outcome o = objects_.update(
      t, ri.ns, ri.name, UpdateMode::kMain, "",
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
          return invalid("Scale \"" + ri.name + "\" is invalid: spec.replicas: Invalid value: " +
                         std::to_string(replicas) +
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

HttpResponse RestHandler::do_binding(const HttpRequest& req, const api::ResourceType* t,
                                     const std::string& ns, const std::string& pod) {
  if (!t) return not_served_response();
  auto body = parse_body(req);
  if (!body) return error_response(body.status());
  std::string name = pod.empty() ? meta_str(*body, "name") : pod;
  if (name.empty()) return error_response(bad_request("binding has no pod name"));
  std::string node;
  if (body->contains("target") && (*body)["target"].is_object()) {
    node = str_at((*body)["target"], "name");
  }
  if (node.empty()) {
    return error_response(
        invalid("Binding \"" + name + "\" is invalid: target.name: Required value"), name, t,
        {{"target.name", "Required value"}});
  }
  KindStrategy& strategy = kinds_->strategy(*t);
  Outcome o = objects_.update(
      *t, ns, name, UpdateMode::kInternal, "",
      [&](const json& cur, json& desired) { return strategy.bind(name, node, cur, desired); }, "",
      is_dry_run(req), nullptr);
  if (!o.status.is_ok()) return error_response(o.status, name, t, o.causes);
  HttpResponse r;
  r.code = 201;
  r.body = json{
      {"kind", "Status"},
      {"apiVersion", "v1"},
      {"metadata", json::object()},
      {"status", "Success"},
      {"code",
       201}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace minik8s::apiserver
