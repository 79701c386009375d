#include "registry_store.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "errors.h"
#include "minik8s/api/json.h"
#include "minik8s/util/time.h"
#include "object_util.h"
#include "request.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

constexpr int kMaxRetries = 8;

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

Status check_kind(const api::ResourceType& t, json& obj) {
  std::string kind = str_at(obj, "kind");
  std::string av = str_at(obj, "apiVersion");
  if (!kind.empty() && kind != t.kind) {
    return bad_request("the object kind \"" + kind + "\" does not match the URL kind \"" + t.kind +
                       "\"");
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

// Bodies are parsed within the limit, but a patch (or YAML aliases, or a
// protobuf body) can build a deeper object; nothing deeper is stored.
Status check_depth(const json& obj) {
  if (api::json_depth_within(obj)) return Status::ok();
  return bad_request("the object nests deeper than " + std::to_string(api::kMaxJsonDepth) +
                     " levels");
}

// Commits a write's allocation (the object now holds what it took).
void commit(std::unique_ptr<Allocation>& a) {
  if (a) a->commit();
}

}  // namespace

bool RegistryStore::has_finalizers(KindStrategy& s, const json& o) const {
  const json& m = meta_of(o);
  auto f = m.find("finalizers");
  if (f != m.end() && f->is_array() && !f->empty()) return true;
  return s.has_spec_finalizers(o);
}

namespace {

// The stored object at key; a missing one is the API's NotFound naming it.
Result<storage::KeyValue> read_stored(storage::Storage& store, const std::string& key, const api::ResourceType& t,
                                      const std::string& name) {
  auto kv = store.get(key);
  if (!kv && kv.status().code() == Code::kNotFound) return not_found(not_found_msg(t, name));
  return kv;
}

// The last checks before a write: the strategy's cross-object admission
// (when validation found nothing), then the field errors as a 422. False
// with out's status (and causes) set when the write must not happen.
bool admitted(KindStrategy& strategy, const api::ResourceType& t, const std::string& name,
              const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs, AdmissionHold& hold,
              RegistryStore::Outcome& out) {
  if (errs.empty()) {
    if (Status adm = strategy.admit(obj, old, errs, hold); !adm.is_ok()) {
      out.status = adm;
      return false;
    }
  }
  if (!errs.empty()) {
    out.status = invalid(invalid_message(t, name, errs));
    out.causes = std::move(errs);
    return false;
  }
  return true;
}

}  // namespace

RegistryStore::Outcome RegistryStore::create(const api::ResourceType& t, const std::string& ns,
                                             json obj, const std::string& fv, bool dry_run,
                                             std::vector<std::string>* warnings) {
  KindStrategy& strategy = kinds_.strategy(t);
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
    out.status = kinds_.admit_content(ns);
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
  std::string generate = str_at(meta, "generateName");
  bool generated = str_at(meta, "name").empty() && !generate.empty();
  if (t.set_defaults) t.set_defaults(obj);
  strategy.prepare_for_create(obj);
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (generated) obj["metadata"]["name"] = generate + random_suffix(5);
    std::string name = str_at(obj["metadata"], "name");
    api::FieldErrors errs;
    run_validation(t, obj, nullptr, errs);
    if (name.empty() && errs.empty()) {
      errs.push_back({"metadata.name", "Required value: name or generateName is required"});
    }
    // Given back on every return below that does not commit it.
    std::unique_ptr<Allocation> taken;
    if (errs.empty() && !dry_run) taken = strategy.allocate(obj, nullptr, errs);
    AdmissionHold hold;  // kept until the store write below has returned
    if (!admitted(strategy, t, name, obj, nullptr, errs, hold, out)) return out;
    if (dry_run) {
      out.object = obj;
      out.code = 201;
      return out;
    }
    auto rev = store_.create(object_key(t, ns, name), to_stored(obj));
    if (!rev) {
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
      Status again = kinds_.admit_content(ns);
      if (!again.is_ok()) {
        auto removed = store_.remove(object_key(t, ns, name), *rev);
        if (removed || removed.status().code() == Code::kNotFound) {
          out.status = again;
          return out;
        }
        // Changed since (by someone who saw it): the namespace controller's
        // next pass deletes it.
      }
    }
    commit(taken);
    obj["metadata"]["resourceVersion"] = std::to_string(*rev);
    out.object = std::move(obj);
    out.code = 201;
    return out;
  }
  out.status = already_exists(t.qualified_plural() + " with generateName \"" + generate +
                              "\" could not get a unique name");
  return out;
}

RegistryStore::Outcome RegistryStore::update(const api::ResourceType& t, const std::string& ns,
                                             const std::string& name, UpdateMode mode,
                                             std::string_view subresource, const Mutator& mutate,
                                             const std::string& fv, bool dry_run,
                                             std::vector<std::string>* warnings) {
  KindStrategy& strategy = kinds_.strategy(t);
  Outcome out;
  const std::string key = object_key(t, ns, name);
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    auto kv = read_stored(store_, key, t, name);
    if (!kv) return Outcome::failure(kv.status());
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
        out.status = bad_request("metadata.resourceVersion: Invalid value: must be a string, not " +
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
    } else if (mode == UpdateMode::kSubresource) {
      desired = strategy.scope_subresource_write(subresource, cur, desired);
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
          if (f.is_string() && !had.count(f.get<std::string>()))
            added.push_back(f.get<std::string>());
        }
      }
      if (!added.empty()) {
        std::string list;
        for (const auto& f : added) list += (list.empty() ? "\"" : ", \"") + f + "\"";
        api::FieldErrors errs = {
            {"metadata.finalizers",
             "Forbidden: no new finalizers can be added if the object is being deleted, found "
             "new finalizers [" +
                 list + "]"}};
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
    if (mode == UpdateMode::kMain) strategy.prepare_for_update(desired, cur);
    if (mode != UpdateMode::kInternal && t.set_defaults) t.set_defaults(desired);
    api::FieldErrors errs;
    run_validation(t, desired, &cur, errs);
    // Given back on every return (and retry) below that does not commit it.
    std::unique_ptr<Allocation> taken;
    if (errs.empty() && !dry_run) taken = strategy.allocate(desired, &cur, errs);
    AdmissionHold hold;  // kept until the store write below has returned
    if (!admitted(strategy, t, name, desired, &cur, errs, hold, out)) return out;
    desired["metadata"]["resourceVersion"] = std::to_string(kv->mod_revision);
    // A terminating object whose last finalizer went away is deleted now
    // (unless the kind still waits for someone's final delete).
    bool finalize_delete = desired["metadata"].contains("deletionTimestamp") &&
                           !has_finalizers(strategy, desired) &&
                           !strategy.awaits_termination(desired);
    if (dry_run) {
      out.object = std::move(desired);
      return out;
    }
    if (finalize_delete) {
      auto rev = store_.remove(key, kv->mod_revision);
      if (!rev) {
        if (rev.status().code() == Code::kConflict) continue;
        out.status = rev.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name))
                                                            : rev.status();
        return out;
      }
      commit(taken);
      strategy.release(cur, nullptr);
      out.object = std::move(desired);
      return out;
    }
    if (desired == cur) {  // no-op: nothing to write
      commit(taken);
      out.object = std::move(desired);
      return out;
    }
    auto rev = store_.update(key, to_stored(desired), kv->mod_revision);
    if (!rev) {
      if (rev.status().code() == Code::kConflict) continue;
      out.status =
          rev.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name)) : rev.status();
      return out;
    }
    commit(taken);
    strategy.release(cur, &desired);
    desired["metadata"]["resourceVersion"] = std::to_string(*rev);
    out.object = std::move(desired);
    return out;
  }
  out.status = conflict(conflict_msg(t, name));
  return out;
}

RegistryStore::Outcome RegistryStore::remove(const api::ResourceType& t, const std::string& ns,
                                             const std::string& name, const json& opts,
                                             bool dry_run) {
  KindStrategy& strategy = kinds_.strategy(t);
  Outcome out;
  const std::string key = object_key(t, ns, name);
  out.status = strategy.check_delete(name);
  if (!out.status.is_ok()) return out;
  std::optional<int64_t> grace_opt;
  if (opts.contains("gracePeriodSeconds") && opts["gracePeriodSeconds"].is_number_integer()) {
    grace_opt = opts["gracePeriodSeconds"].get<int64_t>();
  }
  std::string policy = str_at(opts, "propagationPolicy");
  if (opts.contains("orphanDependents") && opts["orphanDependents"].is_boolean() &&
      policy.empty()) {
    policy = opts["orphanDependents"].get<bool>() ? "Orphan" : "Background";
  }
  json pre = opts.contains("preconditions") && opts["preconditions"].is_object()
                 ? opts["preconditions"]
                 : json::object();
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    auto kv = read_stored(store_, key, t, name);
    if (!kv) return Outcome::failure(kv.status());
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
    DeleteMark mark = strategy.mark_for_deletion(cur, desired);
    if (mark == DeleteMark::kAlreadyMarked) {
      out.object = cur;
      return out;
    }
    if (mark == DeleteMark::kMarked) {
      write = true;
    } else {
      // Graceful deletion: the kind's grace period (0 = none) when it has one.
      std::optional<int64_t> grace = strategy.deletion_grace(cur, grace_opt);
      const bool graceful_kind = grace.has_value();
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
        bool graceful = graceful_kind && *grace > 0;
        if (has_finalizers(strategy, desired) || graceful) {
          dm["deletionTimestamp"] =
              format_rfc3339(real_clock().now() + std::chrono::seconds(graceful ? *grace : 0));
          dm["deletionGracePeriodSeconds"] = graceful ? *grace : 0;
          write = true;
        }
      } else {
        // Already terminating: a shorter grace period shortens the object's
        // deadline (never lengthens it); grace 0 finishes it.
        int64_t had = cm.contains("deletionGracePeriodSeconds") &&
                              cm["deletionGracePeriodSeconds"].is_number_integer()
                          ? cm["deletionGracePeriodSeconds"].get<int64_t>()
                          : 0;
        bool now = graceful_kind && grace_opt && *grace_opt <= 0;
        bool shorter = graceful_kind && grace_opt && *grace_opt > 0 && *grace_opt < had;
        if (!now && !shorter) {
          out.object = cur;
          return out;
        }
        if (shorter) {
          dm["deletionGracePeriodSeconds"] = *grace_opt;
          dm["deletionTimestamp"] =
              format_rfc3339(real_clock().now() + std::chrono::seconds(*grace_opt));
          write = true;
        } else if (has_finalizers(strategy, cur)) {
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
        if (rev.status().code() == Code::kConflict || rev.status().code() == Code::kNotFound)
          continue;
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
      out.status =
          rev.status().code() == Code::kNotFound ? not_found(not_found_msg(t, name)) : rev.status();
      return out;
    }
    strategy.release(cur, nullptr);
    out.object = std::move(cur);
    return out;
  }
  out.status = conflict(conflict_msg(t, name));
  return out;
}

}  // namespace minik8s::apiserver
