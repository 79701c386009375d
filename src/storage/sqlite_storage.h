// SqliteStorage: the embedded, default Storage backend (kine-shaped SQLite).
//
// Layout: one append-only table
//   kine(id INTEGER PRIMARY KEY AUTOINCREMENT  -- the revision
//        name, created, deleted, create_revision, prev_revision, lease,
//        value, old_value, UNIQUE(name, prev_revision))
// plus an index on (name, id) and a `meta` table holding the compacted
// revision. Every write inserts one row; the latest row of a name is its
// current value, a row with deleted=1 is a tombstone (its value is the last
// value before the delete). prev_revision links a row to the row it
// superseded; the UNIQUE constraint makes a second writer that read the same
// predecessor fail (kConflict) instead of silently losing an update.
// old_value is kept for kine-compatibility of the schema but not written: a
// watch event's previous value is read through prev_revision, and compaction
// keeps every row that a retained event can still point at.
//
// Durability: WAL mode. synchronous=NORMAL (the default) makes every
// acknowledged write survive a crash or kill -9 of the process; power-loss
// safety needs options.synchronous_full. A write returns only after the
// transaction holding it has committed.
//
// Writes: group commit. Concurrent writers queue their operation; one of them
// becomes the leader, applies the whole queue in one transaction on the single
// write connection (in queue order, each operation seeing the previous ones),
// commits, then publishes the events and wakes exactly the finished writers
// and the next leader. A logically failed operation (exists, not found,
// conflict) inserts nothing and does not affect the others in its batch. Revisions are assigned under that
// leadership, so they are dense, strictly increasing, never reused (also after
// a restart and after compaction: AUTOINCREMENT) and commit order equals
// revision order.
//
// Reads use a pool of read connections (WAL snapshots), so they never wait for
// writers. list() runs in one read transaction and returns the revision of the
// snapshot it read.
//
// Watch: committed events go into an in-memory ring of recent events
// (contiguous revisions). A stream serves from the ring while its position is
// inside it and otherwise catches up from the table (rows id > position), so
// a stream that falls behind the ring does not fail as long as its position
// is not compacted; then it ends with kGone.
//
// Compaction: a background thread (every options.compaction_interval, 0 =
// off) compacts to min(current - compaction_keep_revisions, the newest
// revision older than compaction_keep_age). The compacted revision is stored
// in `meta` before any row is deleted, and rows are deleted in small batches,
// each its own write transaction, so writers wait at most one batch. A row is
// deleted iff id <= target and (it is a tombstone or a newer row of the same
// name with id <= target exists): the state as of every revision >= target
// stays readable and current values are never deleted. A pass only scans the
// rows written since the previous compacted revision (and their
// predecessors), not the whole table. The same thread runs
// passive WAL checkpoints so that commits never pay for one.
//
// Ownership: one SqliteStorage per database file at a time (revisions are
// assigned in memory); open() takes an flock on "<path>.lock" and a second
// open fails with kUnavailable until the first store is destroyed.
//
// Thread safety: all methods are thread-safe. Streams may outlive the store;
// they then end with kUnavailable. Errors: see storage.h; SQLite failures are
// kInternal with SQLite's message.
#pragma once

#include <memory>

#include "minik8s/storage/storage.h"

namespace minik8s::storage {

class SqliteStorage final : public Storage {
 public:
  static Result<std::unique_ptr<SqliteStorage>> open(const SqliteOptions& options);
  ~SqliteStorage() override;

  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;

  Result<int64_t> create(const std::string& key, const std::string& value) override;
  Result<KeyValue> get(const std::string& key) override;
  Result<ListResult> list(const std::string& prefix, const std::string& start_after,
                          int64_t limit, int64_t revision_at = 0) override;
  Result<int64_t> update(const std::string& key, const std::string& value,
                         int64_t expected_mod_revision) override;
  Result<int64_t> remove(const std::string& key, int64_t expected_mod_revision) override;
  Result<std::unique_ptr<WatchStream>> watch(const std::string& prefix,
                                             int64_t after_revision) override;
  Status compact(int64_t revision) override;
  int64_t current_revision() override;
  int64_t compacted_revision() override;

  // Runs the background compactor's policy once (keep_revisions / keep_age)
  // and returns the revision compacted to (unchanged if nothing to do).
  Result<int64_t> compact_by_policy();
  // Number of rows in the table (history included); for tests and metrics.
  Result<int64_t> row_count();

  struct Core;

 private:
  explicit SqliteStorage(std::shared_ptr<Core> core);
  void maintenance_loop();

  std::shared_ptr<Core> core_;
};

}  // namespace minik8s::storage
