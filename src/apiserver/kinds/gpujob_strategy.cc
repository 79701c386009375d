// GPUJob (minik8s.io/v1): the finalizer at create, blob-store admission and
// blob collection (kinds.h; docs/gpu.md "GPUJob", "Blob store").
#include <spdlog/spdlog.h>

#include <algorithm>

#include "../request.h"
#include "kinds.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string source_hash(const json& obj) {
  return api::sfield(api::field(api::field(obj, "spec"), "source"), "hash");
}

std::string result_hash(const json& obj) {
  return api::sfield(api::field(api::field(obj, "status"), "result"), "hash");
}

// The blobs a GPUJob names.
std::set<std::string> blobs_of(const json& obj) {
  std::set<std::string> out;
  for (const std::string& h : {source_hash(obj), result_hash(obj)}) {
    if (!h.empty()) out.insert(h);
  }
  return out;
}

bool terminating(const json& obj) {
  return api::field(obj, "metadata").contains("deletionTimestamp");
}

}  // namespace

void GpuJobStrategy::prepare_for_create(json& obj) {
  if (!obj.is_object()) return;
  json& meta = obj["metadata"];
  if (!meta.is_object()) return;
  json& fins = meta["finalizers"];
  if (!fins.is_array()) fins = json::array();
  if (std::find(fins.begin(), fins.end(), kGpuJobFinalizer) == fins.end())
    fins.push_back(kGpuJobFinalizer);
}

Status GpuJobStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs,
                             AdmissionHold& hold) {
  if (!enabled_) return Status::ok();
  // Only what is new is checked: status writes of a job whose blob went
  // missing must still pass, and so must a job on its way out.
  const std::string source = source_hash(obj);
  const std::string result = result_hash(obj);
  const bool check_source =
      !source.empty() && !terminating(obj) && !(old && source_hash(*old) == source);
  const bool check_result = !result.empty() && !(old && result_hash(*old) == result);
  if (!check_source && !check_result) return Status::ok();
  hold = AdmissionHold(gc_mu_);
  std::set<std::string> pending;
  {
    std::lock_guard<std::mutex> l(pending_mu_);
    pending.swap(pending_);
  }
  collect(std::move(pending), {source, result});
  auto missing = [&](const std::string& field, const std::string& hash) {
    errs.push_back({field, "Not found: \"" + hash +
                               "\": no such blob in the blob store (upload it first: POST " +
                               kBlobApiPath + ")"});
  };
  if (check_source && !blobs_.exists(source)) missing("spec.source.hash", source);
  if (check_result && !blobs_.exists(result)) missing("status.result.hash", result);
  return Status::ok();
}

void GpuJobStrategy::release(const json& old, const json* now) {
  if (!enabled_) return;
  std::set<std::string> dropped = blobs_of(old);
  if (dropped.empty()) return;
  if (now) {
    // An update: the caller may still hold admit()'s lock (gc_mu_), so the
    // dropped hashes wait for the next collection.
    for (const std::string& h : blobs_of(*now)) dropped.erase(h);
    if (dropped.empty()) return;
    std::lock_guard<std::mutex> l(pending_mu_);
    pending_.insert(dropped.begin(), dropped.end());
    return;
  }
  std::lock_guard<std::mutex> gc(gc_mu_);
  {
    std::lock_guard<std::mutex> l(pending_mu_);
    dropped.insert(pending_.begin(), pending_.end());
    pending_.clear();
  }
  collect(std::move(dropped), {});
}

void GpuJobStrategy::collect(std::set<std::string> candidates, const std::set<std::string>& keep) {
  for (const std::string& k : keep) candidates.erase(k);
  if (candidates.empty()) return;
  const api::ResourceType* jobs = api::find_kind("minik8s.io/v1", "GPUJob");
  auto list = jobs ? store_.list(collection_prefix(*jobs, ""), "", 0)
                   : Result<storage::ListResult>(internal_error("no GPUJob kind"));
  if (!list) {
    spdlog::warn(
        "apiserver: blob store: cannot list GPUJobs to collect unused blobs ({}); will retry",
        list.status().message());
    std::lock_guard<std::mutex> l(pending_mu_);
    pending_.insert(candidates.begin(), candidates.end());
    return;
  }
  for (const auto& kv : list->items) {
    auto decoded = api::parse_json(kv.value);
    if (!decoded) continue;
    for (const std::string& h : blobs_of(*decoded)) candidates.erase(h);
    if (candidates.empty()) return;
  }
  for (const std::string& h : candidates) {
    if (Status st = blobs_.remove(h); !st.is_ok()) {
      spdlog::error("apiserver: blob store: cannot remove unused {}: {}", h, st.message());
    } else {
      spdlog::info("apiserver: blob store: removed {} (no GPUJob names it)", h);
    }
  }
}

}  // namespace minik8s::apiserver
