#include "watch_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>

#include "test/fakes/mem_storage.h"

namespace minik8s::apiserver {
namespace {

using namespace std::chrono_literals;

std::string pod(const std::string& name, const std::string& label = "a") {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
         R"(","labels":{"app":")" + label + R"("}}})";
}

TEST(WatchCacheTest, ServesInitialListAndFollowsWrites) {
  testing::MemStorage store;
  ASSERT_TRUE(store.create("/registry/pods/ns/a", pod("a")).is_ok());
  WatchCache cache(store, 100);
  ASSERT_TRUE(cache.start().is_ok());
  ASSERT_TRUE(store.create("/registry/pods/ns/b", pod("b")).is_ok());
  ASSERT_TRUE(cache.wait_fresh(2s));
  int64_t rev = 0;
  auto items = cache.list("/registry/pods/ns/", &rev);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(rev, 2);
  EXPECT_EQ(items[1]->object["metadata"]["resourceVersion"], "2");
  EXPECT_NE(items[1]->wire.find("\"resourceVersion\":\"2\""), std::string::npos);
  EXPECT_EQ(cache.get("/registry/pods/ns/zz"), nullptr);
  // A prefix must not match a longer namespace name.
  ASSERT_TRUE(store.create("/registry/pods/ns2/c", pod("c")).is_ok());
  ASSERT_TRUE(cache.wait_fresh(2s));
  EXPECT_EQ(cache.list("/registry/pods/ns/", &rev).size(), 2u);
  EXPECT_EQ(cache.list("/registry/pods/", &rev).size(), 3u);
}

TEST(WatchCacheTest, WatchFromRevisionDeliversInOrderWithPrev) {
  testing::MemStorage store;
  WatchCache cache(store, 100);
  ASSERT_TRUE(cache.start().is_ok());
  auto r1 = store.create("/registry/pods/ns/a", pod("a"));
  ASSERT_TRUE(r1.is_ok());
  ASSERT_TRUE(store.update("/registry/pods/ns/a", pod("a", "b"), *r1).is_ok());
  ASSERT_TRUE(store.remove("/registry/pods/ns/a", 0).is_ok());
  ASSERT_TRUE(cache.wait_for_revision(3, 2s));
  auto w = cache.watch("/registry/pods/", 1);
  ASSERT_TRUE(w.is_ok());
  auto e1 = (*w)->next(1s);
  ASSERT_TRUE(e1);
  EXPECT_EQ(e1->type, storage::Event::Type::kUpdated);
  EXPECT_EQ(e1->revision, 2);
  ASSERT_TRUE(e1->prev);
  EXPECT_EQ(e1->prev->object["metadata"]["labels"]["app"], "a");
  auto e2 = (*w)->next(1s);
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->type, storage::Event::Type::kDeleted);
  EXPECT_EQ(e2->object->object["metadata"]["resourceVersion"], "3");
  // Live events follow.
  ASSERT_TRUE(store.create("/registry/pods/ns/b", pod("b")).is_ok());
  auto e3 = (*w)->next(2s);
  ASSERT_TRUE(e3);
  EXPECT_EQ(e3->revision, 4);
  EXPECT_FALSE((*w)->next(50ms));
}

TEST(WatchCacheTest, WatchFromZeroSendsCurrentObjectsFirst) {
  testing::MemStorage store;
  ASSERT_TRUE(store.create("/registry/pods/ns/a", pod("a")).is_ok());
  ASSERT_TRUE(store.create("/registry/services/ns/s", pod("s")).is_ok());
  WatchCache cache(store, 100);
  ASSERT_TRUE(cache.start().is_ok());
  auto w = cache.watch("/registry/pods/", 0);
  ASSERT_TRUE(w.is_ok());
  auto e = (*w)->next(1s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, storage::Event::Type::kCreated);
  EXPECT_EQ(e->object->key, "/registry/pods/ns/a");
  EXPECT_FALSE((*w)->next(50ms));
}

TEST(WatchCacheTest, TooOldRevisionIsGone) {
  testing::MemStorage store;
  WatchCache cache(store, 2);  // ring keeps two events
  ASSERT_TRUE(cache.start().is_ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store.create("/registry/pods/ns/p" + std::to_string(i), pod("p")).is_ok());
  }
  ASSERT_TRUE(cache.wait_for_revision(5, 2s));
  auto old = cache.watch("/registry/pods/", 1);
  ASSERT_FALSE(old.is_ok());
  EXPECT_EQ(old.status().code(), Code::kGone);
  EXPECT_NE(old.status().message().find("too old resource version: 1"), std::string::npos);
  auto ok = cache.watch("/registry/pods/", 3);
  ASSERT_TRUE(ok.is_ok());
  auto e = (*ok)->next(1s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->revision, 4);
}

TEST(WatchCacheTest, RingIsBoundedByBytesAsWellAsCount) {
  testing::MemStorage store;
  // Room for 10,000 events by count, but only about 1 MiB of them.
  WatchCache cache(store, 10000, 1 << 20);
  ASSERT_TRUE(cache.start().is_ok());
  const std::string big(200 * 1024, 'x');
  auto cm = [&](int i) {
    return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":")" + big +
           std::to_string(i) + R"("}})";
  };
  auto rev = store.create("/registry/configmaps/ns/c", cm(0));
  ASSERT_TRUE(rev.is_ok());
  int64_t last = *rev;
  for (int i = 1; i < 20; ++i) {
    auto r = store.update("/registry/configmaps/ns/c", cm(i), last);
    ASSERT_TRUE(r.is_ok());
    last = *r;
  }
  ASSERT_TRUE(cache.wait_for_revision(last, 2s));
  // Each event holds ~400 KiB (wire + parsed): two fit, not twenty.
  EXPECT_LE(cache.ring_bytes(), size_t{1} << 20);
  EXPECT_GE(cache.ring_size(), 1u);
  EXPECT_LE(cache.ring_size(), 3u);
  EXPECT_GT(cache.oldest_revision(), *rev);
  // The history that fell off answers 410, as after a compaction.
  auto old = cache.watch("/registry/configmaps/", *rev);
  ASSERT_FALSE(old.is_ok());
  EXPECT_EQ(old.status().code(), Code::kGone);
  // A watch inside what is left resumes with the newest event.
  auto ok = cache.watch("/registry/configmaps/", last - 1);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  auto e = (*ok)->next(1s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->revision, last);
  // Small objects are still kept by count.
  WatchCache small(store, 5, 1 << 20);
  ASSERT_TRUE(small.start().is_ok());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store.create("/registry/pods/ns/p" + std::to_string(i), pod("p")).is_ok());
  }
  ASSERT_TRUE(small.wait_fresh(2s));
  EXPECT_EQ(small.ring_size(), 5u);
}

TEST(WatchCacheTest, SlowWatcherOverflowsAndIsClosed) {
  testing::MemStorage store;
  WatchCache cache(store, 100);
  ASSERT_TRUE(cache.start().is_ok());
  auto w = cache.watch("/registry/pods/", cache.revision(), /*queue_capacity=*/3);
  ASSERT_TRUE(w.is_ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store.create("/registry/pods/ns/p" + std::to_string(i), pod("p")).is_ok());
  }
  ASSERT_TRUE(cache.wait_for_revision(10, 2s));
  EXPECT_TRUE((*w)->overflowed());
  EXPECT_TRUE((*w)->closed());
  EXPECT_EQ(cache.watcher_count(), 0u);
}

// A store whose watch streams can be broken as a dead etcd member's are
// (kUnavailable), and whose next watches can be made to fail.
class BreakableStorage final : public storage::Storage {
 public:
  explicit BreakableStorage(storage::Storage& inner) : inner_(inner) {}
  void break_streams() { ++generation_; }
  void fail_watches(int n) { fail_watches_ = n; }
  int watches() const { return watches_; }

  Result<int64_t> create(const std::string& k, const std::string& v) override {
    return inner_.create(k, v);
  }
  Result<storage::KeyValue> get(const std::string& k) override { return inner_.get(k); }
  Result<storage::ListResult> list(const std::string& p, const std::string& a, int64_t l,
                                   int64_t r) override {
    ++lists_;
    return inner_.list(p, a, l, r);
  }
  Result<int64_t> update(const std::string& k, const std::string& v, int64_t e) override {
    return inner_.update(k, v, e);
  }
  Result<int64_t> remove(const std::string& k, int64_t e) override { return inner_.remove(k, e); }
  Result<std::unique_ptr<storage::WatchStream>> watch(const std::string& p,
                                                      int64_t after) override {
    ++watches_;
    if (fail_watches_ > 0) {
      --fail_watches_;
      return Status(Code::kUnavailable, "watch: etcd unreachable");
    }
    auto w = inner_.watch(p, after);
    if (!w) return w.status();
    return std::unique_ptr<storage::WatchStream>(new Stream(*this, std::move(*w)));
  }
  Status compact(int64_t r) override { return inner_.compact(r); }
  int64_t current_revision() override { return inner_.current_revision(); }
  int64_t compacted_revision() override { return inner_.compacted_revision(); }
  int lists() const { return lists_; }

 private:
  class Stream final : public storage::WatchStream {
   public:
    Stream(BreakableStorage& s, std::unique_ptr<storage::WatchStream> inner)
        : s_(s), inner_(std::move(inner)), generation_(s.generation_) {}
    std::optional<storage::Event> next(std::chrono::milliseconds timeout) override {
      if (broken()) return std::nullopt;
      return inner_->next(std::min(timeout, std::chrono::milliseconds(20)));
    }
    Status status() const override {
      return broken() ? Status(Code::kUnavailable, "watch: etcd: Socket closed") : Status::ok();
    }
    void close() override { inner_->close(); }

   private:
    bool broken() const { return s_.generation_ != generation_; }
    BreakableStorage& s_;
    std::unique_ptr<storage::WatchStream> inner_;
    const int generation_;
  };
  storage::Storage& inner_;
  std::atomic<int> generation_{0};
  std::atomic<int> fail_watches_{0};
  std::atomic<int> watches_{0};
  std::atomic<int> lists_{0};
};

// An etcd member dies under the server: the storage watch ends with
// kUnavailable (and the first tries to watch again fail). The cache resumes
// after the last revision it applied — no re-list, and its watchers stay open
// and see every later write, none twice.
TEST(WatchCacheTest, StorageWatchLostIsResumedWithoutClosingWatchers) {
  testing::MemStorage mem;
  BreakableStorage store(mem);
  WatchCache cache(store, 100);
  ASSERT_TRUE(cache.start().is_ok());
  const int lists_after_start = store.lists();
  auto w = cache.watch("/registry/pods/", cache.revision());
  ASSERT_TRUE(w.is_ok());
  ASSERT_TRUE(store.create("/registry/pods/ns/a", pod("a")).is_ok());
  auto e1 = (*w)->next(2s);
  ASSERT_TRUE(e1);
  EXPECT_EQ(e1->revision, 1);
  store.fail_watches(2);
  store.break_streams();
  // Written while the cache has no storage watch.
  ASSERT_TRUE(store.create("/registry/pods/ns/b", pod("b")).is_ok());
  ASSERT_TRUE(store.create("/registry/pods/ns/c", pod("c")).is_ok());
  auto e2 = (*w)->next(5s);
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->revision, 2);
  auto e3 = (*w)->next(2s);
  ASSERT_TRUE(e3);
  EXPECT_EQ(e3->revision, 3);
  EXPECT_FALSE((*w)->closed());
  EXPECT_EQ(cache.watcher_count(), 1u);
  EXPECT_EQ(store.lists(), lists_after_start);  // resumed, not re-listed
  EXPECT_GE(store.watches(), 4);                // start, 2 failures, the resume
  EXPECT_EQ(cache.list("/registry/pods/", nullptr).size(), 3u);
  EXPECT_FALSE((*w)->next(100ms).has_value());  // nothing delivered twice
}

TEST(WatchCacheTest, FutureRevisionWaitsForEventsAfterIt) {
  testing::MemStorage store;
  WatchCache cache(store, 100);
  ASSERT_TRUE(cache.start().is_ok());
  auto w = cache.watch("/registry/pods/", 2);
  ASSERT_TRUE(w.is_ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store.create("/registry/pods/ns/p" + std::to_string(i), pod("p")).is_ok());
  }
  auto e = (*w)->next(2s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->revision, 3);
}

}  // namespace
}  // namespace minik8s::apiserver
