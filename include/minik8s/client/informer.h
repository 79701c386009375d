// Informer: list + watch one resource into a local indexed cache and tell
// handlers about changes (client-go's SharedIndexInformer, one consumer-side).
//
// Behaviour: list (with the namespace / selectors), replace the cache,
// has_synced() becomes true, then watch from the list's resourceVersion.
// When a watch ends it re-watches from the last resourceVersion seen; when
// the server answers 410 Expired (compacted) it re-lists and delivers
// synthetic adds/updates/deletes for the difference. A failing list/watch is
// retried with backoff (100 ms doubling to 5 s). With resync > 0, every
// resync period on_update(obj, obj) is delivered for every cached object.
//
// Threads: the informer owns one thread (start() .. stop()/destructor) that
// calls the handlers serially; handlers must not block for long and must not
// call stop(), add_event_handlers() or remove_event_handlers(). Handlers may
// be added and removed from any thread at any time: one added after start()
// first gets on_add for every cached object (an object that changes meanwhile
// may be seen twice); once remove_event_handlers() returns, that handler is
// not running and is never called again. The cache (Indexer) is safe to read
// from any thread at any time.
// Objects are std::shared_ptr<const Json> snapshots: never mutate them; copy first.
// Ownership: the Client is borrowed and must outlive the Informer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/client.h"

namespace minik8s::client {

using ObjectPtr = std::shared_ptr<const api::Json>;
// Index function: the index values of an object (e.g. {spec.nodeName}); none → not indexed.
using IndexFunc = std::function<std::vector<std::string>(const api::Json&)>;

// Index by metadata.namespace (registered on every Indexer as "namespace").
inline constexpr const char* kNamespaceIndex = "namespace";

// A thread-safe map key → object with secondary indexes. Keys are "ns/name"
// (or "name" for cluster-scoped objects), see object_key().
class Indexer {
 public:
  Indexer();
  // Registers an index; objects already stored are indexed too.
  void add_index(const std::string& name, IndexFunc fn);

  ObjectPtr get(const std::string& key) const;
  ObjectPtr get(const std::string& ns, const std::string& name) const;
  std::vector<ObjectPtr> list() const;
  // Objects in ns ("" = all namespaces) whose labels match selector.
  std::vector<ObjectPtr> list(const std::string& ns, const api::LabelSelector& selector = {}) const;
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Writers (the informer; tests). Return the previous object (null if none).
  ObjectPtr upsert(ObjectPtr obj);
  ObjectPtr erase(const std::string& key);

 private:
  void index_locked(const std::string& key, const api::Json& obj, bool add);

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::map<std::string, ObjectPtr> items_;
  std::map<std::string, IndexFunc> index_funcs_;
  std::map<std::string, std::map<std::string, std::set<std::string>>> indexes_;  // index → value → keys
};

struct EventHandlers {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // The last known state of the object.
  std::function<void(const ObjectPtr& obj)> on_delete;
};

// Identifies one add_event_handlers() registration.
using HandlerId = uint64_t;

struct InformerOptions {
  std::string namespace_;  // "" = all namespaces (or cluster-scoped)
  std::string label_selector;
  std::string field_selector;
  std::chrono::milliseconds resync{0};  // 0 = never
  // Server-side watch timeout; the informer re-watches after it.
  int64_t watch_timeout_seconds = 300;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
};

class Informer {
 public:
  Informer(Client& client, const api::ResourceType& type, InformerOptions opts = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Any time (see Threads above).
  HandlerId add_event_handlers(EventHandlers handlers);
  void remove_event_handlers(HandlerId id);
  // Any time; objects already cached are indexed too. Shared informers: one
  // name is one function for every consumer.
  void add_index(const std::string& name, IndexFunc fn) { indexer_.add_index(name, std::move(fn)); }
  // Any time: resync every d (0 = never); a shorter non-zero period than the
  // current one wins (a shared informer resyncs for its most demanding
  // consumer, and every handler gets the resync updates). A running informer
  // takes a new period at its next wake-up (within a second).
  void request_resync(std::chrono::milliseconds d);
  std::chrono::milliseconds resync_period() const { return std::chrono::milliseconds(resync_ms_.load()); }
  bool started() const { return started_.load(); }

  void start();
  // Idempotent; joins the thread. Handlers are not called after it returns.
  void stop();

  bool has_synced() const { return synced_.load(); }
  // Polls has_synced() until the deadline.
  bool wait_for_sync(std::chrono::milliseconds timeout) const;
  // The resourceVersion of the last list or event seen.
  std::string last_resource_version() const;
  // Number of lists performed (first list included); handy for tests and metrics.
  int list_count() const { return list_count_.load(); }

  const Indexer& indexer() const { return indexer_; }
  const api::ResourceType& type() const { return type_; }

 private:
  void run(std::stop_token stop);
  Status relist();
  // Returns when the watch ends (or stop). Sets need_relist_ on 410.
  Status watch_once(std::stop_token stop);
  void deliver_add(const ObjectPtr& obj);
  void deliver_update(const ObjectPtr& old_obj, const ObjectPtr& new_obj);
  void deliver_delete(const ObjectPtr& obj);
  void maybe_resync();
  bool wait_backoff(std::stop_token& stop, std::chrono::milliseconds d);

  Client& client_;
  const api::ResourceType type_;
  const InformerOptions opts_;  // resync is read from resync_ms_
  std::atomic<int64_t> resync_ms_;  // 0 = never; only ever lowered
  Indexer indexer_;
  std::atomic<bool> started_{false};
  std::atomic<bool> synced_{false};

  // Held while handlers run, so that removal waits for a running handler.
  std::mutex handlers_mu_;
  // Guarded by handlers_mu_:
  std::vector<std::pair<HandlerId, EventHandlers>> handlers_;
  HandlerId next_handler_id_ = 1;

  std::atomic<int> list_count_{0};

  // Informer-thread state.
  bool need_relist_ = true;
  std::chrono::steady_clock::time_point next_resync_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  // Guarded by mu_:
  std::string resource_version_;
  WatchEventStream* current_watch_ = nullptr;  // closed by stop()

  std::jthread thread_;
};

}  // namespace minik8s::client
