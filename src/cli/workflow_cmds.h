// mkctl workflow … (alias wf): Workflows and their runs (docs/workflows.md "CLI").
//
// create/apply read one Workflow from a YAML or JSON file and write it
// (apply: create, or replace spec/labels/annotations of the live one);
// get/list print the table (the server's, or NAME STATES START AGE built
// here); describe prints the state machine as an indented tree; run creates
// a WorkflowRun (generateName NAME-) and prints its name, or with --wait
// watches it to a terminal phase and prints its output JSON (exit 1 on
// Failed/Cancelled/timeout, with the failing state, error and cause on
// stderr); runs lists a workflow's runs (label serverless.minik8s.io/workflow);
// describe run RUN prints phase, times, input, output, error and the step
// table; cancel sets spec.cancel (merge patch); delete removes a Workflow
// (its runs go with it) or, as `delete run RUN`, one run.
//
// Errors: one line on `err` ("error: …" for the client's own checks,
// "Error from server (Reason): …" for the API server) and exit code 1.
// Thread safety: run_workflow is self-contained per call.
#pragma once

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"
#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace CLI {
class App;
}

namespace minik8s::cli {

struct WorkflowOptions {
  // create | apply | get | describe | run | runs | cancel | delete
  std::string action;
  std::vector<std::string> args;  // NAME, or "run" RUN for describe/delete
  std::string file;               // create / apply
  std::string output;             // get: "" | yaml | json
  std::string data;               // run: JSON, @file or @- (stdin); default {}
  bool wait = false;              // run
  std::string timeout;  // run --wait: a duration; "" = the workflow's timeoutSeconds + 30s
};

// Adds the `workflow` group (alias `wf`) to app; the subcommands fill o.
CLI::App* add_workflow_commands(CLI::App& app, WorkflowOptions& o);

// server: "http://host:port"; ns: the namespace to act in.
int run_workflow(const client::HttpRestClientOptions& server, const std::string& ns,
                 std::chrono::milliseconds request_timeout, const WorkflowOptions& o,
                 std::istream& in, std::ostream& out, std::ostream& err);

// ---- pure parts, exposed for tests; never throw on any JSON ----

// A Workflow object (or a file's document) checked for what the CLI needs
// before sending it: an object, kind Workflow (apiVersion/kind filled in
// when absent), metadata.name present, spec an object. kInvalid naming the
// field otherwise.
Status normalize_workflow(api::Json& doc);
// The state machine of a Workflow spec (or a branch/iterator) as an indented
// tree, states in reading order (depth-first from startAt, each
// transition's target after its source; unreachable states last), each line
// "NAME (TYPE) details -> NEXT" with Choice rules, catches, branches and
// iterators nested below. indent: spaces before the top-level states.
std::string workflow_tree(const api::Json& machine, int indent = 2);
// A Choice rule as text: `$.value > 10`, `($.a == "x") and (not $.b isPresent)`.
std::string rule_text(const api::Json& rule);
// kubectl-describe-like text of a Workflow (name, start, limits, tree).
std::string describe_workflow(const api::Json& wf, long long now_unix);
// The step table KEY STATE TYPE FUNCTION INSTANCE ATTEMPT STATUS DURATION of
// status.steps (header only when there are none).
std::string step_table(const api::Json& steps);
// kubectl-describe-like text of a WorkflowRun: phase, times, input, output,
// error, steps and step errors.
std::string describe_run(const api::Json& run, long long now_unix);
// Phases after which a run never changes.
bool is_terminal_phase(const std::string& phase);
// The stderr lines for a run that ended Failed/Cancelled: "error: workflowrun
// NAME Failed", then "  state: …", "  error: …", "  cause: …" (those known).
std::string run_failure_text(const api::Json& run);
// Run duration: completionTime − startTime (or now − startTime), "" when not started.
std::string run_duration(const api::Json& run, long long now_unix);

}  // namespace minik8s::cli
