// Triggers against a real in-process ApiServer: fire_trigger() (a fake
// gateway: a FakeRuntime standing for the Function's status.url; a Workflow
// target creating a WorkflowRun; status and Events recorded) and the
// TriggerController (schedules on a FakeClock: two firings at their times,
// Forbid, suspend; objectChange on ConfigMaps: added/modified/deleted with a
// label selector, not the initial list nor the cache replay).
#include "minik8s/serverless/triggers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>

#include "controller_test_support.h"
#include "minik8s/client/informer_factory.h"
#include "test/fakes/eventually.h"
#include "test/fakes/fake_clock.h"

namespace minik8s::serverless {
namespace {

using api::Json;
using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::ServerlessFixture;

constexpr const char* kNs = "default";

// The gateway stand-in: answers POST /functions/... with `code`, or waits
// while held (Forbid).
class Gateway {
 public:
  Gateway()
      : rt_([this](const std::string& target, const std::string&) -> std::pair<int, std::string> {
          std::unique_lock l(mu_);
          ++entered_;
          cv_.notify_all();
          cv_.wait(l, [&] { return !held_; });
          if (target.find("/functions/") != 0) return {404, "{}"};
          return {code_, code_ == 200 ? R"({"ok":true})" : R"({"error":"ValueError","message":"bad input"})"};
        }) {}
  ~Gateway() { hold(false); }
  std::string url(const std::string& fn) const {
    return "http://127.0.0.1:" + std::to_string(rt_.port()) + "/functions/" + kNs + "/" + fn;
  }
  void answer(int code) {
    std::lock_guard l(mu_);
    code_ = code;
  }
  void hold(bool on) {
    std::lock_guard l(mu_);
    held_ = on;
    cv_.notify_all();
  }
  int entered() {
    std::lock_guard l(mu_);
    return entered_;
  }
  std::vector<Json> bodies() {
    std::vector<Json> out;
    for (const auto& [t, b] : rt_.requests()) out.push_back(Json::parse(b, nullptr, false));
    return out;
  }
  size_t count() { return rt_.requests().size(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int code_ = 200;    // guarded by mu_
  bool held_ = false;  // guarded by mu_
  int entered_ = 0;    // guarded by mu_
  FakeRuntime rt_;     // last: its thread calls the handler above
};

class TriggerTest : public ServerlessFixture {
 protected:
  void TearDown() override {
    gw_.hold(false);
    if (ctl_) ctl_->stop();
    if (factory_) factory_->stop();
    ctl_.reset();
    factory_.reset();
    ServerlessFixture::TearDown();
  }

  const api::ResourceType& triggers() { return kind(kApiVersion, "Trigger"); }
  const api::ResourceType& configmaps() { return kind("v1", "ConfigMap"); }

  // A Function whose status.url points at the fake gateway.
  void make_function(const std::string& name) {
    ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, name, "def handler(e, c):\n    return e\n")));
    auto r = client_->patch(functions(), kNs, name, client::PatchType::kMerge,
                            {{"status", {{"url", gw_.url(name)}}}}, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  Json create_trigger(const std::string& name, const Json& spec) {
    Json t = {{"apiVersion", kApiVersion},
              {"kind", "Trigger"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec", spec}};
    auto r = client_->create(triggers(), t, kNs);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  Json get_trigger(const std::string& name) {
    auto r = client_->get(triggers(), kNs, name);
    return r ? *r : Json();
  }
  Json tstatus(const std::string& name) {
    Json t = get_trigger(name);
    return t.is_object() && t.contains("status") && t["status"].is_object() ? t["status"] : Json::object();
  }
  void patch_spec(const std::string& name, const Json& spec) {
    auto r = client_->patch(triggers(), kNs, name, client::PatchType::kMerge, {{"spec", spec}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  // Events about the trigger with this reason.
  std::vector<Json> events(const std::string& trigger, const std::string& reason) {
    std::vector<Json> out;
    auto l = client_->list(kind("v1", "Event"), kNs);
    if (!l) return out;
    for (const Json& e : (*l)["items"]) {
      if (e["involvedObject"].value("name", "") == trigger && e["involvedObject"].value("kind", "") == "Trigger" &&
          e.value("reason", "") == reason)
        out.push_back(e);
    }
    return out;
  }
  void start_controller(Clock& clock = real_clock(), bool shared = false) {
    if (shared) {
      factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
      ctl_ = std::make_unique<TriggerController>(*factory_, TriggerControllerOptions{}, clock);
    } else {
      ctl_ = std::make_unique<TriggerController>(*client_, TriggerControllerOptions{}, clock);
    }
    Status st = ctl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void create_cm(const std::string& name, const std::string& app, const std::string& value = "1") {
    Json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", {{"app", app}}}}},
               {"data", {{"v", value}}}};
    auto r = client_->create(configmaps(), cm, kNs);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  // (event, object name) of the gateway's bodies, sorted.
  std::vector<std::pair<std::string, std::string>> object_events() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Json& b : gw_.bodies())
      out.emplace_back(b.value("event", ""), b["object"]["metadata"].value("name", ""));
    std::sort(out.begin(), out.end());
    return out;
  }

  Gateway gw_;
  std::unique_ptr<client::SharedInformerFactory> factory_;
  std::unique_ptr<TriggerController> ctl_;
};

TEST(TriggerPureTest, BodyMergesTheEventOverTheInput) {
  Json t = {{"spec", {{"input", {{"source", "schedule"}, {"type", "mine"}, {"keep", 1}}}}}};
  Json body = trigger_body(t, {{"type", "schedule"}, {"time", "x"}});
  EXPECT_EQ(body, Json({{"source", "schedule"}, {"type", "schedule"}, {"keep", 1}, {"time", "x"}}));
  EXPECT_EQ(trigger_body({{"spec", Json::object()}}, {{"a", 1}}), Json({{"a", 1}}));
  EXPECT_EQ(trigger_body({{"spec", {{"input", "text"}}}}, {{"a", 1}}), Json({{"a", 1}, {"input", "text"}}));
}

TEST(TriggerPureTest, WatchPathGrammar) {
  EXPECT_TRUE(validate_watch_path("/var/lib/minik8s-drop").is_ok());
  EXPECT_TRUE(validate_watch_path("/tmp/a.b_c").is_ok());
  EXPECT_TRUE(validate_watch_path("/sysx/a").is_ok());
  for (const char* bad : {"", "relative/x", "/", "//", "/a/../etc", "/a/./b", "/a//b", "/a/", "/proc/1", "/sys",
                          "/dev/shm/x", "/a b", "/a;rm", "/ä"}) {
    Status st = validate_watch_path(bad);
    EXPECT_EQ(st.code(), Code::kInvalid) << bad;
    EXPECT_NE(st.message().find("spec.fileChange.path"), std::string::npos) << st.message();
  }
  EXPECT_FALSE(validate_watch_path("/" + std::string(1100, 'a')).is_ok());
}

TEST(TriggerPureTest, FilePatterns) {
  EXPECT_TRUE(file_pattern_match("*", "anything.png"));
  EXPECT_TRUE(file_pattern_match("*.png", "a.png"));
  EXPECT_FALSE(file_pattern_match("*.png", "a.png.tmp"));
  EXPECT_TRUE(file_pattern_match("img-??.jpg", "img-01.jpg"));
  EXPECT_FALSE(file_pattern_match("img-??.jpg", "img-1.jpg"));
  EXPECT_TRUE(file_pattern_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(file_pattern_match("a*b*c", "aXXbYY"));
  EXPECT_TRUE(file_pattern_match("\\*x", "*x"));
  EXPECT_FALSE(file_pattern_match("\\*x", "ax"));
}

TEST(TriggerPureTest, FiringPoolBoundsItsQueue) {
  FiringPool pool(1, 1);
  std::mutex m;
  std::condition_variable cv;
  bool release = false, started = false;
  ASSERT_TRUE(pool.submit([&] {
    std::unique_lock l(m);
    started = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  }));
  {
    std::unique_lock l(m);
    ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return started; }));
  }
  EXPECT_TRUE(pool.submit([] {}));   // waits
  EXPECT_FALSE(pool.submit([] {}));  // queue full
  {
    std::lock_guard l(m);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(testing::eventually([&] { return pool.in_flight() == 0; }, 5s));
  pool.stop();
  EXPECT_FALSE(pool.submit([] {}));
}

TEST_F(TriggerTest, FireFunctionPostsTheBodyAndRecordsTheFiring) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  Json t = create_trigger("to-hello", {{"target", {{"function", "hello"}}},
                                       {"input", {{"source", "test"}, {"type", "overridden"}}},
                                       {"schedule", "@every 1h"}});
  ASSERT_TRUE(t.is_object());
  FireResult r = fire_trigger(*client_, t, {{"type", "schedule"}, {"time", "2026-12-07T10:00:00Z"}});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.id.size(), 32u) << r.id;
  ASSERT_EQ(gw_.count(), 1u);
  EXPECT_EQ(gw_.bodies()[0], Json({{"source", "test"}, {"type", "schedule"}, {"time", "2026-12-07T10:00:00Z"}}));
  Json st = tstatus("to-hello");
  EXPECT_EQ(st.value("firings", 0), 1);
  EXPECT_FALSE(st.value("lastFired", "").empty());
  EXPECT_EQ(st["lastResult"]["result"], "ok");
  EXPECT_EQ(st["lastResult"]["id"], r.id);
  ASSERT_EQ(events("to-hello", "Fired").size(), 1u);
  EXPECT_EQ(events("to-hello", "Fired")[0]["message"], "fired function hello: ok (request " + r.id + ")");

  gw_.answer(500);
  FireResult bad = fire_trigger(*client_, t, {{"type", "schedule"}});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.message.find("HTTP 500: ValueError: bad input"), std::string::npos) << bad.message;
  st = tstatus("to-hello");
  EXPECT_EQ(st.value("firings", 0), 2);
  EXPECT_EQ(st["lastResult"]["result"], "error");
  ASSERT_EQ(events("to-hello", "FireFailed").size(), 1u);
  EXPECT_EQ(events("to-hello", "FireFailed")[0]["type"], "Warning");

  // An unknown function is an error result, recorded too.
  Json t2 = create_trigger("to-nobody", {{"target", {{"function", "nobody"}}}, {"schedule", "@every 1h"}});
  FireResult none = fire_trigger(*client_, t2, Json::object());
  EXPECT_FALSE(none.ok);
  EXPECT_NE(none.message.find("not found"), std::string::npos) << none.message;
  EXPECT_EQ(tstatus("to-nobody")["lastResult"]["result"], "error");
}

TEST_F(TriggerTest, FireWorkflowCreatesARun) {
  Json wf = {{"apiVersion", kApiVersion},
             {"kind", "Workflow"},
             {"metadata", {{"name", "classify"}, {"namespace", kNs}}},
             {"spec", {{"startAt", "A"}, {"states", {{"A", {{"type", "Pass"}, {"end", true}}}}}}}};
  auto c = client_->create(kind(kApiVersion, "Workflow"), wf, kNs);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  Json t = create_trigger("to-wf", {{"target", {{"workflow", "classify"}}},
                                    {"input", {{"value", 12}}},
                                    {"schedule", "@every 1h"}});
  FireResult r = fire_trigger(*client_, t, {{"type", "schedule"}});
  ASSERT_TRUE(r.ok) << r.message;
  auto run = client_->get(kind(kApiVersion, "WorkflowRun"), kNs, r.id);
  ASSERT_TRUE(run.is_ok()) << r.id << ": " << run.status().to_string();
  EXPECT_EQ(r.id.rfind("classify-", 0), 0u) << r.id;
  EXPECT_EQ((*run)["spec"]["workflow"], "classify");
  EXPECT_EQ((*run)["spec"]["input"], Json({{"value", 12}, {"type", "schedule"}}));
  EXPECT_EQ((*run)["metadata"]["labels"][kLabelTrigger], "to-wf");
  Json st = tstatus("to-wf");
  EXPECT_EQ(st.value("firings", 0), 1);
  EXPECT_EQ(st["lastResult"]["id"], r.id);
  EXPECT_TRUE(testing::eventually([&] { return events("to-wf", "Fired").size() == 1; }, 5s));
}

TEST_F(TriggerTest, ObjectChangeFiresOnEventsAfterRegistrationOnly) {
  for (bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "shared, already synced informer (replay)" : "own informer (initial list)");
    const std::string sfx = shared ? "-s" : "-o";
    if (!shared) {
      ASSERT_NO_FATAL_FAILURE(make_function("hello"));
    }
    ASSERT_NO_FATAL_FAILURE(create_cm("pre" + sfx, "x"));
    if (shared) {
      // Another consumer's ConfigMap informer, running and synced first.
      factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
      factory_->informer(configmaps());
      factory_->start();
      ASSERT_TRUE(factory_->wait_for_sync(5s));
      ctl_ = std::make_unique<TriggerController>(*factory_, TriggerControllerOptions{});
      ASSERT_TRUE(ctl_->start().is_ok());
    } else {
      ASSERT_NO_FATAL_FAILURE(start_controller());
    }
    const std::string trig = "cm" + sfx;
    create_trigger(trig, {{"target", {{"function", "hello"}}},
                          {"objectChange", {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"labelSelector", "app=x"}}}});
    ASSERT_TRUE(testing::eventually([&] { return ctl_->watching(std::string(kNs) + "/" + trig); }, 10s));
    const size_t before = gw_.count();
    ASSERT_NO_FATAL_FAILURE(create_cm("a" + sfx, "x"));
    ASSERT_NO_FATAL_FAILURE(create_cm("b" + sfx, "y"));  // the selector says no
    auto u = client_->patch(configmaps(), kNs, "a" + sfx, client::PatchType::kMerge, {{"data", {{"v", "2"}}}});
    ASSERT_TRUE(u.is_ok());
    ASSERT_TRUE(client_->remove(configmaps(), kNs, "a" + sfx).is_ok());
    ASSERT_TRUE(testing::eventually([&] { return gw_.count() >= before + 3; }, 10s)) << gw_.count();
    // Settle: nothing else (pre, b) arrives.
    ASSERT_FALSE(testing::eventually([&] { return gw_.count() > before + 3; }, 300ms));
    auto all = object_events();
    std::vector<std::pair<std::string, std::string>> mine;
    for (auto& e : all) {
      if (e.second.size() > 2 && e.second.substr(e.second.size() - 2) == sfx) mine.push_back(e);
    }
    std::vector<std::pair<std::string, std::string>> want = {
        {"added", "a" + sfx}, {"deleted", "a" + sfx}, {"modified", "a" + sfx}};
    EXPECT_EQ(mine, want);
    for (const Json& b : gw_.bodies()) EXPECT_EQ(b["type"], "objectChange");
    EXPECT_TRUE(testing::eventually([&] { return tstatus(trig).value("firings", 0) == 3; }, 5s));

    // Deleted: no more firings.
    ASSERT_TRUE(client_->remove(triggers(), kNs, trig).is_ok());
    ASSERT_TRUE(testing::eventually([&] { return !ctl_->watching(std::string(kNs) + "/" + trig); }, 10s));
    const size_t after = gw_.count();
    ASSERT_NO_FATAL_FAILURE(create_cm("c" + sfx, "x"));
    EXPECT_FALSE(testing::eventually([&] { return gw_.count() > after; }, 300ms));
    ctl_->stop();
    if (factory_) factory_->stop();
    ctl_.reset();
    factory_.reset();
  }
}

TEST_F(TriggerTest, ObjectChangeHonoursOnAndSuspend) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  ASSERT_NO_FATAL_FAILURE(start_controller());
  create_trigger("only-del", {{"target", {{"function", "hello"}}},
                              {"objectChange", {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"on", {"deleted"}}}}});
  ASSERT_TRUE(testing::eventually([&] { return ctl_->watching("default/only-del"); }, 10s));
  ASSERT_NO_FATAL_FAILURE(create_cm("d1", "q"));
  ASSERT_TRUE(client_->remove(configmaps(), kNs, "d1").is_ok());
  ASSERT_TRUE(testing::eventually([&] { return gw_.count() >= 1; }, 10s));
  EXPECT_FALSE(testing::eventually([&] { return gw_.count() > 1; }, 300ms));
  EXPECT_EQ(object_events(), (std::vector<std::pair<std::string, std::string>>{{"deleted", "d1"}}));

  ASSERT_NO_FATAL_FAILURE(patch_spec("only-del", {{"suspend", true}}));
  ASSERT_TRUE(testing::eventually([&] { return !ctl_->watching("default/only-del"); }, 10s));
  ASSERT_NO_FATAL_FAILURE(create_cm("d2", "q"));
  ASSERT_TRUE(client_->remove(configmaps(), kNs, "d2").is_ok());
  EXPECT_FALSE(testing::eventually([&] { return gw_.count() > 1; }, 300ms));
}

class ScheduleTest : public TriggerTest {
 protected:
  SysTime t0() {
    SysTime t;
    EXPECT_TRUE(parse_rfc3339("2026-12-07T10:00:00Z", &t));
    return t;
  }
  testing::FakeClock clock_{t0()};
  std::string next_fire(const std::string& name) { return tstatus(name).value("nextFire", ""); }
  std::vector<std::string> scheduled_times() {
    std::vector<std::string> out;
    for (const Json& b : gw_.bodies()) out.push_back(b.value("scheduledTime", ""));
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(ScheduleTest, EveryTenSecondsFiresAtTheScheduledTimes) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  ASSERT_NO_FATAL_FAILURE(start_controller(clock_));
  create_trigger("tick", {{"target", {{"function", "hello"}}}, {"schedule", "@every 10s"}, {"input", {{"n", 1}}}});
  ASSERT_TRUE(testing::eventually([&] { return next_fire("tick") == "2026-12-07T10:00:10Z"; }, 10s))
      << next_fire("tick");
  clock_.advance(9s);
  EXPECT_FALSE(testing::eventually([&] { return gw_.count() > 0; }, 200ms));
  clock_.advance(1s);
  ASSERT_TRUE(testing::eventually([&] { return gw_.count() == 1; }, 10s));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("tick") == "2026-12-07T10:00:20Z"; }, 10s))
      << next_fire("tick");
  clock_.advance(10s);
  ASSERT_TRUE(testing::eventually([&] { return gw_.count() == 2; }, 10s));
  EXPECT_EQ(scheduled_times(), (std::vector<std::string>{"2026-12-07T10:00:10Z", "2026-12-07T10:00:20Z"}));
  for (const Json& b : gw_.bodies()) {
    EXPECT_EQ(b["type"], "schedule");
    EXPECT_EQ(b["n"], 1);
  }
  ASSERT_TRUE(testing::eventually([&] { return tstatus("tick").value("firings", 0) == 2; }, 10s));
  EXPECT_EQ(tstatus("tick").value("lastFired", ""), "2026-12-07T10:00:20Z");
  EXPECT_TRUE(testing::eventually([&] { return events("tick", "Fired").size() == 2; }, 10s));
}

TEST_F(ScheduleTest, CronScheduleFiresOnTheMinute) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  clock_.advance(25s);  // 10:00:25
  ASSERT_NO_FATAL_FAILURE(start_controller(clock_));
  create_trigger("cron", {{"target", {{"function", "hello"}}}, {"schedule", "*/5 * * * *"}});
  ASSERT_TRUE(testing::eventually([&] { return next_fire("cron") == "2026-12-07T10:05:00Z"; }, 10s))
      << next_fire("cron");
  clock_.advance(275s);  // 10:05:00
  ASSERT_TRUE(testing::eventually([&] { return gw_.count() == 1; }, 10s));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("cron") == "2026-12-07T10:10:00Z"; }, 10s));
  EXPECT_EQ(scheduled_times(), std::vector<std::string>{"2026-12-07T10:05:00Z"});
}

TEST_F(ScheduleTest, ForbidSkipsWhileThePreviousFiringRuns) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  ASSERT_NO_FATAL_FAILURE(start_controller(clock_));
  create_trigger("slow", {{"target", {{"function", "hello"}}}, {"schedule", "@every 10s"}, {"concurrencyPolicy", "Forbid"}});
  ASSERT_TRUE(testing::eventually([&] { return next_fire("slow") == "2026-12-07T10:00:10Z"; }, 10s));
  gw_.hold(true);
  clock_.advance(10s);
  ASSERT_TRUE(testing::eventually([&] { return gw_.entered() == 1; }, 10s));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("slow") == "2026-12-07T10:00:20Z"; }, 10s));
  clock_.advance(10s);  // the first is still running: skipped
  ASSERT_TRUE(testing::eventually([&] { return tstatus("slow").value("skipped", 0) == 1; }, 10s));
  EXPECT_TRUE(testing::eventually([&] { return events("slow", "Skipped").size() == 1; }, 10s));
  EXPECT_EQ(gw_.entered(), 1);
  gw_.hold(false);
  ASSERT_TRUE(testing::eventually([&] { return tstatus("slow").value("firings", 0) == 1; }, 10s));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("slow") == "2026-12-07T10:00:30Z"; }, 10s));
  clock_.advance(10s);
  ASSERT_TRUE(testing::eventually([&] { return gw_.count() == 2; }, 10s));
  EXPECT_EQ(scheduled_times(), (std::vector<std::string>{"2026-12-07T10:00:10Z", "2026-12-07T10:00:30Z"}));
}

TEST_F(ScheduleTest, SuspendStopsFiringAndResumeDoesNotCatchUp) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  ASSERT_NO_FATAL_FAILURE(make_function("control"));
  ASSERT_NO_FATAL_FAILURE(start_controller(clock_));
  create_trigger("ctl", {{"target", {{"function", "control"}}}, {"schedule", "@every 10s"}});
  create_trigger("sus", {{"target", {{"function", "hello"}}}, {"schedule", "@every 10s"}, {"suspend", true}});
  ASSERT_TRUE(testing::eventually([&] { return next_fire("ctl") == "2026-12-07T10:00:10Z"; }, 10s));
  clock_.advance(10s);
  ASSERT_TRUE(testing::eventually([&] { return tstatus("ctl").value("firings", 0) == 1; }, 10s));
  EXPECT_FALSE(testing::eventually([&] { return gw_.count() > 1; }, 300ms));
  EXPECT_EQ(tstatus("sus").value("firings", 0), 0);
  EXPECT_EQ(next_fire("sus"), "");

  // Resumed at 10:00:10 + 25 s: the next firing is 10 s from then.
  clock_.advance(25s);  // ctl fires once more (no catch-up of the missed times)
  ASSERT_TRUE(testing::eventually([&] { return tstatus("ctl").value("firings", 0) == 2; }, 10s));
  ASSERT_NO_FATAL_FAILURE(patch_spec("sus", {{"suspend", false}}));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("sus") == "2026-12-07T10:00:45Z"; }, 10s))
      << next_fire("sus");
  clock_.advance(10s);
  ASSERT_TRUE(testing::eventually([&] { return tstatus("sus").value("firings", 0) == 1; }, 10s));

  // Suspended again: nextFire goes, nothing fires.
  ASSERT_NO_FATAL_FAILURE(patch_spec("sus", {{"suspend", true}}));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("sus").empty() && !ctl_->watching("default/sus"); }, 10s));
  const int ctl_before = tstatus("ctl").value("firings", 0);
  clock_.advance(20s);
  ASSERT_TRUE(testing::eventually([&] { return tstatus("ctl").value("firings", 0) > ctl_before; }, 10s));
  EXPECT_FALSE(testing::eventually([&] { return tstatus("sus").value("firings", 0) > 1; }, 300ms));
}

TEST_F(ScheduleTest, DeletedOrChangedScheduleReschedules) {
  ASSERT_NO_FATAL_FAILURE(make_function("hello"));
  ASSERT_NO_FATAL_FAILURE(start_controller(clock_));
  create_trigger("chg", {{"target", {{"function", "hello"}}}, {"schedule", "@every 10s"}});
  ASSERT_TRUE(testing::eventually([&] { return next_fire("chg") == "2026-12-07T10:00:10Z"; }, 10s));
  clock_.advance(5s);
  ASSERT_NO_FATAL_FAILURE(patch_spec("chg", {{"schedule", "@every 1m"}}));
  ASSERT_TRUE(testing::eventually([&] { return next_fire("chg") == "2026-12-07T10:01:05Z"; }, 10s))
      << next_fire("chg");
  clock_.advance(10s);  // 10:00:15: the old time passed, nothing fires
  EXPECT_FALSE(testing::eventually([&] { return gw_.count() > 0; }, 300ms));
  ASSERT_TRUE(client_->remove(triggers(), kNs, "chg").is_ok());
  ASSERT_TRUE(testing::eventually([&] { return !ctl_->watching("default/chg"); }, 10s));
  clock_.advance(60s);
  EXPECT_FALSE(testing::eventually([&] { return gw_.count() > 0; }, 300ms));
}

}  // namespace
}  // namespace minik8s::serverless
