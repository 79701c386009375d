// Function (serverless.minik8s.io/v1): code-store admission and blob
// collection (kinds.h).
#include <spdlog/spdlog.h>

#include "../request.h"
#include "kinds.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string code_hash(const json& obj) {
  return api::sfield(api::field(api::field(obj, "spec"), "code"), "hash");
}

bool terminating(const json& obj) {
  return api::field(obj, "metadata").contains("deletionTimestamp");
}

}  // namespace

Status FunctionStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs,
                               AdmissionHold& hold) {
  if (!enabled_) return Status::ok();
  const std::string hash = code_hash(obj);
  // Nothing to check for inline code, an unchanged hash (status writes of a
  // Function whose blob went missing must still pass) or a Function on its
  // way out.
  if (hash.empty() || terminating(obj) || (old && code_hash(*old) == hash)) return Status::ok();
  hold = AdmissionHold(gc_mu_);
  std::set<std::string> pending;
  {
    std::lock_guard<std::mutex> l(pending_mu_);
    pending.swap(pending_);
  }
  collect(std::move(pending), hash);
  if (!code_.exists(hash)) {
    errs.push_back({"spec.code.hash",
                    "Not found: \"" + hash +
                        "\": no such upload in the code store (upload the code first: POST " +
                        kCodeApiPath + ")"});
  }
  return Status::ok();
}

void FunctionStrategy::release(const json& old, const json* now) {
  if (!enabled_) return;
  const std::string hash = code_hash(old);
  if (hash.empty()) return;
  if (now) {
    // An update: the caller may still hold admit()'s lock (gc_mu_), so the
    // dropped hash waits for the next collection.
    if (code_hash(*now) != hash) {
      std::lock_guard<std::mutex> l(pending_mu_);
      pending_.insert(hash);
    }
    return;
  }
  std::lock_guard<std::mutex> gc(gc_mu_);
  std::set<std::string> candidates;
  {
    std::lock_guard<std::mutex> l(pending_mu_);
    candidates.swap(pending_);
  }
  candidates.insert(hash);
  collect(std::move(candidates), "");
}

void FunctionStrategy::collect(std::set<std::string> candidates, const std::string& keep) {
  candidates.erase(keep);
  if (candidates.empty()) return;
  const api::ResourceType* functions = api::find_kind("serverless.minik8s.io/v1", "Function");
  auto list = functions ? store_.list(collection_prefix(*functions, ""), "", 0)
                        : Result<storage::ListResult>(internal_error("no Function kind"));
  if (!list) {
    spdlog::warn(
        "apiserver: code store: cannot list Functions to collect unused code ({}); "
        "will retry",
        list.status().message());
    std::lock_guard<std::mutex> l(pending_mu_);
    pending_.insert(candidates.begin(), candidates.end());
    return;
  }
  for (const auto& kv : list->items) {
    auto decoded = api::parse_json(kv.value);
    if (!decoded) continue;
    candidates.erase(code_hash(*decoded));
    if (candidates.empty()) return;
  }
  for (const std::string& h : candidates) {
    if (Status st = code_.remove(h); !st.is_ok()) {
      spdlog::error("apiserver: code store: cannot remove unused {}: {}", h, st.message());
    } else {
      spdlog::info("apiserver: code store: removed {} (no Function uses it)", h);
    }
  }
}

}  // namespace minik8s::apiserver
