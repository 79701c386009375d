#include "minik8s/workflow/machine.h"

#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

namespace minik8s::workflow {
namespace {

using api::Json;

Json yaml(const std::string& text) {
  auto r = api::yaml_to_json(text);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? *r : Json();
}

// The issue's example workflow (docs/workflows.md "Workflow").
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

TEST(MachineTest, ParsesTheIssueExample) {
  auto r = parse_machine(yaml(kClassify));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Machine& m = **r;
  EXPECT_EQ(m.start_at, "Measure");
  EXPECT_EQ(m.max_steps, 1000);
  EXPECT_EQ(m.timeout_seconds, 600);
  ASSERT_EQ(m.states.size(), 5u);
  const State& measure = m.states.at("Measure");
  EXPECT_EQ(measure.type, StateType::kTask);
  EXPECT_EQ(measure.function, "measure");
  EXPECT_EQ(measure.next, "Route");
  EXPECT_FALSE(measure.end);
  EXPECT_EQ(measure.retry.max_attempts, 1);
  const State& route = m.states.at("Route");
  EXPECT_EQ(route.type, StateType::kChoice);
  ASSERT_EQ(route.choices.size(), 2u);
  EXPECT_EQ(route.choices[0].op, Rule::Op::kGt);
  EXPECT_EQ(route.choices[0].variable.text, "$.value");
  EXPECT_EQ(route.choices[0].value, 10);
  EXPECT_EQ(route.choices[0].next, "Big");
  EXPECT_EQ(route.choices[1].op, Rule::Op::kAnd);
  ASSERT_EQ(route.choices[1].children.size(), 2u);
  EXPECT_EQ(route.choices[1].children[1].op, Rule::Op::kNot);
  EXPECT_EQ(route.choices[1].children[1].children[0].op, Rule::Op::kIsPresent);
  EXPECT_EQ(route.choices[1].children[1].children[0].value, true);
  EXPECT_EQ(route.default_next, "Small");
  EXPECT_TRUE(m.states.at("Big").end);
  EXPECT_EQ(*m.states.at("Text").result, Json({{"kind", "text"}}));
  const State& small = m.states.at("Small");
  EXPECT_EQ(small.retry.max_attempts, 3);
  EXPECT_EQ(small.retry.backoff_seconds, 1);
  EXPECT_EQ(small.retry.backoff_rate, 2);
  EXPECT_TRUE(small.retry.errors.empty());
  EXPECT_TRUE(validate_machine(yaml(kClassify)).empty());
}

TEST(MachineTest, ParsesEveryStateTypeAndField) {
  auto r = parse_machine(yaml(R"(
startAt: T
maxSteps: 50
timeoutSeconds: 30
states:
  T:
    type: Task
    comment: first
    function: f1
    inputPath: $.in
    resultPath: $.res
    outputPath: null
    timeoutSeconds: 5
    retry: {maxAttempts: 4, backoffSeconds: 0.5, backoffRate: 1.5, errors: [States.Timeout, Boom]}
    catch:
    - {errors: [Boom], next: F}
    - {resultPath: null, next: P}
    next: Fan
  Fan:
    type: Parallel
    resultPath: null
    branches:
    - startAt: A
      states: {A: {type: Pass, end: true}}
    - startAt: B
      states: {B: {type: Wait, seconds: 2, end: true}}
    next: Each
  Each:
    type: Map
    itemsPath: $.items
    maxConcurrency: 3
    iterator:
      startAt: W
      states: {W: {type: Task, function: work, end: true}}
    next: P
  P: {type: Pass, result: null, resultPath: $.r, next: Ok}
  Ok: {type: Succeed, inputPath: $.r, outputPath: $}
  F: {type: Fail, error: Bad, cause: it broke}
)"));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const Machine& m = **r;
  EXPECT_EQ(m.max_steps, 50);
  EXPECT_EQ(m.timeout_seconds, 30);
  const State& t = m.states.at("T");
  EXPECT_EQ(t.input_path->text, "$.in");
  EXPECT_EQ(t.result_path->text, "$.res");
  EXPECT_FALSE(t.output_path.has_value());
  EXPECT_TRUE(t.output_null);
  EXPECT_FALSE(t.input_null);
  EXPECT_EQ(t.timeout_seconds, 5);
  EXPECT_EQ(t.retry.max_attempts, 4);
  EXPECT_EQ(t.retry.backoff_seconds, 0.5);
  EXPECT_EQ(t.retry.backoff_rate, 1.5);
  EXPECT_EQ(t.retry.errors, (std::vector<std::string>{"States.Timeout", "Boom"}));
  ASSERT_EQ(t.catches.size(), 2u);
  EXPECT_EQ(t.catches[0].errors, std::vector<std::string>{"Boom"});
  EXPECT_FALSE(t.catches[0].result_path.has_value());
  EXPECT_FALSE(t.catches[0].discard_result);
  EXPECT_TRUE(t.catches[1].discard_result);
  EXPECT_EQ(t.catches[1].next, "P");
  const State& fan = m.states.at("Fan");
  EXPECT_TRUE(fan.result_null);
  ASSERT_EQ(fan.branches.size(), 2u);
  EXPECT_EQ(fan.branches[1]->start_at, "B");
  EXPECT_EQ(fan.branches[1]->states.at("B").seconds, 2);
  const State& each = m.states.at("Each");
  EXPECT_EQ(each.items_path->text, "$.items");
  EXPECT_EQ(each.max_concurrency, 3);
  EXPECT_EQ(each.iterator->states.at("W").function, "work");
  const State& pass = m.states.at("P");
  ASSERT_TRUE(pass.result.has_value());
  EXPECT_TRUE(pass.result->is_null());
  EXPECT_EQ(m.states.at("Ok").type, StateType::kSucceed);
  EXPECT_EQ(m.states.at("F").error, "Bad");
  EXPECT_EQ(m.states.at("F").cause, "it broke");

  auto d = parse_machine(yaml("startAt: X\nstates: {X: {type: Fail}}"));
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ((*d)->states.at("X").error, "States.Fail");
  EXPECT_FALSE((*d)->states.at("X").result.has_value());
}

// The message of a spec that must fail with exactly one error (the Status
// text of parse_machine: "field: message").
std::string one_error(const std::string& spec_yaml) {
  Json spec = yaml(spec_yaml);
  auto errs = validate_machine(spec);
  EXPECT_EQ(errs.size(), 1u) << spec_yaml;
  if (errs.size() != 1) {
    for (const auto& e : errs) std::cerr << "  " << e.field << ": " << e.message << "\n";
  }
  auto r = parse_machine(spec);
  EXPECT_FALSE(r.is_ok());
  if (r.is_ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  return r.status().message();
}

TEST(MachineValidationTest, Targets) {
  EXPECT_EQ(one_error("startAt: Nope\nstates: {A: {type: Succeed}}"),
            "spec.startAt: Invalid value: \"Nope\": no such state");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass, next: Gone}}"),
            "spec.states.A.next: Invalid value: \"Gone\": no such state");
  auto two = parse_machine(yaml(R"(
startAt: A
states:
  A: {type: Choice, choices: [{variable: $.x, op: isPresent, next: B}, {variable: $.y, op: isNull, next: Z}], default: Q}
  B: {type: Succeed}
)"));
  ASSERT_FALSE(two.is_ok());
  EXPECT_EQ(two.status().message(),
            "[spec.states.A.choices[1].next: Invalid value: \"Z\": no such state, "
            "spec.states.A.default: Invalid "
            "value: \"Q\": no such state]");
  EXPECT_EQ(
      one_error(
          "startAt: A\nstates: {A: {type: Task, function: f, end: true, catch: [{next: Nope}]}}"),
      "spec.states.A.catch[0].next: Invalid value: \"Nope\": no such state");
  // Inside a branch only that branch's states are targets.
  EXPECT_EQ(one_error(R"(
startAt: Fan
states:
  Fan:
    type: Parallel
    branches: [{startAt: X, states: {X: {type: Pass, next: Done}}}]
    next: Done
  Done: {type: Succeed}
)"),
            "spec.states.Fan.branches[0].states.X.next: Invalid value: \"Done\": no such state in "
            "this branch");
  EXPECT_EQ(one_error(R"(
startAt: M
states:
  M: {type: Map, iterator: {startAt: Q, states: {W: {type: Succeed}}}, end: true}
)"),
            "spec.states.M.iterator.startAt: Invalid value: \"Q\": no such state in this branch");
}

TEST(MachineValidationTest, UnreachableStates) {
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Succeed}, Lost: {type: Succeed}}"),
            "spec.states.Lost: Invalid value: \"Lost\": not reachable from startAt \"A\"");
  // Reached only through a catch, a default or a loop: fine.
  EXPECT_TRUE(validate_machine(yaml(R"(
startAt: A
states:
  A: {type: Task, function: f, next: Loop, catch: [{next: Handler}]}
  Handler: {type: Pass, next: Loop}
  Loop: {type: Choice, choices: [{variable: $.n, op: "<", value: 3, next: A}], default: End}
  End: {type: Succeed}
)"))
                  .empty());
  EXPECT_EQ(
      one_error(R"(
startAt: P
states:
  P:
    type: Parallel
    branches: [{startAt: X, states: {X: {type: Succeed}, Y: {type: Succeed}}}]
    end: true
)"),
      "spec.states.P.branches[0].states.Y: Invalid value: \"Y\": not reachable from startAt \"X\"");
}

TEST(MachineValidationTest, RequiredFields) {
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Task, end: true}}"),
            "spec.states.A.function: Required value: a Task state names a Function");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Choice, default: B}, B: {type: Succeed}}"),
            "spec.states.A.choices: Required value: a Choice state has at least one rule");
  EXPECT_EQ(
      one_error(
          "startAt: A\nstates: {A: {type: Choice, choices: [], default: B}, B: {type: Succeed}}"),
      "spec.states.A.choices: Required value: a Choice state has at least one rule");
  EXPECT_EQ(one_error("states: {A: {type: Succeed}}"), "spec.startAt: Required value");
  EXPECT_EQ(one_error("startAt: A"), "spec.states: Required value: at least one state");
  EXPECT_EQ(one_error("startAt: A\nstates: {}"), "spec.states: Required value: at least one state");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {end: true}}"),
            "spec.states.A.type: Required value");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Parallel, branches: [], end: true}}"),
            "spec.states.A.branches: Required value: a Parallel state has at least one branch");
  EXPECT_EQ(
      one_error("startAt: A\nstates: {A: {type: Map, end: true}}"),
      "spec.states.A.iterator: Required value: a Map state has an iterator {startAt, states}");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Wait, end: true}}"),
            "spec.states.A.seconds: Required value");
  EXPECT_EQ(
      one_error(
          "startAt: A\nstates: {A: {type: Task, function: f, end: true, catch: [{errors: [X]}]}}"),
      "spec.states.A.catch[0].next: Required value");
  EXPECT_EQ(
      one_error("startAt: A\nstates: {A: {type: Choice, choices: [{variable: $.a, op: isNull}]}}"),
      "spec.states.A.choices[0].next: Required value");
}

TEST(MachineValidationTest, NextAndEnd) {
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass}}"),
            "spec.states.A: Required value: a Pass state has next or end: true");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass, end: false}}"),
            "spec.states.A: Required value: a Pass state has next or end: true");
  EXPECT_EQ(
      one_error("startAt: A\nstates: {A: {type: Pass, next: B, end: true}, B: {type: Succeed}}"),
      "spec.states.A.end: Forbidden: a state has exactly one of next and end: true");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Succeed, end: true}}"),
            "spec.states.A.end: Forbidden: not allowed on a Succeed state");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Fail, next: A}}"),
            "spec.states.A.next: Forbidden: not allowed on a Fail state");
  EXPECT_EQ(one_error(R"(
startAt: A
states:
  A: {type: Choice, choices: [{variable: $.a, op: isNull, next: B}], next: B}
  B: {type: Succeed}
)"),
            "spec.states.A.next: Forbidden: not allowed on a Choice state");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass, function: f, end: true}}"),
            "spec.states.A.function: Forbidden: not allowed on a Pass state");
}

TEST(MachineValidationTest, MalformedJsonPath) {
  EXPECT_EQ(one_error(R"(
startAt: Route
states:
  Route:
    type: Choice
    choices:
    - {variable: $.ok, op: isPresent, next: Done}
    - and: [{variable: "$.a[", op: "==", value: 1}]
      next: Done
  Done: {type: Succeed}
)"),
            "spec.states.Route.choices[1].and[0].variable: Invalid value: \"$.a[\": at offset 4: "
            "expected an index "
            "[N] or a quoted name ['name'] (no wildcards, filters or slices)");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass, inputPath: $..x, end: true}}"),
            "spec.states.A.inputPath: Invalid value: \"$..x\": at offset 2: expected a name "
            "([A-Za-z_][A-Za-z0-9_-]*) after '.'");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass, resultPath: x, end: true}}"),
            "spec.states.A.resultPath: Invalid value: \"x\": at offset 0: a path starts with '$'");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: {type: Pass, outputPath: 3, end: true}}"),
            "spec.states.A.outputPath: Invalid value: 3: must be a JSONPath string or null");
  EXPECT_EQ(
      one_error(
          "startAt: A\nstates: {A: {type: Map, itemsPath: null, iterator: {startAt: B, states: {B: "
          "{type: Succeed}}}, end: true}}"),
      "spec.states.A.itemsPath: Invalid value: null: must be a JSONPath string");
  EXPECT_EQ(
      one_error("startAt: A\nstates: {A: {type: Task, function: f, end: true, catch: [{resultPath: "
                "\"$[*]\", next: A}]}}"),
      "spec.states.A.catch[0].resultPath: Invalid value: \"$[*]\": at offset 2: expected an index "
      "[N] or a "
      "quoted name ['name'] (no wildcards, filters or slices)");
}

TEST(MachineValidationTest, UnknownTypeAndOp) {
  EXPECT_EQ(
      one_error("startAt: A\nstates: {A: {type: Lambda, end: true}}"),
      "spec.states.A.type: Unsupported value: \"Lambda\": supported values: \"Task\", \"Choice\", "
      "\"Parallel\", \"Map\", \"Pass\", \"Wait\", \"Succeed\", \"Fail\"");
  EXPECT_EQ(one_error(R"(
startAt: A
states:
  A: {type: Choice, choices: [{variable: $.a, op: "=~", value: x, next: B}]}
  B: {type: Succeed}
)"),
            "spec.states.A.choices[0].op: Unsupported value: \"=~\": supported values: \"==\", "
            "\"!=\", \"<\", "
            "\"<=\", \">\", \">=\", \"matches\", \"isPresent\", \"isNull\"");
}

TEST(MachineValidationTest, RuleShapes) {
  auto rule_error = [](const std::string& rule) {
    return one_error("startAt: A\nstates:\n  A: {type: Choice, choices: [" + rule +
                     "]}\n  B: {type: Succeed}\n");
  };
  EXPECT_EQ(rule_error("{next: B}"),
            "spec.states.A.choices[0]: Required value: a rule is a comparison (variable + op) or "
            "one of and, or, "
            "not");
  EXPECT_EQ(rule_error("{op: '==', value: 1, next: B}"),
            "spec.states.A.choices[0].variable: Required value");
  EXPECT_EQ(rule_error("{variable: $.a, value: 1, next: B}"),
            "spec.states.A.choices[0].op: Required value");
  EXPECT_EQ(rule_error("{variable: $.a, op: '<', next: B}"),
            "spec.states.A.choices[0].value: Required value");
  EXPECT_EQ(rule_error("{variable: $.a, op: '<', value: true, next: B}"),
            "spec.states.A.choices[0].value: Invalid value: true: must be a number or a string");
  EXPECT_EQ(rule_error("{variable: $.a, op: '==', value: [1], next: B}"),
            "spec.states.A.choices[0].value: Invalid value: [1]: must be a number, string, boolean "
            "or null");
  EXPECT_EQ(
      rule_error("{variable: $.a, op: matches, value: 3, next: B}"),
      "spec.states.A.choices[0].value: Invalid value: 3: must be a string (a glob with * and ?)");
  EXPECT_EQ(rule_error("{variable: $.a, op: isPresent, value: yes-ish, next: B}"),
            "spec.states.A.choices[0].value: Invalid value: \"yes-ish\": must be a boolean");
  EXPECT_EQ(rule_error("{and: [], next: B}"),
            "spec.states.A.choices[0].and: Required value: at least one rule");
  EXPECT_EQ(rule_error("{or: {variable: $.a, op: isNull}, next: B}").substr(0, 44),
            "spec.states.A.choices[0].or: Invalid value: ");
  EXPECT_EQ(
      rule_error("{not: {variable: $.a, op: isNull, next: B}, next: B}"),
      "spec.states.A.choices[0].not.next: Forbidden: only top-level rules name the next state");
  EXPECT_EQ(rule_error("{and: [{variable: $.a, op: isNull}], variable: $.b, op: isNull, next: B}")
                .substr(0, 55),
            "spec.states.A.choices[0]: Invalid value: {\"and\":[{\"op\":");
  EXPECT_EQ(rule_error("{or: [{variable: $.a, op: isNull}, 7], next: B}"),
            "spec.states.A.choices[0].or[1]: Invalid value: 7: must be an object");
  // == accepts null, booleans, numbers and strings.
  EXPECT_TRUE(validate_machine(yaml(R"(
startAt: A
states:
  A:
    type: Choice
    choices:
    - {variable: $.a, op: "==", value: null, next: B}
    - {variable: $.a, op: "!=", value: false, next: B}
    - {variable: $.a, op: "==", value: 1.5, next: B}
    - {variable: $.a, op: ">=", value: "m", next: B}
  B: {type: Succeed}
)"))
                  .empty());
}

TEST(MachineValidationTest, WrongFieldTypesAndRanges) {
  auto state_error = [](const std::string& state) {
    return one_error("startAt: A\nstates:\n  A: " + state + "\n");
  };
  EXPECT_EQ(one_error("startAt: A\nstates: [1]"),
            "spec.states: Invalid value: [1]: must be an object (state name: state)");
  EXPECT_EQ(one_error("startAt: [A]\nstates: {A: {type: Succeed}}"),
            "spec.startAt: Invalid value: [\"A\"]: must be a string");
  EXPECT_EQ(one_error("startAt: A\nstates: {A: 5}"),
            "spec.states.A: Invalid value: 5: must be an object");
  EXPECT_EQ(one_error("startAt: A\nmaxSteps: 0\nstates: {A: {type: Succeed}}"),
            "spec.maxSteps: Invalid value: 0: must be between 1 and 1000000, inclusive");
  EXPECT_EQ(one_error("startAt: A\ntimeoutSeconds: \"10\"\nstates: {A: {type: Succeed}}"),
            "spec.timeoutSeconds: Invalid value: \"10\": must be an integer");
  EXPECT_EQ(
      state_error("{type: Task, function: Bad_Name, end: true}"),
      "spec.states.A.function: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label must "
      "consist of lower "
      "case alphanumeric characters or '-', and must start and end with an alphanumeric character");
  EXPECT_EQ(state_error("{type: Task, function: 7, end: true}"),
            "spec.states.A.function: Invalid value: 7: must be a string");
  EXPECT_EQ(state_error("{type: Task, function: f, end: yes-please}"),
            "spec.states.A.end: Invalid value: \"yes-please\": must be a boolean");
  EXPECT_EQ(state_error("{type: Task, function: f, next: [B]}"),
            "spec.states.A.next: Invalid value: [\"B\"]: must be a string");
  EXPECT_EQ(
      state_error("{type: Task, function: f, end: true, retry: {maxAttempts: 11}}"),
      "spec.states.A.retry.maxAttempts: Invalid value: 11: must be between 1 and 10, inclusive");
  EXPECT_EQ(state_error("{type: Task, function: f, end: true, retry: {backoffRate: 0.5}}"),
            "spec.states.A.retry.backoffRate: Invalid value: 0.5: must be between 1 and 100");
  EXPECT_EQ(state_error("{type: Task, function: f, end: true, retry: {backoffSeconds: -1}}"),
            "spec.states.A.retry.backoffSeconds: Invalid value: -1: must be between 0 and 86400");
  EXPECT_EQ(state_error("{type: Task, function: f, end: true, retry: {errors: [ok, 3]}}"),
            "spec.states.A.retry.errors[1]: Invalid value: 3: must be a non-empty error name");
  EXPECT_EQ(state_error("{type: Task, function: f, end: true, retry: 3}"),
            "spec.states.A.retry: Invalid value: 3: must be an object");
  EXPECT_EQ(state_error("{type: Task, function: f, end: true, catch: {next: A}}"),
            "spec.states.A.catch: Invalid value: {\"next\":\"A\"}: must be an array");
  EXPECT_EQ(
      state_error("{type: Task, function: f, end: true, timeoutSeconds: 0}"),
      "spec.states.A.timeoutSeconds: Invalid value: 0: must be between 1 and 86400, inclusive");
  EXPECT_EQ(state_error("{type: Wait, seconds: 86401, end: true}"),
            "spec.states.A.seconds: Invalid value: 86401: must be between 0 and 86400");
  EXPECT_EQ(
      state_error(
          "{type: Map, maxConcurrency: -1, iterator: {startAt: B, states: {B: {type: Succeed}}}, "
          "end: true}"),
      "spec.states.A.maxConcurrency: Invalid value: -1: must be between 0 and 1000000, inclusive");
  EXPECT_EQ(state_error("{type: Fail, error: 5}"),
            "spec.states.A.error: Invalid value: 5: must be a string");
  EXPECT_EQ(state_error("{type: Succeed, comment: 5}"),
            "spec.states.A.comment: Invalid value: 5: must be a string");
  EXPECT_EQ(
      state_error(
          "{type: Parallel, branches: [{startAt: B, maxSteps: 3, states: {B: {type: Succeed}}}], "
          "end: true}"),
      "spec.states.A.branches[0].maxSteps: Forbidden: only at the top level of a workflow");
  EXPECT_EQ(state_error("{type: Parallel, branches: [7], end: true}"),
            "spec.states.A.branches[0]: Invalid value: 7: must be an object {startAt, states}");
  EXPECT_EQ(one_error("[1, 2]"), "spec: Invalid value: [1,2]: must be an object {startAt, states}");
}

TEST(MachineValidationTest, StateNames) {
  EXPECT_EQ(
      one_error("startAt: a b\nstates: {a b: {type: Succeed}}"),
      "spec.states: Invalid value: \"a b\": a state name is 1-80 characters of [A-Za-z0-9_.-]");
  EXPECT_EQ(
      one_error("startAt: A/B\nstates: {A/B: {type: Succeed}}"),
      "spec.states: Invalid value: \"A/B\": a state name is 1-80 characters of [A-Za-z0-9_.-]");
  std::string long_name(81, 'x');
  EXPECT_EQ(one_error("startAt: " + long_name + "\nstates: {" + long_name + ": {type: Succeed}}"),
            "spec.states: Invalid value: \"" + long_name +
                "\": a state name is 1-80 characters of [A-Za-z0-9_.-]");
  std::string ok_name = "Az09_.-" + std::string(73, 'y');
  EXPECT_TRUE(
      validate_machine(yaml("startAt: " + ok_name + "\nstates: {" + ok_name + ": {type: Succeed}}"))
          .empty());
}

// A chain of n Pass states in one machine object.
Json chain(int n, const std::string& prefix) {
  Json states = Json::object();
  for (int i = 0; i < n; ++i) {
    Json s = {{"type", "Pass"}};
    if (i + 1 < n) {
      s["next"] = prefix + std::to_string(i + 1);
    } else {
      s["end"] = true;
    }
    states[prefix + std::to_string(i)] = s;
  }
  return {{"startAt", prefix + "0"}, {"states", states}};
}

TEST(MachineValidationTest, AtMost200StatesAllLevelsTogether) {
  EXPECT_TRUE(validate_machine(chain(200, "S")).empty());
  EXPECT_EQ(
      one_error(chain(201, "S").dump()),
      "spec.states: Too many: 201: must have at most 200 states (all nesting levels together)");
  // 150 at the top (one of them a Parallel) + 51 in its branch = 201.
  Json spec = chain(150, "S");
  spec["states"]["S0"] = {{"type", "Parallel"}, {"branches", {chain(51, "B")}}, {"next", "S1"}};
  EXPECT_EQ(
      one_error(spec.dump()),
      "spec.states: Too many: 201: must have at most 200 states (all nesting levels together)");
  spec["states"]["S0"]["branches"] = {chain(50, "B")};
  EXPECT_TRUE(validate_machine(spec).empty());
}

// Parallel states nested `depth` deep (depth 1: one Parallel at the top).
Json nested(int depth) {
  Json inner = {{"startAt", "Leaf"}, {"states", {{"Leaf", {{"type", "Succeed"}}}}}};
  for (int i = 0; i < depth; ++i) {
    Json state = i % 2 == 0 ? Json{{"type", "Parallel"}, {"branches", {inner}}, {"end", true}}
                            : Json{{"type", "Map"}, {"iterator", inner}, {"end", true}};
    inner = {{"startAt", "N"}, {"states", {{"N", state}}}};
  }
  return inner;
}

TEST(MachineValidationTest, NestingAtMost8) {
  EXPECT_TRUE(validate_machine(nested(8)).empty());
  std::string m = one_error(nested(9).dump());
  // The 9th level (counted from the top) is refused where it is declared.
  EXPECT_NE(m.find(": Forbidden: Parallel and Map states nest at most 8 deep"), std::string::npos)
      << m;
  EXPECT_EQ(m.rfind("spec.states.N.branches[0].states.N.iterator.states.N.", 0), 0u) << m;
}

TEST(MachineValidationTest, SeveralErrorsAreListed) {
  auto r = parse_machine(yaml("startAt: A\nstates: {A: {type: Task}, B: {type: Nope}}"), "spec");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            "[spec.states.A: Required value: a Task state has next or end: true, "
            "spec.states.A.function: Required "
            "value: a Task state names a Function, spec.states.B.type: Unsupported value: "
            "\"Nope\": supported "
            "values: \"Task\", \"Choice\", \"Parallel\", \"Map\", \"Pass\", \"Wait\", \"Succeed\", "
            "\"Fail\"]");
  auto p = parse_machine(yaml("startAt: A\nstates: {A: {type: Pass}}"), "spec.definition");
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().message(),
            "spec.definition.states.A: Required value: a Pass state has next or end: true");
}

TEST(MachineValidationTest, NeverThrowsOnOddJson) {
  for (
      const char* text :
      {"null", "1", "\"x\"", "[]", "{}", R"({"startAt":1,"states":{"A":null}})",
       R"({"startAt":"A","states":{"A":{"type":"Choice","choices":[null,{"not":null}]}}})",
       R"({"startAt":"A","states":{"A":{"type":"Map","iterator":{"states":7}}}})",
       R"({"startAt":"A","states":{"A":{"type":"Parallel","branches":[{"startAt":"A","states":{"A":[]}}]}}})"}) {
    Json spec = Json::parse(text);
    EXPECT_NO_THROW({
      auto r = parse_machine(spec);
      EXPECT_FALSE(r.is_ok()) << text;
    });
  }
}

// ---------------------------------------------------------------------------
// Choice semantics

Rule leaf(const std::string& var, Rule::Op op, Json value) {
  Rule r;
  r.op = op;
  r.variable = *parse_path(var);
  r.value = std::move(value);
  return r;
}

TEST(ChoiceTest, ComparisonTable) {
  Json d = {{"i", 10},   {"f", 2.5},     {"u", 7u},         {"s", "abc"},
            {"t", true}, {"n", nullptr}, {"o", {{"k", 1}}}, {"a", {1, 2}}};
  using Op = Rule::Op;
  struct Row {
    const char* var;
    Op op;
    Json value;
    bool want;
  };
  const Row rows[] = {
      // numbers, across integer / unsigned / float
      {"$.i", Op::kEq, 10, true},
      {"$.i", Op::kEq, 10.0, true},
      {"$.i", Op::kNe, 10, false},
      {"$.i", Op::kLt, 11, true},
      {"$.i", Op::kLt, 10, false},
      {"$.i", Op::kLe, 10, true},
      {"$.i", Op::kGt, 9.5, true},
      {"$.i", Op::kGe, 10, true},
      {"$.i", Op::kGe, 10.5, false},
      {"$.f", Op::kGt, 2, true},
      {"$.f", Op::kLt, 3, true},
      {"$.u", Op::kEq, 7, true},
      {"$.u", Op::kGt, -1, true},
      // strings: byte order
      {"$.s", Op::kEq, "abc", true},
      {"$.s", Op::kNe, "abd", true},
      {"$.s", Op::kLt, "abd", true},
      {"$.s", Op::kLt, "ab", false},
      {"$.s", Op::kGe, "abc", true},
      {"$.s", Op::kGt, "ABC", true},
      // booleans and null: ==/!= only
      {"$.t", Op::kEq, true, true},
      {"$.t", Op::kNe, false, true},
      {"$.t", Op::kEq, false, false},
      {"$.t", Op::kLt, true, false},
      {"$.t", Op::kGe, true, false},
      {"$.n", Op::kEq, nullptr, true},
      {"$.n", Op::kNe, nullptr, false},
      {"$.n", Op::kLe, nullptr, false},
      // type mismatch: false, except !=
      {"$.i", Op::kEq, "10", false},
      {"$.i", Op::kNe, "10", true},
      {"$.i", Op::kLt, "99", false},
      {"$.i", Op::kGt, "1", false},
      {"$.s", Op::kEq, 1, false},
      {"$.t", Op::kEq, 1, false},
      {"$.n", Op::kEq, false, false},
      {"$.n", Op::kNe, 0, true},
      {"$.o", Op::kEq, 1, false},
      {"$.o", Op::kNe, 1, true},
      {"$.a", Op::kNe, "x", true},
      // a missing variable: every leaf op false but isPresent:false
      {"$.nope", Op::kEq, 1, false},
      {"$.nope", Op::kNe, 1, false},
      {"$.nope", Op::kLt, 1, false},
      {"$.nope", Op::kEq, nullptr, false},
      {"$.nope", Op::kMatches, "*", false},
      {"$.nope", Op::kIsNull, true, false},
      {"$.nope", Op::kIsNull, false, false},
      {"$.nope", Op::kIsPresent, true, false},
      {"$.nope", Op::kIsPresent, false, true},
      {"$.i.x", Op::kIsPresent, false, true},
      // isPresent / isNull
      {"$.n", Op::kIsPresent, true, true},
      {"$.n", Op::kIsNull, true, true},
      {"$.i", Op::kIsNull, true, false},
      {"$.i", Op::kIsNull, false, true},
      {"$.a[1]", Op::kIsPresent, true, true},
      {"$.a[2]", Op::kIsPresent, true, false},
      // matches: strings only
      {"$.s", Op::kMatches, "a*", true},
      {"$.s", Op::kMatches, "a?c", true},
      {"$.s", Op::kMatches, "b*", false},
      {"$.i", Op::kMatches, "*", false},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(evaluate(leaf(row.var, row.op, row.value), d), row.want)
        << row.var << " op " << static_cast<int>(row.op) << " " << row.value.dump();
  }
}

TEST(ChoiceTest, Combinators) {
  Json d = {{"kind", "text"}, {"value", 3}};
  Rule is_text = leaf("$.kind", Rule::Op::kEq, "text");
  Rule big = leaf("$.value", Rule::Op::kGt, 10);
  Rule has_lang = leaf("$.lang", Rule::Op::kIsPresent, true);
  Rule r_and{Rule::Op::kAnd, {}, {}, {is_text, big}, ""};
  Rule r_or{Rule::Op::kOr, {}, {}, {is_text, big}, ""};
  Rule r_not{Rule::Op::kNot, {}, {}, {has_lang}, ""};
  Rule r_and2{Rule::Op::kAnd, {}, {}, {is_text, r_not}, ""};
  EXPECT_FALSE(evaluate(r_and, d));
  EXPECT_TRUE(evaluate(r_or, d));
  EXPECT_TRUE(evaluate(r_not, d));
  EXPECT_TRUE(evaluate(r_and2, d));
  d["lang"] = "en";
  EXPECT_FALSE(evaluate(r_and2, d));
  Rule r_or_none{Rule::Op::kOr, {}, {}, {big, has_lang}, ""};
  d.erase("lang");
  EXPECT_FALSE(evaluate(r_or_none, d));
}

TEST(ChoiceTest, IssueExampleRoutes) {
  auto m = parse_machine(yaml(kClassify));
  ASSERT_TRUE(m.is_ok());
  const auto& rules = (*m)->states.at("Route").choices;
  auto route = [&](const Json& d) -> std::string {
    for (const Rule& r : rules) {
      if (evaluate(r, d)) return r.next;
    }
    return "default";
  };
  EXPECT_EQ(route({{"value", 12}}), "Big");
  EXPECT_EQ(route({{"value", 10}}), "default");
  EXPECT_EQ(route({{"value", 1}, {"kind", "text"}}), "Text");
  EXPECT_EQ(route({{"value", 1}, {"kind", "text"}, {"lang", "en"}}), "default");
  EXPECT_EQ(route({{"value", "12"}, {"kind", "image"}}), "default");
}

TEST(GlobTest, StarsQuestionMarksAndEscapes) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("*.png", "a.png"));
  EXPECT_TRUE(glob_match("*.png", ".png"));
  EXPECT_FALSE(glob_match("*.png", "a.png.txt"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYbc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYYb"));
  EXPECT_TRUE(glob_match("?", "x"));
  EXPECT_FALSE(glob_match("?", ""));
  EXPECT_FALSE(glob_match("?", "xy"));
  EXPECT_TRUE(glob_match("?", "é"));  // one character, two bytes
  EXPECT_TRUE(glob_match("h?llo", "héllo"));
  EXPECT_TRUE(glob_match("\\*", "*"));
  EXPECT_FALSE(glob_match("\\*", "x"));
  EXPECT_TRUE(glob_match("a\\?", "a?"));
  EXPECT_FALSE(glob_match("a\\?", "ab"));
  EXPECT_TRUE(glob_match("a\\\\b", "a\\b"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("**a**", "bab"));
  EXPECT_FALSE(glob_match("abc", "ABC"));
  // Worst case stays fast (no exponential backtracking).
  EXPECT_FALSE(glob_match(std::string(50, '*') + "b", std::string(5000, 'a')));
}

}  // namespace
}  // namespace minik8s::workflow
