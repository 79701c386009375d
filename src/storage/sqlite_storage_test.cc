#include "sqlite_storage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <thread>

#include "test/storage/storage_conformance.h"

namespace minik8s::storage {
namespace {

using namespace std::chrono_literals;
using testing::StorageFactory;

SqliteOptions test_options(const std::string& dir) {
  SqliteOptions o;
  o.path = dir + "/store.db";
  o.compaction_interval = 0ms;  // the suite compacts explicitly
  return o;
}

MINIK8S_STORAGE_CONFORMANCE(Sqlite, StorageFactory{"sqlite", [](const std::string& dir) {
                                                     auto s = open_sqlite_storage(
                                                         test_options(dir));
                                                     EXPECT_TRUE(s.is_ok())
                                                         << s.status().to_string();
                                                     return s.is_ok() ? std::move(*s)
                                                                      : nullptr;
                                                   }});

class SqliteStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = (std::filesystem::temp_directory_path() /
            ("mk-sqlite-" + std::to_string(::getpid()) + "-" + std::to_string(rd())))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<SqliteStorage> open(SqliteOptions o) {
    auto s = SqliteStorage::open(o);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<SqliteStorage> open() { return open(test_options(dir_)); }

  std::string dir_;
};

TEST_F(SqliteStorageTest, RejectsInMemoryAndBadPaths) {
  SqliteOptions o;
  o.path = ":memory:";
  EXPECT_EQ(SqliteStorage::open(o).status().code(), Code::kInvalid);
  o.path = "";
  EXPECT_EQ(SqliteStorage::open(o).status().code(), Code::kInvalid);
  o.path = dir_ + "/no/such/dir/store.db";
  EXPECT_EQ(SqliteStorage::open(o).status().code(), Code::kInternal);
  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->create("", "x").status().code(), Code::kInvalid);
}

TEST_F(SqliteStorageTest, OneOwnerPerDatabaseFile) {
  auto first = open();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(SqliteStorage::open(test_options(dir_)).status().code(), Code::kUnavailable);
  first.reset();
  auto second = open();
  EXPECT_NE(second, nullptr);
}

TEST_F(SqliteStorageTest, ReopenKeepsDataAndRevision) {
  int64_t rev = 0;
  {
    auto s = open();
    ASSERT_NE(s, nullptr);
    auto r1 = s->create("/k/a", "alpha");
    ASSERT_TRUE(r1.is_ok());
    ASSERT_TRUE(s->update("/k/a", "beta", *r1).is_ok());
    ASSERT_TRUE(s->create("/k/b", "gamma").is_ok());
    auto d = s->remove("/k/b", 0);
    ASSERT_TRUE(d.is_ok());
    rev = *d;
    // Compact everything: the tombstone of the newest write is gone from the
    // table, yet the revision must not go backwards.
    ASSERT_TRUE(s->compact(rev).is_ok());
  }
  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->current_revision(), rev);
  EXPECT_EQ(s->compacted_revision(), rev);
  auto a = s->get("/k/a");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->value, "beta");
  EXPECT_EQ(s->get("/k/b").status().code(), Code::kNotFound);
  auto next = s->create("/k/c", "delta");
  ASSERT_TRUE(next.is_ok());
  EXPECT_EQ(*next, rev + 1);
  auto l = s->list("/k/", "", 0);
  ASSERT_TRUE(l.is_ok());
  EXPECT_EQ(l->revision, rev + 1);
  EXPECT_EQ(l->items.size(), 2u);
}

TEST_F(SqliteStorageTest, CompactionWindowKeepsLastNRevisions) {
  SqliteOptions o = test_options(dir_);
  o.compaction_keep_revisions = 5;
  o.compaction_keep_age = 0s;
  auto s = open(o);
  ASSERT_NE(s, nullptr);
  auto r = s->create("/k/x", "0");
  ASSERT_TRUE(r.is_ok());
  int64_t rev = *r;
  for (int i = 1; i < 20; ++i) {
    auto u = s->update("/k/x", std::to_string(i), rev);
    ASSERT_TRUE(u.is_ok());
    rev = *u;
  }
  ASSERT_TRUE(s->create("/k/y", "y").is_ok());
  int64_t cur = s->current_revision();
  auto target = s->compact_by_policy();
  ASSERT_TRUE(target.is_ok()) << target.status().to_string();
  EXPECT_EQ(*target, cur - 5);
  EXPECT_EQ(s->compacted_revision(), cur - 5);
  // Rows left: /k/x's value as of the target (still needed for lists and
  // watch prev values at the target) plus the 4 later /k/x rows and /k/y.
  EXPECT_EQ(*s->row_count(), 6);
  EXPECT_TRUE(s->watch("/k/", cur - 5).is_ok());
  EXPECT_EQ(s->watch("/k/", cur - 6).status().code(), Code::kGone);
  EXPECT_EQ(s->get("/k/x")->value, "19");
  auto old = s->list("/k/", "", 0, cur - 5);
  ASSERT_TRUE(old.is_ok()) << old.status().to_string();
  ASSERT_EQ(old->items.size(), 1u);
  EXPECT_EQ(old->items[0].value, "15");
  // Running the policy again without new writes changes nothing.
  EXPECT_EQ(*s->compact_by_policy(), cur - 5);
  // A second pass also removes rows that survived the first one and are
  // superseded now (/k/y's only row, and /k/x's row kept at the old target).
  EXPECT_EQ(s->get("/k/x")->mod_revision, rev);
  ASSERT_TRUE(s->update("/k/y", "y2", cur).is_ok());
  for (int i = 20; i < 30; ++i) rev = *s->update("/k/x", std::to_string(i), rev);
  cur = s->current_revision();
  EXPECT_EQ(*s->compact_by_policy(), cur - 5);
  // Left: the 6 newest /k/x rows (one at the target) and /k/y's update.
  EXPECT_EQ(*s->row_count(), 7);
  EXPECT_EQ(s->get("/k/y")->value, "y2");
  EXPECT_EQ(s->get("/k/x")->value, "29");
}

TEST_F(SqliteStorageTest, CompactionRespectsKeepAge) {
  SqliteOptions o = test_options(dir_);
  o.compaction_keep_revisions = 0;
  o.compaction_keep_age = 3600s;
  auto s = open(o);
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->create("/k/" + std::to_string(i), "v").is_ok());
  auto r = s->compact_by_policy();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, 0) << "nothing is older than keep_age yet";
  EXPECT_EQ(s->compacted_revision(), 0);
}

TEST_F(SqliteStorageTest, BackgroundCompactorRuns) {
  SqliteOptions o = test_options(dir_);
  o.compaction_keep_revisions = 3;
  o.compaction_keep_age = 0s;
  o.compaction_interval = 20ms;
  auto s = open(o);
  ASSERT_NE(s, nullptr);
  auto r = s->create("/k/x", "0");
  ASSERT_TRUE(r.is_ok());
  int64_t rev = *r;
  for (int i = 0; i < 10; ++i) rev = *s->update("/k/x", std::to_string(i), rev);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (s->compacted_revision() < rev - 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(s->compacted_revision(), rev - 3);
  EXPECT_EQ(*s->row_count(), 4);
}

TEST_F(SqliteStorageTest, CompactedRevisionSurvivesRestart) {
  int64_t compacted = 0;
  {
    auto s = open();
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->create("/k/" + std::to_string(i), "v").is_ok());
    compacted = s->current_revision() - 3;
    ASSERT_TRUE(s->compact(compacted).is_ok());
  }
  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->compacted_revision(), compacted);
  EXPECT_EQ(s->watch("/k/", compacted - 1).status().code(), Code::kGone);
  EXPECT_EQ(s->list("/k/", "", 0, compacted - 1).status().code(), Code::kGone);
  EXPECT_EQ(s->list("/k/", "", 0)->items.size(), 10u);
  EXPECT_EQ(s->compact(s->current_revision() + 1).code(), Code::kBadRequest);
}

// A stream far behind the in-memory ring catches up from the table, in
// order and without gaps, then follows live writes.
TEST_F(SqliteStorageTest, SlowWatcherCatchesUpFromTable) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  auto w = s->watch("/k/", 0);
  ASSERT_TRUE(w.is_ok());
  auto other = s->watch("/other/", 0);
  ASSERT_TRUE(other.is_ok());
  constexpr int kWrites = 10000;  // more than the ring holds
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t; i < kWrites; i += 2) {
        std::string prefix = i % 5 == 0 ? "/other/" : "/k/";
        ASSERT_TRUE(s->create(prefix + std::to_string(i), std::to_string(i)).is_ok());
      }
    });
  }
  for (auto& th : writers) th.join();
  int64_t expect_rev = 0;
  int got = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got < kWrites * 4 / 5 && std::chrono::steady_clock::now() < deadline) {
    auto ev = (*w)->next(100ms);
    if (!ev) {
      ASSERT_TRUE((*w)->status().is_ok()) << (*w)->status().to_string();
      continue;
    }
    EXPECT_GT(ev->revision, expect_rev);
    EXPECT_EQ(ev->kv.key.rfind("/k/", 0), 0u);
    expect_rev = ev->revision;
    ++got;
  }
  EXPECT_EQ(got, kWrites * 4 / 5);
  auto live = s->create("/k/live", "x");
  ASSERT_TRUE(live.is_ok());
  auto ev = (*w)->next(5s);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->revision, *live);

  // A stream behind the ring whose position is then compacted ends with kGone.
  ASSERT_TRUE(s->compact(s->current_revision()).is_ok());
  auto ev2 = (*other)->next(2s);
  EXPECT_FALSE(ev2.has_value());
  EXPECT_EQ((*other)->status().code(), Code::kGone);
}

std::string describe(const Event& e) {
  std::string s = std::to_string(static_cast<int>(e.type)) + "@" + std::to_string(e.revision) +
                  " " + e.kv.key + "=" + e.kv.value + " c" + std::to_string(e.kv.create_revision) +
                  " m" + std::to_string(e.kv.mod_revision);
  if (e.prev) {
    s += " prev{" + e.prev->value + " c" + std::to_string(e.prev->create_revision) + " m" +
         std::to_string(e.prev->mod_revision) + "}";
  }
  return s;
}

// Events replayed from the table (after a restart the ring is empty) equal
// the events delivered live from the ring, field by field.
TEST_F(SqliteStorageTest, EventsFromTableEqualLiveEvents) {
  std::vector<std::string> live;
  {
    auto s = open();
    ASSERT_NE(s, nullptr);
    auto w = s->watch("/k/", 0);
    ASSERT_TRUE(w.is_ok());
    int64_t a = *s->create("/k/a", "a1");
    int64_t a2 = *s->update("/k/a", "a2", a);
    ASSERT_TRUE(s->create("/k/b", "b1").is_ok());
    ASSERT_TRUE(s->create("/other", "x").is_ok());
    ASSERT_TRUE(s->remove("/k/a", a2).is_ok());
    int64_t a3 = *s->create("/k/a", "a3");
    ASSERT_TRUE(s->update("/k/a", "", a3).is_ok());
    for (int i = 0; i < 6; ++i) {
      auto ev = (*w)->next(5s);
      ASSERT_TRUE(ev.has_value()) << (*w)->status().to_string();
      live.push_back(describe(*ev));
    }
  }
  auto s = open();
  ASSERT_NE(s, nullptr);
  auto w = s->watch("/k/", 0);
  ASSERT_TRUE(w.is_ok());
  std::vector<std::string> replayed;
  for (int i = 0; i < 6; ++i) {
    auto ev = (*w)->next(5s);
    ASSERT_TRUE(ev.has_value()) << (*w)->status().to_string();
    replayed.push_back(describe(*ev));
  }
  EXPECT_EQ(replayed, live);
  EXPECT_FALSE((*w)->next(20ms).has_value());
}

TEST_F(SqliteStorageTest, SynchronousFullWorks) {
  SqliteOptions o = test_options(dir_);
  o.synchronous_full = true;
  {
    auto s = open(o);
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->create("/k/a", "x").is_ok());
  }
  auto s = open(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->get("/k/a")->value, "x");
}

// ~100 concurrent streams (blocked in next()) all receive every event, in order.
TEST_F(SqliteStorageTest, HundredWatchersReceiveEveryEvent) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  constexpr int kWatchers = 100;
  constexpr int kWrites = 200;
  int64_t start = s->current_revision();
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < kWatchers; ++i) {
    auto w = s->watch("/k/", start);
    ASSERT_TRUE(w.is_ok());
    streams.push_back(std::move(*w));
  }
  std::vector<int> bad(kWatchers, 0), got(kWatchers, 0);
  std::vector<std::thread> readers;
  for (int i = 0; i < kWatchers; ++i) {
    readers.emplace_back([&, i] {
      int64_t expect = start + 1;
      auto deadline = std::chrono::steady_clock::now() + 20s;
      while (got[i] < kWrites && std::chrono::steady_clock::now() < deadline) {
        auto ev = streams[i]->next(200ms);
        if (!ev) continue;
        if (ev->revision != expect) ++bad[i];
        expect = ev->revision + 1;
        ++got[i];
      }
    });
  }
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(s->create("/k/" + std::to_string(i), "v").is_ok());
  }
  for (auto& th : readers) th.join();
  for (int i = 0; i < kWatchers; ++i) {
    EXPECT_EQ(got[i], kWrites) << "watcher " << i;
    EXPECT_EQ(bad[i], 0) << "watcher " << i << " saw a gap or reordering";
  }
}

TEST_F(SqliteStorageTest, StreamOutlivesStore) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  auto w = s->watch("/k/", 0);
  ASSERT_TRUE(w.is_ok());
  ASSERT_TRUE(s->create("/k/a", "x").is_ok());
  s.reset();
  auto ev = (*w)->next(1s);
  EXPECT_FALSE(ev.has_value());
  EXPECT_EQ((*w)->status().code(), Code::kUnavailable);
}

// Throughput and latency of creates with 8 concurrent writers (the API
// server's target is >= 2,000 creates/s with p99 <= 10 ms end to end; the
// store must be well inside that). Prints the numbers; asserts loose bounds
// so that a busy CI machine does not flake.
TEST_F(SqliteStorageTest, ConcurrentCreateThroughput) {
  auto s = open();
  ASSERT_NE(s, nullptr);
  const int kThreads = std::getenv("MK_PERF_THREADS") ? std::atoi(std::getenv("MK_PERF_THREADS")) : 8;
  constexpr int kPerThread = 1000;
  std::string value(600, 'x');
  std::vector<std::vector<double>> lat(kThreads);
  std::vector<std::thread> threads;
  std::clock_t cpu0 = std::clock();
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto a = std::chrono::steady_clock::now();
        auto r = s->create("/registry/configmaps/b/" + std::to_string(t) + "-" + std::to_string(i),
                           value);
        lat[t].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a)
                .count());
        ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu_us = 1e6 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  double rate = all.size() / secs;
  double p50 = all[all.size() / 2];
  double p99 = all[all.size() * 99 / 100];
  std::printf(
      "[ perf ] %d creates by %d threads: %.0f/s, p50 %.3f ms, p99 %.3f ms, %.1f us CPU/create\n",
      kThreads * kPerThread, kThreads, rate, p50, p99, cpu_us / all.size());
  EXPECT_EQ(s->current_revision(), kThreads * kPerThread);
  EXPECT_GT(rate, 1000.0);
  EXPECT_LT(p99, 50.0);
}

}  // namespace
}  // namespace minik8s::storage
