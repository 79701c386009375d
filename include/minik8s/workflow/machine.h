// A workflow's state machine, parsed and validated from a Workflow's spec
// (docs/workflows.md "Workflow"). parse_machine() is what the API server
// runs on create/update (its errors name the field, relative to "spec"), and
// what the executor runs on status.definition. Immutable once parsed; share
// it between threads freely.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>  // Json members by value
#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/util/status.h"
#include "minik8s/workflow/jsonpath.h"

namespace minik8s::workflow {

enum class StateType { kTask, kChoice, kParallel, kMap, kPass, kWait, kSucceed, kFail };
const char* to_string(StateType t);

// A Choice rule: a leaf comparison or a combinator.
struct Rule {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kMatches, kIsPresent, kIsNull, kAnd, kOr, kNot };
  Op op = Op::kEq;
  JsonPath variable;           // leaves
  api::Json value;             // leaves (isPresent/isNull: a boolean)
  std::vector<Rule> children;  // and/or: ≥1; not: exactly 1
  std::string next;            // top-level rules only
};

// true when `rule` holds on `data` (docs/workflows.md "Rules").
bool evaluate(const Rule& rule, const api::Json& data);
// Glob with `*`, `?` and `\` escapes, whole string.
bool glob_match(const std::string& pattern, const std::string& text);

struct Retry {
  int max_attempts = 1;
  double backoff_seconds = 1;
  double backoff_rate = 2;
  std::vector<std::string> errors;  // empty: all
};

struct Catch {
  std::vector<std::string> errors;  // empty: all
  std::optional<JsonPath> result_path;  // default $.error; nullopt with discard=true: keep input
  bool discard_result = false;
  std::string next;
};

struct Machine;

struct State {
  std::string name;
  StateType type = StateType::kPass;
  std::string next;  // empty with end=true or for Choice/Succeed/Fail
  bool end = false;
  // Paths: nullopt = default ($); *_null = the field was `null`.
  std::optional<JsonPath> input_path, result_path, output_path;
  bool input_null = false, result_null = false, output_null = false;
  // Task
  std::string function;
  int timeout_seconds = 0;  // 0: the Function's own
  Retry retry;
  std::vector<Catch> catches;
  // Choice
  std::vector<Rule> choices;
  std::string default_next;
  // Parallel
  std::vector<std::shared_ptr<const Machine>> branches;
  // Map
  std::optional<JsonPath> items_path;
  std::shared_ptr<const Machine> iterator;
  int max_concurrency = 0;
  // Pass
  std::optional<api::Json> result;
  // Wait
  double seconds = 0;
  // Fail
  std::string error, cause;
};

struct Machine {
  std::string start_at;
  std::map<std::string, State> states;
  int max_steps = 1000;         // top level only
  int timeout_seconds = 600;    // top level only
};

// Parses and validates a Workflow spec (or a branch/iterator object with
// startAt + states). On error: Code::kInvalid with a message
// "spec.states.Route.choices[1].variable: Invalid value: \"$.a[\": <why>"
// (field_prefix is prepended; "spec" for a Workflow); several errors are
// joined as Kubernetes does: "[a: ..., b: ...]". Never throws, whatever
// the JSON.
Result<std::shared_ptr<const Machine>> parse_machine(const api::Json& spec, const std::string& field_prefix = "spec");

// The same checks as parse_machine, every error as a FieldError (field =
// "spec.states.Route.choices[1].variable", message = "Invalid value: ...")
// for the API server's validate hook. Empty: the spec is valid.
api::FieldErrors validate_machine(const api::Json& spec, const std::string& field_prefix = "spec");

}  // namespace minik8s::workflow
