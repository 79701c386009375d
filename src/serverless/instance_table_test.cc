#include "minik8s/serverless/instance_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace minik8s::serverless {
namespace {

using namespace std::chrono_literals;

const std::string kKey = "default/hello";

FunctionConfig fn(const std::string& rev = "1", int target = 1) {
  FunctionConfig f;
  f.ns = "default";
  f.name = "hello";
  f.revision = rev;
  f.target_concurrency = target;
  return f;
}

InstanceRef inst(const std::string& pod, const std::string& rev = "1") {
  return InstanceRef{pod, "node-1", "10.88.0.2", 8080, rev};
}

SteadyClock::time_point in(std::chrono::milliseconds d) { return SteadyClock::now() + d; }

// Polls cond until it holds or 5 s pass.
template <typename F>
bool eventually(F cond) {
  auto deadline = SteadyClock::now() + 5s;
  while (SteadyClock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return cond();
}

TEST(InstanceTableTest, FunctionKey) { EXPECT_EQ(function_key("ns", "f"), "ns/f"); }

TEST(InstanceTableTest, UnknownFunctionIsNotFound) {
  InstanceTable t;
  auto r = t.acquire("default/nope", in(1s));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(InstanceTableTest, ImmediateLeaseWhenRoom) {
  InstanceTable t;
  t.set_function(fn());
  t.add_instance(kKey, inst("p1"));
  auto r = t.acquire(kKey, in(1s));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->instance.pod, "p1");
  EXPECT_FALSE(r->cold);
  EXPECT_EQ(r->function.revision, "1");
  EXPECT_EQ(t.in_flight(kKey, "p1"), 1);
  t.release(*r, false);
  EXPECT_EQ(t.in_flight(kKey, "p1"), 0);
}

TEST(InstanceTableTest, BalancesByFewestInFlightTiesByName) {
  InstanceTable t;
  t.set_function(fn("1", 3));
  t.add_instance(kKey, inst("b"));
  t.add_instance(kKey, inst("a"));
  std::vector<std::string> pods;
  std::vector<Lease> leases;
  for (int i = 0; i < 6; ++i) {
    auto r = t.acquire(kKey, in(1s));
    ASSERT_TRUE(r.is_ok());
    pods.push_back(r->instance.pod);
    leases.push_back(*r);
  }
  EXPECT_EQ(pods, (std::vector<std::string>{"a", "b", "a", "b", "a", "b"}));
  // Release two on b: the next goes to b (fewest in flight).
  t.release(leases[1], false);
  t.release(leases[3], false);
  auto r = t.acquire(kKey, in(1s));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->instance.pod, "b");
}

TEST(InstanceTableTest, TargetConcurrencyQueuesInsteadOfOverloading) {
  InstanceTable t;
  t.set_function(fn("1", 2));
  t.add_instance(kKey, inst("p1"));
  auto a = t.acquire(kKey, in(1s));
  auto b = t.acquire(kKey, in(1s));
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto c = t.acquire(kKey, in(50ms));
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  EXPECT_EQ(t.in_flight(kKey, "p1"), 2);
  // A queued one gets the slot when one is released.
  auto fut = std::async(std::launch::async, [&] { return t.acquire(kKey, in(5s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 1; }));
  EXPECT_EQ(t.in_flight(kKey, "p1"), 2);
  t.release(*a, false);
  auto d = fut.get();
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->instance.pod, "p1");
  EXPECT_FALSE(d->cold);  // an instance was ready, only busy
  EXPECT_EQ(t.in_flight(kKey, "p1"), 2);
}

TEST(InstanceTableTest, FifoWaiters) {
  InstanceTable t;
  t.set_function(fn());
  t.add_instance(kKey, inst("p1"));
  auto held = t.acquire(kKey, in(1s));
  ASSERT_TRUE(held.is_ok());
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  constexpr int kWaiters = 5;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      auto r = t.acquire(kKey, in(10s));
      ASSERT_TRUE(r.is_ok());
      {
        std::lock_guard l(mu);
        order.push_back(i);
      }
      t.release(*r, false);
    });
    // Each waiter queues before the next starts.
    ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == i + 1; }));
  }
  t.release(*held, false);
  for (auto& th : threads) th.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(InstanceTableTest, ColdWaiterServedWhenInstanceAppearsAndOnDemandFiresOnce) {
  std::atomic<int> demands{0};
  std::string demanded;
  InstanceTable t([&](const std::string& key) {
    demanded = key;
    ++demands;
  });
  t.set_function(fn());
  auto fut = std::async(std::launch::async, [&] { return t.acquire(kKey, in(5s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 1; }));
  ASSERT_TRUE(eventually([&] { return demands == 1; }));
  EXPECT_EQ(demanded, kKey);
  t.add_instance(kKey, inst("p1"));
  auto r = fut.get();
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r->cold);
  EXPECT_EQ(r->instance.pod, "p1");
  EXPECT_EQ(demands, 1);
  // With room, no demand.
  t.release(*r, false);
  auto r2 = t.acquire(kKey, in(1s));
  ASSERT_TRUE(r2.is_ok());
  EXPECT_EQ(demands, 1);
}

TEST(InstanceTableTest, TimeoutIsUnavailable) {
  InstanceTable t;
  t.set_function(fn());
  auto start = SteadyClock::now();
  auto r = t.acquire(kKey, in(100ms));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_GE(SteadyClock::now() - start, 100ms);
  EXPECT_EQ(t.load(kKey).queued, 0);  // the timed-out waiter left the queue
}

TEST(InstanceTableTest, RemoveFunctionWakesWaitersWithNotFound) {
  InstanceTable t;
  t.set_function(fn());
  auto f1 = std::async(std::launch::async, [&] { return t.acquire(kKey, in(10s)); });
  auto f2 = std::async(std::launch::async, [&] { return t.acquire(kKey, in(10s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 2; }));
  t.remove_function(kKey);
  ASSERT_EQ(f1.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(5s), std::future_status::ready);
  auto r1 = f1.get(), r2 = f2.get();
  EXPECT_EQ(r1.status().code(), Code::kNotFound);
  EXPECT_EQ(r2.status().code(), Code::kNotFound);
  EXPECT_TRUE(t.functions().empty());
}

TEST(InstanceTableTest, ShutdownWakesWaitersAndRefusesLater) {
  InstanceTable t;
  t.set_function(fn());
  auto f1 = std::async(std::launch::async, [&] { return t.acquire(kKey, in(10s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 1; }));
  t.shutdown();
  ASSERT_EQ(f1.wait_for(5s), std::future_status::ready);
  auto r = f1.get();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("shutting down"), std::string::npos);
  t.add_instance(kKey, inst("p1"));
  auto r2 = t.acquire(kKey, in(1s));
  EXPECT_FALSE(r2.is_ok());
}

TEST(InstanceTableTest, RevisionSwitchDrainsOldInstances) {
  InstanceTable t;
  t.set_function(fn("1", 1));
  t.add_instance(kKey, inst("old", "1"));
  auto old_lease = t.acquire(kKey, in(1s));
  ASSERT_TRUE(old_lease.is_ok());
  t.set_function(fn("2", 1));
  t.release(*old_lease, false);
  // "old" is idle now but of another revision: a request waits.
  auto fut = std::async(std::launch::async, [&] { return t.acquire(kKey, in(5s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 1; }));
  EXPECT_EQ(t.load(kKey).ready, 0);
  t.add_instance(kKey, inst("new", "2"));
  auto r = fut.get();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->instance.pod, "new");
  EXPECT_EQ(r->function.revision, "2");
  EXPECT_EQ(t.instances(kKey).size(), 2u);  // the old one is known until removed
}

TEST(InstanceTableTest, RevisionSwitchLetsInFlightFinish) {
  InstanceTable t;
  t.set_function(fn("1", 2));
  t.add_instance(kKey, inst("old", "1"));
  auto a = t.acquire(kKey, in(1s));
  ASSERT_TRUE(a.is_ok());
  t.set_function(fn("2", 2));
  t.add_instance(kKey, inst("new", "2"));
  auto b = t.acquire(kKey, in(1s));
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->instance.pod, "new");  // though old has fewer... equal, and room
  EXPECT_EQ(t.in_flight(kKey, "old"), 1);
  t.release(*a, false);
  EXPECT_EQ(t.in_flight(kKey, "old"), 0);
  t.remove_instance(kKey, "old");
  EXPECT_EQ(t.instances(kKey).size(), 1u);
}

TEST(InstanceTableTest, DrainedInstanceGetsNoNewRequests) {
  InstanceTable t;
  t.set_function(fn("1", 5));
  t.add_instance(kKey, inst("a"));
  t.add_instance(kKey, inst("b"));
  t.drain_instance(kKey, "a");
  for (int i = 0; i < 5; ++i) {
    auto r = t.acquire(kKey, in(1s));
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->instance.pod, "b");
  }
  EXPECT_EQ(t.load(kKey).ready, 1);
  t.add_instance(kKey, inst("a"));  // undrained
  auto r = t.acquire(kKey, in(1s));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->instance.pod, "a");
}

TEST(InstanceTableTest, FailedInstanceExcludedAndReported) {
  InstanceTable t;
  t.set_function(fn("1", 5));
  t.add_instance(kKey, inst("a"));
  t.add_instance(kKey, inst("b"));
  auto r = t.acquire(kKey, in(1s));
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->instance.pod, "a");
  t.release(*r, true);
  for (int i = 0; i < 4; ++i) {
    auto x = t.acquire(kKey, in(1s));
    ASSERT_TRUE(x.is_ok());
    EXPECT_EQ(x->instance.pod, "b");
  }
  auto failed = t.take_failed();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0], std::make_pair(kKey, std::string("a")));
  EXPECT_TRUE(t.take_failed().empty());
  t.add_instance(kKey, inst("a"));  // re-adding does not revive a failed instance
  EXPECT_EQ(t.load(kKey).ready, 1);
}

TEST(InstanceTableTest, LoadNumbers) {
  InstanceTable t;
  t.set_function(fn("1", 1));
  EXPECT_EQ(t.load(kKey).last_request, SteadyClock::time_point{});
  t.add_instance(kKey, inst("a"));
  t.add_instance(kKey, inst("b"));
  t.add_instance(kKey, inst("c"));
  t.drain_instance(kKey, "c");
  auto before = SteadyClock::now();
  auto x = t.acquire(kKey, in(1s));
  auto y = t.acquire(kKey, in(1s));
  ASSERT_TRUE(x.is_ok() && y.is_ok());
  auto fut = std::async(std::launch::async, [&] { return t.acquire(kKey, in(5s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 1; }));
  Load l = t.load(kKey);
  EXPECT_EQ(l.in_flight, 2);
  EXPECT_EQ(l.queued, 1);
  EXPECT_EQ(l.ready, 2);
  EXPECT_EQ(l.requests, 2u);
  EXPECT_GE(l.last_request, before);
  t.release(*x, false);
  auto z = fut.get();
  ASSERT_TRUE(z.is_ok());
  l = t.load(kKey);
  EXPECT_EQ(l.in_flight, 2);
  EXPECT_EQ(l.queued, 0);
  EXPECT_EQ(l.requests, 3u);
  EXPECT_EQ(t.load("default/none").requests, 0u);
  EXPECT_EQ(t.functions(), std::vector<std::string>{kKey});
}

TEST(InstanceTableTest, TargetGrowthWakesWaiters) {
  InstanceTable t;
  t.set_function(fn("1", 1));
  t.add_instance(kKey, inst("a"));
  auto x = t.acquire(kKey, in(1s));
  ASSERT_TRUE(x.is_ok());
  auto fut = std::async(std::launch::async, [&] { return t.acquire(kKey, in(5s)); });
  ASSERT_TRUE(eventually([&] { return t.load(kKey).queued == 1; }));
  t.set_function(fn("1", 2));
  auto r = fut.get();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(t.in_flight(kKey, "a"), 2);
}

// Many threads acquire and release against few slots while instances come and
// go: every acquire is answered (no lost wakeup) well before its deadline, and
// no instance ever exceeds the target.
TEST(InstanceTableTest, StressNoLostWakeupsNoOverload) {
  InstanceTable t;
  constexpr int kTarget = 2;
  t.set_function(fn("1", kTarget));
  t.add_instance(kKey, inst("a"));
  t.add_instance(kKey, inst("b"));
  std::mutex mu;
  std::map<std::string, int> busy;
  std::atomic<bool> overloaded{false};
  std::atomic<int> ok{0}, failed{0};
  constexpr int kThreads = 32, kIters = 200;
  std::vector<std::thread> threads;
  auto test_deadline = SteadyClock::now() + 20s;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < kIters; ++j) {
        auto r = t.acquire(kKey, test_deadline);
        if (!r.is_ok()) {
          ++failed;
          return;
        }
        {
          std::lock_guard l(mu);
          if (++busy[r->instance.pod] > kTarget) overloaded = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard l(mu);
          --busy[r->instance.pod];
        }
        t.release(*r, false);
        ++ok;
      }
    });
  }
  // Churn: a third instance comes and goes.
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop) {
      t.add_instance(kKey, inst("c"));
      std::this_thread::yield();
      t.drain_instance(kKey, "c");
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  stop = true;
  churn.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(ok, kThreads * kIters);
  EXPECT_FALSE(overloaded);
  EXPECT_LT(SteadyClock::now(), test_deadline);
  Load l = t.load(kKey);
  EXPECT_EQ(l.in_flight, 0);
  EXPECT_EQ(l.queued, 0);
  EXPECT_EQ(l.requests, static_cast<uint64_t>(kThreads * kIters));
}

}  // namespace
}  // namespace minik8s::serverless
