// The workflow executor (WorkflowController) against a real in-process
// ApiServer, with fake functions (WorkflowControllerOptions::invoke) or, for
// the HTTP host, a real Gateway in front of a fake runtime; and the gateway's
// POST /workflows/<ns>/<name> over HTTP.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "controller_test_support.h"
#include "minik8s/serverless/gateway.h"
#include "minik8s/serverless/instance_table.h"
#include "minik8s/serverless/workflows.h"

namespace minik8s::serverless {
namespace {

using api::Json;
using namespace std::chrono_literals;
using testing_support::FakeRuntime;
using testing_support::ServerlessFixture;
using workflow::TaskCall;
using workflow::TaskResult;

constexpr const char* kNs = "default";

TaskResult ok(Json out) {
  TaskResult r;
  r.ok = true;
  r.output = std::move(out);
  r.instance = "fake-pod";
  r.function_ms = 1.5;
  return r;
}
TaskResult fail(const std::string& error, const std::string& cause) {
  TaskResult r;
  r.error = error;
  r.cause = cause;
  return r;
}

// Fake functions by name, with every call recorded. A function may be made
// to block (gate) until release(): the first `n` calls of it wait.
class FakeFunctions {
 public:
  using Fn = std::function<TaskResult(const TaskCall&)>;
  void add(const std::string& name, Fn fn) {
    std::lock_guard l(mu_);
    fns_[name] = std::move(fn);
  }
  void gate(const std::string& name, int calls) {
    std::lock_guard l(mu_);
    gated_[name] = calls;
  }
  void release() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // The number of calls of `name` waiting at the gate.
  int blocked(const std::string& name) {
    std::lock_guard l(mu_);
    return blocked_[name];
  }
  std::vector<TaskCall> calls(const std::string& name) {
    std::lock_guard l(mu_);
    std::vector<TaskCall> out;
    for (const auto& c : calls_) {
      if (c.function == name) out.push_back(c);
    }
    return out;
  }
  std::function<TaskResult(const std::string&, const TaskCall&)> invoke() {
    return [this](const std::string& ns, const TaskCall& call) {
      Fn fn;
      {
        std::unique_lock l(mu_);
        EXPECT_EQ(ns, kNs);
        calls_.push_back(call);
        auto it = fns_.find(call.function);
        if (it == fns_.end()) return fail("States.TaskFailed", "no function " + call.function);
        fn = it->second;
        if (gated_[call.function] > 0) {
          --gated_[call.function];
          ++blocked_[call.function];
          cv_.wait_for(l, 20s, [&] { return released_; });
          --blocked_[call.function];
        }
      }
      return fn(call);
    };
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::map<std::string, Fn> fns_;
  std::map<std::string, int> gated_, blocked_;
  bool released_ = false;
  std::vector<TaskCall> calls_;
};

class WorkflowControllerTest : public ServerlessFixture {
 protected:
  void TearDown() override {
    fns_.release();
    stop_all();
    ServerlessFixture::TearDown();
  }
  void stop_all() {
    if (gateway_) gateway_->stop();
    if (ctl_) ctl_->stop();
    if (factory_) factory_->stop();
    gateway_.reset();
    ctl_.reset();
    factory_.reset();
  }

  void start(WorkflowControllerOptions o = {}) {
    if (!o.invoke && o.gateway_url.empty()) o.invoke = fns_.invoke();
    factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
    ctl_ = std::make_unique<WorkflowController>(*factory_, o);
    Status st = ctl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& workflows() { return kind(kApiVersion, "Workflow"); }
  const api::ResourceType& runs() { return kind(kApiVersion, "WorkflowRun"); }

  void create_workflow(const std::string& name, const Json& spec) {
    Json wf = {{"apiVersion", kApiVersion},
               {"kind", "Workflow"},
               {"metadata", {{"name", name}, {"namespace", kNs}}},
               {"spec", spec}};
    auto r = client_->create(workflows(), wf, kNs);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void create_run(const std::string& name, const std::string& workflow, const Json& input) {
    Json run = {{"apiVersion", kApiVersion},
                {"kind", "WorkflowRun"},
                {"metadata", {{"name", name}, {"namespace", kNs}}},
                {"spec", {{"workflow", workflow}, {"input", input}}}};
    auto r = client_->create(runs(), run, kNs);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  Json get_run(const std::string& name) {
    auto g = client_->get(runs(), kNs, name);
    return g ? *g : Json();
  }
  std::string phase(const std::string& name) {
    return api::sfield(api::field(get_run(name), "status"), "phase");
  }
  // Waits for a terminal phase; returns the run.
  Json wait_done(const std::string& name, std::chrono::milliseconds limit = 10s) {
    Json run;
    bool ended = eventually(
        [&] {
          run = get_run(name);
          std::string p = api::sfield(api::field(run, "status"), "phase");
          return p == "Succeeded" || p == "Failed" || p == "Cancelled";
        },
        limit);
    EXPECT_TRUE(ended) << run.dump(2);
    return run;
  }
  static std::vector<Json> steps(const Json& run) {
    std::vector<Json> out;
    for (const Json& s : api::afield(api::field(run, "status"), "steps")) out.push_back(s);
    return out;
  }
  static const Json* step(const Json& run, const std::string& key, const std::string& status = "") {
    const Json* found = nullptr;
    for (const Json& s : api::afield(api::field(run, "status"), "steps")) {
      if (api::sfield(s, "key") == key && (status.empty() || api::sfield(s, "status") == status)) found = &s;
    }
    return found;
  }

  FakeFunctions fns_;
  std::unique_ptr<client::SharedInformerFactory> factory_;
  std::unique_ptr<WorkflowController> ctl_;
  std::unique_ptr<InstanceTable> table_;
  std::unique_ptr<Gateway> gateway_;
};

Json task(const std::string& fn, const std::string& next) {
  Json s = {{"type", "Task"}, {"function", fn}};
  if (next.empty()) {
    s["end"] = true;
  } else {
    s["next"] = next;
  }
  return s;
}

Json chain_spec() {
  return {{"startAt", "Inc"}, {"states", {{"Inc", task("inc", "Times")}, {"Times", task("times10", "")}}}};
}

void add_chain_functions(FakeFunctions& f) {
  f.add("inc", [](const TaskCall& c) { return ok({{"v", c.input.value("v", 0) + 1}}); });
  f.add("times10", [](const TaskCall& c) { return ok({{"w", c.input.value("v", 0) * 10}}); });
}

TEST_F(WorkflowControllerTest, ChainFeedsOutputsAndRecordsSteps) {
  add_chain_functions(fns_);
  create_workflow("chain", chain_spec());
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("chain-1", "chain", {{"v", 1}});
  Json run = wait_done("chain-1");
  const Json& st = run["status"];
  EXPECT_EQ(st.value("phase", ""), "Succeeded") << run.dump(2);
  EXPECT_EQ(st["output"], Json({{"w", 20}}));
  auto wf = client_->get(workflows(), kNs, "chain");
  ASSERT_TRUE(wf.is_ok());
  EXPECT_EQ(st["definition"], (*wf)["spec"]);  // as stored (with the API server's defaults)
  EXPECT_EQ(st["definition"]["startAt"], "Inc");
  EXPECT_TRUE(st.contains("startTime"));
  EXPECT_TRUE(st.contains("completionTime"));
  EXPECT_EQ(st.value("workflowGeneration", 0), 1);
  const std::vector<Json> recs = steps(run);
  ASSERT_EQ(recs.size(), 2u) << run.dump(2);
  const Json& a = recs[0];
  EXPECT_EQ(a.value("key", ""), "Inc#0");
  EXPECT_EQ(a.value("state", ""), "Inc");
  EXPECT_EQ(a.value("type", ""), "Task");
  EXPECT_EQ(a.value("function", ""), "inc");
  EXPECT_EQ(a.value("instance", ""), "fake-pod");
  EXPECT_EQ(a.value("status", ""), "Succeeded");
  EXPECT_EQ(a.value("attempt", 0), 1);
  EXPECT_EQ(a["input"], Json({{"v", 1}}));
  EXPECT_EQ(a["output"], Json({{"v", 2}}));
  EXPECT_DOUBLE_EQ(a.value("functionMs", -1.0), 1.5);
  EXPECT_TRUE(a.contains("durationMs"));
  EXPECT_TRUE(a.contains("startTime"));
  EXPECT_TRUE(a.contains("endTime"));
  const Json& b = recs[1];
  EXPECT_EQ(b.value("key", ""), "Times#0");
  EXPECT_EQ(b["input"], Json({{"v", 2}}));
  // The second function got the first one's output.
  auto calls = fns_.calls("times10");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].input, Json({{"v", 2}}));
  EXPECT_EQ(calls[0].key, "Times#0");
}

TEST_F(WorkflowControllerTest, ChoiceTakesBothWaysVisibleInSteps) {
  fns_.add("measure", [](const TaskCall& c) { return ok({{"value", c.input.value("n", 0)}}); });
  fns_.add("tag-big", [](const TaskCall& c) {
    Json o = c.input;
    o["size"] = "big";
    return ok(o);
  });
  Json spec = {{"startAt", "Measure"},
               {"states",
                {{"Measure", task("measure", "Route")},
                 {"Route",
                  {{"type", "Choice"},
                   {"choices", {{{"variable", "$.value"}, {"op", ">"}, {"value", 10}, {"next", "Big"}}}},
                   {"default", "Small"}}},
                 {"Big", task("tag-big", "")},
                 {"Small", {{"type", "Pass"}, {"result", {{"size", "small"}}}, {"end", true}}}}}};
  create_workflow("classify", spec);
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("big", "classify", {{"n", 12}});
  create_run("small", "classify", {{"n", 3}});
  Json big = wait_done("big");
  Json small = wait_done("small");
  EXPECT_EQ(big["status"]["output"], Json({{"value", 12}, {"size", "big"}})) << big.dump(2);
  EXPECT_EQ(small["status"]["output"], Json({{"size", "small"}})) << small.dump(2);
  EXPECT_NE(step(big, "Route#0", "Succeeded"), nullptr) << big.dump(2);
  EXPECT_NE(step(big, "Big#0", "Succeeded"), nullptr);
  EXPECT_EQ(step(big, "Small#0"), nullptr);
  EXPECT_NE(step(small, "Small#0", "Succeeded"), nullptr) << small.dump(2);
  EXPECT_EQ(step(small, "Big#0"), nullptr);
  EXPECT_EQ(fns_.calls("tag-big").size(), 1u);
}

TEST_F(WorkflowControllerTest, RetryThenCatchThenUncaughtFailure) {
  std::atomic<int> flaky_calls{0};
  fns_.add("flaky", [&](const TaskCall&) {
    return ++flaky_calls < 3 ? fail("ValueError", "not yet") : ok({{"done", true}});
  });
  fns_.add("broken", [](const TaskCall&) { return fail("ValueError", "boom"); });
  Json retry = {{"startAt", "Flaky"},
                {"states",
                 {{"Flaky",
                   {{"type", "Task"},
                    {"function", "flaky"},
                    {"retry", {{"maxAttempts", 3}, {"backoffSeconds", 0}}},
                    {"end", true}}}}}};
  Json caught = {{"startAt", "Broken"},
                 {"states",
                  {{"Broken",
                    {{"type", "Task"},
                     {"function", "broken"},
                     {"catch", {{{"errors", {"ValueError"}}, {"next", "Handle"}}}},
                     {"next", "Never"}}},
                   {"Handle", {{"type", "Pass"}, {"end", true}}},
                   {"Never", {{"type", "Pass"}, {"end", true}}}}}};
  Json uncaught = {{"startAt", "Broken"}, {"states", {{"Broken", task("broken", "")}}}};
  create_workflow("retry", retry);
  create_workflow("caught", caught);
  create_workflow("uncaught", uncaught);
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("retry-1", "retry", Json::object());
  create_run("caught-1", "caught", {{"x", 1}});
  create_run("uncaught-1", "uncaught", Json::object());

  Json r = wait_done("retry-1");
  EXPECT_EQ(r["status"].value("phase", ""), "Succeeded") << r.dump(2);
  EXPECT_EQ(r["status"]["output"], Json({{"done", true}}));
  EXPECT_EQ(flaky_calls.load(), 3);
  const Json* last = step(r, "Flaky#0", "Succeeded");
  ASSERT_NE(last, nullptr) << r.dump(2);
  EXPECT_EQ(last->value("attempt", 0), 3);
  auto calls = fns_.calls("flaky");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2].attempt, 3);

  Json c = wait_done("caught-1");
  EXPECT_EQ(c["status"].value("phase", ""), "Succeeded") << c.dump(2);
  EXPECT_EQ(c["status"]["output"].value("x", 0), 1);
  EXPECT_EQ(c["status"]["output"]["error"].value("error", ""), "ValueError") << c.dump(2);
  EXPECT_NE(step(c, "Broken#0", "Caught"), nullptr) << c.dump(2);
  EXPECT_NE(step(c, "Handle#0"), nullptr);
  EXPECT_EQ(step(c, "Never#0"), nullptr);

  Json u = wait_done("uncaught-1");
  EXPECT_EQ(u["status"].value("phase", ""), "Failed") << u.dump(2);
  EXPECT_EQ(u["status"]["error"].value("error", ""), "ValueError");
  EXPECT_EQ(u["status"]["error"].value("cause", ""), "boom");
  EXPECT_EQ(u["status"]["error"].value("state", ""), "Broken");
  const Json* f = step(u, "Broken#0", "Failed");
  ASSERT_NE(f, nullptr) << u.dump(2);
  EXPECT_NE(f->value("error", "").find("ValueError"), std::string::npos);
}

TEST_F(WorkflowControllerTest, ParallelBranchesRunConcurrentlyInOrder) {
  // Both branches must be in flight at once: each waits for the other.
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  auto meet = [&](const TaskCall& c) {
    std::unique_lock l(m);
    ++arrived;
    cv.notify_all();
    bool both = cv.wait_for(l, 5s, [&] { return arrived >= 2; });
    return both ? ok({{"from", c.function}}) : fail("States.TaskFailed", "branches ran one at a time");
  };
  fns_.add("left", meet);
  fns_.add("right", meet);
  Json spec = {{"startAt", "Fan"},
               {"states",
                {{"Fan",
                  {{"type", "Parallel"},
                   {"branches",
                    {{{"startAt", "L"}, {"states", {{"L", task("left", "")}}}},
                     {{"startAt", "R"}, {"states", {{"R", task("right", "")}}}}}},
                   {"end", true}}}}}};
  create_workflow("fan", spec);
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("fan-1", "fan", Json::object());
  Json r = wait_done("fan-1");
  EXPECT_EQ(r["status"].value("phase", ""), "Succeeded") << r.dump(2);
  EXPECT_EQ(r["status"]["output"], Json::array({{{"from", "left"}}, {{"from", "right"}}}));
  EXPECT_NE(step(r, "Fan#0/0/L#0", "Succeeded"), nullptr) << r.dump(2);
  EXPECT_NE(step(r, "Fan#0/1/R#0", "Succeeded"), nullptr);
  EXPECT_NE(step(r, "Fan#0", "Succeeded"), nullptr);
}

// A → B (blocks) → C: progress is in the API while B runs; after the
// controller stops mid-run, a fresh one resumes: A is not invoked again, B
// is Interrupted and retried with attempt 2, the output is right.
TEST_F(WorkflowControllerTest, PersistsEachStepAndResumesAfterRestart) {
  fns_.add("a", [](const TaskCall& c) { return ok({{"n", c.input.value("n", 0) + 1}}); });
  fns_.add("b", [](const TaskCall& c) { return ok({{"n", c.input.value("n", 0) * 2}}); });
  fns_.add("c", [](const TaskCall& c) { return ok({{"n", c.input.value("n", 0) + 100}}); });
  fns_.gate("b", 1);
  Json spec = {{"startAt", "A"}, {"states", {{"A", task("a", "B")}, {"B", task("b", "C")}, {"C", task("c", "")}}}};
  create_workflow("abc", spec);
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("abc-1", "abc", {{"n", 1}});

  // Persisted after each step: A done and B in flight are in the API.
  Json mid;
  ASSERT_TRUE(eventually([&] {
    mid = get_run("abc-1");
    return step(mid, "A#0", "Succeeded") && step(mid, "B#0", "Running") && fns_.blocked("b") == 1;
  })) << mid.dump(2);
  EXPECT_EQ(mid["status"].value("phase", ""), "Running");
  EXPECT_EQ((*step(mid, "A#0"))["output"], Json({{"n", 2}}));

  // Stop mid-run: the stop waits for the fake call, whose answer is dropped.
  std::thread stopper([&] { ctl_->stop(); });
  ASSERT_TRUE(eventually([&] { return ctl_->stopping(); }));
  fns_.release();
  stopper.join();
  ctl_.reset();
  factory_->stop();
  factory_.reset();
  Json after = get_run("abc-1");
  EXPECT_EQ(after["status"].value("phase", ""), "Running") << after.dump(2);
  EXPECT_NE(step(after, "B#0", "Running"), nullptr) << after.dump(2);
  EXPECT_EQ(step(after, "C#0"), nullptr);
  ASSERT_EQ(fns_.calls("b").size(), 1u);

  ASSERT_NO_FATAL_FAILURE(start());
  Json r = wait_done("abc-1");
  EXPECT_EQ(r["status"].value("phase", ""), "Succeeded") << r.dump(2);
  EXPECT_EQ(r["status"]["output"], Json({{"n", 104}}));
  EXPECT_EQ(fns_.calls("a").size(), 1u);  // finished: replayed, not invoked
  auto b = fns_.calls("b");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1].attempt, 2);
  EXPECT_EQ(b[1].input, Json({{"n", 2}}));
  EXPECT_EQ(fns_.calls("c").size(), 1u);
  const Json* interrupted = step(r, "B#0", "Interrupted");
  ASSERT_NE(interrupted, nullptr) << r.dump(2);
  EXPECT_EQ(interrupted->value("attempt", 0), 1);
  const Json* retried = step(r, "B#0", "Succeeded");
  ASSERT_NE(retried, nullptr);
  EXPECT_EQ(retried->value("attempt", 0), 2);
  int a_records = 0;
  for (const Json& s : steps(r)) a_records += s.value("key", "") == "A#0";
  EXPECT_EQ(a_records, 1);
}

// Big data: a step's output past 64 KiB is stored truncated (and so is the
// run's past 1 MiB); the steps of a run stay under the budget (a small one
// here) by shrinking the oldest records' data, so every write still lands.
TEST_F(WorkflowControllerTest, LargeOutputsAreTruncatedAndStepsStayWritable) {
  fns_.add("big", [](const TaskCall& c) { return ok({{"blob", std::string(c.input.value("n", 0), 'x')}}); });
  Json branches = Json::array();
  for (int i = 0; i < 20; ++i) {
    std::string name = "B" + std::to_string(i);
    branches.push_back({{"startAt", name}, {"states", {{name, task("big", "")}}}});
  }
  create_workflow("huge", {{"startAt", "Fan"},
                           {"states", {{"Fan", {{"type", "Parallel"}, {"branches", branches}, {"end", true}}}}}});
  create_workflow("one-big", {{"startAt", "Big"}, {"states", {{"Big", task("big", "")}}}});
  WorkflowControllerOptions o;
  o.steps_budget_bytes = 400 * 1024;
  ASSERT_NO_FATAL_FAILURE(start(o));
  create_run("one-big-1", "one-big", {{"n", 100000}});
  create_run("huge-1", "huge", {{"n", 60000}});

  Json one = wait_done("one-big-1");
  const Json* s = step(one, "Big#0", "Succeeded");
  ASSERT_NE(s, nullptr) << one.dump(2).substr(0, 2000);
  const Json& out = (*s)["output"];
  EXPECT_EQ(out.value("truncated", false), true) << out.dump().substr(0, 200);
  EXPECT_GT(out.value("bytes", 0), 100000);
  EXPECT_EQ(out.value("head", "").size(), 1024u);
  EXPECT_EQ(one["status"]["output"]["blob"].get<std::string>().size(), 100000u);  // under 1 MiB: whole

  Json huge = wait_done("huge-1");
  EXPECT_EQ(huge["status"].value("phase", ""), "Succeeded");
  EXPECT_EQ(huge["status"]["output"].value("truncated", false), true);  // 20 × 60 KB > 1 MiB
  EXPECT_EQ(huge["status"]["steps"].size(), 21u);
  size_t shrunk = 0;
  for (const Json& rec : steps(huge)) {
    if (rec.value("key", "") == "Fan#0") continue;
    EXPECT_EQ(rec.value("status", ""), "Succeeded") << rec.value("key", "");
    shrunk += rec["output"].is_object() && rec["output"].value("truncated", false);
  }
  EXPECT_GT(shrunk, 0u);
  EXPECT_LT(shrunk, 20u);  // the newest stay whole
  EXPECT_LT(api::field(huge, "status")["steps"].dump().size(), 400u * 1024);
}

TEST_F(WorkflowControllerTest, CancelStopsARunAtTheNextBoundary) {
  fns_.add("a", [](const TaskCall&) { return ok({{"a", 1}}); });
  Json spec = {{"startAt", "A"},
               {"states",
                {{"A", task("a", "Hold")},
                 {"Hold", {{"type", "Wait"}, {"seconds", 60}, {"next", "After"}}},
                 {"After", task("a", "")}}}};
  create_workflow("slow", spec);
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("slow-1", "slow", Json::object());
  ASSERT_TRUE(eventually([&] { return step(get_run("slow-1"), "Hold#0", "Running") != nullptr; }))
      << get_run("slow-1").dump(2);
  auto p = client_->patch(runs(), kNs, "slow-1", client::PatchType::kMerge, {{"spec", {{"cancel", true}}}});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  Json r = wait_done("slow-1", 5s);
  EXPECT_EQ(r["status"].value("phase", ""), "Cancelled") << r.dump(2);
  EXPECT_EQ(step(r, "After#0"), nullptr);
  EXPECT_EQ(fns_.calls("a").size(), 1u);
  EXPECT_TRUE(eventually([&] { return ctl_->active_runs() == 0; }));

  // Cancelled before it started: never runs.
  ctl_->stop();
  create_run("slow-2", "slow", Json::object());
  p = client_->patch(runs(), kNs, "slow-2", client::PatchType::kMerge, {{"spec", {{"cancel", true}}}});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  ctl_.reset();
  factory_->stop();
  factory_.reset();
  ASSERT_NO_FATAL_FAILURE(start());
  Json r2 = wait_done("slow-2");
  EXPECT_EQ(r2["status"].value("phase", ""), "Cancelled") << r2.dump(2);
  EXPECT_TRUE(steps(r2).empty());
  EXPECT_EQ(fns_.calls("a").size(), 1u);
}

// A run cancelled while no executor runs it (the server was down mid-run)
// ends Cancelled when the next one starts, without executing anything; the
// step that was in flight is Aborted.
TEST_F(WorkflowControllerTest, CancelWhileNotExecutingEndsAtOnce) {
  fns_.add("a", [](const TaskCall&) { return ok({{"a", 1}}); });
  fns_.gate("a", 1);
  create_workflow("one", {{"startAt", "A"}, {"states", {{"A", task("a", "")}}}});
  ASSERT_NO_FATAL_FAILURE(start());
  create_run("c-1", "one", Json::object());
  ASSERT_TRUE(eventually([&] { return step(get_run("c-1"), "A#0", "Running") && fns_.blocked("a") == 1; }));
  std::thread stopper([&] { ctl_->stop(); });
  ASSERT_TRUE(eventually([&] { return ctl_->stopping(); }));
  fns_.release();
  stopper.join();
  ctl_.reset();
  factory_->stop();
  factory_.reset();
  auto p = client_->patch(runs(), kNs, "c-1", client::PatchType::kMerge, {{"spec", {{"cancel", true}}}});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();

  ASSERT_NO_FATAL_FAILURE(start());
  Json r = wait_done("c-1");
  EXPECT_EQ(r["status"].value("phase", ""), "Cancelled") << r.dump(2);
  EXPECT_EQ(r["status"]["error"].value("error", ""), "States.Cancelled");
  EXPECT_NE(step(r, "A#0", "Aborted"), nullptr) << r.dump(2);
  EXPECT_EQ(step(r, "A#0", "Running"), nullptr);
  EXPECT_EQ(fns_.calls("a").size(), 1u);
}

TEST_F(WorkflowControllerTest, MaxRunsHoldsTheRestPending) {
  fns_.add("b", [](const TaskCall&) { return ok({{"ok", true}}); });
  fns_.gate("b", 1);
  create_workflow("one", {{"startAt", "B"}, {"states", {{"B", task("b", "")}}}});
  WorkflowControllerOptions o;
  o.max_runs = 1;
  ASSERT_NO_FATAL_FAILURE(start(o));
  create_run("first", "one", Json::object());
  ASSERT_TRUE(eventually([&] { return fns_.blocked("b") == 1; }));
  uint64_t before = ctl_->metrics().reconcile_total;
  create_run("second", "one", Json::object());
  // The second waits (no status) while the first holds the only slot: once
  // the controller has reconciled it (and has nothing queued) it is still
  // untouched.
  ASSERT_TRUE(eventually([&] {
    auto m = ctl_->metrics();
    return m.reconcile_total > before && m.workqueue_depth == 0;
  }));
  EXPECT_EQ(phase("second"), "");
  EXPECT_EQ(ctl_->active_runs(), 1);
  EXPECT_EQ(fns_.calls("b").size(), 1u);
  fns_.release();
  EXPECT_EQ(wait_done("first")["status"].value("phase", ""), "Succeeded");
  EXPECT_EQ(wait_done("second")["status"].value("phase", ""), "Succeeded");
}

// The API server refuses a run of an unknown workflow; one whose Workflow
// went away before the executor got to it fails (no garbage collector runs
// here to delete it with its owner).
TEST_F(WorkflowControllerTest, RunOfAGoneWorkflowFails) {
  create_workflow("gone", chain_spec());
  create_run("orphan", "gone", Json::object());
  auto d = client_->remove(workflows(), kNs, "gone");
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  ASSERT_NO_FATAL_FAILURE(start());
  Json done = wait_done("orphan");
  EXPECT_EQ(done["status"].value("phase", ""), "Failed");
  EXPECT_EQ(done["status"]["error"].value("error", ""), "States.Runtime");
  EXPECT_NE(done["status"]["error"].value("cause", "").find("\"gone\""), std::string::npos) << done.dump(2);
  EXPECT_TRUE(fns_.calls("inc").empty());
}

TEST(TaskResultFromAnswer, MapsGatewayAnswers) {
  TaskResult a = task_result_from_answer(200, "application/json", R"({"x":1})");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.output, Json({{"x", 1}}));
  TaskResult t = task_result_from_answer(200, "text/plain; charset=utf-8", "hello");
  EXPECT_TRUE(t.ok);
  EXPECT_EQ(t.output, Json("hello"));
  TaskResult e = task_result_from_answer(500, "application/json",
                                         R"({"error":"ValueError","message":"boom","traceback":"..."})");
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.error, "ValueError");
  EXPECT_EQ(e.cause, "boom");
  TaskResult to = task_result_from_answer(504, "application/json", R"({"error":"Timeout","message":"slow"})");
  EXPECT_EQ(to.error, "States.Timeout");
  EXPECT_EQ(to.cause, "slow");
  TaskResult un = task_result_from_answer(503, "application/json", R"({"error":"ServiceUnavailable","message":"none"})");
  EXPECT_EQ(un.error, "States.TaskFailed");
  EXPECT_NE(un.cause.find("none"), std::string::npos);
  TaskResult nf = task_result_from_answer(404, "application/json", R"({"kind":"Status","message":"function x not found"})");
  EXPECT_EQ(nf.error, "States.TaskFailed");
  EXPECT_NE(nf.cause.find("not found"), std::string::npos);
  TaskResult bad = task_result_from_answer(500, "text/plain", "\xff\xfe oops");
  EXPECT_EQ(bad.error, "States.TaskFailed");
  EXPECT_NO_THROW((void)Json(bad.cause).dump());
}

// ---- over HTTP

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};

HttpAnswer http_post(uint16_t port, const std::string& target, const std::string& body) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  HttpAnswer a;
  a.status = static_cast<int>(res.result_int());
  a.body = res.body();
  for (const auto& h : res) a.headers[std::string(h.name_string())] = std::string(h.value());
  return a;
}

class WorkflowGatewayTest : public WorkflowControllerTest {
 protected:
  // A gateway serving workflows (and the functions of table_), then the
  // controller: invoke set → fake functions, else Tasks go to the gateway.
  void start_gateway(bool http_tasks) {
    table_ = std::make_unique<InstanceTable>();
    GatewayOptions go;
    go.listen = "127.0.0.1:0";
    go.queue_timeout = 2s;
    gateway_ = std::make_unique<Gateway>(*table_, go);
    factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
    gateway_->serve_workflows(*client_, factory_->informer(runs()));
    ASSERT_TRUE(gateway_->start().is_ok());
    WorkflowControllerOptions o;
    if (http_tasks) {
      o.gateway_url = "http://127.0.0.1:" + std::to_string(gateway_->port());
    } else {
      o.invoke = fns_.invoke();
    }
    ctl_ = std::make_unique<WorkflowController>(*factory_, o);
    Status st = ctl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
};

TEST_F(WorkflowGatewayTest, SyncAsyncNotFoundAndFailure) {
  add_chain_functions(fns_);
  fns_.add("broken", [](const TaskCall&) { return fail("ValueError", "boom"); });
  create_workflow("chain", chain_spec());
  create_workflow("bad", {{"startAt", "Broken"}, {"states", {{"Broken", task("broken", "")}}}});
  create_workflow("same", {{"startAt", "P"}, {"states", {{"P", {{"type", "Pass"}, {"end", true}}}}}});
  ASSERT_NO_FATAL_FAILURE(start_gateway(false));

  HttpAnswer a = http_post(gateway_->port(), "/workflows/default/chain", R"({"v": 4})");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Json::parse(a.body), Json({{"w", 50}}));
  ASSERT_TRUE(a.headers.count("X-Workflow-Run"));
  std::string run = a.headers["X-Workflow-Run"];
  EXPECT_TRUE(run.starts_with("chain-")) << run;
  EXPECT_EQ(phase(run), "Succeeded");

  // Query parameters merge into the input (the body wins); a blank body is {}.
  a = http_post(gateway_->port(), "/workflows/default/same?q=query&x=3", R"({"q": "body"})");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Json::parse(a.body), Json({{"q", "body"}, {"x", "3"}}));
  a = http_post(gateway_->port(), "/workflows/default/same", "");
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Json::parse(a.body), Json::object());

  HttpAnswer as = http_post(gateway_->port(), "/workflows/default/chain?async=1", R"({"v": 1})");
  EXPECT_EQ(as.status, 202) << as.body;
  std::string async_run = Json::parse(as.body).value("run", "");
  ASSERT_FALSE(async_run.empty()) << as.body;
  Json done = wait_done(async_run);
  EXPECT_EQ(done["status"]["output"], Json({{"w", 20}}));

  HttpAnswer nf = http_post(gateway_->port(), "/workflows/default/nope", "{}");
  EXPECT_EQ(nf.status, 404) << nf.body;

  HttpAnswer f = http_post(gateway_->port(), "/workflows/default/bad", "{}");
  EXPECT_EQ(f.status, 500) << f.body;
  Json fb = Json::parse(f.body);
  EXPECT_EQ(fb.value("error", ""), "ValueError");
  EXPECT_EQ(fb.value("cause", ""), "boom");
  EXPECT_EQ(fb.value("state", ""), "Broken");
  EXPECT_EQ(fb.value("run", ""), f.headers["X-Workflow-Run"]);

  HttpAnswer bad_json = http_post(gateway_->port(), "/workflows/default/chain", "{nope");
  EXPECT_EQ(bad_json.status, 400);
}

// Tasks over HTTP: the gateway in front of a fake runtime; the step records
// the instance and the duration the gateway reports; a function error
// becomes the run's error.
TEST_F(WorkflowGatewayTest, TasksGoThroughTheGateway) {
  FakeRuntime rt([](const std::string& target, const std::string& body) -> std::pair<int, std::string> {
    if (!target.starts_with("/invoke")) return {404, "{}"};
    Json in = Json::parse(body, nullptr, false);
    if (in.is_object() && in.contains("explode"))
      return {500, R"({"error":"KeyError","message":"'x'","traceback":"..."})"};
    return {200, Json{{"echo", in}}.dump()};
  });
  ASSERT_NO_FATAL_FAILURE(start_gateway(true));
  FunctionConfig fc;
  fc.ns = kNs;
  fc.name = "echo";
  fc.revision = "1";
  table_->set_function(fc);
  table_->add_instance(function_key(kNs, "echo"), InstanceRef{"echo-pod-1", "node-1", "127.0.0.1", rt.port(), "1"});
  create_workflow("echo", {{"startAt", "E"}, {"states", {{"E", task("echo", "")}}}});

  create_run("echo-1", "echo", {{"hello", "world"}});
  Json r = wait_done("echo-1");
  EXPECT_EQ(r["status"].value("phase", ""), "Succeeded") << r.dump(2);
  EXPECT_EQ(r["status"]["output"], Json({{"echo", {{"hello", "world"}}}}));
  const Json* s = step(r, "E#0", "Succeeded");
  ASSERT_NE(s, nullptr) << r.dump(2);
  EXPECT_EQ(s->value("instance", ""), "echo-pod-1");
  EXPECT_GE(s->value("functionMs", -1.0), 0.0);

  create_run("echo-2", "echo", {{"explode", true}});
  Json f = wait_done("echo-2");
  EXPECT_EQ(f["status"].value("phase", ""), "Failed") << f.dump(2);
  EXPECT_EQ(f["status"]["error"].value("error", ""), "KeyError");
  EXPECT_EQ(f["status"]["error"].value("cause", ""), "'x'");

  // An unknown function: the gateway's 404 fails the Task.
  create_workflow("ghost", {{"startAt", "G"}, {"states", {{"G", task("ghost", "")}}}});
  create_run("ghost-1", "ghost", Json::object());
  Json g = wait_done("ghost-1", 10s);
  EXPECT_EQ(g["status"].value("phase", ""), "Failed") << g.dump(2);
  EXPECT_EQ(g["status"]["error"].value("error", ""), "States.TaskFailed");
  EXPECT_EQ(rt.count("/invoke"), 2);
}

// Cancel while a Task is in flight over HTTP: the executor drops the call
// (shuts its connection) and the run ends Cancelled without its answer.
TEST_F(WorkflowGatewayTest, CancelAbandonsATaskInFlight) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> started{0};
  FakeRuntime rt([&](const std::string&, const std::string&) -> std::pair<int, std::string> {
    ++started;
    std::unique_lock l(m);
    cv.wait_for(l, 10s, [&] { return release; });
    return {200, R"({"late":true})"};
  });
  ASSERT_NO_FATAL_FAILURE(start_gateway(true));
  FunctionConfig fc;
  fc.ns = kNs;
  fc.name = "hang";
  fc.revision = "1";
  table_->set_function(fc);
  table_->add_instance(function_key(kNs, "hang"), InstanceRef{"hang-pod", "node-1", "127.0.0.1", rt.port(), "1"});
  create_workflow("hang", {{"startAt", "H"}, {"states", {{"H", task("hang", "")}}}});
  create_run("hang-1", "hang", Json::object());
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  auto begun = std::chrono::steady_clock::now();
  auto p = client_->patch(runs(), kNs, "hang-1", client::PatchType::kMerge, {{"spec", {{"cancel", true}}}});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  Json r = wait_done("hang-1", 5s);
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 5s);
  EXPECT_EQ(r["status"].value("phase", ""), "Cancelled") << r.dump(2);
  EXPECT_EQ(step(r, "H#0", "Succeeded"), nullptr) << r.dump(2);
  {
    std::lock_guard l(m);
    release = true;
  }
  cv.notify_all();
}

}  // namespace
}  // namespace minik8s::serverless
