// RestHandler: the REST verbs on a kind's objects (handler.h lists the other
// parts): get and list from the watch cache (list pages with continue tokens
// from the store), writes through the RegistryStore, answers as JSON or as a
// meta.k8s.io Table.
#include "handler.h"

#include <algorithm>
#include <chrono>

#include "minik8s/api/json.h"
#include "minik8s/api/patch.h"
#include "minik8s/api/table.h"
#include "object_util.h"

namespace minik8s::apiserver {

namespace {

constexpr auto kFreshWait = std::chrono::milliseconds(3000);

RegistryStore::UpdateMode update_mode(const std::string& subresource) {
  // The router let through "", "status" and the strategy's own subresources.
  if (subresource.empty()) return RegistryStore::UpdateMode::kMain;
  if (subresource == "status") return RegistryStore::UpdateMode::kStatus;
  return RegistryStore::UpdateMode::kSubresource;
}

// minik8s.io kinds have no strategic-merge schema: a merge patch.
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

// Checks DeleteOptions the way Kubernetes validates them.
Status validate_delete_options(const json& opts, api::FieldErrors& causes) {
  if (opts.contains("propagationPolicy") && !opts["propagationPolicy"].is_null()) {
    const json& p = opts["propagationPolicy"];
    std::string v = p.is_string() ? p.get<std::string>()
                                  : p.dump(-1, ' ', false, json::error_handler_t::replace);
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

bool body_dry_run(const json& opts) {
  return opts.contains("dryRun") && opts["dryRun"].is_array() && !opts["dryRun"].empty();
}

}  // namespace

HttpResponse RestHandler::object_response(const HttpRequest& req, const api::ResourceType& t,
                                          const json& obj, int code) {
  HttpResponse r;
  r.code = code;
  if (wants_table(req.accept)) {
    std::string io = query(req, "includeObject");
    json table = api::make_table(
        t, {obj}, json{{"resourceVersion", meta_str(obj, "resourceVersion")}}, io != "None");
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
    if (!v)
      return error_response(
          bad_request("Invalid value for limit: \"" + l + "\": must be an integer"));
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
        return error_response(
            Status(Code::kTimeout, "Too large resource version: " + rv +
                                       ", current: " + std::to_string(cache_.revision())));
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
  body += "{\"apiVersion\":" +
          json(t.api_version()).dump(-1, ' ', false, json::error_handler_t::replace) +
          ",\"kind\":" + json(t.list_kind()).dump(-1, ' ', false, json::error_handler_t::replace) +
          ",\"metadata\":" + lm.dump(-1, ' ', false, json::error_handler_t::replace) +
          ",\"items\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    body += items[i]->wire;
  }
  body += "]}";
  r.body = std::move(body);
  return r;
}

HttpResponse RestHandler::do_create(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  if (t.namespaced && ri.ns.empty()) return not_served_response();
  auto body = parse_body(req);
  if (!body) return error_response(body.status());
  if (auto answered = answer_create(req, t, *body)) return std::move(*answered);
  if (Status st = kinds_->strategy(t).check_writer(*body, ri.ns, req.user); !st.is_ok()) {
    return error_response(st, meta_str(*body, "name"), &t);
  }
  if (body->is_object()) kinds_->strategy(t).prepare_for_create_by(*body, req.user);
  std::vector<std::string> warnings;
  std::string name = meta_str(*body, "name");
  Outcome o = objects_.create(t, ri.ns, std::move(body.value()), query(req, "fieldValidation"),
                              is_dry_run(req), &warnings);
  if (o.status.is_ok()) name = meta_str(o.object, "name");
  return outcome_response(req, t, name, o, warnings);
}

std::optional<HttpResponse> RestHandler::answer_create(const HttpRequest& req,
                                                       const api::ResourceType& t, json body) {
  KindStrategy& strategy = kinds_->strategy(t);
  if (!strategy.answers_create()) return std::nullopt;
  if (!body.is_object()) return error_response(bad_request("the request body is not an object"));
  if (t.set_defaults) t.set_defaults(body);
  api::FieldErrors errs;
  if (t.validate) t.validate(body, nullptr, errs);
  if (!errs.empty()) {
    return error_response(Status(Code::kInvalid, invalid_message(t, "", errs)), "", &t, errs);
  }
  auto r = strategy.answer_create(body, req.user);
  if (!r) return error_response(r.status(), "", &t);
  HttpResponse out;
  out.code = 201;
  out.body = r->dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

HttpResponse RestHandler::do_subresource_create(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto body = parse_body(req);
  if (!body) return error_response(body.status());
  cache_.wait_fresh(kFreshWait);
  ObjectPtr o = cache_.get(object_key(t, ri.ns, ri.name));
  if (!o) return error_response(not_found(not_found_msg(t, ri.name)), ri.name, &t);
  auto r = kinds_->strategy(t).answer_subresource_create(ri.subresource, o->object, *body, req.user);
  if (!r) return error_response(r.status(), ri.name, &t);
  HttpResponse out;
  out.code = 201;
  out.body = r->dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

HttpResponse RestHandler::do_update(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto body = parse_body(req);
  if (!body) return error_response(body.status(), ri.name, &t);
  UpdateMode mode = update_mode(ri.subresource);
  json b = std::move(body.value());
  std::vector<std::string> warnings;
  Outcome o = objects_.update(
      t, ri.ns, ri.name, mode, ri.subresource,
      [&](const json&, json& desired) {
        desired = b;
        return kinds_->strategy(t).check_writer(desired, ri.ns, req.user);
      },
      query(req, "fieldValidation"), is_dry_run(req), &warnings);
  return outcome_response(req, t, ri.name, o, warnings);
}

HttpResponse RestHandler::do_patch(const HttpRequest& req, const RequestInfo& ri) {
  const api::ResourceType& t = *ri.type;
  auto patch = parse_patch_body(req);
  if (!patch) return error_response(patch.status(), ri.name, &t);
  UpdateMode mode = update_mode(ri.subresource);
  std::vector<std::string> warnings;
  Outcome o = objects_.update(
      t, ri.ns, ri.name, mode, ri.subresource,
      [&](const json& cur, json& desired) {
        auto r = apply_patch(t, req.content_type, cur, *patch);
        if (!r) return r.status();
        desired = std::move(r.value());
        return kinds_->strategy(t).check_writer(desired, ri.ns, req.user);
      },
      query(req, "fieldValidation"), is_dry_run(req), &warnings);
  return outcome_response(req, t, ri.name, o, warnings);
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
  Outcome o = objects_.remove(t, ri.ns, ri.name, opts, is_dry_run(req) || body_dry_run(opts));
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
    Outcome d = objects_.remove(t, meta_str(o->object, "namespace"), meta_str(o->object, "name"),
                                opts, dry_run);
    if (d.status.is_ok()) {
      items.push_back(std::move(d.object));
    } else if (d.status.code() != Code::kNotFound) {
      return error_response(d.status, meta_str(o->object, "name"), &t);
    }
  }
  HttpResponse r;
  r.body = json{
      {"apiVersion", t.api_version()},
      {"kind", t.list_kind()},
      {"metadata", {{"resourceVersion", std::to_string(cache_.revision())}}},
      {"items",
       items}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace minik8s::apiserver
