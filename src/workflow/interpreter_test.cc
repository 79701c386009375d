#include "minik8s/workflow/interpreter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace minik8s::workflow {
namespace {

using api::Json;
using std::chrono::milliseconds;

std::shared_ptr<const Machine> machine(const std::string& yaml) {
  auto j = api::yaml_to_json(yaml);
  EXPECT_TRUE(j.is_ok()) << j.status().message();
  auto m = parse_machine(j.is_ok() ? *j : Json());
  EXPECT_TRUE(m.is_ok()) << m.status().message();
  return m.is_ok() ? *m : std::make_shared<Machine>();
}

TaskResult ok_result(Json out) {
  TaskResult r;
  r.ok = true;
  r.output = std::move(out);
  return r;
}
TaskResult err_result(std::string error, std::string cause) {
  TaskResult r;
  r.error = std::move(error);
  r.cause = std::move(cause);
  return r;
}

// An in-memory Host: functions are C++ handlers; records, calls and sleeps
// are kept; recorded()/previous_attempt() answer from `replay_from`; the
// clock moves only by sleep_for (and by handlers that call advance()).
class FakeHost : public Host {
 public:
  using Handler = std::function<TaskResult(const TaskCall&)>;
  std::map<std::string, Handler> functions;

  TaskResult invoke(const TaskCall& call) override {
    Handler h;
    {
      std::lock_guard<std::mutex> lk(mu_);
      calls_.push_back(call);
      auto it = functions.find(call.function);
      if (it != functions.end()) h = it->second;
    }
    if (!h) return err_result("States.TaskFailed", "no function " + call.function);
    return h(call);
  }
  void step_started(const StepRecord& step) override {
    std::lock_guard<std::mutex> lk(mu_);
    EXPECT_EQ(step.status, "Running");
    started_.push_back(step);
  }
  void step_finished(const StepRecord& step) override {
    std::lock_guard<std::mutex> lk(mu_);
    finished_.push_back(step);
    ++finished_count_;
    if (cancel_after_finished_ > 0 && finished_count_ >= cancel_after_finished_) cancel_ = true;
  }
  std::optional<StepRecord> recorded(const std::string& key) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = replay_.find(key);
    if (it == replay_.end()) return std::nullopt;
    const StepRecord& r = it->second;
    if (r.status != "Succeeded" && r.status != "Failed" && r.status != "Caught")
      return std::nullopt;
    if (r.output_truncated) return std::nullopt;
    return r;
  }
  std::optional<StepRecord> previous_attempt(const std::string& key) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = replay_.find(key);
    if (it == replay_.end()) return std::nullopt;
    return it->second;
  }
  bool sleep_for(milliseconds d) override {
    std::lock_guard<std::mutex> lk(mu_);
    sleeps_.push_back(d);
    clock_ += d;
    return !cancel_;
  }
  bool cancelled() override { return cancel_; }
  std::chrono::steady_clock::time_point now() override {
    std::lock_guard<std::mutex> lk(mu_);
    return clock_;
  }

  void advance(milliseconds d) {
    std::lock_guard<std::mutex> lk(mu_);
    clock_ += d;
  }
  void cancel() { cancel_ = true; }
  void cancel_after_finished(int n) { cancel_after_finished_ = n; }
  // The records a restarted executor would find: the latest per key.
  void replay_from(const std::vector<StepRecord>& records) {
    for (const StepRecord& r : records) replay_[r.key] = r;
  }

  std::vector<TaskCall> calls() {
    std::lock_guard<std::mutex> lk(mu_);
    return calls_;
  }
  std::vector<StepRecord> started() {
    std::lock_guard<std::mutex> lk(mu_);
    return started_;
  }
  std::vector<StepRecord> finished() {
    std::lock_guard<std::mutex> lk(mu_);
    return finished_;
  }
  std::vector<milliseconds> sleeps() {
    std::lock_guard<std::mutex> lk(mu_);
    return sleeps_;
  }
  std::vector<std::string> call_keys() {
    std::vector<std::string> keys;
    for (const auto& c : calls()) keys.push_back(c.key);
    return keys;
  }
  std::vector<std::string> finished_keys() {
    std::vector<std::string> keys;
    for (const auto& r : finished()) keys.push_back(r.key + " " + r.status);
    return keys;
  }

 private:
  std::mutex mu_;
  std::vector<TaskCall> calls_;
  std::vector<StepRecord> started_, finished_;
  std::vector<milliseconds> sleeps_;
  std::map<std::string, StepRecord> replay_;
  int finished_count_ = 0;
  int cancel_after_finished_ = 0;
  std::atomic<bool> cancel_{false};
  std::chrono::steady_clock::time_point clock_ =
      std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
};

// Calls meet here in groups: the k-th caller (0-based, in arrival order)
// waits until the callers of its group of `group` (or all `total`) have
// arrived, up to a deadline. Proves that a group runs at the same time
// (with less concurrency the deadline passes and meet() returns false).
class Gate {
 public:
  bool meet(int group, int total) {
    std::unique_lock<std::mutex> lk(mu_);
    int me = arrived_++;
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    cv_.notify_all();
    int want = std::min(total, (me / group + 1) * group);
    bool met = cv_.wait_until(lk, std::chrono::steady_clock::now() + std::chrono::seconds(20),
                              [&] { return arrived_ >= want; });
    --inside_;
    return met;
  }
  int max_inside() {
    std::lock_guard<std::mutex> lk(mu_);
    return max_inside_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0, inside_ = 0, max_inside_ = 0;
};

// ---------------------------------------------------------------------------

TEST(InterpreterTest, ChainFeedsEachOutputToTheNextState) {
  auto m = machine(R"(
startAt: Double
states:
  Double: {type: Task, function: double, next: AddOne}
  AddOne: {type: Task, function: add-one, next: Done}
  Done: {type: Succeed}
)");
  FakeHost host;
  host.functions["double"] = [](const TaskCall& c) {
    return ok_result({{"v", c.input["v"].get<int>() * 2}});
  };
  host.functions["add-one"] = [](const TaskCall& c) {
    return ok_result({{"v", c.input["v"].get<int>() + 1}});
  };
  RunOutcome out = run(*m, {{"v", 5}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output, Json({{"v", 11}}));
  EXPECT_EQ(out.steps, 3);
  auto calls = host.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].key, "Double#0");
  EXPECT_EQ(calls[0].function, "double");
  EXPECT_EQ(calls[0].attempt, 1);
  EXPECT_EQ(calls[1].key, "AddOne#0");
  EXPECT_EQ(calls[1].input, Json({{"v", 10}}));
  EXPECT_GT(calls[1].remaining.count(), 0);
  EXPECT_EQ(
      host.finished_keys(),
      (std::vector<std::string>{"Double#0 Succeeded", "AddOne#0 Succeeded", "Done#0 Succeeded"}));
  auto fin = host.finished();
  EXPECT_EQ(fin[0].input, Json({{"v", 5}}));
  EXPECT_EQ(fin[0].output, Json({{"v", 10}}));
  EXPECT_EQ(fin[0].type, StateType::kTask);
  EXPECT_EQ(fin[0].function, "double");
  EXPECT_EQ(fin[1].input, fin[0].output);
  EXPECT_EQ(host.started().size(), 3u);
}

const char* kClassify = R"(
startAt: Measure
states:
  Measure: {type: Task, function: measure, next: Route}
  Route:
    type: Choice
    choices:
    - {variable: $.value, op: ">", value: 10, next: Big}
    - and: [{variable: $.kind, op: "==", value: "text"}, {not: {variable: $.lang, op: isPresent}}]
      next: Text
    default: Small
  Big: {type: Task, function: tag-big, end: true}
  Text: {type: Pass, result: {kind: text}, end: true}
  Small: {type: Task, function: tag-small, retry: {maxAttempts: 3, backoffSeconds: 1}, end: true}
)";

void classify_functions(FakeHost& host) {
  host.functions["measure"] = [](const TaskCall& c) { return ok_result(c.input); };
  host.functions["tag-big"] = [](const TaskCall& c) {
    Json o = c.input;
    o["tag"] = "big";
    return ok_result(o);
  };
  host.functions["tag-small"] = [](const TaskCall& c) {
    Json o = c.input;
    o["tag"] = "small";
    return ok_result(o);
  };
}

TEST(InterpreterTest, ChoiceTakesEitherBranch) {
  auto m = machine(kClassify);
  {
    FakeHost host;
    classify_functions(host);
    RunOutcome out = run(*m, {{"value", 12}}, host);
    ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
    EXPECT_EQ(out.output, Json({{"value", 12}, {"tag", "big"}}));
    EXPECT_EQ(host.call_keys(), (std::vector<std::string>{"Measure#0", "Big#0"}));
    EXPECT_EQ(
        host.finished_keys(),
        (std::vector<std::string>{"Measure#0 Succeeded", "Route#0 Succeeded", "Big#0 Succeeded"}));
  }
  {
    FakeHost host;
    classify_functions(host);
    RunOutcome out = run(*m, {{"value", 3}}, host);
    ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
    EXPECT_EQ(out.output, Json({{"value", 3}, {"tag", "small"}}));
    EXPECT_EQ(host.call_keys(), (std::vector<std::string>{"Measure#0", "Small#0"}));
  }
  {
    FakeHost host;
    classify_functions(host);
    RunOutcome out = run(*m, {{"value", 3}, {"kind", "text"}}, host);
    ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
    EXPECT_EQ(out.output, Json({{"kind", "text"}}));
    EXPECT_EQ(
        host.finished_keys(),
        (std::vector<std::string>{"Measure#0 Succeeded", "Route#0 Succeeded", "Text#0 Succeeded"}));
  }
}

TEST(InterpreterTest, NoChoiceMatchedWithoutDefault) {
  auto m = machine(R"(
startAt: R
states:
  R: {type: Choice, choices: [{variable: $.x, op: "==", value: 1, next: A}]}
  A: {type: Succeed}
)");
  FakeHost host;
  RunOutcome out = run(*m, {{"x", 2}}, host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out.error, "States.NoChoiceMatched");
  EXPECT_EQ(out.state, "R");
  EXPECT_EQ(host.finished_keys(), std::vector<std::string>{"R#0 Failed"});
}

TEST(InterpreterTest, RetryWithBackoffThenSuccess) {
  auto m = machine(R"(
startAt: T
states:
  T: {type: Task, function: flaky, retry: {maxAttempts: 3, backoffSeconds: 2, backoffRate: 3}, end: true}
)");
  FakeHost host;
  host.functions["flaky"] = [](const TaskCall& c) {
    if (c.attempt < 3) return err_result("Flaky", "attempt " + std::to_string(c.attempt));
    return ok_result({{"attempt", c.attempt}});
  };
  RunOutcome out = run(*m, Json::object(), host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error;
  EXPECT_EQ(out.output, Json({{"attempt", 3}}));
  EXPECT_EQ(out.steps, 1);
  EXPECT_EQ(host.sleeps(), (std::vector<milliseconds>{milliseconds(2000), milliseconds(6000)}));
  auto fin = host.finished();
  ASSERT_EQ(fin.size(), 3u);
  EXPECT_EQ(fin[0].status, "Failed");
  EXPECT_EQ(fin[0].error, "Flaky: attempt 1");
  EXPECT_EQ(fin[0].attempt, 1);
  EXPECT_EQ(fin[1].attempt, 2);
  EXPECT_EQ(fin[2].status, "Succeeded");
  EXPECT_EQ(fin[2].attempt, 3);
  EXPECT_EQ(fin[2].key, "T#0");
}

TEST(InterpreterTest, RetryExhaustedThenCatchThenNext) {
  auto m = machine(R"(
startAt: T
states:
  T:
    type: Task
    function: boom
    retry: {maxAttempts: 2, backoffSeconds: 0}
    catch: [{next: Handle}]
    next: Never
  Never: {type: Fail, error: Unexpected}
  Handle: {type: Pass, end: true}
)");
  FakeHost host;
  host.functions["boom"] = [](const TaskCall&) { return err_result("Boom", "it broke"); };
  RunOutcome out = run(*m, {{"in", 1}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error;
  EXPECT_EQ(out.output, Json::parse(R"({"in":1,"error":{"error":"Boom","cause":"it broke"}})"));
  EXPECT_EQ(host.calls().size(), 2u);
  EXPECT_TRUE(host.sleeps().empty());  // backoffSeconds 0
  EXPECT_EQ(host.finished_keys(),
            (std::vector<std::string>{"T#0 Failed", "T#0 Caught", "Handle#0 Succeeded"}));
  auto caught = host.finished()[1];
  EXPECT_EQ(caught.error, "Boom: it broke");
  EXPECT_EQ(caught.attempt, 2);
  EXPECT_EQ(caught.output, out.output);
}

TEST(InterpreterTest, CatchAndRetryFilterByErrorName) {
  auto m = machine(R"(
startAt: T
states:
  T:
    type: Task
    function: fails
    retry: {maxAttempts: 5, backoffSeconds: 1, errors: [Flaky]}
    catch:
    - {errors: [Other], next: WrongHandler}
    - {errors: [Boom, Also], resultPath: $.why, next: BoomHandler}
    end: true
  WrongHandler: {type: Fail, error: Wrong}
  BoomHandler: {type: Pass, end: true}
)");
  FakeHost host;
  std::string error = "Boom";
  host.functions["fails"] = [&](const TaskCall&) { return err_result(error, ""); };
  RunOutcome out = run(*m, Json::object(), host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error;
  EXPECT_EQ(out.output, Json::parse(R"({"why":{"error":"Boom","cause":""}})"));
  EXPECT_EQ(host.calls().size(), 1u);  // Boom is not retried
  EXPECT_TRUE(host.sleeps().empty());

  FakeHost host2;
  host2.functions = host.functions;
  error = "Unlisted";  // neither retried nor caught: the run fails naming the state
  RunOutcome out2 = run(*m, Json::object(), host2);
  EXPECT_EQ(out2.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out2.error, "Unlisted");
  EXPECT_EQ(out2.state, "T");
  EXPECT_EQ(host2.finished_keys(), std::vector<std::string>{"T#0 Failed"});
}

TEST(InterpreterTest, PathsShapeTheData) {
  auto m = machine(R"(
startAt: T
states:
  T: {type: Task, function: echo, inputPath: $.args, resultPath: $.res.out, outputPath: $.res, next: P}
  P: {type: Pass, result: {fixed: 1}, resultPath: $.p, next: D}
  D: {type: Pass, resultPath: null, outputPath: null, next: S}
  S: {type: Succeed}
)");
  FakeHost host;
  host.functions["echo"] = [](const TaskCall& c) { return ok_result({{"got", c.input}}); };
  RunOutcome out = run(*m, {{"args", {{"a", 1}}}, {"other", 2}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << out.cause;
  EXPECT_EQ(host.calls()[0].input, Json({{"a", 1}}));
  EXPECT_EQ(host.finished()[0].output, Json::parse(R"({"out":{"got":{"a":1}}})"));
  EXPECT_EQ(host.finished()[1].output, Json::parse(R"({"out":{"got":{"a":1}},"p":{"fixed":1}})"));
  EXPECT_EQ(out.output, Json::object());  // D: outputPath null

  // A path that selects nothing / goes through a non-object: States.Runtime.
  FakeHost host2;
  host2.functions = host.functions;
  RunOutcome bad = run(*m, {{"other", 2}}, host2);
  EXPECT_EQ(bad.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(bad.error, "States.Runtime");
  EXPECT_EQ(bad.cause, "inputPath $.args selects nothing in the state's input");
  EXPECT_TRUE(host2.calls().empty());

  auto m2 =
      machine("startAt: P\nstates: {P: {type: Pass, result: 1, resultPath: $.s.x, end: true}}");
  FakeHost host3;
  RunOutcome bad2 = run(*m2, {{"s", "text"}}, host3);
  EXPECT_EQ(bad2.error, "States.Runtime");
  EXPECT_EQ(bad2.cause, "resultPath: cannot set $.s.x: $.s is a string, not an object");
}

TEST(InterpreterTest, ParallelRunsBranchesConcurrentlyOutputInBranchOrder) {
  auto m = machine(R"(
startAt: Fan
states:
  Fan:
    type: Parallel
    branches:
    - startAt: A
      states: {A: {type: Task, function: meet, next: A2}, A2: {type: Pass, result: a, end: true}}
    - startAt: B
      states: {B: {type: Task, function: meet, end: true}}
    - startAt: C
      states: {C: {type: Task, function: meet, resultPath: $.c, end: true}}
    resultPath: $.fan
    next: Done
  Done: {type: Succeed}
)");
  FakeHost host;
  Gate gate;
  host.functions["meet"] = [&](const TaskCall& c) {
    if (!gate.meet(3, 3)) return err_result("NotConcurrent", "the branches did not overlap");
    return ok_result(c.state);
  };
  RunOutcome out = run(*m, {{"x", 1}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(gate.max_inside(), 3);
  EXPECT_EQ(out.output, Json::parse(R"({"x":1,"fan":["a","B",{"x":1,"c":"C"}]})"));
  std::vector<std::string> keys = host.call_keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"Fan#0/0/A#0", "Fan#0/1/B#0", "Fan#0/2/C#0"}));
  auto fin = host.finished_keys();
  EXPECT_EQ(fin.back(), "Done#0 Succeeded");
  EXPECT_EQ(fin[fin.size() - 2], "Fan#0 Succeeded");
  EXPECT_EQ(fin.size(), 6u);
  EXPECT_EQ(out.steps, 6);  // Fan, A, A2, B, C, Done
}

TEST(InterpreterTest, ParallelBranchFailureStopsSiblingsAndIsCaught) {
  // Branch 0 loops forever (until maxSteps); branch 1 fails at once. The
  // failure stops branch 0 at a step boundary, so the run neither reaches
  // maxSteps nor waits for branch 0: the catch handles branch 1's error.
  auto m = machine(R"(
startAt: Fan
maxSteps: 100000
states:
  Fan:
    type: Parallel
    branches:
    - startAt: Spin
      states:
        Spin: {type: Pass, next: Again}
        Again: {type: Choice, choices: [{variable: $.never, op: isPresent, next: Out}], default: Spin}
        Out: {type: Succeed}
    - startAt: Bad
      states: {Bad: {type: Fail, error: BranchFailed, cause: branch 1}}
    catch: [{next: Handled}]
    end: true
  Handled: {type: Pass, end: true}
)");
  FakeHost host;
  RunOutcome out = run(*m, {{"in", true}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output,
            Json::parse(R"({"in":true,"error":{"error":"BranchFailed","cause":"branch 1"}})"));
  EXPECT_LT(out.steps, 100000);
  auto fin = host.finished_keys();
  EXPECT_NE(std::find(fin.begin(), fin.end(), "Fan#0/1/Bad#0 Failed"), fin.end());
  EXPECT_NE(std::find(fin.begin(), fin.end(), "Fan#0 Caught"), fin.end());
  EXPECT_EQ(fin.back(), "Handled#0 Succeeded");

  // Without a catch the run fails with the branch's error and state.
  auto m2 = machine(R"(
startAt: Fan
states:
  Fan:
    type: Parallel
    branches:
    - {startAt: Ok, states: {Ok: {type: Pass, end: true}}}
    - {startAt: Bad, states: {Bad: {type: Fail, error: E1, cause: c1}}}
    end: true
)");
  FakeHost host2;
  RunOutcome out2 = run(*m2, Json::object(), host2);
  EXPECT_EQ(out2.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out2.error, "E1");
  EXPECT_EQ(out2.cause, "c1");
  EXPECT_EQ(out2.state, "Bad");
}

TEST(InterpreterTest, MapBoundsConcurrencyAndKeepsItemOrder) {
  auto m = machine(R"(
startAt: Each
states:
  Each:
    type: Map
    itemsPath: $.items
    maxConcurrency: 2
    iterator:
      startAt: Work
      states: {Work: {type: Task, function: square, end: true}}
    resultPath: $.squares
    end: true
)");
  FakeHost host;
  Gate gate;
  host.functions["square"] = [&](const TaskCall& c) {
    if (!gate.meet(2, 6)) return err_result("NotConcurrent", "two items did not overlap");
    int v = c.input.get<int>();
    return ok_result(v * v);
  };
  RunOutcome out = run(*m, {{"items", {1, 2, 3, 4, 5, 6}}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output["squares"], Json({1, 4, 9, 16, 25, 36}));
  EXPECT_EQ(gate.max_inside(), 2);
  std::set<std::string> keys;
  for (const auto& c : host.calls()) keys.insert(c.key);
  EXPECT_EQ(keys, (std::set<std::string>{"Each#0/0/Work#0", "Each#0/1/Work#0", "Each#0/2/Work#0",
                                         "Each#0/3/Work#0", "Each#0/4/Work#0", "Each#0/5/Work#0"}));
  EXPECT_EQ(out.steps, 7);
}

TEST(InterpreterTest, MapUnboundedRunsAtMost32AtOnce) {
  auto m = machine(R"(
startAt: Each
states:
  Each:
    type: Map
    iterator: {startAt: Work, states: {Work: {type: Task, function: id, end: true}}}
    end: true
)");
  FakeHost host;
  Gate gate;
  host.functions["id"] = [&](const TaskCall& c) {
    if (!gate.meet(32, 40)) return err_result("NotConcurrent", "32 items did not overlap");
    return ok_result(c.input);
  };
  Json items = Json::array();
  for (int i = 0; i < 40; ++i) items.push_back(i);
  RunOutcome out = run(*m, items, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output, items);
  EXPECT_EQ(gate.max_inside(), 32);

  // Not an array: States.Runtime; an empty array: [].
  FakeHost host2;
  RunOutcome bad = run(*m, {{"no", "array"}}, host2);
  EXPECT_EQ(bad.error, "States.Runtime");
  EXPECT_EQ(bad.cause, "itemsPath $ is not an array");
  FakeHost host3;
  RunOutcome empty = run(*m, Json::array(), host3);
  ASSERT_EQ(empty.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_EQ(empty.output, Json::array());
}

TEST(InterpreterTest, NestedMapsStayWithinTheThreadCap) {
  auto m = machine(R"(
startAt: Outer
maxSteps: 10000
states:
  Outer:
    type: Map
    iterator:
      startAt: Inner
      states:
        Inner:
          type: Map
          iterator: {startAt: W, states: {W: {type: Task, function: f, end: true}}}
          end: true
    end: true
)");
  FakeHost host;
  std::atomic<int> in_flight{0}, max_in_flight{0};
  host.functions["f"] = [&](const TaskCall& c) {
    int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::yield();
    --in_flight;
    return ok_result(c.input.get<int>() + 1);
  };
  Json input = Json::array(), want = Json::array();
  for (int i = 0; i < 40; ++i) {
    Json row = Json::array(), wrow = Json::array();
    for (int j = 0; j < 40; ++j) {
      row.push_back(i * 100 + j);
      wrow.push_back(i * 100 + j + 1);
    }
    input.push_back(row);
    want.push_back(wrow);
  }
  RunOutcome out = run(*m, input, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output, want);
  EXPECT_EQ(out.steps, 1 + 40 + 1600);
  EXPECT_LE(max_in_flight.load(), 257);  // 256 threads + the caller's
}

TEST(InterpreterTest, WaitSleepsThroughTheHost) {
  auto m =
      machine("startAt: W\nstates: {W: {type: Wait, seconds: 2.5, next: S}, S: {type: Succeed}}");
  FakeHost host;
  RunOutcome out = run(*m, {{"keep", 1}}, host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_EQ(out.output, Json({{"keep", 1}}));
  EXPECT_EQ(host.sleeps(), std::vector<milliseconds>{milliseconds(2500)});
}

TEST(InterpreterTest, FailAndSucceedStates) {
  auto m = machine(R"(
startAt: R
states:
  R: {type: Choice, choices: [{variable: $.ok, op: "==", value: true, next: Yes}], default: No}
  Yes: {type: Succeed, inputPath: $.data}
  No: {type: Fail, error: NotOk, cause: ok was not true}
)");
  FakeHost host;
  RunOutcome yes = run(*m, {{"ok", true}, {"data", {1, 2}}}, host);
  ASSERT_EQ(yes.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_EQ(yes.output, Json({1, 2}));
  FakeHost host2;
  RunOutcome no = run(*m, {{"ok", false}}, host2);
  EXPECT_EQ(no.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(no.error, "NotOk");
  EXPECT_EQ(no.cause, "ok was not true");
  EXPECT_EQ(no.state, "No");
  EXPECT_EQ(host2.finished().back().status, "Failed");
  EXPECT_EQ(host2.finished().back().error, "NotOk: ok was not true");
}

TEST(InterpreterTest, MaxStepsStopsALoop) {
  auto m = machine(R"(
startAt: Inc
maxSteps: 10
states:
  Inc: {type: Pass, next: Loop}
  Loop: {type: Choice, choices: [{variable: $.stop, op: isPresent, next: End}], default: Inc}
  End: {type: Succeed}
)");
  FakeHost host;
  RunOutcome out = run(*m, Json::object(), host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out.error, "States.ExceededMaxSteps");
  EXPECT_EQ(out.steps, 10);
  auto fin = host.finished();
  ASSERT_EQ(fin.size(), 10u);
  EXPECT_EQ(fin[9].key, "Loop#4");  // visit numbers count up per state
  EXPECT_EQ(out.state, "Inc");
}

TEST(InterpreterTest, MaxStepsCountsEveryBranch) {
  auto m = machine(R"(
startAt: Each
maxSteps: 5
states:
  Each:
    type: Map
    maxConcurrency: 1
    iterator: {startAt: A, states: {A: {type: Pass, next: B}, B: {type: Pass, end: true}}}
    catch: [{next: Never}]
    end: true
  Never: {type: Succeed}
)");
  FakeHost host;
  RunOutcome out = run(*m, Json({1, 2, 3}), host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out.error, "States.ExceededMaxSteps");  // not caught
  EXPECT_EQ(out.steps, 5);
}

TEST(InterpreterTest, RunTimeout) {
  auto m = machine(R"(
startAt: W
timeoutSeconds: 10
states:
  W: {type: Wait, seconds: 60, end: true}
)");
  FakeHost host;
  RunOutcome out = run(*m, Json::object(), host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out.error, "States.Timeout");
  EXPECT_EQ(host.sleeps(), std::vector<milliseconds>{milliseconds(10000)});
  EXPECT_EQ(host.finished_keys(), std::vector<std::string>{"W#0 Aborted"});

  // Time spent in Tasks counts; the run stops at the next step boundary.
  auto m2 = machine(R"(
startAt: T
timeoutSeconds: 10
states:
  T: {type: Task, function: slow, next: T}
)");
  FakeHost host2;
  host2.functions["slow"] = [&](const TaskCall& c) {
    EXPECT_LE(c.remaining.count(), 10000);
    host2.advance(milliseconds(4000));
    return ok_result(1);
  };
  RunOutcome out2 = run(*m2, Json::object(), host2);
  EXPECT_EQ(out2.error, "States.Timeout");
  EXPECT_EQ(host2.calls().size(), 3u);  // at 0 s, 4 s, 8 s; 12 s is past the deadline
}

TEST(InterpreterTest, CancellationAtAStepBoundary) {
  auto m = machine(R"(
startAt: A
states:
  A: {type: Task, function: f, next: B}
  B: {type: Task, function: f, next: C}
  C: {type: Task, function: f, end: true}
)");
  FakeHost host;
  host.functions["f"] = [&](const TaskCall& c) {
    if (c.key == "B#0")
      host.cancel();  // cancelled while B is in flight: B finishes, C never starts
    return ok_result(1);
  };
  RunOutcome out = run(*m, Json::object(), host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kCancelled);
  EXPECT_EQ(host.call_keys(), (std::vector<std::string>{"A#0", "B#0"}));
  EXPECT_EQ(host.finished_keys(), (std::vector<std::string>{"A#0 Succeeded", "B#0 Succeeded"}));

  // A Wait is cut short by a cancellation.
  auto m2 = machine("startAt: W\nstates: {W: {type: Wait, seconds: 100, end: true}}");
  FakeHost host2;
  host2.cancel();
  EXPECT_EQ(run(*m2, Json::object(), host2).phase, RunOutcome::Phase::kCancelled);
}

TEST(InterpreterTest, CancellationStopsParallelBranches) {
  auto m = machine(R"(
startAt: Fan
states:
  Fan:
    type: Parallel
    branches:
    - {startAt: A, states: {A: {type: Task, function: f, next: A2}, A2: {type: Task, function: f, end: true}}}
    - {startAt: B, states: {B: {type: Task, function: f, next: B2}, B2: {type: Task, function: f, end: true}}}
    catch: [{next: Never}]
    end: true
  Never: {type: Succeed}
)");
  FakeHost host;
  host.functions["f"] = [&](const TaskCall&) {
    host.cancel();
    return ok_result(1);
  };
  RunOutcome out = run(*m, Json::object(), host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kCancelled);
  for (const auto& k : host.call_keys()) EXPECT_TRUE(k == "Fan#0/0/A#0" || k == "Fan#0/1/B#0") << k;
  auto fin = host.finished_keys();
  EXPECT_EQ(fin.back(), "Fan#0 Aborted");
}

TEST(InterpreterTest, LargeOutputsAreTruncatedInRecordsOnly) {
  auto m = machine(R"(
startAt: Big
states:
  Big: {type: Task, function: big, next: Len}
  Len: {type: Task, function: len, end: true}
)");
  FakeHost host;
  std::string blob(100 * 1024, 'x');
  blob[0] = '\xc3';  // a two-byte UTF-8 character at the start...
  blob[1] = '\xa9';
  host.functions["big"] = [&](const TaskCall&) { return ok_result({{"blob", blob}}); };
  host.functions["len"] = [](const TaskCall& c) {
    return ok_result(c.input["blob"].get<std::string>().size());
  };
  RunOutcome out = run(*m, Json::object(), host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_EQ(out.output, 100 * 1024);  // the data flowed on whole
  auto fin = host.finished();
  ASSERT_EQ(fin.size(), 2u);
  EXPECT_TRUE(fin[0].output_truncated);
  EXPECT_EQ(fin[0].output["truncated"], true);
  EXPECT_EQ(fin[0].output["bytes"], 100 * 1024 + 11);  // {"blob":"..."}
  std::string head = fin[0].output["head"];
  EXPECT_LE(head.size(), 1024u);
  EXPECT_GE(head.size(), 1020u);
  EXPECT_EQ(head.rfind("{\"blob\":\"\xc3\xa9xx", 0), 0u);
  EXPECT_EQ(fin[1].input["truncated"], true);  // a large input is shortened in the record too
  EXPECT_FALSE(fin[1].output_truncated);
}

TEST(InterpreterTest, RetriedParallelKeysItsSecondAttemptApart) {
  auto m = machine(R"(
startAt: Fan
states:
  Fan:
    type: Parallel
    retry: {maxAttempts: 2, backoffSeconds: 3}
    branches:
    - {startAt: T, states: {T: {type: Task, function: f, end: true}}}
    - {startAt: U, states: {U: {type: Pass, result: u, end: true}}}
    end: true
)");
  FakeHost host;
  host.functions["f"] = [](const TaskCall& c) {
    if (c.key.find("@2") == std::string::npos)
      return err_result("First", "attempt 1 of the Parallel");
    return ok_result("t");
  };
  RunOutcome out = run(*m, Json::object(), host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output, Json({"t", "u"}));
  EXPECT_EQ(host.call_keys(), (std::vector<std::string>{"Fan#0/0/T#0", "Fan#0@2/0/T#0"}));
  EXPECT_EQ(host.sleeps(), std::vector<milliseconds>{milliseconds(3000)});
  std::vector<StepRecord> fan;
  for (const auto& r : host.finished()) {
    if (r.key == "Fan#0") fan.push_back(r);
  }
  ASSERT_EQ(fan.size(), 2u);
  EXPECT_EQ(fan[0].status, "Failed");
  EXPECT_EQ(fan[0].error, "First: attempt 1 of the Parallel");
  EXPECT_EQ(fan[1].status, "Succeeded");
  EXPECT_EQ(fan[1].attempt, 2);
  // Fan itself, T + U of attempt 2, T of attempt 1 and U of attempt 1 unless
  // T's failure stopped it first: all of the run's steps.
  EXPECT_EQ(fan[1].steps, out.steps);
  EXPECT_GE(out.steps, 4);
  EXPECT_LE(out.steps, 5);
}

TEST(InterpreterTest, MapItemFailureStopsTheRestAndIsCaught) {
  auto m = machine(R"(
startAt: Each
states:
  Each:
    type: Map
    maxConcurrency: 1
    iterator: {startAt: W, states: {W: {type: Task, function: f, end: true}}}
    catch: [{errors: [Odd], resultPath: $, next: Done}]
    end: true
  Done: {type: Succeed}
)");
  FakeHost host;
  host.functions["f"] = [](const TaskCall& c) {
    int v = c.input.get<int>();
    return v % 2 ? err_result("Odd", std::to_string(v)) : ok_result(v);
  };
  RunOutcome out = run(*m, Json({2, 4, 5, 6, 8}), host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded) << out.error << ": " << out.cause;
  EXPECT_EQ(out.output, Json::parse(R"({"error":"Odd","cause":"5"})"));
  // One at a time: items after the failing one never start.
  EXPECT_EQ(host.call_keys(),
            (std::vector<std::string>{"Each#0/0/W#0", "Each#0/1/W#0", "Each#0/2/W#0"}));
}

TEST(InterpreterTest, HostExceptionsFailTheRunInsteadOfEscaping) {
  auto m = machine(R"(
startAt: Fan
states:
  Fan:
    type: Parallel
    branches:
    - {startAt: T, states: {T: {type: Task, function: throws, end: true}}}
    - {startAt: U, states: {U: {type: Pass, end: true}}}
    catch: [{next: Never}]
    end: true
  Never: {type: Succeed}
)");
  FakeHost host;
  host.functions["throws"] = [](const TaskCall&) -> TaskResult {
    throw std::runtime_error("host broke");
  };
  RunOutcome out = run(*m, Json::object(), host);
  EXPECT_EQ(out.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out.error, "States.Runtime");
  EXPECT_EQ(out.cause, "internal error: host broke");

  auto m2 = machine("startAt: T\nstates: {T: {type: Task, function: throws, end: true}}");
  FakeHost host2;
  host2.functions = host.functions;
  RunOutcome out2 = run(*m2, Json::object(), host2);
  EXPECT_EQ(out2.phase, RunOutcome::Phase::kFailed);
  EXPECT_EQ(out2.cause, "internal error: host broke");
}

// ---------------------------------------------------------------------------
// Replay

const char* kReplayWorkflow = R"(
startAt: Prep
states:
  Prep: {type: Task, function: add, next: Fan}
  Fan:
    type: Parallel
    branches:
    - startAt: P1
      states: {P1: {type: Task, function: add, next: P2}, P2: {type: Task, function: flaky, retry: {maxAttempts: 3, backoffSeconds: 1}, end: true}}
    - startAt: Q1
      states:
        Q1: {type: Task, function: fail-once, catch: [{next: Q2}], next: Q2}
        Q2: {type: Wait, seconds: 1, end: true}
    resultPath: $.fan
    next: Each
  Each:
    type: Map
    itemsPath: $.items
    maxConcurrency: 2
    iterator: {startAt: W, states: {W: {type: Task, function: add, end: true}}}
    resultPath: $.mapped
    next: Loop
  Loop:
    type: Choice
    choices: [{variable: $.n, op: "<", value: 3, next: Prep}]
    default: Done
  Done: {type: Succeed}
)";

void replay_functions(FakeHost& host) {
  // Deterministic in their input (and attempt): a replay must agree.
  host.functions["add"] = [](const TaskCall& c) {
    if (c.input.is_number()) return ok_result(c.input.get<int>() + 100);
    Json o = c.input;
    o["n"] = o.value("n", 0) + 1;
    return ok_result(o);
  };
  host.functions["flaky"] = [](const TaskCall& c) {
    if (c.attempt == 1) return err_result("Flaky", "first attempt");
    return ok_result({{"ok", true}});
  };
  host.functions["fail-once"] = [](const TaskCall& c) {
    return c.input.value("n", 0) == 1 ? err_result("Once", "n is 1") : ok_result(c.input);
  };
}

TEST(InterpreterReplayTest, ResumingFromAnyPrefixOfRecordsGivesTheSameOutput) {
  auto m = machine(kReplayWorkflow);
  Json input = {{"items", {1, 2, 3}}};
  FakeHost first;
  replay_functions(first);
  RunOutcome full = run(*m, input, first);
  ASSERT_EQ(full.phase, RunOutcome::Phase::kSucceeded) << full.error << ": " << full.cause;
  EXPECT_EQ(full.output["n"], 3);
  std::vector<StepRecord> records = first.finished();
  std::vector<StepRecord> starts = first.started();
  ASSERT_GT(records.size(), 30u);
  EXPECT_EQ(full.output["fan"][0], Json({{"ok", true}}));

  // A "crash" after every k finished records: the executor restarts with
  // those (and the Running record of each step that had started but not
  // finished: it was in flight).
  for (size_t k = 0; k <= records.size(); ++k) {
    std::vector<StepRecord> persisted;
    std::set<std::string> finished_keys;
    for (size_t i = 0; i < k; ++i) finished_keys.insert(records[i].key);
    for (const StepRecord& s : starts) {
      if (!finished_keys.count(s.key))
        persisted.push_back(s);  // in flight (or not yet started: harmless)
    }
    // Only steps that had started by the k-th finish may be "in flight":
    // keep the ones whose start precedes it in time.
    persisted.erase(
        std::remove_if(persisted.begin(), persisted.end(),
                       [&](const StepRecord& s) { return k == 0 || s.start > records[k - 1].end; }),
        persisted.end());
    for (size_t i = 0; i < k; ++i) persisted.push_back(records[i]);

    FakeHost second;
    replay_functions(second);
    second.replay_from(persisted);
    RunOutcome resumed = run(*m, input, second);
    ASSERT_EQ(resumed.phase, RunOutcome::Phase::kSucceeded)
        << "k=" << k << " " << resumed.error << resumed.cause;
    EXPECT_EQ(resumed.output, full.output) << "k=" << k;
    EXPECT_EQ(resumed.steps, full.steps) << "k=" << k;
    // No step that finished successfully was executed again, nor recorded.
    std::set<std::string> succeeded;
    for (size_t i = 0; i < k; ++i) {
      if (records[i].status == "Succeeded" || records[i].status == "Caught")
        succeeded.insert(records[i].key);
    }
    for (const TaskCall& c : second.calls()) {
      EXPECT_FALSE(succeeded.count(c.key)) << "k=" << k << ": " << c.key << " invoked again";
    }
    for (const StepRecord& r : second.started()) {
      EXPECT_FALSE(succeeded.count(r.key)) << "k=" << k << ": " << r.key << " recorded again";
    }
  }
}

TEST(InterpreterReplayTest, InFlightTaskRunsAgainWithTheNextAttempt) {
  auto m = machine(R"(
startAt: A
states:
  A: {type: Task, function: f, next: B}
  B: {type: Task, function: f, end: true}
)");
  FakeHost first;
  first.functions["f"] = [](const TaskCall& c) { return ok_result(c.input.get<int>() * 2); };
  ASSERT_EQ(run(*m, 3, first).output, 12);
  // Persisted: A finished, B started (in flight when the server died).
  std::vector<StepRecord> persisted = {first.finished()[0], first.started()[1]};
  ASSERT_EQ(persisted[1].key, "B#0");
  ASSERT_EQ(persisted[1].status, "Running");

  FakeHost second;
  second.functions = first.functions;
  second.replay_from(persisted);
  RunOutcome out = run(*m, 3, second);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_EQ(out.output, 12);
  auto calls = second.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].key, "B#0");
  EXPECT_EQ(calls[0].attempt, 2);
  EXPECT_EQ(calls[0].input, 6);  // A's recorded output
  EXPECT_EQ(second.finished_keys(), std::vector<std::string>{"B#0 Succeeded"});
  EXPECT_EQ(second.finished()[0].attempt, 2);
  EXPECT_EQ(out.steps, 2);
}

TEST(InterpreterReplayTest, RecordedFailuresReplayAndRetriesContinue) {
  auto m = machine(R"(
startAt: T
states:
  T: {type: Task, function: f, retry: {maxAttempts: 3, backoffSeconds: 1}, catch: [{next: H}], end: true}
  H: {type: Pass, end: true}
)");
  // Attempt 1 failed, then the server died during the backoff: attempt 2 runs.
  StepRecord failed;
  failed.key = "T#0";
  failed.state = "T";
  failed.type = StateType::kTask;
  failed.status = "Failed";
  failed.attempt = 1;
  failed.error = "Flaky: once";
  FakeHost host;
  host.functions["f"] = [](const TaskCall& c) { return ok_result(c.attempt); };
  host.replay_from({failed});
  RunOutcome out = run(*m, Json::object(), host);
  ASSERT_EQ(out.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_EQ(out.output, 2);
  EXPECT_EQ(host.sleeps(), std::vector<milliseconds>{milliseconds(1000)});

  // Attempt 3 failed (the last): the catch applies without invoking again.
  failed.attempt = 3;
  FakeHost host2;
  host2.functions = host.functions;
  host2.replay_from({failed});
  RunOutcome out2 = run(*m, {{"a", 1}}, host2);
  ASSERT_EQ(out2.phase, RunOutcome::Phase::kSucceeded);
  EXPECT_TRUE(host2.calls().empty());
  EXPECT_EQ(out2.output, Json::parse(R"({"a":1,"error":{"error":"Flaky","cause":"once"}})"));
}

// ---------------------------------------------------------------------------
// Robustness: random specs never make parse_machine throw, and every one that
// parses runs to an outcome.

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  size_t next(size_t n) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>((state_ >> 33) % n);
  }

 private:
  uint64_t state_;
};

Json random_json(Random& r, int depth) {
  static const char* keys[] = {"startAt",
                               "states",
                               "type",
                               "next",
                               "end",
                               "function",
                               "choices",
                               "variable",
                               "op",
                               "value",
                               "and",
                               "or",
                               "not",
                               "branches",
                               "iterator",
                               "itemsPath",
                               "retry",
                               "catch",
                               "errors",
                               "resultPath",
                               "inputPath",
                               "outputPath",
                               "maxConcurrency",
                               "seconds",
                               "result",
                               "default",
                               "maxAttempts",
                               "A",
                               "B",
                               "maxSteps"};
  static const char* strings[] = {
      "A",   "B",  "Task", "Choice",    "Parallel", "Map", "Pass", "Wait", "Succeed",   "Fail",
      "$.a", "$[", "==",   "isPresent", "matches",  "f",   "$",    "<",    "States.ALL"};
  size_t kind = depth <= 0 ? r.next(5) : r.next(8);
  switch (kind) {
    case 0:
      return nullptr;
    case 1:
      return r.next(2) == 1;
    case 2:
      return static_cast<int>(r.next(21)) - 5;
    case 3:
      return 0.5 * static_cast<double>(r.next(7));
    case 4:
      return strings[r.next(std::size(strings))];
    case 5: {
      Json a = Json::array();
      for (size_t i = r.next(4); i > 0; --i) a.push_back(random_json(r, depth - 1));
      return a;
    }
    default: {
      Json o = Json::object();
      for (size_t i = r.next(5); i > 0; --i)
        o[keys[r.next(std::size(keys))]] = random_json(r, depth - 1);
      return o;
    }
  }
}

// A random spec biased towards valid shapes: a chain A → B → C with random
// types, detours and the odd random field.
Json random_spec(Random& r) {
  static const char* types[] = {"Task", "Choice", "Parallel", "Map",
                                "Pass", "Wait",   "Succeed",  "Fail"};
  static const char* names[] = {"A", "B", "C"};
  Json states = Json::object();
  for (size_t k = 0; k < 3; ++k) {
    Json s = {{"type", types[r.next(std::size(types))]}};
    if (r.next(6) == 0) {
      Json extra = random_json(r, 3);
      if (extra.is_object()) s.update(extra);
    }
    std::string next = r.next(4) == 0 ? names[r.next(3)] : (k < 2 ? names[k + 1] : "");
    if (next.empty()) {
      s["end"] = true;
    } else {
      s["next"] = next;
    }
    const std::string type = s["type"].is_string() ? s["type"].get<std::string>() : "";
    if (type == "Task") {
      s["function"] = "f";
      if (r.next(2)) s["retry"] = {{"maxAttempts", 2}};
      if (r.next(3) == 0) s["catch"] = {{{"next", names[r.next(3)]}}};
    }
    if (type == "Choice") {
      s["choices"] = {{{"variable", "$.a"},
                       {"op", r.next(2) ? "isPresent" : "<"},
                       {"value", 3},
                       {"next", next.empty() ? "A" : next}}};
      if (r.next(2)) s["default"] = names[r.next(3)];
      s.erase("next");
      s.erase("end");
    }
    if (type == "Parallel") {
      s["branches"] = {{{"startAt", "X"}, {"states", {{"X", {{"type", "Pass"}, {"end", true}}}}}}};
    }
    if (type == "Map") {
      s["iterator"] = {{"startAt", "X"},
                       {"states", {{"X", {{"type", "Task"}, {"function", "f"}, {"end", true}}}}}};
    }
    if (type == "Wait") s["seconds"] = static_cast<int>(r.next(3));
    if (type == "Succeed" || type == "Fail") {
      s.erase("next");
      s.erase("end");
    }
    states[names[k]] = s;
  }
  return {{"startAt", "A"}, {"states", states}, {"maxSteps", 50}};
}

TEST(InterpreterRobustnessTest, RandomSpecsParseOrFailCleanlyAndValidOnesRun) {
  Random r(42);
  int valid = 0;
  for (int i = 0; i < 3000; ++i) {
    Json spec = i % 2 ? random_json(r, 6) : random_spec(r);
    Result<std::shared_ptr<const Machine>> m = invalid("unset");
    ASSERT_NO_THROW(m = parse_machine(spec)) << spec.dump();
    if (!m.is_ok()) {
      EXPECT_EQ(m.status().code(), Code::kInvalid);
      EXPECT_FALSE(m.status().message().empty());
      continue;
    }
    ++valid;
    FakeHost host;
    host.functions["f"] = [](const TaskCall& c) {
      return c.attempt == 1 && c.input.is_object() && c.input.value("a", 0) == 1
                 ? err_result("E", "x")
                 : ok_result(c.input);
    };
    Json input = r.next(2) ? Json{{"a", static_cast<int>(r.next(6))}} : Json::array({1, 2});
    RunOutcome out = run(**m, input, host);
    EXPECT_LE(out.steps, 50);
    if (out.phase == RunOutcome::Phase::kFailed) {
      EXPECT_FALSE(out.error.empty()) << spec.dump();
    }
    EXPECT_NE(out.phase, RunOutcome::Phase::kCancelled);
    EXPECT_EQ(host.started().size(), host.finished().size()) << spec.dump();
  }
  EXPECT_GT(valid, 100);  // the generator reaches the interpreter
}

}  // namespace
}  // namespace minik8s::workflow
