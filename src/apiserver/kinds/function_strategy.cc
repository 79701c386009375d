// Function (serverless.minik8s.io/v1): code-store admission and blob
// collection (kinds.h).
#include "../request.h"
#include "kinds.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string code_hash(const json& obj) {
  return api::sfield(api::field(api::field(obj, "spec"), "code"), "hash");
}

// The blob a Function names (none for inline code).
std::set<std::string> blobs_of(const json& obj) {
  std::string h = code_hash(obj);
  if (h.empty()) return {};
  return {h};
}

bool terminating(const json& obj) {
  return api::field(obj, "metadata").contains("deletionTimestamp");
}

}  // namespace

FunctionStrategy::FunctionStrategy(storage::Storage& store, const std::string& code_dir)
    : refs_(store, CodeStore(code_dir), "serverless.minik8s.io/v1", "Function", "code store",
            &blobs_of),
      enabled_(!code_dir.empty()) {}

Status FunctionStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs,
                               AdmissionHold& hold) {
  if (!enabled_) return Status::ok();
  const std::string hash = code_hash(obj);
  // Nothing to check for inline code, an unchanged hash (status writes of a
  // Function whose blob went missing must still pass) or a Function on its
  // way out.
  if (hash.empty() || terminating(obj) || (old && code_hash(*old) == hash)) return Status::ok();
  refs_.begin_check(hold, {hash});
  if (!refs_.exists(hash)) {
    errs.push_back({"spec.code.hash",
                    "Not found: \"" + hash +
                        "\": no such upload in the code store (upload the code first: POST " +
                        kCodeApiPath + ")"});
  }
  return Status::ok();
}

void FunctionStrategy::release(const json& old, const json* now) {
  if (enabled_) refs_.dropped(old, now);
}

}  // namespace minik8s::apiserver
