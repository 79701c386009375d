#include "storage_conformance.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

namespace minik8s::storage::testing {

int link_storage_conformance() { return 1; }

void StorageConformanceTest::SetUp() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path() /
              ("mk-storage-conf-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(base);
  dir_ = base.string();
  store_ = GetParam().make(dir_);
  if (IsSkipped()) return;  // the factory skipped (GTEST_SKIP in a helper): a tool is missing
  ASSERT_NE(store_, nullptr) << "factory " << GetParam().name << " returned no store";
}

void StorageConformanceTest::TearDown() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

namespace {

using namespace std::chrono_literals;
using Type = Event::Type;

// Reads exactly n events (or fails the test after the deadline).
std::vector<Event> read_events(WatchStream& w, size_t n,
                               std::chrono::milliseconds deadline = 10s) {
  std::vector<Event> out;
  auto end = std::chrono::steady_clock::now() + deadline;
  while (out.size() < n && std::chrono::steady_clock::now() < end) {
    auto ev = w.next(100ms);
    if (ev) {
      out.push_back(std::move(*ev));
    } else if (!w.status().is_ok()) {
      ADD_FAILURE() << "watch ended: " << w.status().to_string();
      break;
    }
  }
  EXPECT_EQ(out.size(), n) << "timed out waiting for watch events";
  return out;
}

std::vector<std::string> keys_of(const ListResult& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.items) out.push_back(kv.key);
  return out;
}

int64_t must(Result<int64_t> r) {
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : -1;
}

}  // namespace

TEST_P(StorageConformanceTest, CreateGetAndErrors) {
  int64_t before = store().current_revision();
  auto rev = store().create("/t/a", std::string("v\0a", 3));
  ASSERT_TRUE(rev.is_ok()) << rev.status().to_string();
  EXPECT_GT(*rev, before);
  EXPECT_EQ(store().current_revision(), *rev);

  auto got = store().get("/t/a");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got->key, "/t/a");
  EXPECT_EQ(got->value, std::string("v\0a", 3));
  EXPECT_EQ(got->create_revision, *rev);
  EXPECT_EQ(got->mod_revision, *rev);

  auto again = store().create("/t/a", "other");
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(store().current_revision(), *rev);
  EXPECT_EQ(store().get("/t/a")->value, std::string("v\0a", 3));

  EXPECT_EQ(store().get("/t/missing").status().code(), Code::kNotFound);
  EXPECT_EQ(store().update("/t/missing", "x", *rev).status().code(), Code::kNotFound);
  EXPECT_EQ(store().remove("/t/missing", 0).status().code(), Code::kNotFound);

  auto empty = store().create("/t/empty", "");
  ASSERT_TRUE(empty.is_ok());
  EXPECT_EQ(store().get("/t/empty")->value, "");
  EXPECT_EQ(*empty, *rev + 1) << "revisions must be dense in a store with one writer";
}

TEST_P(StorageConformanceTest, ListByPrefixSortedWithPaging) {
  for (const char* k : {"/t/a/3", "/t/a/1", "/t/b/1", "/t/a/2", "/t/ab/1", "/t/a"}) {
    ASSERT_TRUE(store().create(k, std::string("v-") + k).is_ok());
  }
  int64_t rev = store().current_revision();

  auto all = store().list("/t/a/", "", 0);
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_EQ(keys_of(*all), (std::vector<std::string>{"/t/a/1", "/t/a/2", "/t/a/3"}));
  EXPECT_EQ(all->revision, rev);
  EXPECT_FALSE(all->more);
  EXPECT_EQ(all->items[0].value, "v-/t/a/1");
  EXPECT_GT(all->items[0].mod_revision, 0);

  auto p1 = store().list("/t/a/", "", 2);
  ASSERT_TRUE(p1.is_ok());
  EXPECT_EQ(keys_of(*p1), (std::vector<std::string>{"/t/a/1", "/t/a/2"}));
  EXPECT_TRUE(p1->more);
  auto p2 = store().list("/t/a/", "/t/a/2", 2, p1->revision);
  ASSERT_TRUE(p2.is_ok()) << p2.status().to_string();
  EXPECT_EQ(keys_of(*p2), (std::vector<std::string>{"/t/a/3"}));
  EXPECT_FALSE(p2->more);
  EXPECT_EQ(p2->revision, p1->revision);

  auto exact = store().list("/t/", "", 2);
  ASSERT_TRUE(exact.is_ok());
  EXPECT_EQ(keys_of(*exact), (std::vector<std::string>{"/t/a", "/t/a/1"}));
  EXPECT_TRUE(exact->more);

  auto everything = store().list("", "", 0);
  ASSERT_TRUE(everything.is_ok());
  EXPECT_EQ(everything->items.size(), 6u);
  EXPECT_TRUE(std::is_sorted(everything->items.begin(), everything->items.end(),
                             [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; }));

  ASSERT_TRUE(store().remove("/t/a/2", 0).is_ok());
  EXPECT_EQ(keys_of(*store().list("/t/a/", "", 0)),
            (std::vector<std::string>{"/t/a/1", "/t/a/3"}));
  EXPECT_TRUE(store().list("/nothing/", "", 0)->items.empty());
}

TEST_P(StorageConformanceTest, ListAtOldRevision) {
  int64_t r1 = must(store().create("/t/k1", "v1"));
  int64_t r2 = must(store().update("/t/k1", "v2", r1));
  int64_t r3 = must(store().create("/t/k2", "w1"));
  int64_t r4 = must(store().remove("/t/k1", r2));

  auto at = [&](int64_t rev) {
    auto l = store().list("/t/", "", 0, rev);
    EXPECT_TRUE(l.is_ok()) << l.status().to_string();
    std::vector<std::string> out;
    if (!l.is_ok()) return out;
    EXPECT_EQ(l->revision, rev);
    for (const auto& kv : l->items) out.push_back(kv.key + "=" + kv.value);
    return out;
  };
  EXPECT_EQ(at(r1), (std::vector<std::string>{"/t/k1=v1"}));
  EXPECT_EQ(at(r2), (std::vector<std::string>{"/t/k1=v2"}));
  EXPECT_EQ(at(r3), (std::vector<std::string>{"/t/k1=v2", "/t/k2=w1"}));
  EXPECT_EQ(at(r4), (std::vector<std::string>{"/t/k2=w1"}));
  auto old = store().list("/t/", "", 0, r2);
  ASSERT_TRUE(old.is_ok());
  EXPECT_EQ(old->items[0].mod_revision, r2);
  EXPECT_EQ(old->items[0].create_revision, r1);
  EXPECT_FALSE(store().list("/t/", "", 0, r4 + 1000).is_ok()) << "future revision must fail";
}

TEST_P(StorageConformanceTest, CasUpdate) {
  int64_t r1 = must(store().create("/t/cas", "1"));
  auto r2 = store().update("/t/cas", "2", r1);
  ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
  EXPECT_GT(*r2, r1);

  auto stale = store().update("/t/cas", "3", r1);
  EXPECT_EQ(stale.status().code(), Code::kConflict);
  EXPECT_EQ(store().current_revision(), *r2) << "a failed CAS must not consume a revision";
  auto got = store().get("/t/cas");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->value, "2");
  EXPECT_EQ(got->mod_revision, *r2);
  EXPECT_EQ(got->create_revision, r1);
}

TEST_P(StorageConformanceTest, DeleteWithAndWithoutPrecondition) {
  int64_t r1 = must(store().create("/t/d1", "x"));
  int64_t r2 = must(store().update("/t/d1", "y", r1));
  EXPECT_EQ(store().remove("/t/d1", r1).status().code(), Code::kConflict);
  EXPECT_EQ(store().get("/t/d1")->value, "y");

  auto del = store().remove("/t/d1", r2);
  ASSERT_TRUE(del.is_ok()) << del.status().to_string();
  EXPECT_GT(*del, r2);
  EXPECT_EQ(store().current_revision(), *del);
  EXPECT_EQ(store().get("/t/d1").status().code(), Code::kNotFound);
  EXPECT_EQ(store().remove("/t/d1", 0).status().code(), Code::kNotFound);
  EXPECT_EQ(store().update("/t/d1", "z", *del).status().code(), Code::kNotFound);

  must(store().create("/t/d2", "x"));
  auto unconditional = store().remove("/t/d2", 0);
  ASSERT_TRUE(unconditional.is_ok()) << unconditional.status().to_string();
  EXPECT_EQ(store().get("/t/d2").status().code(), Code::kNotFound);
}

TEST_P(StorageConformanceTest, CreateAfterDeleteResetsCreateRevision) {
  int64_t r1 = must(store().create("/t/re", "a"));
  must(store().remove("/t/re", 0));
  auto r3 = store().create("/t/re", "b");
  ASSERT_TRUE(r3.is_ok()) << r3.status().to_string();
  auto got = store().get("/t/re");
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->value, "b");
  EXPECT_EQ(got->create_revision, *r3);
  EXPECT_NE(got->create_revision, r1);
  // And the cycle repeats.
  must(store().remove("/t/re", *r3));
  int64_t r5 = must(store().create("/t/re", "c"));
  EXPECT_EQ(store().get("/t/re")->create_revision, r5);
}

TEST_P(StorageConformanceTest, WatchFromRevisionSeesPastAndNewEventsInOrder) {
  int64_t start = store().current_revision();
  int64_t ra = must(store().create("/t/w/a", "a1"));
  int64_t ra2 = must(store().update("/t/w/a", "a2", ra));
  int64_t rb = must(store().create("/t/w/b", "b1"));
  int64_t rd = must(store().remove("/t/w/a", 0));

  auto w = store().watch("/t/w/", start);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  auto evs = read_events(**w, 4);
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0].type, Type::kCreated);
  EXPECT_EQ(evs[0].revision, ra);
  EXPECT_EQ(evs[0].kv.key, "/t/w/a");
  EXPECT_EQ(evs[0].kv.value, "a1");
  EXPECT_EQ(evs[0].kv.create_revision, ra);
  EXPECT_EQ(evs[0].kv.mod_revision, ra);
  EXPECT_FALSE(evs[0].prev.has_value());

  EXPECT_EQ(evs[1].type, Type::kUpdated);
  EXPECT_EQ(evs[1].revision, ra2);
  EXPECT_EQ(evs[1].kv.value, "a2");
  EXPECT_EQ(evs[1].kv.create_revision, ra);
  ASSERT_TRUE(evs[1].prev.has_value());
  EXPECT_EQ(evs[1].prev->value, "a1");
  EXPECT_EQ(evs[1].prev->mod_revision, ra);

  EXPECT_EQ(evs[2].type, Type::kCreated);
  EXPECT_EQ(evs[2].revision, rb);
  EXPECT_EQ(evs[2].kv.key, "/t/w/b");

  EXPECT_EQ(evs[3].type, Type::kDeleted);
  EXPECT_EQ(evs[3].revision, rd);
  EXPECT_EQ(evs[3].kv.key, "/t/w/a");
  EXPECT_EQ(evs[3].kv.value, "a2") << "a delete carries the last value";
  EXPECT_EQ(evs[3].kv.mod_revision, rd);
  ASSERT_TRUE(evs[3].prev.has_value());
  EXPECT_EQ(evs[3].prev->mod_revision, ra2);

  // Then it follows new writes.
  int64_t rc = must(store().create("/t/w/c", "c1"));
  auto more = read_events(**w, 1);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].revision, rc);
  EXPECT_EQ(more[0].kv.key, "/t/w/c");

  // Starting in the middle skips what came before.
  auto mid = store().watch("/t/w/", rb);
  ASSERT_TRUE(mid.is_ok());
  auto tail = read_events(**mid, 2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].revision, rd);
  EXPECT_EQ(tail[1].revision, rc);
}

TEST_P(StorageConformanceTest, WatchFiltersByPrefix) {
  auto w = store().watch("/t/p/", store().current_revision());
  ASSERT_TRUE(w.is_ok());
  must(store().create("/t/p/1", "x"));
  must(store().create("/t/q/1", "x"));
  must(store().create("/t/p", "x"));
  must(store().create("/t/pp/1", "x"));
  int64_t last = must(store().create("/t/p/2", "x"));
  auto evs = read_events(**w, 2);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].kv.key, "/t/p/1");
  EXPECT_EQ(evs[1].kv.key, "/t/p/2");
  EXPECT_EQ(evs[1].revision, last);
  EXPECT_FALSE((*w)->next(50ms).has_value());
  EXPECT_TRUE((*w)->status().is_ok());
}

TEST_P(StorageConformanceTest, WatchAtCurrentRevisionSeesOnlyNewWrites) {
  must(store().create("/t/n/old", "x"));
  auto w = store().watch("/t/n/", store().current_revision());
  ASSERT_TRUE(w.is_ok());
  auto none = (*w)->next(50ms);
  EXPECT_FALSE(none.has_value());
  EXPECT_TRUE((*w)->status().is_ok()) << "a timeout is not an error";
  int64_t r = must(store().create("/t/n/new", "y"));
  auto evs = read_events(**w, 1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kv.key, "/t/n/new");
  EXPECT_EQ(evs[0].revision, r);
}

TEST_P(StorageConformanceTest, WatchOnCompactedRevisionIsGone) {
  int64_t start = store().current_revision();
  int64_t r1 = must(store().create("/t/c/a", "1"));
  int64_t r2 = must(store().update("/t/c/a", "2", r1));
  int64_t r3 = must(store().update("/t/c/a", "3", r2));
  int64_t r4 = must(store().create("/t/c/b", "1"));
  ASSERT_TRUE(store().compact(r2).is_ok());
  EXPECT_GE(store().compacted_revision(), r2);

  auto gone = store().watch("/t/c/", start);
  if (gone.is_ok()) {
    // A backend may report kGone on the first next() instead of on watch().
    EXPECT_FALSE((*gone)->next(2s).has_value());
    EXPECT_EQ((*gone)->status().code(), Code::kGone);
  } else {
    EXPECT_EQ(gone.status().code(), Code::kGone);
  }
  EXPECT_EQ(store().list("/t/c/", "", 0, r1).status().code(), Code::kGone);

  auto ok = store().watch("/t/c/", r2);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  auto evs = read_events(**ok, 2);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].revision, r3);
  ASSERT_TRUE(evs[0].prev.has_value());
  EXPECT_EQ(evs[0].prev->value, "2") << "the predecessor of a retained event survives compaction";
  EXPECT_EQ(evs[1].revision, r4);
  auto l = store().list("/t/c/", "", 0, r2);
  ASSERT_TRUE(l.is_ok()) << l.status().to_string();
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(l->items[0].value, "2");
}

TEST_P(StorageConformanceTest, CompactionKeepsCurrentValues) {
  int64_t r = must(store().create("/t/k/a", "0"));
  for (int i = 1; i <= 5; ++i) r = must(store().update("/t/k/a", std::to_string(i), r));
  must(store().create("/t/k/b", "b"));
  must(store().create("/t/k/c", "c"));
  must(store().remove("/t/k/c", 0));
  int64_t cur = store().current_revision();
  ASSERT_TRUE(store().compact(cur).is_ok());
  EXPECT_EQ(store().compacted_revision(), cur);

  auto a = store().get("/t/k/a");
  ASSERT_TRUE(a.is_ok()) << a.status().to_string();
  EXPECT_EQ(a->value, "5");
  EXPECT_EQ(a->mod_revision, r);
  EXPECT_EQ(store().get("/t/k/c").status().code(), Code::kNotFound);
  auto l = store().list("/t/k/", "", 0);
  ASSERT_TRUE(l.is_ok());
  EXPECT_EQ(keys_of(*l), (std::vector<std::string>{"/t/k/a", "/t/k/b"}));
  EXPECT_EQ(l->revision, cur);
  // CAS still works against the surviving row, and a deleted key can return.
  EXPECT_TRUE(store().update("/t/k/a", "6", r).is_ok());
  EXPECT_TRUE(store().create("/t/k/c", "again").is_ok());
  EXPECT_EQ(store().current_revision(), cur + 2);
  // Compacting to the same revision again is harmless.
  EXPECT_TRUE(store().compact(cur).is_ok());
}

TEST_P(StorageConformanceTest, ConcurrentCasWritersExactlyOneWinsPerRevision) {
  constexpr int kThreads = 8;
  constexpr int kAttempts = 40;
  int64_t r0 = must(store().create("/t/counter", "0"));
  auto watch = store().watch("/t/counter", r0);
  ASSERT_TRUE(watch.is_ok());

  std::atomic<int> successes{0}, conflicts{0}, others{0};
  std::vector<std::vector<int64_t>> won(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttempts; ++i) {
        auto cur = store().get("/t/counter");
        if (!cur.is_ok()) {
          ++others;
          continue;
        }
        int n = std::stoi(cur->value);
        auto r = store().update("/t/counter", std::to_string(n + 1), cur->mod_revision);
        if (r.is_ok()) {
          ++successes;
          won[t].push_back(*r);
        } else if (r.status().code() == Code::kConflict) {
          ++conflicts;
        } else {
          ++others;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(others.load(), 0);
  EXPECT_EQ(successes + conflicts, kThreads * kAttempts);
  EXPECT_GT(successes.load(), 0);
  auto final_value = store().get("/t/counter");
  ASSERT_TRUE(final_value.is_ok());
  EXPECT_EQ(std::stoi(final_value->value), successes.load()) << "a lost update happened";

  std::vector<int64_t> all;
  for (const auto& v : won) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end())
      << "two writers got the same revision";
  // The history is a chain: each update's predecessor is the previous update.
  auto evs = read_events(**watch, static_cast<size_t>(successes.load()));
  ASSERT_EQ(evs.size(), all.size());
  int64_t prev = r0;
  for (size_t i = 0; i < evs.size(); ++i) {
    EXPECT_EQ(evs[i].revision, all[i]);
    ASSERT_TRUE(evs[i].prev.has_value());
    EXPECT_EQ(evs[i].prev->mod_revision, prev);
    EXPECT_EQ(evs[i].kv.value, std::to_string(i + 1));
    prev = evs[i].revision;
  }
}

TEST_P(StorageConformanceTest, ConcurrentWatchersSeeIdenticalGapFreeOrder) {
  constexpr int kWriters = 4;
  constexpr int kWritesPerWriter = 100;
  constexpr int kWatchers = 5;
  int64_t start = store().current_revision();

  // Two watchers start before the writes, the rest while they run.
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < 2; ++i) {
    auto w = store().watch("/t/cw/", start);
    ASSERT_TRUE(w.is_ok());
    streams.push_back(std::move(*w));
  }
  std::vector<std::vector<int64_t>> written(kWriters);
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerWriter; ++i) {
        std::string key = "/t/cw/" + std::to_string(t) + "/" + std::to_string(i % 10);
        Result<int64_t> r = Status::ok();
        if (i < 10) {
          r = store().create(key, "v" + std::to_string(i));
        } else if (i % 10 == 9) {
          r = store().remove(key, 0);
        } else {
          auto cur = store().get(key);
          r = cur.is_ok() ? store().update(key, "v" + std::to_string(i), cur->mod_revision)
                          : store().create(key, "v" + std::to_string(i));
        }
        if (r.is_ok()) written[t].push_back(*r);
      }
    });
  }
  for (int i = 2; i < kWatchers; ++i) {
    auto w = store().watch("/t/cw/", start);
    ASSERT_TRUE(w.is_ok());
    streams.push_back(std::move(*w));
  }
  for (auto& th : writers) th.join();
  std::vector<int64_t> expected;
  for (const auto& v : written) expected.insert(expected.end(), v.begin(), v.end());
  std::sort(expected.begin(), expected.end());
  ASSERT_FALSE(expected.empty());

  std::vector<std::vector<int64_t>> seen(kWatchers);
  std::vector<std::thread> readers;
  for (int i = 0; i < kWatchers; ++i) {
    readers.emplace_back([&, i] {
      for (const Event& ev : read_events(*streams[i], expected.size())) {
        seen[i].push_back(ev.revision);
      }
    });
  }
  for (auto& th : readers) th.join();
  for (int i = 0; i < kWatchers; ++i) {
    EXPECT_EQ(seen[i], expected) << "watcher " << i << " saw a different history";
  }
  // Nothing extra arrives.
  EXPECT_FALSE(streams[0]->next(50ms).has_value());
}

TEST_P(StorageConformanceTest, CloseUnblocksNext) {
  auto w = store().watch("/t/close/", store().current_revision());
  ASSERT_TRUE(w.is_ok());
  WatchStream& stream = **w;
  std::atomic<bool> returned{false};
  auto t0 = std::chrono::steady_clock::now();
  std::thread blocked([&] {
    auto ev = stream.next(30s);
    EXPECT_FALSE(ev.has_value());
    returned = true;
  });
  // Let the reader block, then close from another thread.
  while (std::chrono::steady_clock::now() - t0 < 50ms) std::this_thread::yield();
  stream.close();
  blocked.join();
  EXPECT_TRUE(returned.load());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  stream.close();  // idempotent
  EXPECT_FALSE(stream.next(10ms).has_value());
}

}  // namespace minik8s::storage::testing
