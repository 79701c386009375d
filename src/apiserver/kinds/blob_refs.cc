#include "blob_refs.h"

#include <spdlog/spdlog.h>

#include "../request.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

void BlobRefs::begin_check(AdmissionHold& hold, const std::set<std::string>& keep) {
  hold = AdmissionHold(gc_mu_);
  std::set<std::string> pending;
  {
    std::lock_guard<std::mutex> l(pending_mu_);
    pending.swap(pending_);
  }
  collect(std::move(pending), keep);
}

void BlobRefs::dropped(const nlohmann::json& old, const nlohmann::json* now) {
  std::set<std::string> gone = names_of_(old);
  if (gone.empty()) return;
  if (now) {
    // An update: the caller may still hold begin_check()'s lock (gc_mu_), so
    // the dropped hashes wait for the next collection.
    for (const std::string& h : names_of_(*now)) gone.erase(h);
    if (gone.empty()) return;
    std::lock_guard<std::mutex> l(pending_mu_);
    pending_.insert(gone.begin(), gone.end());
    return;
  }
  std::lock_guard<std::mutex> gc(gc_mu_);
  {
    std::lock_guard<std::mutex> l(pending_mu_);
    gone.insert(pending_.begin(), pending_.end());
    pending_.clear();
  }
  collect(std::move(gone), {});
}

void BlobRefs::collect(std::set<std::string> candidates, const std::set<std::string>& keep) {
  for (const std::string& k : keep) candidates.erase(k);
  if (candidates.empty()) return;
  const api::ResourceType* type = api::find_kind(api_version_, kind_);
  auto list = type ? store_.list(collection_prefix(*type, ""), "", 0)
                   : Result<storage::ListResult>(internal_error("no " + kind_ + " kind"));
  if (!list) {
    spdlog::warn("apiserver: {}: cannot list {}s to collect unused blobs ({}); will retry",
                 store_name_, kind_, list.status().message());
    std::lock_guard<std::mutex> l(pending_mu_);
    pending_.insert(candidates.begin(), candidates.end());
    return;
  }
  for (const auto& kv : list->items) {
    auto decoded = api::parse_json(kv.value);
    if (!decoded) continue;
    for (const std::string& h : names_of_(*decoded)) candidates.erase(h);
    if (candidates.empty()) return;
  }
  for (const std::string& h : candidates) {
    if (Status st = blobs_.remove(h); !st.is_ok()) {
      spdlog::error("apiserver: {}: cannot remove unused {}: {}", store_name_, h, st.message());
    } else {
      spdlog::info("apiserver: {}: removed {} (no {} names it)", store_name_, h, kind_);
    }
  }
}

}  // namespace minik8s::apiserver
