#include "minik8s/serverless/autoscaler.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test/fakes/eventually.h"

namespace minik8s::serverless {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Time points far from the steady clock's epoch (epoch means "no request").
const SteadyClock::time_point kT0 = SteadyClock::time_point{} + std::chrono::hours(1);
SteadyClock::time_point at(int s) { return kT0 + seconds(s); }
const SteadyClock::time_point kNever{};

ScaleSettings settings(double target, int min_scale = 0, int max_scale = 0) {
  ScaleSettings s;
  s.target_concurrency = target;
  s.min_scale = min_scale;
  s.max_scale = max_scale;
  return s;
}

// Samples `value` every second in [from, to].
void fill(Kpa& k, int from, int to, double value) {
  for (int t = from; t <= to; t++) k.record(at(t), value);
}

// A decider that has already decided once with nothing ready (a function that
// started from zero), so the restart rule (start in panic when > 1 ready)
// stays out of the way.
Kpa primed(KpaConfig cfg = {}) {
  Kpa k(cfg);
  k.decide(at(0), 0, false, kNever, settings(1));
  return k;
}

// ---- Knative's documented behaviour

TEST(Kpa, StableModeAveragesTheStableWindow) {
  // Target 10 per instance, 35 concurrent on average over 60 s → 4 instances.
  Kpa k = primed();
  fill(k, 1, 60, 35);
  auto d = k.decide(at(60), 4, true, at(60), settings(10));
  EXPECT_EQ(d.desired, 4);
  EXPECT_FALSE(d.panic);
  EXPECT_DOUBLE_EQ(d.stable_concurrency, 35);
  EXPECT_DOUBLE_EQ(d.panic_concurrency, 35);
}

TEST(Kpa, StableWindowDropsOldSamples) {
  Kpa k = primed();
  fill(k, 1, 60, 100);
  fill(k, 61, 120, 20);  // the first minute has left the window
  auto d = k.decide(at(120), 2, true, at(120), settings(10));
  EXPECT_DOUBLE_EQ(d.stable_concurrency, 20);
  EXPECT_EQ(d.desired, 2);
}

TEST(Kpa, PanicStartsWhenThePanicWindowWantsTwiceReady) {
  Kpa k = primed();
  fill(k, 1, 54, 10);
  fill(k, 55, 60, 40);  // panic window: 40 → 4 instances = 2 × 2 ready
  auto d = k.decide(at(60), 2, true, at(60), settings(10));
  EXPECT_TRUE(d.panic);
  EXPECT_DOUBLE_EQ(d.panic_concurrency, 40);
  EXPECT_DOUBLE_EQ(d.stable_concurrency, 13);  // (54×10 + 6×40) / 60
  EXPECT_EQ(d.desired, 4);                     // the panic count, not the stable 2
}

TEST(Kpa, BelowThePanicThresholdStaysStable) {
  Kpa k = primed();
  fill(k, 1, 54, 10);
  fill(k, 55, 60, 30);  // panic window: 3 instances < 2 × 2 ready
  auto d = k.decide(at(60), 2, true, at(60), settings(10));
  EXPECT_FALSE(d.panic);
  EXPECT_EQ(d.desired, 2);  // ceil(12 / 10)
}

TEST(Kpa, PanicNeverScalesDownAndLastsAStableWindow) {
  Kpa k = primed();
  fill(k, 1, 60, 1);
  EXPECT_EQ(k.decide(at(60), 1, true, at(60), settings(1)).desired, 1);
  fill(k, 61, 66, 10);  // burst: 10 in the panic window, 1 ready
  auto d = k.decide(at(66), 1, true, at(66), settings(1));
  EXPECT_TRUE(d.panic);
  EXPECT_EQ(d.desired, 10);
  // The burst is over at once; panic (and its 10) holds for 60 s after the
  // last tick over the threshold (66 s).
  for (int t = 67; t <= 126; t++) {
    k.record(at(t), 1);
    if (t % 2 != 0) continue;
    d = k.decide(at(t), 10, true, at(t), settings(1));
    ASSERT_TRUE(d.panic) << "t=" << t;
    ASSERT_EQ(d.desired, 10) << "t=" << t;
  }
  k.record(at(127), 1);
  k.record(at(128), 1);
  d = k.decide(at(128), 10, true, at(128), settings(1));
  EXPECT_FALSE(d.panic);
  EXPECT_EQ(d.desired, 5);  // stable says 1; down by at most 2× per tick
}

TEST(Kpa, PanicGrowsWhileItLasts) {
  Kpa k = primed();
  fill(k, 1, 6, 4);
  EXPECT_EQ(k.decide(at(6), 1, true, at(6), settings(1)).desired, 4);
  fill(k, 7, 12, 20);
  auto d = k.decide(at(12), 4, true, at(12), settings(1));
  EXPECT_TRUE(d.panic);
  EXPECT_EQ(d.desired, 20);
}

TEST(Kpa, ScaleUpRateBoundsEachTick) {
  // Knative's default max-scale-up-rate: at most 1000 × ready.
  Kpa k = primed();
  fill(k, 1, 6, 5000);
  EXPECT_EQ(k.decide(at(6), 1, true, at(6), settings(1)).desired, 1000);

  // A slower rate still grows by at least one instance: ceil(1.1 × 3) = 4.
  KpaConfig slow;
  slow.max_scale_up_rate = 1.1;
  Kpa s = primed(slow);
  fill(s, 1, 60, 5);  // 5 wanted, 5/3 < 2: stable mode
  auto d = s.decide(at(60), 3, true, at(60), settings(1));
  EXPECT_FALSE(d.panic);
  EXPECT_EQ(d.desired, 4);
}

TEST(Kpa, ScaleDownRateHalvesAtMostPerTick) {
  Kpa k = primed();
  fill(k, 1, 60, 5);  // 1 instance wanted at target 10
  EXPECT_EQ(k.decide(at(60), 8, true, at(60), settings(10)).desired, 4);
  k.record(at(61), 5);
  k.record(at(62), 5);
  EXPECT_EQ(k.decide(at(62), 4, true, at(62), settings(10)).desired, 2);
  k.record(at(63), 5);
  k.record(at(64), 5);
  EXPECT_EQ(k.decide(at(64), 2, true, at(64), settings(10)).desired, 1);
}

TEST(Kpa, MinAndMaxScaleBound) {
  Kpa k = primed();
  fill(k, 1, 60, 0);
  // Idle long ago, but min_scale holds 2.
  EXPECT_EQ(k.decide(at(60), 2, false, kNever, settings(1, 2, 10)).desired, 2);
  fill(k, 61, 120, 50);
  EXPECT_EQ(k.decide(at(120), 2, true, at(120), settings(1, 2, 10)).desired, 10);
  // max_scale ≤ 0 is no bound; a max below min gives min.
  EXPECT_EQ(k.decide(at(120), 10, true, at(120), settings(1, 0, 0)).desired, 50);
  EXPECT_EQ(k.decide(at(120), 10, true, at(120), settings(1, 3, 2)).desired, 3);
}

// ---- scale to zero

TEST(Kpa, ScalesToZeroOnlyAfterScaleToZeroAfterWithoutRequests) {
  Kpa k = primed();
  ScaleSettings s = settings(1);
  s.scale_to_zero_after = seconds(30);
  fill(k, 1, 9, 0);
  k.record(at(10), 1);  // one request, 10 s → 11 s
  fill(k, 11, 39, 0);
  EXPECT_EQ(k.decide(at(12), 1, false, at(10), s).desired, 1);
  // Quiet since 10 s; zero is allowed from 40 s on, not a tick before.
  EXPECT_EQ(k.decide(at(38), 1, false, at(10), s).desired, 1);
  EXPECT_EQ(k.decide(at(39), 1, false, at(10), s).desired, 1);
  k.record(at(40), 0);
  auto d = k.decide(at(40), 1, false, at(10), s);
  EXPECT_EQ(d.desired, 0);
  EXPECT_GT(d.stable_concurrency, 0);  // scale_to_zero_after decides, not the average
}

TEST(Kpa, JustRegisteredFunctionStaysAtZeroAndKeepsItsFirstInstance) {
  ScaleSettings s = settings(1);
  s.scale_to_zero_after = seconds(30);
  Kpa k;
  // No history, no requests, nothing ready: nothing to do.
  EXPECT_EQ(k.decide(at(0), 0, false, kNever, s).desired, 0);
  EXPECT_EQ(k.decide(at(100), 0, false, kNever, s).desired, 0);

  // A function that came up with one instance (minScale dropped, say) keeps
  // it for scale_to_zero_after from registration.
  Kpa r;
  EXPECT_EQ(r.decide(at(0), 1, false, kNever, s).desired, 1);
  EXPECT_EQ(r.decide(at(29), 1, false, kNever, s).desired, 1);
  EXPECT_EQ(r.decide(at(30), 1, false, kNever, s).desired, 0);
}

TEST(Kpa, NeverToZeroWhileARequestIsInFlight) {
  Kpa k = primed();
  ScaleSettings s = settings(10);  // 1 in flight / 10 rounds to 1 anyway; check the busy rule
  s.scale_to_zero_after = seconds(30);
  // A request arriving at 1 s runs for 200 s.
  for (int t = 1; t <= 200; t++) {
    k.record(at(t), 1);
    if (t % 2 != 0) continue;
    ASSERT_EQ(k.decide(at(t), 1, true, at(1), s).desired, 1) << "t=" << t;
  }
  // It ends at 200 s: the arrival was long ago, but the instance stays until
  // 30 s without anything in flight.
  fill(k, 201, 229, 0);
  EXPECT_EQ(k.decide(at(229), 1, false, at(1), s).desired, 1);
  k.record(at(230), 0);
  EXPECT_EQ(k.decide(at(230), 1, false, at(1), s).desired, 0);
}

TEST(Kpa, BusyOverridesMinScaleZeroAndIdleness) {
  // A request queued at the very tick zero would be allowed still gets one.
  Kpa k = primed();
  ScaleSettings s = settings(100);
  s.scale_to_zero_after = seconds(0);
  EXPECT_EQ(k.decide(at(1), 0, true, at(1), s).desired, 1);
}

TEST(Kpa, BurstFromZero) {
  // One queued request and nothing ready: one instance at once.
  Kpa one = primed();
  one.record(at(1), 1);
  auto d = one.decide(at(1), 0, true, at(1), settings(1));
  EXPECT_EQ(d.desired, 1);

  // Busy before any sample was taken: still one.
  Kpa none;
  EXPECT_EQ(none.decide(at(0), 0, true, at(0), settings(1)).desired, 1);

  // 25 queued at target 1 with nothing ready: all 25 at once, in panic.
  Kpa burst = primed();
  burst.record(at(1), 25);
  d = burst.decide(at(1), 0, true, at(1), settings(1, 0, 100));
  EXPECT_TRUE(d.panic);
  EXPECT_EQ(d.desired, 25);
}

TEST(Kpa, SparseSamplesAreAveragedOverWhatWasSeen) {
  // A sampler that ran every 10 s: the average is not diluted by the gaps.
  Kpa k = primed();
  for (int t = 10; t <= 60; t += 10) k.record(at(t), 20);
  auto d = k.decide(at(60), 2, true, at(60), settings(10));
  EXPECT_DOUBLE_EQ(d.stable_concurrency, 20);
  EXPECT_EQ(d.desired, 2);
  // Two samples in one second count as one (their average).
  Kpa two = primed();
  two.record(at(1), 10);
  two.record(at(1) + milliseconds(500), 30);
  two.record(at(2), 20);
  EXPECT_DOUBLE_EQ(two.decide(at(2), 2, true, at(2), settings(10)).stable_concurrency, 20);
}

TEST(Kpa, RestartWithInstancesHoldsThemWhileThereIsNoHistory) {
  // Like Knative's decider, a first decision with more than one ready
  // instance starts in panic: no scale-down before the load is known.
  Kpa k;
  auto d = k.decide(at(0), 5, false, kNever, settings(1));
  EXPECT_TRUE(d.panic);
  EXPECT_EQ(d.desired, 5);
  fill(k, 1, 60, 0);
  EXPECT_EQ(k.decide(at(60), 5, false, kNever, settings(1)).desired, 5);
  k.record(at(61), 0);
  d = k.decide(at(61), 5, false, kNever, settings(1));
  EXPECT_FALSE(d.panic);
  EXPECT_EQ(d.desired, 2);  // idle: down as fast as the rate allows
}

// ---- bad input

TEST(Kpa, BadSamplesAndSettingsAreGuarded) {
  Kpa k = primed();
  k.record(at(1), std::nan(""));  // ignored
  k.record(at(1), -5);            // counts as 0
  EXPECT_DOUBLE_EQ(k.decide(at(1), 1, true, at(1), settings(1)).stable_concurrency, 0);

  Kpa huge = primed();
  huge.record(at(1), std::numeric_limits<double>::infinity());
  huge.record(at(2), 1e300);
  auto d = huge.decide(at(2), 1, true, at(2), settings(1, 0, 10));
  EXPECT_EQ(d.desired, 10);
  EXPECT_DOUBLE_EQ(d.stable_concurrency, Kpa::kMaxConcurrency);
  // Unbounded max, tiny target: a finite count, capped by the up rate.
  d = huge.decide(at(2), 1, true, at(2), settings(1e-300, 0, 0));
  EXPECT_EQ(d.desired, 1000);
  d = huge.decide(at(2), std::numeric_limits<int>::max(), true, at(2), settings(1e-300, 0, 0));
  EXPECT_GT(d.desired, 0);

  // Target 0 / negative / NaN mean 1.
  Kpa t = primed();
  fill(t, 1, 60, 3);
  EXPECT_EQ(t.decide(at(60), 3, true, at(60), settings(0)).desired, 3);
  EXPECT_EQ(t.decide(at(60), 3, true, at(60), settings(-2)).desired, 3);
  EXPECT_EQ(t.decide(at(60), 3, true, at(60), settings(std::nan(""))).desired, 3);

  // Negative min/ready count as 0; time going backwards is ignored.
  Kpa n = primed();
  n.record(at(10), 4);
  n.record(at(5), 100);
  d = n.decide(at(10), -3, true, at(10), settings(1, -1, 10));
  EXPECT_DOUBLE_EQ(d.stable_concurrency, 4);
  EXPECT_EQ(d.desired, 4);

  // A nonsensical config still decides.
  KpaConfig bad;
  bad.stable_window = seconds(0);
  bad.panic_window = seconds(-1);
  bad.sample_period = milliseconds(0);
  bad.max_scale_up_rate = std::nan("");
  bad.max_scale_down_rate = 0;
  bad.panic_threshold = -1;
  Kpa b(bad);
  b.record(at(1), 3);
  EXPECT_EQ(b.decide(at(1), 3, true, at(1), settings(1)).desired, 3);
}

// ---- the Autoscaler

// A LoadSource the test sets per function.
class FakeLoads {
 public:
  void set(const std::string& key, Load l) {
    std::lock_guard<std::mutex> lk(mu_);
    loads_[key] = l;
  }
  Load get(const std::string& key) {
    calls_++;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = loads_.find(key);
    return it == loads_.end() ? Load{} : it->second;
  }
  Autoscaler::LoadSource source() {
    return [this](const std::string& key) { return get(key); };
  }
  std::atomic<int> calls_{0};

 private:
  std::mutex mu_;
  std::map<std::string, Load> loads_;
};

class Changes {
 public:
  Autoscaler::OnChange callback() {
    return [this](const std::string& key) {
      std::lock_guard<std::mutex> lk(mu_);
      keys_.push_back(key);
    };
  }
  std::vector<std::string> keys() {
    std::lock_guard<std::mutex> lk(mu_);
    return keys_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> keys_;
};

TEST(Autoscaler, OnChangeOnlyWhenTheRecommendationChanges) {
  FakeLoads loads;
  Changes changes;
  Autoscaler a(loads.source(), KpaConfig{}, changes.callback());
  a.set_function("default/hello", settings(1));
  a.set_function("default/warm", settings(1, 2, 10));
  EXPECT_EQ(a.desired("default/hello"), 0);
  EXPECT_EQ(a.desired("default/warm"), 2);  // min_scale before any tick
  EXPECT_EQ(a.desired("default/unknown"), 0);

  a.tick(at(2));
  EXPECT_TRUE(changes.keys().empty());

  // Three requests wait for default/hello with nothing ready.
  loads.set("default/hello", Load{0, 3, 0, 3, at(2)});
  a.sample(at(3));
  a.tick(at(4));
  EXPECT_EQ(a.desired("default/hello"), 3);
  EXPECT_TRUE(a.last("default/hello").panic);
  EXPECT_EQ(changes.keys(), std::vector<std::string>{"default/hello"});

  // Same load, same recommendation: no call.
  a.sample(at(5));
  a.tick(at(6));
  EXPECT_EQ(changes.keys().size(), 1u);

  a.remove_function("default/hello");
  a.sample(at(7));
  a.tick(at(8));
  EXPECT_EQ(a.desired("default/hello"), 0);
  EXPECT_EQ(changes.keys().size(), 1u);
}

TEST(Autoscaler, SettingsChangeKeepsHistory) {
  FakeLoads loads;
  Changes changes;
  Autoscaler a(loads.source(), KpaConfig{}, changes.callback());
  a.set_function("ns/f", settings(1, 0, 10));
  a.tick(at(0));  // a decision with nothing ready, as after registration
  loads.set("ns/f", Load{8, 0, 8, 8, at(1)});
  for (int t = 1; t <= 10; t++) a.sample(at(t));
  a.tick(at(10));
  EXPECT_EQ(a.desired("ns/f"), 8);
  a.set_function("ns/f", settings(4, 0, 10));  // target 4: 8 in flight → 2
  a.tick(at(12));                              // down by half at most
  EXPECT_EQ(a.desired("ns/f"), 4);
  EXPECT_DOUBLE_EQ(a.last("ns/f").stable_concurrency, 8);
}

TEST(Autoscaler, ThreadSamplesTicksAndStopsCleanly) {
  FakeLoads loads;
  Changes changes;
  KpaConfig cfg;
  cfg.sample_period = milliseconds(5);
  cfg.tick_period = milliseconds(10);
  Autoscaler a(loads.source(), cfg, changes.callback());
  a.set_function("ns/f", settings(1, 0, 10));
  loads.set("ns/f", Load{0, 3, 0, 3, SteadyClock::now()});
  a.start();
  a.start();  // idempotent
  ASSERT_TRUE(testing::eventually([&] { return !changes.keys().empty(); }));
  EXPECT_EQ(a.desired("ns/f"), 3);
  EXPECT_EQ(changes.keys(), std::vector<std::string>{"ns/f"});
  a.stop();
  int calls = loads.calls_.load();
  a.stop();                               // idempotent
  EXPECT_EQ(loads.calls_.load(), calls);  // joined: nothing runs after stop()

  // It starts again, and the destructor stops it.
  a.start();
  ASSERT_TRUE(testing::eventually([&] { return loads.calls_.load() > calls; }));
}

TEST(Autoscaler, ReadsTheInstanceTable) {
  // One instance at target 1 is busy and a second request waits: in flight 1
  // + queued 1 with 1 ready → 2 instances (a panic: 2 ≥ 2 × 1).
  InstanceTable table;
  FunctionConfig f;
  f.ns = "ns";
  f.name = "f";
  f.revision = "1";
  f.target_concurrency = 1;
  table.set_function(f);
  table.add_instance("ns/f", InstanceRef{"p1", "node-1", "10.88.0.2", 8080, "1"});
  Changes changes;
  Autoscaler a(table, KpaConfig{}, changes.callback());
  a.set_function("ns/f", settings(1, 0, 10));
  a.tick(at(0));
  EXPECT_EQ(a.desired("ns/f"), 1);  // keeps the ready instance (not idle yet)

  auto first = table.acquire("ns/f", SteadyClock::now() + seconds(5));
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  std::thread waiter([&] {
    auto second = table.acquire("ns/f", SteadyClock::now() + seconds(5));
    if (second.is_ok()) table.release(*second, false);
  });
  ASSERT_TRUE(testing::eventually([&] { return table.load("ns/f").queued == 1; }));
  a.sample(at(1));
  a.tick(at(2));
  table.release(*first, false);
  waiter.join();
  EXPECT_EQ(a.desired("ns/f"), 2);
  EXPECT_DOUBLE_EQ(a.last("ns/f").panic_concurrency, 2);
  EXPECT_EQ(changes.keys(), (std::vector<std::string>{"ns/f", "ns/f"}));  // 0 → 1 → 2
}

TEST(Autoscaler, OnChangeMayCallBack) {
  // on_change runs without the Autoscaler's lock: reading it back is fine.
  FakeLoads loads;
  int seen = -1;
  Autoscaler* self = nullptr;
  Autoscaler a(loads.source(), KpaConfig{},
               [&](const std::string& key) { seen = self->desired(key); });
  self = &a;
  a.set_function("ns/f", settings(1));
  loads.set("ns/f", Load{0, 1, 0, 1, at(1)});
  a.sample(at(1));
  a.tick(at(1));
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace minik8s::serverless
