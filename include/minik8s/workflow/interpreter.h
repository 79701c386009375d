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
  std::chrono::milliseconds timeout{0};  // 0: the Function's own
};

struct TaskResult {
  bool ok = false;
  api::Json output;       // ok: the function's answer
  std::string error;      // !ok: error name, e.g. "States.TaskFailed", "States.Timeout", "ValueError"
  std::string cause;      // !ok: human-readable
  std::string instance;   // who answered (pod name), if known
  double function_ms = -1;  // the runtime's own duration, if known
};

// One record in WorkflowRun status.steps.
struct StepRecord {
  std::string key, state, function, instance, error;
  StateType type = StateType::kPass;
  std::string status;  // Running, Succeeded, Failed, Caught, Interrupted
  int attempt = 1;
  api::Json input, output;
  bool output_truncated = false;
  std::chrono::system_clock::time_point start, end;
  double function_ms = -1;
};

class Host {
 public:
  virtual ~Host() = default;
  virtual TaskResult invoke(const TaskCall& call) = 0;
  // A step is about to run / has finished (persist it).
  virtual void step_started(const StepRecord& step) = 0;
  virtual void step_finished(const StepRecord& step) = 0;
  // Replay: the finished record for `key`, if any (Succeeded, Failed or
  // Caught and not truncated). nullopt: execute the state.
  virtual std::optional<StepRecord> recorded(const std::string& key) = 0;
  // Waits (Wait state, retry backoff) up to `d`; returns false early when
  // the run is cancelled.
  virtual bool sleep_for(std::chrono::milliseconds d) = 0;
  virtual bool cancelled() = 0;
};

struct RunOutcome {
  enum class Phase { kSucceeded, kFailed, kCancelled } phase = Phase::kSucceeded;
  api::Json output;
  std::string error, cause, state;  // kFailed: error name, cause, failing state
  int steps = 0;                    // states executed or replayed
};

// Runs `machine` from its startAt on `input` (the run's timeout and
// maxSteps apply: States.Timeout, States.ExceededMaxSteps).
RunOutcome run(const Machine& machine, const api::Json& input, Host& host);

// Shapes a state's data (exposed for the executor and tests): inputPath,
// then resultPath merge of `result` into `input`, then outputPath.
Result<api::Json> select_input(const State& s, const api::Json& input);
Result<api::Json> merge_result(const State& s, const api::Json& input, api::Json result);
Result<api::Json> select_output(const State& s, const api::Json& merged);

}  // namespace minik8s::workflow
