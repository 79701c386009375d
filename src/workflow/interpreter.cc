// The workflow interpreter (docs/workflows.md "Interpreter", "Step keys and
// resume"). Pure logic over JSON: all I/O goes through the Host.
//
// Threads: run() executes the top-level machine on the caller's thread;
// each Parallel state runs its branches 1..n-1 on threads of its own
// (branch 0 on the current thread) and each Map state at most
// min(maxConcurrency or 32, 32) workers (one of them the current thread),
// all joined before the state finishes. Shared between them: the Run
// (atomic step counter, immutable limits) and per-state stop flags.
#include "minik8s/workflow/interpreter.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace minik8s::workflow {

using api::Json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr size_t kMaxRecordBytes = 64 * 1024;
constexpr size_t kHeadBytes = 1024;
constexpr int kMaxMapWorkers = 32;
// Nested Maps and Parallels could otherwise multiply threads (32 per Map
// level); past this, branches/items run on the threads the run already has.
constexpr int kMaxThreadsPerRun = 256;

const char* const kRuntime = "States.Runtime";

// How a piece of work ended.
struct Outcome {
  enum class Kind {
    kOk,       // output
    kFail,     // error + cause: a state failed (catchable, maybe retried)
    kFatal,    // the run ends: cancelled, States.Timeout, States.ExceededMaxSteps, internal errors
    kAborted,  // stopped because a sibling branch/item failed
  } kind = Kind::kOk;
  Json output;
  std::string error, cause, state;
  bool cancelled = false;  // kFatal: the run was cancelled
  bool no_retry = false;   // kFail: a data error (paths), retrying cannot help
  std::string instance;    // Task
  double function_ms = -1;
  int child_steps = 0;  // Parallel/Map: the states the branches/items counted
};

Outcome ok(Json out) {
  Outcome o;
  o.output = std::move(out);
  return o;
}
Outcome fail(std::string error, std::string cause, std::string state) {
  Outcome o;
  o.kind = Outcome::Kind::kFail;
  o.error = std::move(error);
  o.cause = std::move(cause);
  o.state = std::move(state);
  return o;
}
Outcome runtime_error(const std::string& cause, const std::string& state) {
  Outcome o = fail(kRuntime, cause, state);
  o.no_retry = true;
  return o;
}
Outcome fatal(std::string error, std::string cause, std::string state) {
  Outcome o = fail(std::move(error), std::move(cause), std::move(state));
  o.kind = Outcome::Kind::kFatal;
  return o;
}
Outcome cancelled_outcome(const std::string& state) {
  Outcome o = fatal("States.Cancelled", "the run was cancelled", state);
  o.cancelled = true;
  return o;
}
Outcome aborted(const std::string& state) {
  Outcome o = fail("States.Aborted", "a sibling branch failed", state);
  o.kind = Outcome::Kind::kAborted;
  return o;
}

std::string error_text(const std::string& error, const std::string& cause) {
  return cause.empty() ? error : error + ": " + cause;
}
// Inverse of error_text (error names carry no ": ").
void split_error(const std::string& text, std::string* error, std::string* cause) {
  size_t colon = text.find(": ");
  if (colon == std::string::npos) {
    *error = text.empty() ? "States.TaskFailed" : text;
    cause->clear();
  } else {
    *error = text.substr(0, colon);
    *cause = text.substr(colon + 2);
  }
}

// A record's copy of `v`: v itself, or the truncation marker past 64 KiB.
Json for_record(const Json& v, bool* truncated) {
  if (truncated) *truncated = false;
  if (v.is_null() || v.is_boolean() || v.is_number()) return v;
  std::string text = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() <= kMaxRecordBytes) return v;
  if (truncated) *truncated = true;
  size_t len = std::min(kHeadBytes, text.size());
  while (len > 0 && (static_cast<unsigned char>(text[len]) & 0xC0) == 0x80)
    --len;  // a UTF-8 boundary
  return Json{{"truncated", true}, {"bytes", text.size()}, {"head", text.substr(0, len)}};
}

bool matches_error(const std::vector<std::string>& names, const std::string& error) {
  if (names.empty()) return true;
  for (const std::string& n : names) {
    if (n == error || n == "States.ALL") return true;
  }
  return false;
}

// A chain of stop flags: a Parallel's or Map's children see their own and
// every enclosing one.
// Each also counts the steps taken inside it (for StepRecord::steps).
struct Scope {
  const Scope* parent = nullptr;
  const std::atomic<bool>* stop = nullptr;
  std::atomic<int>* counted = nullptr;
};
void count_steps(const Scope* s, int n) {
  for (; s != nullptr; s = s->parent) {
    if (s->counted != nullptr) s->counted->fetch_add(n);
  }
}
bool stopped(const Scope* s) {
  for (; s != nullptr; s = s->parent) {
    if (s->stop != nullptr && s->stop->load()) return true;
  }
  return false;
}

struct Run {
  Host& host;
  Clock::time_point deadline;
  int max_steps;
  int timeout_seconds;
  std::atomic<int> steps{0};
  std::atomic<int> threads{0};  // started by Parallel/Map, at most kMaxThreadsPerRun at once
};

// What executing (or replaying) one state yields: the outcome and, when ok,
// where to go (end: the machine is done).
struct StepOut {
  Outcome outcome;
  std::string next;
  bool end = false;
};

class Interpreter {
 public:
  explicit Interpreter(Run& run) : run_(run) {}

  Outcome exec_machine(const Machine& m, Json data, const std::string& prefix, const Scope* scope) {
    std::map<std::string, int> visits;
    std::string cur = m.start_at;
    while (true) {
      auto it = m.states.find(cur);
      if (it == m.states.end())
        return fatal(kRuntime, "no state named \"" + cur + "\"", cur);  // validated away
      const State& s = it->second;
      if (auto stop = boundary(s.name, scope, true)) return *stop;
      std::string key = prefix + s.name + "#" + std::to_string(visits[s.name]++);
      StepOut step = exec_state(s, key, data, scope);
      if (step.outcome.kind != Outcome::Kind::kOk) return step.outcome;
      if (step.end) return step.outcome;
      data = std::move(step.outcome.output);
      cur = step.next;
    }
  }

 private:
  // The checks at a step boundary; count: this boundary starts a state.
  std::optional<Outcome> boundary(const std::string& state, const Scope* scope, bool count) {
    if (run_.host.cancelled()) return cancelled_outcome(state);
    if (stopped(scope)) return aborted(state);
    if (run_.host.now() >= run_.deadline) {
      return fatal(
          "States.Timeout",
          "the run exceeded its timeoutSeconds (" + std::to_string(run_.timeout_seconds) + ")",
          state);
    }
    if (count && run_.steps.fetch_add(1) + 1 > run_.max_steps) {
      run_.steps.fetch_sub(1);
      return fatal(
          "States.ExceededMaxSteps",
          "the run executed more than maxSteps (" + std::to_string(run_.max_steps) + ") states",
          state);
    }
    if (count) count_steps(scope, 1);
    return std::nullopt;
  }

  // Starts fn on a thread of its own when the run may have one more.
  template <typename Fn>
  bool spawn(std::vector<std::thread>& threads, Fn fn) {
    if (run_.threads.fetch_add(1) >= kMaxThreadsPerRun) {
      run_.threads.fetch_sub(1);
      return false;
    }
    try {
      threads.emplace_back([this, fn] {
        fn();
        run_.threads.fetch_sub(1);
      });
      return true;
    } catch (const std::system_error&) {  // the system is out of threads
      run_.threads.fetch_sub(1);
      return false;
    }
  }

  milliseconds remaining() const {
    auto left = std::chrono::duration_cast<milliseconds>(run_.deadline - run_.host.now());
    return std::max(left, milliseconds(1));
  }

  // ----- records

  StepRecord begin(const State& s, const std::string& key, const Json& input, int attempt,
                   int steps = 1) {
    StepRecord rec;
    rec.steps = steps;
    rec.key = key;
    rec.state = s.name;
    rec.type = s.type;
    rec.function = s.function;
    rec.status = "Running";
    rec.attempt = attempt;
    rec.input = for_record(input, nullptr);
    rec.start = std::chrono::system_clock::now();
    run_.host.step_started(rec);
    return rec;
  }

  void finish(StepRecord& rec, const char* status, const Outcome& o) {
    rec.status = status;
    rec.end = std::chrono::system_clock::now();
    rec.instance = o.instance;
    rec.function_ms = o.function_ms;
    if (o.kind == Outcome::Kind::kOk || std::string(status) == "Caught") {
      rec.output = for_record(o.output, &rec.output_truncated);
    }
    if (o.kind != Outcome::Kind::kOk) rec.error = error_text(o.error, o.cause);
    run_.host.step_finished(rec);
  }

  // ----- states

  StepOut exec_state(const State& s, const std::string& key, const Json& data, const Scope* scope) {
    if (auto rec = run_.host.recorded(key); rec && !rec->output_truncated)
      return replay(s, key, data, *rec, scope);
    int attempt = 1;
    int counted = 1;
    if (auto prev = run_.host.previous_attempt(key)) {
      attempt = s.type == StateType::kTask ? prev->attempt + 1 : std::max(prev->attempt, 1);
      counted = std::max(prev->steps, 1);
      // Steps counted by its earlier attempts' children (this attempt's
      // replay counts its own again).
      if (counted > 1) {
        run_.steps.fetch_add(counted - 1);
        count_steps(scope, counted - 1);
      }
    }
    switch (s.type) {
      case StateType::kTask:
      case StateType::kParallel:
      case StateType::kMap:
        return exec_retrying(s, key, data, attempt, counted, scope, false);
      case StateType::kChoice:
        return exec_choice(s, key, data, attempt);
      case StateType::kPass:
        return exec_pass(s, key, data, attempt);
      case StateType::kWait:
        return exec_wait(s, key, data, attempt);
      case StateType::kSucceed:
        return exec_succeed(s, key, data, attempt);
      case StateType::kFail: {
        StepRecord rec = begin(s, key, data, attempt);
        Outcome o = fail(s.error, s.cause, s.name);
        finish(rec, "Failed", o);
        return {o, "", false};
      }
    }
    return {fatal(kRuntime, "unknown state type", s.name), "", false};
  }

  // Where a state goes after producing `output`.
  static StepOut go_on(const State& s, Json output) {
    StepOut out{ok(std::move(output)), s.next, s.end || s.next.empty()};
    return out;
  }

  // Choice: the first matching rule's next, else default, else
  // States.NoChoiceMatched. Rules see the effective input.
  static Outcome choose(const State& s, const Json& data, std::string* next) {
    auto eff = select_input(s, data);
    if (!eff) return runtime_error(eff.status().message(), s.name);
    next->clear();
    for (const Rule& r : s.choices) {
      if (evaluate(r, *eff)) {
        *next = r.next;
        break;
      }
    }
    if (next->empty()) *next = s.default_next;
    if (next->empty())
      return fail("States.NoChoiceMatched", "no choice rule matched and there is no default",
                  s.name);
    auto out = select_output(s, *eff);
    if (!out) return runtime_error(out.status().message(), s.name);
    return ok(std::move(out).value());
  }

  StepOut exec_choice(const State& s, const std::string& key, const Json& data, int attempt) {
    StepRecord rec = begin(s, key, data, attempt);
    std::string next;
    Outcome o = choose(s, data, &next);
    if (o.kind != Outcome::Kind::kOk) {
      finish(rec, "Failed", o);
      return {o, "", false};
    }
    finish(rec, "Succeeded", o);
    return {o, next, false};
  }

  static Outcome pass_output(const State& s, const Json& data) {
    auto eff = select_input(s, data);
    if (!eff) return runtime_error(eff.status().message(), s.name);
    Json result = s.result ? *s.result : *eff;
    auto merged = merge_result(s, data, std::move(result));
    if (!merged) return runtime_error(merged.status().message(), s.name);
    auto out = select_output(s, *merged);
    if (!out) return runtime_error(out.status().message(), s.name);
    return ok(std::move(out).value());
  }

  StepOut exec_pass(const State& s, const std::string& key, const Json& data, int attempt) {
    StepRecord rec = begin(s, key, data, attempt);
    Outcome o = pass_output(s, data);
    if (o.kind != Outcome::Kind::kOk) {
      finish(rec, "Failed", o);
      return {o, "", false};
    }
    finish(rec, "Succeeded", o);
    return go_on(s, std::move(o.output));
  }

  StepOut exec_succeed(const State& s, const std::string& key, const Json& data, int attempt) {
    StepRecord rec = begin(s, key, data, attempt);
    Outcome o;
    auto eff = select_input(s, data);
    if (!eff) {
      o = runtime_error(eff.status().message(), s.name);
    } else if (auto out = select_output(s, *eff); !out) {
      o = runtime_error(out.status().message(), s.name);
    } else {
      o = ok(std::move(out).value());
    }
    finish(rec, o.kind == Outcome::Kind::kOk ? "Succeeded" : "Failed", o);
    return {o, "", true};
  }

  StepOut exec_wait(const State& s, const std::string& key, const Json& data, int attempt) {
    StepRecord rec = begin(s, key, data, attempt);
    milliseconds want(static_cast<int64_t>(std::llround(s.seconds * 1000)));
    milliseconds left = remaining();
    bool woke = run_.host.sleep_for(std::min(want, left));
    if (!woke || run_.host.cancelled()) {
      Outcome o = cancelled_outcome(s.name);
      finish(rec, "Aborted", o);
      return {o, "", false};
    }
    if (want > left) {  // the run's deadline came first
      Outcome o = fatal(
          "States.Timeout",
          "the run exceeded its timeoutSeconds (" + std::to_string(run_.timeout_seconds) + ")",
          s.name);
      finish(rec, "Aborted", o);
      return {o, "", false};
    }
    Outcome o = ok(data);
    finish(rec, "Succeeded", o);
    return go_on(s, data);
  }

  // The output after a Task/Parallel/Map result: resultPath, outputPath.
  static Outcome shape(const State& s, const Json& data, Json result) {
    auto merged = merge_result(s, data, std::move(result));
    if (!merged) return runtime_error(merged.status().message(), s.name);
    auto out = select_output(s, *merged);
    if (!out) return runtime_error(out.status().message(), s.name);
    return ok(std::move(out).value());
  }

  static bool retryable(const State& s, const Outcome& o, int attempt) {
    return o.kind == Outcome::Kind::kFail && !o.no_retry && o.error != kRuntime &&
           attempt < s.retry.max_attempts && matches_error(s.retry.errors, o.error);
  }

  // The catch for a failure: the data with the error put at the catch's
  // resultPath (ok) and *next; or the failure itself when no catch matches.
  static Outcome catch_failure(const State& s, const Json& data, const Outcome& failure,
                               std::string* next) {
    if (failure.kind != Outcome::Kind::kFail) return failure;
    for (const Catch& c : s.catches) {
      if (!matches_error(c.errors, failure.error)) continue;
      *next = c.next;
      if (c.discard_result) return ok(data);
      Json error = {{"error", failure.error}, {"cause", failure.cause}};
      Json merged = data;
      static const JsonPath kErrorPath = *parse_path("$.error");
      Status st = assign(merged, c.result_path ? *c.result_path : kErrorPath, std::move(error));
      if (!st.is_ok()) return runtime_error("catch resultPath: " + st.message(), s.name);
      return ok(std::move(merged));
    }
    return failure;
  }

  // Sleeps the backoff after failed attempt `attempt`; a stop on the way
  // (cancel, timeout, a failed sibling) is returned.
  std::optional<Outcome> backoff(const State& s, int attempt, const Scope* scope) {
    double seconds = s.retry.backoff_seconds * std::pow(s.retry.backoff_rate, attempt - 1);
    seconds = std::min(seconds, 86400.0 * 7);
    milliseconds d(static_cast<int64_t>(std::llround(seconds * 1000)));
    if (d.count() > 0 && !run_.host.sleep_for(std::min(d, remaining())))
      return cancelled_outcome(s.name);
    return boundary(s.name, scope, false);
  }

  // Task, Parallel and Map: attempts with retry, then catch. `counted`:
  // the steps the state has counted so far (StepRecord::steps); after_failure:
  // attempt first-1 failed (a replayed record), back off first.
  StepOut exec_retrying(const State& s, const std::string& key, const Json& data, int first,
                        int counted, const Scope* scope, bool after_failure) {
    if (after_failure) {
      if (auto stop = backoff(s, first - 1, scope)) return {*stop, "", false};
    }
    auto eff = select_input(s, data);
    for (int attempt = first;; ++attempt) {
      StepRecord rec = begin(s, key, data, attempt, counted);
      Outcome o;
      if (!eff) {
        o = runtime_error(eff.status().message(), s.name);
      } else {
        o = attempt_body(s, key, attempt, *eff, scope);
        counted += o.child_steps;
        if (o.kind == Outcome::Kind::kOk) {
          Outcome shaped = shape(s, data, std::move(o.output));
          shaped.instance = o.instance;
          shaped.function_ms = o.function_ms;
          o = std::move(shaped);
        }
      }
      rec.steps = counted;
      if (o.kind == Outcome::Kind::kOk) {
        finish(rec, "Succeeded", o);
        return go_on(s, std::move(o.output));
      }
      if (o.kind != Outcome::Kind::kFail) {  // the run or the enclosing branch stops
        finish(rec, "Aborted", o);
        return {o, "", false};
      }
      if (retryable(s, o, attempt)) {
        finish(rec, "Failed", o);
        if (auto stop = backoff(s, attempt, scope)) return {*stop, "", false};
        continue;
      }
      std::string next;
      Outcome caught = catch_failure(s, data, o, &next);
      if (caught.kind == Outcome::Kind::kOk) {
        Outcome shown = caught;
        shown.kind = Outcome::Kind::kFail;  // the record keeps the error...
        shown.error = o.error;
        shown.cause = o.cause;
        shown.instance = o.instance;
        shown.function_ms = o.function_ms;
        finish(rec, "Caught", shown);  // ...and the caught data as output
        return {ok(std::move(caught.output)), next, false};
      }
      finish(rec, "Failed", caught);
      return {caught, "", false};
    }
  }

  Outcome attempt_body(const State& s, const std::string& key, int attempt, const Json& eff,
                       const Scope* scope) {
    switch (s.type) {
      case StateType::kTask:
        return invoke(s, key, attempt, eff);
      case StateType::kParallel:
        return parallel(s, key, attempt, eff, scope);
      case StateType::kMap:
        return map(s, key, attempt, eff, scope);
      default:
        return fatal(kRuntime, "not a Task, Parallel or Map", s.name);
    }
  }

  Outcome invoke(const State& s, const std::string& key, int attempt, const Json& eff) {
    TaskCall call;
    call.key = key;
    call.state = s.name;
    call.function = s.function;
    call.input = eff;
    call.attempt = attempt;
    call.timeout = milliseconds(int64_t{s.timeout_seconds} * 1000);
    call.remaining = remaining();
    TaskResult r = run_.host.invoke(call);
    Outcome o = r.ok ? ok(std::move(r.output))
                     : fail(r.error.empty() ? "States.TaskFailed" : r.error, r.cause, s.name);
    o.instance = r.instance;
    o.function_ms = r.function_ms;
    return o;
  }

  // The path under which a Parallel's branches / a Map's items keep their
  // step keys.
  static std::string child_prefix(const std::string& key, int attempt) {
    return attempt > 1 ? key + "@" + std::to_string(attempt) + "/" : key + "/";
  }

  // Runs the children in `outs` order; the state's outcome: a fatal one
  // first, else the first failure in order, else aborted (an enclosing stop),
  // else the array of outputs.
  static Outcome combine(const State& s, std::vector<Outcome>& outs) {
    for (Outcome& o : outs) {
      if (o.kind == Outcome::Kind::kFatal) return std::move(o);
    }
    for (Outcome& o : outs) {
      if (o.kind == Outcome::Kind::kFail) return std::move(o);
    }
    for (Outcome& o : outs) {
      if (o.kind == Outcome::Kind::kAborted) return aborted(s.name);
    }
    Json arr = Json::array();
    for (Outcome& o : outs) arr.push_back(std::move(o.output));
    return ok(std::move(arr));
  }

  // exec_machine that never throws (host exceptions become a fatal error).
  Outcome guarded(const Machine& m, const Json& input, const std::string& prefix,
                  const Scope* scope, const std::string& state) {
    try {
      return exec_machine(m, input, prefix, scope);
    } catch (const std::exception& e) {
      return fatal(kRuntime, std::string("internal error: ") + e.what(), state);
    } catch (...) {
      return fatal(kRuntime, "internal error", state);
    }
  }

  Outcome parallel(const State& s, const std::string& key, int attempt, const Json& eff,
                   const Scope* scope) {
    const size_t n = s.branches.size();
    std::vector<Outcome> outs(n);
    std::atomic<bool> stop{false};
    std::atomic<int> counted{0};
    Scope child{scope, &stop, &counted};
    std::string base = child_prefix(key, attempt);
    auto body = [&](size_t i) {
      outs[i] = guarded(*s.branches[i], eff, base + std::to_string(i) + "/", &child, s.name);
      if (outs[i].kind != Outcome::Kind::kOk) stop = true;
    };
    std::vector<std::thread> threads;
    std::vector<size_t> inline_branches = {0};
    for (size_t i = 1; i < n; ++i) {
      // No thread to spare: run it here, after branch 0.
      if (!spawn(threads, [&body, i] { body(i); })) inline_branches.push_back(i);
    }
    if (n > 0) {
      for (size_t i : inline_branches) body(i);
    }
    for (auto& t : threads) t.join();
    Outcome o = combine(s, outs);
    o.child_steps = counted.load();
    return o;
  }

  Outcome map(const State& s, const std::string& key, int attempt, const Json& eff,
              const Scope* scope) {
    const Json* items = s.items_path ? lookup(eff, *s.items_path) : &eff;
    if (items == nullptr || !items->is_array()) {
      std::string path = s.items_path ? s.items_path->text : "$";
      return runtime_error("itemsPath " + path + (items ? " is not an array" : " selects nothing"),
                           s.name);
    }
    const size_t n = items->size();
    std::vector<Outcome> outs(n, aborted(s.name));  // items never started stay aborted
    std::atomic<bool> stop{false};
    std::atomic<size_t> next{0};
    std::atomic<int> counted{0};
    Scope child{scope, &stop, &counted};
    std::string base = child_prefix(key, attempt);
    size_t limit =
        s.max_concurrency > 0 ? std::min(s.max_concurrency, kMaxMapWorkers) : kMaxMapWorkers;
    size_t workers = std::min(limit, n);
    auto worker = [&] {
      while (!stopped(&child)) {
        size_t i = next.fetch_add(1);
        if (i >= n) return;
        outs[i] = guarded(*s.iterator, (*items)[i], base + std::to_string(i) + "/", &child, s.name);
        if (outs[i].kind != Outcome::Kind::kOk) stop = true;
      }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) {
      if (!spawn(threads, worker)) break;  // no thread to spare: fewer workers
    }
    if (workers > 0) worker();
    for (auto& t : threads) t.join();
    Outcome o = combine(s, outs);
    o.child_steps = counted.load();
    return o;
  }

  // ----- replay

  StepOut replay(const State& s, const std::string& key, const Json& data, const StepRecord& rec,
                 const Scope* scope) {
    // The steps the original counted inside this one (its boundary counted 1).
    int extra = std::max(rec.steps, 1) - 1;
    if (extra > 0) {
      run_.steps.fetch_add(extra);
      count_steps(scope, extra);
    }
    if (rec.status == "Succeeded") {
      if (s.type == StateType::kChoice) {
        std::string next;
        Outcome o = choose(s, data, &next);
        if (o.kind != Outcome::Kind::kOk) return {o, "", false};
        return {ok(rec.output), next, false};
      }
      if (s.type == StateType::kSucceed) return {ok(rec.output), "", true};
      return go_on(s, rec.output);
    }
    Outcome failure = fail("", "", s.name);
    split_error(rec.error, &failure.error, &failure.cause);
    if (rec.status == "Caught") {
      std::string next;
      Outcome caught = catch_failure(s, data, failure, &next);
      if (caught.kind != Outcome::Kind::kOk) return {caught, "", false};
      return {ok(rec.output), next, false};
    }
    // Failed: a retried state continues where the live run would have.
    bool retrying =
        s.type == StateType::kTask || s.type == StateType::kParallel || s.type == StateType::kMap;
    if (retrying && retryable(s, failure, rec.attempt)) {
      return exec_retrying(s, key, data, rec.attempt + 1, std::max(rec.steps, 1), scope, true);
    }
    if (retrying) {
      std::string next;
      Outcome caught = catch_failure(s, data, failure, &next);
      if (caught.kind == Outcome::Kind::kOk) return {caught, next, false};
      return {caught, "", false};
    }
    return {failure, "", false};
  }

  Run& run_;
};

}  // namespace

Result<Json> select_input(const State& s, const Json& input) {
  if (s.input_null) return Json::object();
  if (!s.input_path) return input;
  const Json* v = lookup(input, *s.input_path);
  if (v == nullptr)
    return invalid("inputPath " + s.input_path->text + " selects nothing in the state's input");
  return *v;
}

Result<Json> merge_result(const State& s, const Json& input, Json result) {
  if (s.result_null) return input;
  if (!s.result_path || s.result_path->segments.empty()) return result;
  Json merged = input;
  Status st = assign(merged, *s.result_path, std::move(result));
  if (!st.is_ok()) return invalid("resultPath: " + st.message());
  return merged;
}

Result<Json> select_output(const State& s, const Json& merged) {
  if (s.output_null) return Json::object();
  if (!s.output_path) return merged;
  const Json* v = lookup(merged, *s.output_path);
  if (v == nullptr)
    return invalid("outputPath " + s.output_path->text + " selects nothing in the state's output");
  return *v;
}

RunOutcome run(const Machine& machine, const Json& input, Host& host) {
  Run r{host, host.now() + std::chrono::seconds(machine.timeout_seconds), machine.max_steps,
        machine.timeout_seconds};
  Interpreter interp(r);
  Outcome o;
  try {
    o = interp.exec_machine(machine, input, "", nullptr);
  } catch (const std::exception& e) {
    o = fatal(kRuntime, std::string("internal error: ") + e.what(), "");
  } catch (...) {
    o = fatal(kRuntime, "internal error", "");
  }
  RunOutcome out;
  out.steps = r.steps.load();
  switch (o.kind) {
    case Outcome::Kind::kOk:
      out.phase = RunOutcome::Phase::kSucceeded;
      out.output = std::move(o.output);
      break;
    case Outcome::Kind::kFatal:
      if (o.cancelled) {
        out.phase = RunOutcome::Phase::kCancelled;
        break;
      }
      [[fallthrough]];
    default:
      out.phase = RunOutcome::Phase::kFailed;
      out.error = o.error;
      out.cause = o.cause;
      out.state = o.state;
      break;
  }
  return out;
}

}  // namespace minik8s::workflow
