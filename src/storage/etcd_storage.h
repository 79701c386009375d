// EtcdStorage: Storage in an etcd v3 cluster, over etcd's gRPC API (KV,
// Watch, Compact). The stubs are generated at build time from the .proto files
// of Debian's golang-etcd-server-dev (proto/CMakeLists.txt, mk_etcd_proto).
//
// Mapping (docs/storage.md "EtcdStorage"):
// - The store revision is etcd's revision; create_revision and mod_revision
//   are etcd's. Keys are stored as given (the API server's /registry/...),
//   behind options.key_prefix when one is set.
// - create: Txn(create_revision(key) == 0 ? Put). update / remove with an
//   expected revision: Txn(mod_revision(key) == expected ? Put|DeleteRange :
//   Range key), the Range telling kNotFound from kConflict. An unconditional
//   remove is DeleteRange (deleted == 0: kNotFound). A failed compare writes
//   nothing, so it consumes no revision.
// - list: Range [max(prefix, start_after + "\0"), prefix end) with limit and
//   revision; get: Range of the key. Reads are linearizable.
// - watch(prefix, after): one gRPC Watch stream per WatchStream, start_revision
//   after + 1, prev_kv on; a create event is a PUT whose create_revision equals
//   its mod_revision; a delete event carries the last value (prev_kv). etcd
//   cancelling the watch with a compact_revision ends the stream with kGone.
// - compact: etcd's Compact; compacting at or below etcd's compacted revision
//   is a no-op. compacted_revision(): etcd does not report it, so it is found
//   as the oldest revision a Range can still read (one call when known).
// - Errors: an etcd that is down or slow gives kUnavailable after at most
//   options.request_timeout (calls fail fast while the connection is down; gRPC
//   reconnects in the background). A compacted revision is kGone, a future one
//   kBadRequest.
//
// Thread safety: all methods are thread-safe (one gRPC channel, shared).
// Watch streams may outlive the store. A background thread compacts by policy
// when options.compaction_interval > 0; it stops on destruction.
#pragma once

#include <memory>
#include <thread>

#include "minik8s/storage/etcd.h"

namespace minik8s::storage {

class EtcdStorage final : public Storage {
 public:
  static Result<std::unique_ptr<EtcdStorage>> open(const EtcdOptions& options);
  ~EtcdStorage() override;

  EtcdStorage(const EtcdStorage&) = delete;
  EtcdStorage& operator=(const EtcdStorage&) = delete;

  Result<int64_t> create(const std::string& key, const std::string& value) override;
  Result<KeyValue> get(const std::string& key) override;
  Result<ListResult> list(const std::string& prefix, const std::string& start_after, int64_t limit,
                          int64_t revision_at = 0) override;
  Result<int64_t> update(const std::string& key, const std::string& value,
                         int64_t expected_mod_revision) override;
  Result<int64_t> remove(const std::string& key, int64_t expected_mod_revision) override;
  Result<std::unique_ptr<WatchStream>> watch(const std::string& prefix,
                                             int64_t after_revision) override;
  Status compact(int64_t revision) override;
  int64_t current_revision() override;
  int64_t compacted_revision() override;

  // Runs the background compactor's policy once; returns the revision
  // compacted to (unchanged when there is nothing to do).
  Result<int64_t> compact_by_policy();

  struct Core;

 private:
  explicit EtcdStorage(std::shared_ptr<Core> core);
  void maintenance_loop();

  std::shared_ptr<Core> core_;
  std::thread maintenance_;  // runs maintenance_loop() when compaction_interval > 0
};

}  // namespace minik8s::storage
