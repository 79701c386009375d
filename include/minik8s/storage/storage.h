// Storage: the versioned key-value store under the API server.
//
// Semantics (the etcd v3 / kine model, checked by storage_conformance.h):
// - Every successful write (create, update, delete) is assigned the next value
//   of one global, strictly increasing int64 revision. A key's value carries
//   the revision that created it (create_revision) and the revision of its
//   last write (mod_revision).
// - update() and remove() are compare-and-swap on mod_revision: if the key's
//   current mod_revision differs from the expected one the write fails with
//   kConflict and changes nothing. Exactly one of several racing writers with
//   the same expected revision wins.
// - watch(prefix, rev) delivers every event with revision > rev whose key
//   starts with prefix, in revision order, with no gaps, then follows new
//   writes. A rev older than the compaction window fails with kGone.
//   rev is literal: 0 means "from the beginning of history" (kGone once
//   anything was compacted); to follow only new writes pass
//   current_revision() or the revision a list() returned.
// - compact(rev) drops history at or below rev (not the current values).
//   Afterwards the state as of any revision >= rev stays readable (list with
//   revision_at, watch after rev); older revisions answer kGone.
// - A failed write (kAlreadyExists, kNotFound, kConflict) changes nothing and
//   consumes no revision.
//
// Thread safety: every method may be called from any thread concurrently.
// Errors: kNotFound (no such key), kAlreadyExists (create of a live key),
// kConflict (CAS lost), kGone (compacted revision), kInvalid (empty key,
// negative argument), kBadRequest (list/compact at a future revision),
// kUnavailable (a watch stream whose store was closed), kInternal (I/O).
// The conformance suite is test/storage/storage_conformance.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::storage {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct Event {
  enum class Type { kCreated, kUpdated, kDeleted };
  Type type = Type::kCreated;
  int64_t revision = 0;   // the revision of this write
  KeyValue kv;            // the new value; for kDeleted, the last value before deletion
                          // with mod_revision = the delete's revision
  std::optional<KeyValue> prev;  // the value before an update/delete
};

struct ListResult {
  std::vector<KeyValue> items;  // sorted by key
  int64_t revision = 0;         // the store revision the list was read at
  bool more = false;            // true when limit cut the list short
};

// A stream of watch events. next() blocks until an event arrives, the
// deadline passes (returns std::nullopt with ok status) or the stream is
// closed/fails (returns std::nullopt and the error in status()).
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual std::optional<Event> next(std::chrono::milliseconds timeout) = 0;
  // The error that ended the stream, if any (kGone when it fell behind compaction).
  virtual Status status() const = 0;
  // Ends the stream; a blocked next() returns promptly. Idempotent.
  virtual void close() = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Creates key; kAlreadyExists if it exists. Returns the new revision.
  virtual Result<int64_t> create(const std::string& key, const std::string& value) = 0;
  virtual Result<KeyValue> get(const std::string& key) = 0;
  // Keys with the prefix, sorted, starting strictly after start_after (if not
  // empty), at most limit items (0 = no limit). revision_at = 0 reads the
  // latest state; otherwise reads as of that revision (kGone if compacted).
  virtual Result<ListResult> list(const std::string& prefix, const std::string& start_after,
                                  int64_t limit, int64_t revision_at = 0) = 0;
  // CAS on mod_revision. Returns the new revision.
  virtual Result<int64_t> update(const std::string& key, const std::string& value,
                                 int64_t expected_mod_revision) = 0;
  // Deletes key; expected_mod_revision 0 means unconditional. Returns the revision of the delete.
  virtual Result<int64_t> remove(const std::string& key, int64_t expected_mod_revision) = 0;
  virtual Result<std::unique_ptr<WatchStream>> watch(const std::string& prefix,
                                                     int64_t after_revision) = 0;
  // Drops history up to and including revision.
  virtual Status compact(int64_t revision) = 0;
  // Latest assigned revision (0 for an empty store).
  virtual int64_t current_revision() = 0;
  // Oldest revision a watch may still start after (compacted revision).
  virtual int64_t compacted_revision() = 0;
};

struct SqliteOptions {
  std::string path;                     // database file; ":memory:" is not supported
  int64_t compaction_keep_revisions = 10000;
  std::chrono::seconds compaction_keep_age{300};
  std::chrono::milliseconds compaction_interval{5000};  // background compactor period; 0 = off
  bool synchronous_full = false;        // fsync every commit (power-loss safe); default NORMAL
};

// Opens (creating if needed) the SQLite store. The returned object owns a
// background compaction thread that stops on destruction.
Result<std::unique_ptr<Storage>> open_sqlite_storage(const SqliteOptions& options);

}  // namespace minik8s::storage
