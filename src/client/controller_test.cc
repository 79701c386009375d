#include "minik8s/client/controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "test/fakes/eventually.h"
#include "test/fakes/fake_clock.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;
using api::Json;

using minik8s::testing::eventually;

api::ResourceType pod_type() {
  api::ResourceType t;
  t.version = "v1";
  t.kind = "Pod";
  t.plural = "pods";
  t.namespaced = true;
  return t;
}

Json pod(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", "default"}}}};
}

// Records every reconcile; the answer comes from `answer` (default done).
class TestController : public Controller {
 public:
  TestController(SharedInformerFactory& f, Clock& clock, const std::string& name = "test", int workers = 1)
      : Controller(f, {name, workers, 10ms, 1s}, clock) {}
  ~TestController() override { stop(); }

  using Controller::enqueue;
  using Controller::wait_for;
  using Controller::watch;

  std::function<ReconcileResult(const std::string&)> answer;

  int calls(const std::string& key) {
    std::lock_guard lock(mu_);
    return counts_[key];
  }
  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }

 protected:
  ReconcileResult reconcile(const std::string& key) override {
    {
      std::lock_guard lock(mu_);
      counts_[key]++;
      log_.push_back(key);
    }
    return answer ? answer(key) : ReconcileResult::done();
  }
  void on_synced() override {
    std::lock_guard lock(mu_);
    log_.push_back("<synced>");
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> counts_;  // guarded by mu_
  std::vector<std::string> log_;       // guarded by mu_
};

class ControllerTest : public ::testing::Test {
 protected:
  testing::FakeRestClient fake_;
  Client client_{fake_};
  testing::FakeClock clock_{SysTime{} + std::chrono::hours(24 * 365 * 50)};
  SharedInformerFactory factory_{client_};

  // Returns once the (one) worker has finished every key queued before: a
  // probe key queued now has been reconciled (FIFO). Before advancing the
  // clock past a delay, settle: the delay starts when reconcile returns.
  void settle(TestController& c) {
    std::string probe = "probe" + std::to_string(++probes_);
    c.enqueue(probe);
    ASSERT_TRUE(eventually([&] { return c.calls(probe) == 1; })) << probe;
  }
  int probes_ = 0;
};

TEST_F(ControllerTest, ErrorsAreRetriedWithBackoffOnTheInjectedClock) {
  TestController c(factory_, clock_);
  std::atomic<int> failures_left{2};
  c.answer = [&](const std::string& key) -> ReconcileResult {
    if (key == "k" && failures_left.fetch_sub(1) > 0) return Status(Code::kUnavailable, "try later");
    return Status::ok();
  };
  ASSERT_TRUE(c.start().is_ok());
  c.enqueue("k");
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 1; }));
  settle(c);

  // First retry after the base delay (10 ms), not before.
  clock_.advance(9ms);
  settle(c);
  EXPECT_EQ(c.calls("k"), 1);
  clock_.advance(1ms);
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 2; }));
  settle(c);

  // Second retry after twice that.
  clock_.advance(19ms);
  settle(c);
  EXPECT_EQ(c.calls("k"), 2);
  clock_.advance(1ms);
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 3; }));  // succeeds
  settle(c);
  clock_.advance(1h);
  settle(c);
  EXPECT_EQ(c.calls("k"), 3);

  ControllerMetrics m = c.metrics();
  EXPECT_EQ(m.workqueue_retries_total, 2u);
  EXPECT_EQ(m.workqueue_adds_total, 3u + probes_);  // k, two retries, the probes
  EXPECT_EQ(m.reconcile_total, 3u + probes_);
  EXPECT_EQ(m.reconcile_errors_total, 2u);
  EXPECT_EQ(m.workqueue_depth, 0u);

  // Success forgot the backoff: the next failure waits the base delay again.
  failures_left = 1;
  c.enqueue("k");
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 4; }));
  settle(c);
  clock_.advance(10ms);
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 5; }));
  EXPECT_EQ(c.metrics().workqueue_retries_total, 3u);
}

TEST_F(ControllerTest, RequeueAfterWaitsForTheClockAndIsNoRetry) {
  TestController c(factory_, clock_);
  c.answer = [&](const std::string& key) -> ReconcileResult {
    return key == "k" && c.calls("k") == 1 ? ReconcileResult::requeue_after(30s) : ReconcileResult::done();
  };
  ASSERT_TRUE(c.start().is_ok());
  c.enqueue("k");
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 1; }));
  settle(c);
  clock_.advance(29s);
  settle(c);
  EXPECT_EQ(c.calls("k"), 1);
  clock_.advance(1s);
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 2; }));
  settle(c);
  clock_.advance(1h);
  settle(c);
  EXPECT_EQ(c.calls("k"), 2);
  ControllerMetrics m = c.metrics();
  EXPECT_EQ(m.workqueue_retries_total, 0u);
  EXPECT_EQ(m.workqueue_adds_total, 2u + probes_);  // k, its requeue, the probes
  EXPECT_EQ(m.reconcile_errors_total, 0u);
}

TEST_F(ControllerTest, RequeueIsARateLimitedRetry) {
  TestController c(factory_, clock_);
  c.answer = [&](const std::string& key) -> ReconcileResult {
    return key == "k" && c.calls("k") == 1 ? ReconcileResult::requeue() : ReconcileResult::done();
  };
  ASSERT_TRUE(c.start().is_ok());
  c.enqueue("k");
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 1; }));
  settle(c);
  EXPECT_EQ(c.calls("k"), 1);
  clock_.advance(10ms);
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 2; }));
  EXPECT_EQ(c.metrics().workqueue_retries_total, 1u);
  EXPECT_EQ(c.metrics().reconcile_errors_total, 0u);
}

TEST_F(ControllerTest, ConflictAndAlreadyExistsAreRetriesNotErrors) {
  TestController c(factory_, clock_);
  c.answer = [&](const std::string& key) -> ReconcileResult {
    int n = c.calls(key);
    if (n == 1) return Status(Code::kConflict, "the object has been modified");
    if (n == 2) return Status(Code::kAlreadyExists, "already exists");
    return Status::ok();
  };
  ASSERT_TRUE(c.start().is_ok());
  c.enqueue("k");
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 1; }));
  clock_.advance(1s);  // past the first backoffs
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 2; }));
  clock_.advance(1s);
  ASSERT_TRUE(eventually([&] { return c.calls("k") == 3; }));
  EXPECT_EQ(c.metrics().workqueue_retries_total, 2u);
  EXPECT_EQ(c.metrics().reconcile_errors_total, 0u);
}

TEST_F(ControllerTest, DepthCountsKeysWaitingForAWorker) {
  std::atomic<bool> release{false};
  TestController c(factory_, clock_);
  struct Release {
    std::atomic<bool>& r;
    ~Release() { r = true; }  // also when an assertion returns early: stop() joins the worker
  } guard{release};
  c.answer = [&](const std::string& key) -> ReconcileResult {
    if (key == "a") {
      while (!release.load()) std::this_thread::yield();
    }
    return ReconcileResult::done();
  };
  ASSERT_TRUE(c.start().is_ok());
  c.enqueue("a");
  ASSERT_TRUE(eventually([&] { return c.calls("a") == 1; }));
  c.enqueue("b");
  c.enqueue("c");
  c.enqueue("b");  // de-duplicated, but counted as an add
  EXPECT_EQ(c.metrics().workqueue_depth, 2u);
  EXPECT_EQ(c.metrics().workqueue_adds_total, 4u);
  release = true;
  ASSERT_TRUE(eventually([&] { return c.calls("c") == 1; }));
  EXPECT_EQ(c.calls("b"), 1);
  EXPECT_TRUE(eventually([&] { return c.metrics().workqueue_depth == 0; }));
  std::string text = c.render_metrics();
  EXPECT_NE(text.find("workqueue_adds_total{controller=\"test\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("controller_reconcile_duration_seconds_count{controller=\"test\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_reconcile_duration_seconds_bucket{controller=\"test\",le=\"+Inf\"} 3\n"),
            std::string::npos)
      << text;
}

TEST(ControllerMetricsText, GroupsEachFamilyAcrossControllers) {
  ControllerMetrics a, b;
  a.workqueue_depth = 3;
  b.workqueue_depth = 5;
  b.latency_counts[0] = 2;
  std::string text = render_controller_metrics({{"one", a}, {"two", b}});
  // One TYPE line per family, its samples together (the exposition format
  // refuses a family split in two).
  size_t type = text.find("# TYPE workqueue_depth gauge\n");
  ASSERT_NE(type, std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE workqueue_depth", type + 1), std::string::npos) << text;
  size_t one = text.find("workqueue_depth{controller=\"one\"} 3\n");
  size_t two = text.find("workqueue_depth{controller=\"two\"} 5\n");
  ASSERT_NE(one, std::string::npos) << text;
  ASSERT_NE(two, std::string::npos) << text;
  EXPECT_LT(type, one);
  EXPECT_LT(one, two);
  EXPECT_EQ(text.find("# TYPE", one), text.find("# TYPE workqueue_adds_total")) << text;
  EXPECT_NE(text.find("controller_reconcile_duration_seconds_bucket{controller=\"two\",le=\"0.001\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("controller_reconcile_duration_seconds_count{controller=\"two\"} 2\n"), std::string::npos)
      << text;
}

TEST_F(ControllerTest, WorkersRunDistinctKeysAtOnce) {
  TestController c(factory_, clock_, "pair", 2);
  std::atomic<int> inside{0};
  std::atomic<bool> both{false};
  c.answer = [&](const std::string&) -> ReconcileResult {
    inside++;
    // Each waits (bounded) until the other is in reconcile too.
    both = eventually([&] { return inside.load() == 2; }, 5s) || both.load();
    return ReconcileResult::done();
  };
  ASSERT_TRUE(c.start().is_ok());
  c.enqueue("x");
  c.enqueue("y");
  ASSERT_TRUE(eventually([&] { return c.calls("x") == 1 && c.calls("y") == 1; }, 10s));
  EXPECT_TRUE(both.load());
}

TEST_F(ControllerTest, SharedInformerHandlersCachesAndStop) {
  auto pods = pod_type();
  ASSERT_TRUE(client_.create(pods, pod("a"), "default"));
  TestController one(factory_, clock_, "one");
  TestController two(factory_, clock_, "two");
  auto handlers = [](TestController& c) {
    return EventHandlers{[&c](const ObjectPtr& o) { c.enqueue(object_key(*o)); },
                         [&c](const ObjectPtr&, const ObjectPtr& o) { c.enqueue(object_key(*o)); },
                         [&c](const ObjectPtr& o) { c.enqueue(object_key(*o)); }};
  };
  one.watch(factory_.informer(pods), handlers(one));
  two.watch(factory_.informer(pods), handlers(two));
  ASSERT_TRUE(one.start().is_ok());
  ASSERT_TRUE(two.start().is_ok());
  EXPECT_EQ(two.start().code(), Code::kInvalid);

  ASSERT_TRUE(eventually([&] { return one.calls("default/a") == 1 && two.calls("default/a") == 1; }));
  // on_synced ran once, before the first reconcile.
  auto log = one.log();
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log[0], "<synced>");
  EXPECT_EQ(std::count(log.begin(), log.end(), "<synced>"), 1);

  EXPECT_EQ(fake_.count("WATCH"), 1u);

  one.stop();
  ASSERT_TRUE(client_.create(pods, pod("b"), "default"));
  ASSERT_TRUE(eventually([&] { return two.calls("default/b") == 1; }));
  EXPECT_EQ(one.calls("default/b"), 0);
  EXPECT_EQ(one.start().code(), Code::kInvalid);  // no restart
  two.stop();
  factory_.stop();
}

}  // namespace
}  // namespace minik8s::client
