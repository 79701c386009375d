// The workflow interpreter: runs a Machine on an input through a Host that
// invokes Tasks and records steps (docs/workflows.md "Step keys and
// resume"). Deterministic given the recorded steps, so resuming a run after
// a restart is replaying it with the host's recorded() answers.
//
// Threads: run() blocks the caller; Parallel branches and Map items run on
// threads run() starts and joins. Every Host method may be called from
// several of them at once.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>  // Json members by value
#include <optional>
#include <string>

#include "minik8s/api/json.h"
#include "minik8s/workflow/machine.h"

namespace minik8s::workflow {

struct TaskCall {
  std::string key;       // step key, e.g. "Fan#0/1/Resize#0"
  std::string state;
  std::string function;
  api::Json input;       // the effective input (after inputPath)
  int attempt = 1;
  std::chrono::milliseconds timeout{0};  // the Task's timeoutSeconds; 0: the Function's own
  // Time left before the run's timeoutSeconds (> 0): the host should not
  // wait for an answer longer than this (the run fails with States.Timeout
  // at the next step boundary anyway).
  std::chrono::milliseconds remaining{0};
};

struct TaskResult {
  bool ok = false;
  api::Json output;       // ok: the function's answer
  std::string error;      // !ok: error name, e.g. "States.TaskFailed", "States.Timeout", "ValueError"
  std::string cause;      // !ok: human-readable
  std::string instance;   // who answered (pod name), if known
  double function_ms = -1;  // the runtime's own duration, if known
};

// One record in WorkflowRun status.steps. `input` is the state's input as it
// arrived (before inputPath), `output` its output (after outputPath; for a
// Caught step the input with the error put at the catch's resultPath), so
// one step's output is the next one's input. Both are replaced, past 64 KiB
// serialized, by {"truncated": true, "bytes": N, "head": "<first 1 KiB>"}
// (output_truncated says so for the output; the data itself flows on
// unchanged).
struct StepRecord {
  std::string key, state, function, instance;
  std::string error;   // Failed/Caught/Aborted: "Error: cause" (or "Error" when there is no cause)
  StateType type = StateType::kPass;
  // Running: started. Succeeded. Failed: this attempt failed (a Task,
  // Parallel or Map retried after it has one Failed record per failed
  // attempt). Caught: failed and a catch handled it (output: the caught
  // data). Aborted: stopped unfinished in this process (the run was
  // cancelled or timed out, or a sibling branch failed). Interrupted: set by
  // the executor on a Running record found at start-up.
  std::string status;
  int attempt = 1;
  api::Json input, output;
  bool output_truncated = false;
  std::chrono::system_clock::time_point start, end;
  double function_ms = -1;
  // The states this step has counted toward maxSteps: itself and, for a
  // Parallel or Map, every state its branches/items executed or replayed,
  // over all its attempts so far (at step_started: before this attempt).
  // Persisting it keeps maxSteps exact across a resume (a replayed
  // Parallel/Map does not walk its children again); when a host does not,
  // the resumed run counts 1 for it.
  int steps = 1;
};

// What the interpreter needs from outside. Every method may be called from
// several threads at once (Parallel branches, Map items).
class Host {
 public:
  virtual ~Host() = default;
  // Calls a Task's function; blocks. Errors are values (ok=false), never
  // exceptions.
  virtual TaskResult invoke(const TaskCall& call) = 0;
  // A step is about to run / has finished (persist it). step_started gets
  // status Running; step_finished the same key and attempt with its final
  // status.
  virtual void step_started(const StepRecord& step) = 0;
  virtual void step_finished(const StepRecord& step) = 0;
  // Replay: the latest record for `key` when it is finished (Succeeded,
  // Failed or Caught) and its output is not truncated. The interpreter then
  // does not execute the state again: it uses the recorded output (Succeeded,
  // Caught) or error (Failed: a Task/Parallel/Map whose retry policy allows
  // another attempt continues with attempt + 1, as the live run would have).
  // nullopt: execute the state.
  virtual std::optional<StepRecord> recorded(const std::string& key) = 0;
  // When recorded(key) is nullopt: the latest record for `key`, if any (one
  // in flight at a restart, Running/Interrupted/Aborted, or a finished one
  // with a truncated output). A Task then runs with its attempt + 1; a
  // Parallel or Map with the same attempt (its branches' own records replay).
  virtual std::optional<StepRecord> previous_attempt(const std::string& key) {
    (void)key;
    return std::nullopt;
  }
  // Waits (Wait state, retry backoff) up to `d`; returns false early when
  // the run is cancelled.
  virtual bool sleep_for(std::chrono::milliseconds d) = 0;
  virtual bool cancelled() = 0;
  // The clock of the run's timeout (injectable for tests).
  virtual std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }
};

struct RunOutcome {
  enum class Phase { kSucceeded, kFailed, kCancelled } phase = Phase::kSucceeded;
  api::Json output;
  std::string error, cause, state;  // kFailed: error name, cause, failing state
  int steps = 0;                    // states executed or replayed
};

// Runs `machine` from its startAt on `input` (the run's timeout and
// maxSteps apply: States.Timeout, States.ExceededMaxSteps; both end the run
// and no catch applies, nor to a cancellation). Never throws: an exception
// from the host fails the run with States.Runtime.
//
// Semantics fixed here (docs/workflows.md "Interpreter"): step keys
// "<path>State#visit", where a Parallel/Map retried for attempt n >= 2 has
// the path "Fan#0@n/<branch>/"; a failing Parallel branch or Map item stops
// its siblings at their next step boundary (a Task in flight finishes) and
// the state fails with the error of the first failed branch/item in order;
// Map runs at most min(maxConcurrency or 32, 32) items at once.
RunOutcome run(const Machine& machine, const api::Json& input, Host& host);

// Shapes a state's data (exposed for the executor and tests): inputPath,
// then resultPath merge of `result` into `input`, then outputPath.
Result<api::Json> select_input(const State& s, const api::Json& input);
Result<api::Json> merge_result(const State& s, const api::Json& input, api::Json result);
Result<api::Json> select_output(const State& s, const api::Json& merged);

}  // namespace minik8s::workflow
