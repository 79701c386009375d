#include "minik8s/client/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;

template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::yield();
  }
  return f();
}

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  std::string k;
  ASSERT_TRUE(q.get(k));
  EXPECT_EQ(k, "a");
  ASSERT_TRUE(q.get(k));
  EXPECT_EQ(k, "b");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, ReAddWhileProcessingIsQueuedAfterDone) {
  WorkQueue q;
  q.add("a");
  std::string k;
  ASSERT_TRUE(q.get(k));
  q.add("a");
  q.add("a");
  EXPECT_EQ(q.len(), 0u) << "a processing key must not be handed out again";
  q.done("a");
  EXPECT_EQ(q.len(), 1u);
  ASSERT_TRUE(q.get(k));
  EXPECT_EQ(k, "a");
  q.done("a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, ShutdownUnblocksGet) {
  WorkQueue q;
  std::atomic<int> returned{0};
  std::atomic<bool> got{true};
  std::thread t([&] {
    std::string k;
    got = q.get(k);
    returned = 1;
  });
  q.shutdown();
  t.join();
  EXPECT_EQ(returned.load(), 1);
  EXPECT_FALSE(got.load());
  EXPECT_TRUE(q.shutting_down());
  q.add("x");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueue, ConcurrentWorkersNeverShareAKeyAndProcessEverything) {
  WorkQueue q;
  constexpr int kKeys = 50;
  constexpr int kAddsPerKey = 40;
  std::mutex mu;
  std::map<std::string, int> in_flight;
  std::map<std::string, int> processed;
  std::atomic<bool> overlap{false};
  std::atomic<int> last_add_seen{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      std::string k;
      while (q.get(k)) {
        {
          std::lock_guard lock(mu);
          if (in_flight[k]++ > 0) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard lock(mu);
          in_flight[k]--;
          processed[k]++;
        }
        q.done(k);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kAddsPerKey; ++i) {
        for (int k = p; k < kKeys; k += 4) q.add("k" + std::to_string(k));
      }
    });
  }
  for (auto& t : producers) t.join();
  // After the last add, each key must be processed at least once more.
  std::map<std::string, int> snapshot;
  {
    std::lock_guard lock(mu);
    snapshot = processed;
  }
  q.add("sentinel");
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    if (!processed.count("sentinel")) return false;
    for (int k = 0; k < kKeys; ++k) {
      if (processed["k" + std::to_string(k)] == 0) return false;
    }
    return q.len() == 0;
  }));
  q.shutdown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  for (int k = 0; k < kKeys; ++k) EXPECT_GE(processed["k" + std::to_string(k)], 1);
}

TEST(WorkQueue, AddAfterFiresLater) {
  WorkQueue q;
  auto start = std::chrono::steady_clock::now();
  q.add_after("a", 50ms);
  EXPECT_EQ(q.len(), 0u);
  std::string k;
  ASSERT_TRUE(q.get(k));
  EXPECT_EQ(k, "a");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(WorkQueue, AddAfterKeepsEarliestDeadline) {
  WorkQueue q;
  q.add_after("a", 1h);
  q.add_after("a", 10ms);
  EXPECT_TRUE(eventually([&] { return q.len() == 1; }));
}

TEST(ExponentialBackoff, DoublesAndCapsAndForgets) {
  ExponentialBackoff b(5ms, 40ms);
  EXPECT_EQ(b.when("a"), 5ms);
  EXPECT_EQ(b.when("a"), 10ms);
  EXPECT_EQ(b.when("a"), 20ms);
  EXPECT_EQ(b.when("a"), 40ms);
  EXPECT_EQ(b.when("a"), 40ms);
  EXPECT_EQ(b.when("b"), 5ms);
  EXPECT_EQ(b.failures("a"), 5);
  b.forget("a");
  EXPECT_EQ(b.failures("a"), 0);
  EXPECT_EQ(b.when("a"), 5ms);
}

TEST(ExponentialBackoff, DefaultCapIsThousandSecondsWithoutOverflow) {
  ExponentialBackoff b;
  std::chrono::nanoseconds last{};
  for (int i = 0; i < 200; ++i) last = b.when("k");
  EXPECT_EQ(last, std::chrono::seconds(1000));
}

TEST(WorkQueue, RateLimitedAddsBackOff) {
  WorkQueue q({.base_delay = 20ms, .max_delay = 1s});
  std::string k;
  auto t0 = std::chrono::steady_clock::now();
  q.add_rate_limited("a");  // 20ms
  ASSERT_TRUE(q.get(k));
  auto first = std::chrono::steady_clock::now() - t0;
  q.done(k);
  EXPECT_GE(first, 20ms);
  auto t1 = std::chrono::steady_clock::now();
  q.add_rate_limited("a");  // 40ms
  ASSERT_TRUE(q.get(k));
  EXPECT_GE(std::chrono::steady_clock::now() - t1, 40ms);
  q.done(k);
  EXPECT_EQ(q.num_requeues("a"), 2);
  q.forget("a");
  EXPECT_EQ(q.num_requeues("a"), 0);
}

}  // namespace
}  // namespace minik8s::client
