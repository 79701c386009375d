// WatchCache: the apiserver's in-memory copy of every object under
// "/registry/", fed by one storage watch, plus a ring of recent events.
//
// - Objects are kept parsed (for selectors) and serialized (the wire form with
//   metadata.resourceVersion set) so lists are built without re-encoding.
// - The ring of recent events is bounded by count and by bytes (an estimate
//   of both forms of each event's object): the oldest events drop first, and
//   a watch from before the ring's start gets kGone (410), as after a
//   compaction. Large objects therefore shorten the history, not grow memory.
// - Watchers register a key prefix and a start revision; fan-out only pushes
//   shared pointers into each watcher's bounded queue and never blocks: a
//   watcher whose queue overflows is closed (its client re-lists).
// Thread safety: all methods are thread-safe. The cache owns one thread that
// reads the storage watch; stop() (or destruction) joins it and closes all
// watchers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "minik8s/storage/storage.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

// One object version as served: immutable once built, shared across threads.
struct CachedObject {
  std::string key;
  int64_t mod_revision = 0;
  int64_t create_revision = 0;
  nlohmann::json object;  // with metadata.resourceVersion = mod_revision
  std::string wire;       // object.dump()
  size_t bytes = 0;       // estimated memory held: key, wire and parsed object
};
using ObjectPtr = std::shared_ptr<const CachedObject>;

// Builds the served form of a stored value (JSON without resourceVersion).
// Returns null when the stored value does not parse (it is then skipped).
ObjectPtr make_cached_object(const std::string& key, const std::string& value,
                             int64_t mod_revision, int64_t create_revision);

struct CacheEvent {
  storage::Event::Type type = storage::Event::Type::kCreated;
  int64_t revision = 0;
  ObjectPtr object;  // new value; for kDeleted the last value (resourceVersion = delete rev)
  ObjectPtr prev;    // previous value for updates/deletes (may be null)
};

class CacheWatcher {
 public:
  CacheWatcher(std::string prefix, int64_t after, size_t capacity)
      : prefix_(std::move(prefix)), after_(after), capacity_(capacity) {}
  // Waits up to timeout for the next event. nullopt on timeout or when closed
  // (closed() tells which).
  std::optional<CacheEvent> next(std::chrono::milliseconds timeout);
  bool closed() const;
  // True when the watcher was closed because its queue overflowed.
  bool overflowed() const;
  // The highest revision the cache has delivered (or skipped) for this watcher.
  int64_t progress_revision() const;
  // A revision safe for a BOOKMARK now: every event up to it has been taken
  // with next() (progress_revision() when the queue is empty, else the
  // revision of the last event taken).
  int64_t bookmark_revision() const;
  const std::string& prefix() const { return prefix_; }
  void close();

 private:
  friend class WatchCache;
  void push(const CacheEvent& ev);  // called by the cache, never blocks
  void advance(int64_t revision);

  const std::string prefix_;
  const int64_t after_;  // only events with revision > after_
  int64_t taken_ = 0;    // revision of the last event next() returned; guarded by mu_
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  std::deque<CacheEvent> queue_;
  bool closed_ = false;
  bool overflowed_ = false;
  int64_t progress_ = 0;
};

class WatchCache {
 public:
  // capacity: most events in the ring; byte_capacity: most bytes of events
  // in it (CachedObject::bytes summed). Both at least 1.
  WatchCache(storage::Storage& store, size_t capacity, size_t byte_capacity = kDefaultByteCapacity);
  static constexpr size_t kDefaultByteCapacity = size_t{64} << 20;
  ~WatchCache();
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Initial list + storage watch; starts the feeder thread.
  Status start();
  void stop();

  int64_t revision() const;
  // Waits until the cache has applied revision rev (bounded); false on timeout.
  bool wait_for_revision(int64_t rev, std::chrono::milliseconds timeout) const;
  // Waits until the cache is as fresh as the store right now.
  bool wait_fresh(std::chrono::milliseconds timeout) const;

  ObjectPtr get(const std::string& key) const;
  // Objects whose key starts with prefix, sorted by key, strictly after
  // start_after; the revision the snapshot reflects goes to *revision.
  std::vector<ObjectPtr> list(const std::string& prefix, int64_t* revision,
                              const std::string& start_after = {}) const;

  // Registers a watcher for events with revision > after_revision under
  // prefix. after_revision == 0: the current objects are queued first as
  // synthetic kCreated events, then live events. kGone when after_revision is
  // older than the ring covers. Queue capacity bounds slow clients.
  Result<std::shared_ptr<CacheWatcher>> watch(const std::string& prefix, int64_t after_revision,
                                              size_t queue_capacity = 10000);
  void unregister(const std::shared_ptr<CacheWatcher>& w);
  size_t watcher_count() const;
  // The oldest revision a watch may start after.
  int64_t oldest_revision() const;
  // Events in the ring and their bytes (CachedObject::bytes summed).
  size_t ring_size() const;
  size_t ring_bytes() const;

 private:
  void run();
  void apply(const storage::Event& ev);

  storage::Storage& store_;
  const size_t capacity_;
  const size_t byte_capacity_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<storage::WatchStream> stream_;
  bool resume_failing_ = false;  // run() thread: a resume failed (logged once)

  mutable std::shared_mutex mu_;
  mutable std::condition_variable_any cv_;
  // Guarded by mu_.
  std::map<std::string, ObjectPtr> objects_;
  std::deque<CacheEvent> ring_;
  size_t ring_bytes_ = 0;   // sum of ring_[i].object->bytes
  int64_t ring_floor_ = 0;  // events with revision > ring_floor_ are all in the ring
  int64_t revision_ = 0;
  std::set<std::shared_ptr<CacheWatcher>> watchers_;
  bool failed_ = false;
};

}  // namespace minik8s::apiserver
