// MemStorage: an in-memory storage::Storage for unit tests that want a store
// without a database file (the apiserver's watch cache, handler and admission
// tests). It passes the storage conformance suite
// (test/storage/storage_conformance.h, run by test/storage/mem_storage_test.cc),
// so a test against it sees the semantics SqliteStorage has.
//
// The write log is kept in full: list at an older revision replays it, and
// compact() only moves the horizon below which list-at-revision and watch
// answer kGone (a stream already open keeps reading, as a SqliteStorage stream
// within its ring does). Memory grows with every write: for tests only.
// Thread-safe (one mutex); a WatchStream must not outlive its store.
// Header-only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/storage/storage.h"

namespace minik8s::testing {

class MemStorage : public storage::Storage {
 public:
  Result<int64_t> create(const std::string& key, const std::string& value) override {
    if (key.empty()) return Status(Code::kInvalid, "storage key must not be empty");
    std::lock_guard l(mu_);
    if (kv_.count(key)) return already_exists("key " + key + " already exists");
    storage::KeyValue kv{key, value, rev_ + 1, rev_ + 1};
    return commit(storage::Event::Type::kCreated, kv, std::nullopt);
  }
  Result<storage::KeyValue> get(const std::string& key) override {
    std::lock_guard l(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return not_found("key " + key + " not found");
    return it->second;
  }
  Result<storage::ListResult> list(const std::string& prefix, const std::string& start_after,
                                   int64_t limit, int64_t revision_at) override {
    if (limit < 0 || revision_at < 0) {
      return Status(Code::kInvalid, "list: negative limit or revision");
    }
    std::lock_guard l(mu_);
    if (revision_at > rev_) {
      return Status(Code::kBadRequest, "revision " + std::to_string(revision_at) +
                                           " is newer than the current revision " +
                                           std::to_string(rev_));
    }
    if (revision_at > 0 && revision_at < compacted_) {
      return Status(Code::kGone, "revision " + std::to_string(revision_at) + " has been compacted");
    }
    storage::ListResult r;
    r.revision = revision_at > 0 ? revision_at : rev_;
    std::map<std::string, storage::KeyValue> replayed;
    if (revision_at > 0) {
      for (int64_t i = 0; i < revision_at; ++i) {
        const auto& ev = log_[static_cast<size_t>(i)];
        if (ev.type == storage::Event::Type::kDeleted) {
          replayed.erase(ev.kv.key);
        } else {
          replayed[ev.kv.key] = ev.kv;
        }
      }
    }
    const auto& state = revision_at > 0 ? replayed : kv_;
    for (auto it = state.lower_bound(prefix); it != state.end(); ++it) {
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
    if (key.empty()) return Status(Code::kInvalid, "storage key must not be empty");
    std::lock_guard l(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return not_found("key " + key + " not found");
    if (it->second.mod_revision != expected) return conflict("key " + key + " was modified");
    storage::KeyValue kv{key, value, it->second.create_revision, rev_ + 1};
    return commit(storage::Event::Type::kUpdated, kv, it->second);
  }
  Result<int64_t> remove(const std::string& key, int64_t expected) override {
    if (key.empty()) return Status(Code::kInvalid, "storage key must not be empty");
    std::lock_guard l(mu_);
    auto it = kv_.find(key);
    if (it == kv_.end()) return not_found("key " + key + " not found");
    if (expected != 0 && it->second.mod_revision != expected) {
      return conflict("key " + key + " was modified");
    }
    storage::KeyValue kv = it->second;
    kv.mod_revision = rev_ + 1;
    return commit(storage::Event::Type::kDeleted, kv, it->second);
  }
  Result<std::unique_ptr<storage::WatchStream>> watch(const std::string& prefix,
                                                      int64_t after) override {
    if (after < 0) return Status(Code::kInvalid, "watch: negative revision");
    std::lock_guard l(mu_);
    if (after < compacted_) {
      return Status(Code::kGone, "revision " + std::to_string(after) + " has been compacted");
    }
    return std::unique_ptr<storage::WatchStream>(new Stream(*this, prefix, after));
  }
  Status compact(int64_t revision) override {
    std::lock_guard l(mu_);
    if (revision > rev_) {
      return Status(Code::kBadRequest, "cannot compact to revision " + std::to_string(revision) +
                                           ": current revision is " + std::to_string(rev_));
    }
    if (revision > compacted_) compacted_ = revision;
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
    int64_t pos_;          // guarded by s_.mu_: index into log_ == revision already seen
    bool closed_ = false;  // guarded by s_.mu_
  };

  // Requires mu_.
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
  std::condition_variable cv_;  // notified on every write and close()
  // Guarded by mu_.
  std::map<std::string, storage::KeyValue> kv_;  // the latest state
  std::vector<storage::Event> log_;              // log_[i] has revision i + 1
  int64_t rev_ = 0;
  int64_t compacted_ = 0;
};

}  // namespace minik8s::testing
