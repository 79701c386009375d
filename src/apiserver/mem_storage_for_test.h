// A small in-memory Storage stand-in for the apiserver unit tests (the real
// SqliteStorage is exercised by the integration tests). Thread-safe; history
// is kept in full until compact().
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>

#include "minik8s/storage/storage.h"

namespace minik8s::apiserver::testing {

class MemStorage : public storage::Storage {
 public:
  Result<int64_t> create(const std::string& key, const std::string& value) override {
    std::lock_guard l(mu_);
    if (kv_.count(key)) return already_exists(key);
    storage::KeyValue kv{key, value, rev_ + 1, rev_ + 1};
    return commit(storage::Event::Type::kCreated, kv, std::nullopt);
  }
  Result<storage::KeyValue> get(const std::string& key) override {
    std::lock_guard l(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return not_found(key);
    return it->second;
  }
  Result<storage::ListResult> list(const std::string& prefix, const std::string& start_after,
                                   int64_t limit, int64_t) override {
    std::lock_guard l(mu_);
    storage::ListResult r;
    r.revision = rev_;
    for (auto it = kv_.lower_bound(prefix); it != kv_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      if (!start_after.empty() && it->first <= start_after) continue;
      if (limit > 0 && static_cast<int64_t>(r.items.size()) == limit) {
        r.more = true;
        break;
      }
      r.items.push_back(it->second);
    }
    return r;
  }
  Result<int64_t> update(const std::string& key, const std::string& value,
                         int64_t expected) override {
    std::lock_guard l(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return not_found(key);
    if (it->second.mod_revision != expected) return conflict(key);
    storage::KeyValue kv{key, value, it->second.create_revision, rev_ + 1};
    return commit(storage::Event::Type::kUpdated, kv, it->second);
  }
  Result<int64_t> remove(const std::string& key, int64_t expected) override {
    std::lock_guard l(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return not_found(key);
    if (expected != 0 && it->second.mod_revision != expected) return conflict(key);
    storage::KeyValue kv = it->second;
    kv.mod_revision = rev_ + 1;
    return commit(storage::Event::Type::kDeleted, kv, it->second);
  }
  Result<std::unique_ptr<storage::WatchStream>> watch(const std::string& prefix,
                                                      int64_t after) override {
    std::lock_guard l(mu_);
    if (after < compacted_) return Status(Code::kGone, "compacted");
    return std::unique_ptr<storage::WatchStream>(new Stream(*this, prefix, after));
  }
  Status compact(int64_t revision) override {
    std::lock_guard l(mu_);
    compacted_ = revision;
    return Status::ok();
  }
  int64_t current_revision() override {
    std::lock_guard l(mu_);
    return rev_;
  }
  int64_t compacted_revision() override {
    std::lock_guard l(mu_);
    return compacted_;
  }

 private:
  class Stream : public storage::WatchStream {
   public:
    Stream(MemStorage& s, std::string prefix, int64_t after)
        : s_(s), prefix_(std::move(prefix)), pos_(after) {}
    std::optional<storage::Event> next(std::chrono::milliseconds timeout) override {
      std::unique_lock l(s_.mu_);
      auto deadline = std::chrono::steady_clock::now() + timeout;
      while (!closed_) {
        for (; pos_ < static_cast<int64_t>(s_.log_.size()); ++pos_) {
          const auto& ev = s_.log_[static_cast<size_t>(pos_)];
          if (ev.kv.key.compare(0, prefix_.size(), prefix_) == 0) {
            ++pos_;
            return ev;
          }
        }
        if (s_.cv_.wait_until(l, deadline) == std::cv_status::timeout) break;
      }
      return std::nullopt;
    }
    Status status() const override { return Status::ok(); }
    void close() override {
      std::lock_guard l(s_.mu_);
      closed_ = true;
      s_.cv_.notify_all();
    }

   private:
    MemStorage& s_;
    std::string prefix_;
    int64_t pos_;  // index into log_ == revision already seen
    bool closed_ = false;
  };

  Result<int64_t> commit(storage::Event::Type type, const storage::KeyValue& kv,
                         std::optional<storage::KeyValue> prev) {
    ++rev_;
    if (type == storage::Event::Type::kDeleted) {
      kv_.erase(kv.key);
    } else {
      kv_[kv.key] = kv;
    }
    log_.push_back(storage::Event{type, rev_, kv, std::move(prev)});
    cv_.notify_all();
    return rev_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, storage::KeyValue> kv_;
  std::vector<storage::Event> log_;  // log_[i] has revision i + 1
  int64_t rev_ = 0;
  int64_t compacted_ = 0;
};

}  // namespace minik8s::apiserver::testing
