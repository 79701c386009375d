// GPUJob (minik8s.io/v1): the finalizer at create, blob-store admission and
// blob collection (kinds.h; docs/gpu.md "GPUJob", "Blob store").
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

GpuJobStrategy::GpuJobStrategy(storage::Storage& store, const std::string& blob_dir)
    : refs_(store, CodeStore(blob_dir, kBlobStoreSpec), "minik8s.io/v1", "GPUJob", "blob store",
            &blobs_of),
      enabled_(!blob_dir.empty()) {}

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
  refs_.begin_check(hold, {source, result});
  auto missing = [&](const std::string& field, const std::string& hash) {
    errs.push_back({field, "Not found: \"" + hash +
                               "\": no such blob in the blob store (upload it first: POST " +
                               kBlobApiPath + ")"});
  };
  if (check_source && !refs_.exists(source)) missing("spec.source.hash", source);
  if (check_result && !refs_.exists(result)) missing("status.result.hash", result);
  return Status::ok();
}

void GpuJobStrategy::release(const json& old, const json* now) {
  if (enabled_) refs_.dropped(old, now);
}

}  // namespace minik8s::apiserver
