#include "watch_cache.h"

#include <spdlog/spdlog.h>

#include "minik8s/api/json.h"

namespace minik8s::apiserver {

ObjectPtr make_cached_object(const std::string& key, const std::string& value,
                             int64_t mod_revision, int64_t create_revision) {
  auto o = std::make_shared<CachedObject>();
  o->key = key;
  o->mod_revision = mod_revision;
  o->create_revision = create_revision;
  auto parsed = api::parse_json(value);
  if (!parsed || !parsed->is_object()) return nullptr;
  o->object = std::move(parsed.value());
  o->object["metadata"]["resourceVersion"] = std::to_string(mod_revision);
  o->wire = o->object.dump();
  // The parsed form of a typical object takes about as much as its encoding
  // (more for many small fields, about the same for large strings).
  o->bytes = sizeof(CachedObject) + key.size() + 2 * o->wire.size();
  return o;
}

// ---- CacheWatcher ----

std::optional<CacheEvent> CacheWatcher::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; });
  if (queue_.empty()) return std::nullopt;
  CacheEvent ev = std::move(queue_.front());
  queue_.pop_front();
  if (ev.revision > taken_) taken_ = ev.revision;
  return ev;
}

bool CacheWatcher::closed() const {
  std::lock_guard lock(mu_);
  return closed_ && queue_.empty();
}

bool CacheWatcher::overflowed() const {
  std::lock_guard lock(mu_);
  return overflowed_;
}

int64_t CacheWatcher::bookmark_revision() const {
  std::lock_guard lock(mu_);
  return queue_.empty() ? progress_ : taken_;
}

int64_t CacheWatcher::progress_revision() const {
  std::lock_guard lock(mu_);
  return progress_;
}

void CacheWatcher::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void CacheWatcher::push(const CacheEvent& ev) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  if (ev.revision > progress_) progress_ = ev.revision;
  if (queue_.size() >= capacity_) {
    overflowed_ = true;
    closed_ = true;
    queue_.clear();
  } else {
    queue_.push_back(ev);
  }
  cv_.notify_all();
}

void CacheWatcher::advance(int64_t revision) {
  std::lock_guard lock(mu_);
  if (revision > progress_) progress_ = revision;
}

// ---- WatchCache ----

WatchCache::WatchCache(storage::Storage& store, size_t capacity, size_t byte_capacity)
    : store_(store),
      capacity_(capacity == 0 ? 1 : capacity),
      byte_capacity_(byte_capacity == 0 ? 1 : byte_capacity) {}

WatchCache::~WatchCache() { stop(); }

Status WatchCache::start() {
  auto listed = store_.list("/registry/", "", 0, 0);
  if (!listed) return listed.status();
  {
    std::unique_lock lock(mu_);
    objects_.clear();
    for (const auto& kv : listed->items) {
      if (auto o = make_cached_object(kv.key, kv.value, kv.mod_revision, kv.create_revision)) {
        objects_[kv.key] = std::move(o);
      } else {
        spdlog::warn("watch cache: skipping unparsable value at {}", kv.key);
      }
    }
    revision_ = listed->revision;
    ring_floor_ = listed->revision;
  }
  auto w = store_.watch("/registry/", listed->revision);
  if (!w) return w.status();
  stream_ = std::move(w.value());
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void WatchCache::stop() {
  if (stopping_.exchange(true)) return;
  if (stream_) stream_->close();
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(mu_);
  for (const auto& w : watchers_) w->close();
  watchers_.clear();
  cv_.notify_all();
}

void WatchCache::run() {
  while (!stopping_) {
    auto ev = stream_->next(std::chrono::milliseconds(500));
    if (ev) {
      apply(*ev);
      continue;
    }
    if (stopping_) break;
    Status st = stream_->status();
    if (st.is_ok()) continue;  // timeout
    if (st.code() != Code::kGone) {
      // The store's connection broke (an etcd member died, a network blip):
      // resume from the last revision applied. Nothing is missed, so the
      // watchers stay open — closing them would make every informer of every
      // client re-list at once for the loss of one etcd member.
      const int64_t from = revision();
      auto w = store_.watch("/registry/", from);
      if (w) {
        spdlog::info("watch cache: storage watch ended ({}); resumed after revision {}",
                     st.to_string(), from);
        stream_ = std::move(w.value());
        continue;
      }
      if (w.status().code() != Code::kGone) {
        if (!resume_failing_) {
          spdlog::warn(
              "watch cache: storage watch ended ({}); resuming after revision {}: {}; retrying",
              st.to_string(), from, w.status().to_string());
        }
        resume_failing_ = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      st = w.status();  // compacted past what we have: re-list below
    }
    resume_failing_ = false;
    // The stream fell behind compaction: re-list and re-watch; current
    // watchers cannot be served without gaps, so they are closed.
    spdlog::warn("watch cache: storage watch ended ({}); re-listing", st.to_string());
    auto listed = store_.list("/registry/", "", 0, 0);
    if (!listed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    {
      std::unique_lock lock(mu_);
      objects_.clear();
      for (const auto& kv : listed->items) {
        if (auto o = make_cached_object(kv.key, kv.value, kv.mod_revision, kv.create_revision)) {
          objects_[kv.key] = std::move(o);
        }
      }
      revision_ = std::max(revision_, listed->revision);
      ring_.clear();
      ring_bytes_ = 0;
      ring_floor_ = revision_;
      for (const auto& w : watchers_) w->close();
      watchers_.clear();
      cv_.notify_all();
    }
    auto w = store_.watch("/registry/", listed->revision);
    if (w) stream_ = std::move(w.value());
    resume_failing_ = false;
  }
}

void WatchCache::apply(const storage::Event& ev) {
  CacheEvent ce;
  ce.type = ev.type;
  ce.revision = ev.revision;
  const std::string& key = ev.kv.key;
  if (ev.type == storage::Event::Type::kDeleted) {
    ce.object = make_cached_object(key, ev.kv.value, ev.revision, ev.kv.create_revision);
  } else {
    ce.object = make_cached_object(key, ev.kv.value, ev.kv.mod_revision, ev.kv.create_revision);
  }
  std::unique_lock lock(mu_);
  if (ev.revision <= revision_) return;  // already applied (duplicate after re-watch)
  auto it = objects_.find(key);
  if (it != objects_.end()) ce.prev = it->second;
  if (ev.type == storage::Event::Type::kDeleted) {
    if (it != objects_.end()) objects_.erase(it);
  } else if (ce.object) {
    objects_[key] = ce.object;
  }
  revision_ = ev.revision;
  if (ce.object) {
    ring_.push_back(ce);
    ring_bytes_ += ce.object->bytes;
    // An event larger than the whole budget leaves the ring empty: watches
    // from its revision on still resume, older ones get 410.
    while (!ring_.empty() && (ring_.size() > capacity_ || ring_bytes_ > byte_capacity_)) {
      ring_floor_ = ring_.front().revision;
      ring_bytes_ -= ring_.front().object->bytes;
      ring_.pop_front();
    }
    for (const auto& w : watchers_) {
      if (key.compare(0, w->prefix().size(), w->prefix()) == 0) {
        if (ev.revision > w->after_) w->push(ce);
      } else {
        w->advance(ev.revision);
      }
    }
  }
  // Watchers closed by overflow are dropped from fan-out.
  for (auto wit = watchers_.begin(); wit != watchers_.end();) {
    if ((*wit)->overflowed()) {
      wit = watchers_.erase(wit);
    } else {
      ++wit;
    }
  }
  cv_.notify_all();
}

int64_t WatchCache::revision() const {
  std::shared_lock lock(mu_);
  return revision_;
}

bool WatchCache::wait_for_revision(int64_t rev, std::chrono::milliseconds timeout) const {
  std::shared_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return revision_ >= rev || stopping_; }) &&
         revision_ >= rev;
}

bool WatchCache::wait_fresh(std::chrono::milliseconds timeout) const {
  return wait_for_revision(store_.current_revision(), timeout);
}

ObjectPtr WatchCache::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> WatchCache::list(const std::string& prefix, int64_t* revision,
                                        const std::string& start_after) const {
  std::vector<ObjectPtr> out;
  std::shared_lock lock(mu_);
  auto it = start_after.empty() ? objects_.lower_bound(prefix) : objects_.upper_bound(start_after);
  if (!start_after.empty() && start_after < prefix) it = objects_.lower_bound(prefix);
  for (; it != objects_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->second);
  }
  if (revision) *revision = revision_;
  return out;
}

Result<std::shared_ptr<CacheWatcher>> WatchCache::watch(const std::string& prefix,
                                                        int64_t after_revision,
                                                        size_t queue_capacity) {
  std::unique_lock lock(mu_);
  if (after_revision != 0 && after_revision < ring_floor_) {
    return Status(Code::kGone, "too old resource version: " + std::to_string(after_revision) +
                                   " (" + std::to_string(ring_floor_ + 1) + ")");
  }
  int64_t after = after_revision;
  std::vector<CacheEvent> initial;
  if (after_revision == 0) {
    for (auto it = objects_.lower_bound(prefix); it != objects_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      CacheEvent ce;
      ce.type = storage::Event::Type::kCreated;
      ce.revision = it->second->mod_revision;
      ce.object = it->second;
      initial.push_back(std::move(ce));
    }
    after = revision_;
  } else {
    for (const auto& ce : ring_) {
      if (ce.revision <= after_revision) continue;
      if (ce.object->key.compare(0, prefix.size(), prefix) != 0) continue;
      initial.push_back(ce);
    }
  }
  // Initial events may exceed the live queue bound; give them room.
  auto w = std::make_shared<CacheWatcher>(prefix, std::max(after, revision_),
                                          queue_capacity + initial.size());
  for (const auto& ce : initial) w->push(ce);
  w->advance(std::max(after, revision_));
  if (after > revision_) {
    // A future revision: deliver only events after it.
    w = std::make_shared<CacheWatcher>(prefix, after, queue_capacity);
  }
  watchers_.insert(w);
  return w;
}

void WatchCache::unregister(const std::shared_ptr<CacheWatcher>& w) {
  std::unique_lock lock(mu_);
  watchers_.erase(w);
  w->close();
}

size_t WatchCache::watcher_count() const {
  std::shared_lock lock(mu_);
  return watchers_.size();
}

int64_t WatchCache::oldest_revision() const {
  std::shared_lock lock(mu_);
  return ring_floor_;
}

size_t WatchCache::ring_size() const {
  std::shared_lock lock(mu_);
  return ring_.size();
}

size_t WatchCache::ring_bytes() const {
  std::shared_lock lock(mu_);
  return ring_bytes_;
}

}  // namespace minik8s::apiserver
