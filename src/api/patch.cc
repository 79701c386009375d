// JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
// patch for the built-in kinds. All implemented here (rather than with
// nlohmann's json::patch/merge_patch) so that failures are values and nesting
// depth is bounded.
#include "minik8s/api/patch.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace minik8s::api {
namespace {

constexpr int kMaxDepth = kMaxJsonDepth;
// JSON patch `copy` can double a document per operation; like Kubernetes'
// AccumulatedCopySizeLimit, the values one patch copies are bounded in total.
constexpr size_t kMaxCopiedBytes = 10 * 1024 * 1024;

Status too_deep() {
  return bad_request("patch nesting deeper than " + std::to_string(kMaxDepth) + " levels");
}

// A value placed at a path of n tokens sits inside n containers; the document
// must stay within kMaxDepth (a shallow value at a deep path, or a copy of a
// subtree into itself, would otherwise deepen it without bound).
Status check_placed_depth(const Json& value, size_t n, const std::string& where) {
  if (n > static_cast<size_t>(kMaxDepth) ||
      !json_depth_within(value, kMaxDepth - static_cast<int>(n))) {
    return bad_request(where + ": the result would nest deeper than " + std::to_string(kMaxDepth) +
                       " levels");
  }
  return Status::ok();
}

// Roughly the bytes value encodes to; recursion is bounded by the document's
// depth, which check_placed_depth keeps within kMaxDepth.
size_t approx_bytes(const Json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().size() + 2;
  if (value.is_object()) {
    size_t n = 2;
    for (auto it = value.begin(); it != value.end(); ++it) {
      n += it.key().size() + 4 + approx_bytes(it.value());
    }
    return n;
  }
  if (value.is_array()) {
    size_t n = 2;
    for (const auto& e : value) n += 1 + approx_bytes(e);
    return n;
  }
  return 8;
}

// ------------------------------------------------------------ merge patch

Status merge_into(Json& target, const Json& patch, int depth) {
  if (depth > kMaxDepth) return too_deep();
  if (!patch.is_object()) {
    target = patch;
    return Status::ok();
  }
  if (!target.is_object()) target = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      target.erase(it.key());
      continue;
    }
    if (Status s = merge_into(target[it.key()], it.value(), depth + 1); !s) return s;
  }
  return Status::ok();
}

// ------------------------------------------------------------- JSON patch

Result<std::vector<std::string>> parse_pointer(const Json& path, const char* what) {
  if (!path.is_string()) return bad_request(std::string("JSON patch: '") + what + "' must be a string");
  const auto& p = path.get_ref<const std::string&>();
  std::vector<std::string> tokens;
  if (p.empty()) return tokens;
  if (p[0] != '/') return bad_request("JSON patch: pointer \"" + p + "\" must start with '/'");
  std::string cur;
  for (size_t i = 1; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      tokens.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (p[i] == '~') {
      if (i + 1 < p.size() && (p[i + 1] == '0' || p[i + 1] == '1')) {
        cur += p[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      return bad_request("JSON patch: pointer \"" + p + "\" has an invalid '~' escape");
    }
    cur += p[i];
  }
  return tokens;
}

std::string join_pointer(const std::vector<std::string>& t, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < t.size(); ++i) out += "/" + t[i];
  return out;
}

// Array index token: "0" or digits without a leading zero.
std::optional<size_t> array_index(const std::string& tok) {
  if (tok.empty() || tok.size() > 18) return std::nullopt;
  if (tok.size() > 1 && tok[0] == '0') return std::nullopt;
  size_t v = 0;
  for (char c : tok) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  return v;
}

// Walks to the value at tokens[0..n).
Result<Json*> walk(Json& doc, const std::vector<std::string>& tokens, size_t n) {
  Json* cur = &doc;
  for (size_t i = 0; i < n; ++i) {
    if (cur->is_object()) {
      auto it = cur->find(tokens[i]);
      if (it == cur->end()) {
        return bad_request("JSON patch: path \"" + join_pointer(tokens, i + 1) + "\" not found");
      }
      cur = &*it;
    } else if (cur->is_array()) {
      auto idx = array_index(tokens[i]);
      if (!idx || *idx >= cur->size()) {
        return bad_request("JSON patch: path \"" + join_pointer(tokens, i + 1) + "\" not found");
      }
      cur = &(*cur)[*idx];
    } else {
      return bad_request("JSON patch: path \"" + join_pointer(tokens, i + 1) + "\" not found");
    }
  }
  return cur;
}

Status json_patch_add(Json& doc, const std::vector<std::string>& tokens, Json value) {
  if (tokens.empty()) {
    doc = std::move(value);
    return Status::ok();
  }
  auto parent = walk(doc, tokens, tokens.size() - 1);
  if (!parent) return parent.status();
  Json& p = **parent;
  const std::string& last = tokens.back();
  if (p.is_object()) {
    p[last] = std::move(value);
    return Status::ok();
  }
  if (p.is_array()) {
    if (last == "-") {
      p.push_back(std::move(value));
      return Status::ok();
    }
    auto idx = array_index(last);
    if (!idx || *idx > p.size()) {
      return bad_request("JSON patch: index \"" + join_pointer(tokens, tokens.size()) +
                         "\" out of range");
    }
    p.insert(p.begin() + static_cast<std::ptrdiff_t>(*idx), std::move(value));
    return Status::ok();
  }
  return bad_request("JSON patch: parent of \"" + join_pointer(tokens, tokens.size()) +
                     "\" is not an object or array");
}

Result<Json> json_patch_remove(Json& doc, const std::vector<std::string>& tokens) {
  if (tokens.empty()) {
    Json old = std::move(doc);
    doc = nullptr;
    return old;
  }
  auto parent = walk(doc, tokens, tokens.size() - 1);
  if (!parent) return parent.status();
  Json& p = **parent;
  const std::string& last = tokens.back();
  if (p.is_object()) {
    auto it = p.find(last);
    if (it == p.end()) {
      return bad_request("JSON patch: path \"" + join_pointer(tokens, tokens.size()) +
                         "\" not found");
    }
    Json old = std::move(*it);
    p.erase(it);
    return old;
  }
  if (p.is_array()) {
    auto idx = array_index(last);
    if (!idx || *idx >= p.size()) {
      return bad_request("JSON patch: path \"" + join_pointer(tokens, tokens.size()) +
                         "\" not found");
    }
    Json old = std::move(p[*idx]);
    p.erase(*idx);
    return old;
  }
  return bad_request("JSON patch: path \"" + join_pointer(tokens, tokens.size()) +
                     "\" not found");
}

Result<Json> op_value(const Json& op, size_t i) {
  auto it = op.find("value");
  if (it == op.end()) {
    return bad_request("JSON patch: operation " + std::to_string(i) + " needs a 'value'");
  }
  return *it;
}

// ------------------------------------------------------ strategic merge patch

enum class ListStrategy { kReplace, kMergeByKey, kPrimitiveUnion };
struct ListRule {
  ListStrategy strategy = ListStrategy::kReplace;
  std::string key;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Rules for a PodSpec-relative path ("spec.containers.env").
std::optional<ListRule> pod_rule(const std::string& p) {
  static const char* const kContainerLists[] = {"spec.containers", "spec.initContainers",
                                                "spec.ephemeralContainers"};
  for (const char* c : kContainerLists) {
    std::string base = c;
    if (p == base) return ListRule{ListStrategy::kMergeByKey, "name"};
    if (p == base + ".ports") return ListRule{ListStrategy::kMergeByKey, "containerPort"};
    if (p == base + ".env") return ListRule{ListStrategy::kMergeByKey, "name"};
    if (p == base + ".volumeMounts") return ListRule{ListStrategy::kMergeByKey, "mountPath"};
    if (p == base + ".volumeDevices") return ListRule{ListStrategy::kMergeByKey, "devicePath"};
    if (p == base + ".resizePolicy") return ListRule{ListStrategy::kMergeByKey, "resourceName"};
  }
  if (p == "spec.volumes" || p == "spec.imagePullSecrets" || p == "spec.resourceClaims" ||
      p == "spec.schedulingGates") {
    return ListRule{ListStrategy::kMergeByKey, "name"};
  }
  if (p == "spec.hostAliases") return ListRule{ListStrategy::kMergeByKey, "ip"};
  if (p == "spec.topologySpreadConstraints") {
    return ListRule{ListStrategy::kMergeByKey, "topologyKey"};
  }
  if (p == "status.podIPs" || p == "status.hostIPs") {
    return ListRule{ListStrategy::kMergeByKey, "ip"};
  }
  return std::nullopt;
}

// The list rule for a field path (list elements add no path component).
ListRule list_rule(const std::string& kind, const std::string& path) {
  // Object metadata, at the top or inside a template.
  if (path == "metadata.ownerReferences" || ends_with(path, ".metadata.ownerReferences")) {
    return {ListStrategy::kMergeByKey, "uid"};
  }
  if (path == "metadata.finalizers" || ends_with(path, ".metadata.finalizers")) {
    return {ListStrategy::kPrimitiveUnion, ""};
  }
  if (path == "conditions" || ends_with(path, ".conditions")) {
    return {ListStrategy::kMergeByKey, "type"};
  }
  if (kind == "Pod") {
    if (auto r = pod_rule(path)) return *r;
  } else if (kind == "ReplicaSet" || kind == "Deployment" || kind == "Job" ||
             kind == "DaemonSet" || kind == "StatefulSet" || kind == "ReplicationController" ||
             kind == "PodTemplate" || kind == "CronJob") {
    static const char* const kPrefixes[] = {"spec.template.", "template.",
                                            "spec.jobTemplate.spec.template."};
    for (const char* prefix : kPrefixes) {
      std::string pre = prefix;
      if (path.rfind(pre, 0) == 0) {
        if (auto r = pod_rule(path.substr(pre.size()))) return *r;
      }
    }
  } else if (kind == "Service") {
    if (path == "spec.ports") return {ListStrategy::kMergeByKey, "port"};
  } else if (kind == "Node") {
    if (path == "status.addresses") return {ListStrategy::kMergeByKey, "type"};
    if (path == "spec.podCIDRs") return {ListStrategy::kPrimitiveUnion, ""};
  } else if (kind == "Endpoints") {
    // subsets have no merge key in Kubernetes: replaced.
  }
  return {};
}

const char kPatchDirective[] = "$patch";
const char kRetainKeys[] = "$retainKeys";
const std::string kSetOrderPrefix = "$setElementOrder/";
const std::string kDeletePrimitivePrefix = "$deleteFromPrimitiveList/";

class StrategicMerger {
 public:
  explicit StrategicMerger(std::string kind) : kind_(std::move(kind)) {}

  // Returns the merged map, or nullopt when the patch deletes the map.
  Result<std::optional<Json>> merge_map(const Json& original, const Json& patch,
                                        const std::string& path, int depth) {
    if (depth > kMaxDepth) return too_deep();
    Json result = original.is_object() ? original : Json::object();
    if (auto d = patch.find(kPatchDirective); d != patch.end()) {
      if (!d->is_string()) return bad_request("strategic merge patch: $patch must be a string");
      const auto& directive = d->get_ref<const std::string&>();
      if (directive == "delete") return std::optional<Json>();
      if (directive == "replace") {
        Json stripped = patch;
        stripped.erase(kPatchDirective);
        auto r = merge_map(Json::object(), stripped, path, depth + 1);
        if (!r) return r.status();
        return r;
      }
      if (directive != "merge") {
        return bad_request("strategic merge patch: unknown $patch directive \"" + directive +
                           "\"");
      }
    }
    // Deletions from primitive lists apply to the original before merging.
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (it.key().rfind(kDeletePrimitivePrefix, 0) != 0) continue;
      const std::string field = it.key().substr(kDeletePrimitivePrefix.size());
      if (!it.value().is_array()) {
        return bad_request("strategic merge patch: " + it.key() + " must be a list");
      }
      auto target = result.find(field);
      if (target == result.end() || !target->is_array()) continue;
      Json kept = Json::array();
      for (const auto& v : *target) {
        if (std::find(it.value().begin(), it.value().end(), v) == it.value().end()) {
          kept.push_back(v);
        }
      }
      *target = std::move(kept);
    }
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      const std::string& key = it.key();
      const Json& value = it.value();
      if (key == kPatchDirective || key == kRetainKeys ||
          key.rfind(kSetOrderPrefix, 0) == 0 || key.rfind(kDeletePrimitivePrefix, 0) == 0) {
        continue;
      }
      if (value.is_null()) {
        result.erase(key);
        continue;
      }
      const std::string child = path.empty() ? key : path + "." + key;
      auto cur = result.find(key);
      const Json& orig = cur == result.end() ? empty_ : *cur;
      if (value.is_object()) {
        auto merged = merge_map(orig.is_object() ? orig : Json::object(), value, child, depth + 1);
        if (!merged) return merged.status();
        if (merged->has_value()) {
          result[key] = std::move(**merged);
        } else {
          result.erase(key);
        }
      } else if (value.is_array()) {
        auto merged = merge_list(orig.is_array() ? orig : Json::array(), value, child, depth + 1);
        if (!merged) return merged.status();
        result[key] = std::move(*merged);
      } else {
        result[key] = value;
      }
    }
    // Ordering directives, also for lists the patch did not otherwise touch.
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (it.key().rfind(kSetOrderPrefix, 0) != 0) continue;
      const std::string field = it.key().substr(kSetOrderPrefix.size());
      if (!it.value().is_array()) {
        return bad_request("strategic merge patch: " + it.key() + " must be a list");
      }
      auto target = result.find(field);
      if (target == result.end() || !target->is_array()) continue;
      const std::string child = path.empty() ? field : path + "." + field;
      *target = apply_order(*target, it.value(), list_rule(kind_, child));
    }
    if (auto rk = patch.find(kRetainKeys); rk != patch.end()) {
      if (!rk->is_array()) return bad_request("strategic merge patch: $retainKeys must be a list");
      Json kept = Json::object();
      for (auto it = result.begin(); it != result.end(); ++it) {
        if (std::find(rk->begin(), rk->end(), Json(it.key())) != rk->end()) {
          kept[it.key()] = it.value();
        }
      }
      result = std::move(kept);
    }
    return std::optional<Json>(std::move(result));
  }

  Result<Json> merge_list(const Json& original, const Json& patch, const std::string& path,
                          int depth) {
    if (depth > kMaxDepth) return too_deep();
    const ListRule rule = list_rule(kind_, path);
    // {"$patch": "replace"} as an element replaces the whole list.
    bool replace = false;
    for (const auto& e : patch) {
      if (e.is_object() && e.size() == 1 && e.contains(kPatchDirective) &&
          e[kPatchDirective] == "replace") {
        replace = true;
      }
    }
    if (replace || rule.strategy == ListStrategy::kReplace) {
      Json out = Json::array();
      for (const auto& e : patch) {
        if (e.is_object()) {
          if (e.size() == 1 && e.contains(kPatchDirective)) continue;
          if (auto d = e.find(kPatchDirective); d != e.end() && *d == "delete") continue;
          auto m = merge_map(Json::object(), e, path, depth + 1);
          if (!m) return m.status();
          if (m->has_value()) out.push_back(std::move(**m));
        } else {
          out.push_back(e);
        }
      }
      return out;
    }
    Json result = original;
    if (rule.strategy == ListStrategy::kPrimitiveUnion) {
      for (const auto& e : patch) {
        if (std::find(result.begin(), result.end(), e) == result.end()) result.push_back(e);
      }
      return result;
    }
    const std::string& mkey = rule.key;
    for (const auto& e : patch) {
      if (!e.is_object()) {
        return bad_request("strategic merge patch: elements of " + path +
                           " must be objects (merge key \"" + mkey + "\")");
      }
      auto kv = e.find(mkey);
      bool is_delete = false;
      if (auto d = e.find(kPatchDirective); d != e.end()) {
        if (*d == "delete") {
          is_delete = true;
        } else if (*d != "merge" && *d != "replace") {
          return bad_request("strategic merge patch: unknown $patch directive in " + path);
        }
      }
      if (kv == e.end()) {
        if (is_delete) continue;
        return bad_request("strategic merge patch: element of " + path +
                           " lacks its merge key \"" + mkey + "\"");
      }
      auto same = [&](const Json& o) {
        if (!o.is_object()) return false;
        auto ok = o.find(mkey);
        return ok != o.end() && *ok == *kv;
      };
      if (is_delete) {
        Json kept = Json::array();
        for (const auto& o : result) {
          if (!same(o)) kept.push_back(o);
        }
        result = std::move(kept);
        continue;
      }
      auto found = std::find_if(result.begin(), result.end(), same);
      if (found != result.end()) {
        auto m = merge_map(*found, e, path, depth + 1);
        if (!m) return m.status();
        if (m->has_value()) {
          *found = std::move(**m);
        } else {
          result.erase(found);
        }
      } else {
        auto m = merge_map(Json::object(), e, path, depth + 1);
        if (!m) return m.status();
        if (m->has_value()) result.push_back(std::move(**m));
      }
    }
    return result;
  }

 private:
  // Orders list elements as `order` says; elements it does not name follow,
  // in their current order.
  static Json apply_order(const Json& list, const Json& order, const ListRule& rule) {
    auto id = [&](const Json& e) -> Json {
      if (rule.strategy == ListStrategy::kMergeByKey && e.is_object()) {
        auto k = e.find(rule.key);
        return k == e.end() ? Json() : *k;
      }
      return e;
    };
    std::vector<bool> used(list.size(), false);
    Json out = Json::array();
    for (const auto& o : order) {
      Json want = id(o);
      if (want.is_null()) continue;
      for (size_t i = 0; i < list.size(); ++i) {
        if (!used[i] && id(list[i]) == want) {
          used[i] = true;
          out.push_back(list[i]);
          break;
        }
      }
    }
    for (size_t i = 0; i < list.size(); ++i) {
      if (!used[i]) out.push_back(list[i]);
    }
    return out;
  }

  std::string kind_;
  const Json empty_;
};

}  // namespace

Result<Json> apply_merge_patch(const Json& doc, const Json& patch) {
  try {
    Json out = doc;
    if (Status s = merge_into(out, patch, 0); !s) return s;
    return out;
  } catch (const std::exception& e) {
    return bad_request(std::string("merge patch: ") + e.what());
  }
}

Result<Json> apply_json_patch(const Json& doc, const Json& patch) {
  if (!patch.is_array()) return bad_request("JSON patch must be a list of operations");
  try {
    Json out = doc;
    size_t copied = 0;
    for (size_t i = 0; i < patch.size(); ++i) {
      const Json& op = patch[i];
      const std::string where = "JSON patch operation " + std::to_string(i);
      if (!op.is_object()) return bad_request(where + " must be an object");
      auto name_it = op.find("op");
      if (name_it == op.end() || !name_it->is_string()) return bad_request(where + " lacks 'op'");
      const auto& name = name_it->get_ref<const std::string&>();
      auto path_it = op.find("path");
      if (path_it == op.end()) return bad_request(where + " lacks 'path'");
      auto path = parse_pointer(*path_it, "path");
      if (!path) return path.status();
      if (name == "add") {
        auto v = op_value(op, i);
        if (!v) return v.status();
        if (Status s = check_placed_depth(*v, path->size(), where); !s) return s;
        if (Status s = json_patch_add(out, *path, std::move(*v)); !s) return s;
      } else if (name == "remove") {
        auto r = json_patch_remove(out, *path);
        if (!r) return r.status();
      } else if (name == "replace") {
        auto v = op_value(op, i);
        if (!v) return v.status();
        if (Status s = check_placed_depth(*v, path->size(), where); !s) return s;
        auto target = walk(out, *path, path->size());
        if (!target) return target.status();
        **target = std::move(*v);
      } else if (name == "move" || name == "copy") {
        auto from_it = op.find("from");
        if (from_it == op.end()) return bad_request(where + " lacks 'from'");
        auto from = parse_pointer(*from_it, "from");
        if (!from) return from.status();
        if (name == "move") {
          if (*from == *path) continue;
          if (path->size() > from->size() &&
              std::equal(from->begin(), from->end(), path->begin())) {
            return bad_request(where + ": cannot move a value into itself");
          }
          auto v = json_patch_remove(out, *from);
          if (!v) return v.status();
          if (Status s = check_placed_depth(*v, path->size(), where); !s) return s;
          if (Status s = json_patch_add(out, *path, std::move(*v)); !s) return s;
        } else {
          auto src = walk(out, *from, from->size());
          if (!src) return src.status();
          if (Status s = check_placed_depth(**src, path->size(), where); !s) return s;
          copied += approx_bytes(**src);
          if (copied > kMaxCopiedBytes) {
            return bad_request(where + ": the patch copies more than " +
                               std::to_string(kMaxCopiedBytes) + " bytes in total");
          }
          Json v = **src;
          if (Status s = json_patch_add(out, *path, std::move(v)); !s) return s;
        }
      } else if (name == "test") {
        auto v = op_value(op, i);
        if (!v) return v.status();
        auto target = walk(out, *path, path->size());
        if (!target || **target != *v) {
          return invalid(where + ": test failed at \"" + path_it->get<std::string>() + "\"");
        }
      } else {
        return bad_request(where + ": unknown op \"" + name + "\"");
      }
    }
    return out;
  } catch (const std::exception& e) {
    return bad_request(std::string("JSON patch: ") + e.what());
  }
}

Result<Json> apply_strategic_merge_patch(const Json& doc, const Json& patch,
                                         const std::string& kind) {
  if (!patch.is_object()) return bad_request("strategic merge patch must be an object");
  try {
    StrategicMerger merger(kind);
    auto r = merger.merge_map(doc.is_object() ? doc : Json::object(), patch, "", 0);
    if (!r) return r.status();
    if (!r->has_value()) return Json::object();
    return std::move(**r);
  } catch (const std::exception& e) {
    return bad_request(std::string("strategic merge patch: ") + e.what());
  }
}

}  // namespace minik8s::api
