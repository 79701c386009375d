// BlobRefs: the reference-counting half of a kind whose objects name blobs in
// a content-addressed store (Function → the code store, GPUJob → the blob
// store). Parametrized by which hashes an object names (names_of); the kind's
// strategy keeps its own rules for which hashes to check and how to word the
// 422.
//
// The protocol (kinds.h, FunctionStrategy / GpuJobStrategy):
//   admit()   when the write names a hash that must exist: begin_check(hold,
//             keep) takes the collection lock into the caller's hold (held
//             until the write is stored, so no collection can remove the
//             blob between the check and the write), runs the collection of
//             the hashes earlier updates dropped (sparing keep), then the
//             strategy calls exists().
//   release() after a write: dropped(old, now) — after an update the caller
//             may still hold the lock, so the hashes only wait in pending for
//             the next collection; after a delete they are collected at once.
// A collection lists every object of the kind and removes the candidates none
// names. When the list fails the candidates go back to pending. Errors
// removing blobs are logged, never returned.
// Thread-safe: gc_mu_ serializes checks and collections; pending_mu_ guards
// pending_ (never held while taking gc_mu_).
#pragma once

#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>

#include "../kind_strategy.h"
#include "minik8s/apiserver/code_store.h"
#include "minik8s/storage/storage.h"

namespace minik8s::apiserver {

class BlobRefs {
 public:
  using NamesOf = std::set<std::string> (*)(const nlohmann::json& obj);

  // api_version/kind: the kind whose objects are listed; store_name ("code
  // store") for log lines.
  BlobRefs(storage::Storage& store, CodeStore blobs, std::string api_version, std::string kind,
           std::string store_name, NamesOf names_of)
      : store_(store),
        blobs_(std::move(blobs)),
        api_version_(std::move(api_version)),
        kind_(std::move(kind)),
        store_name_(std::move(store_name)),
        names_of_(names_of) {}

  // admit(): takes the lock into hold and collects what updates dropped
  // (except keep).
  void begin_check(AdmissionHold& hold, const std::set<std::string>& keep);
  bool exists(const std::string& hash) const { return blobs_.exists(hash); }
  // release(): the hashes old names and now (null after a delete) does not.
  void dropped(const nlohmann::json& old, const nlohmann::json* now);

 private:
  // Removes the candidates (but keep) that no stored object names. Needs gc_mu_.
  void collect(std::set<std::string> candidates, const std::set<std::string>& keep);

  storage::Storage& store_;
  const CodeStore blobs_;
  const std::string api_version_;
  const std::string kind_;
  const std::string store_name_;
  const NamesOf names_of_;
  std::mutex gc_mu_;  // held across a hash check and its write, and across a collection
  std::mutex pending_mu_;
  std::set<std::string> pending_;  // guarded by pending_mu_: hashes updates dropped
};

}  // namespace minik8s::apiserver
