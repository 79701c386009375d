// mkctl workflow: the pure parts — workflow normalisation, the state tree,
// Choice rule text, the step table, run descriptions and failure lines,
// durations, and the command-line parsing into WorkflowOptions.
#include "workflow_cmds.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "minik8s/util/time.h"

namespace minik8s::cli {
namespace {

using api::Json;

Json classify() {
  return Json::parse(R"({
    "startAt": "Measure",
    "states": {
      "Measure": {"type": "Task", "function": "measure", "next": "Route"},
      "Route": {"type": "Choice",
        "choices": [
          {"variable": "$.value", "op": ">", "value": 10, "next": "Big"},
          {"and": [{"variable": "$.kind", "op": "==", "value": "text"},
                   {"not": {"variable": "$.lang", "op": "isPresent"}}],
           "next": "Text"}],
        "default": "Small"},
      "Big": {"type": "Task", "function": "tag-big", "end": true},
      "Text": {"type": "Pass", "result": {"kind": "text"}, "end": true},
      "Small": {"type": "Task", "function": "tag-small",
                "retry": {"maxAttempts": 3, "backoffSeconds": 1}, "end": true}
    }})");
}

TEST(WorkflowTreeTest, StatesInReadingOrderWithTransitionsAndRules) {
  EXPECT_EQ(workflow_tree(classify()),
            "  Measure (Task) function: measure -> Route\n"
            "  Route (Choice)\n"
            "    if $.value > 10 -> Big\n"
            "    if $.kind == \"text\" and not $.lang is present -> Text\n"
            "    otherwise -> Small\n"
            "  Big (Task) function: tag-big (end)\n"
            "  Text (Pass) result: {\"kind\":\"text\"} (end)\n"
            "  Small (Task) function: tag-small [retry: 3 attempts, backoff 1s] (end)\n");
}

TEST(WorkflowTreeTest, ParallelBranchesAndMapIteratorsNest) {
  Json m = Json::parse(R"({
    "startAt": "Fan",
    "states": {
      "Fan": {"type": "Parallel", "next": "Each", "catch": [{"errors": ["States.Timeout"], "next": "Oops"}],
        "branches": [
          {"startAt": "A", "states": {"A": {"type": "Task", "function": "fa", "end": true}}},
          {"startAt": "B", "states": {"B": {"type": "Wait", "seconds": 2, "next": "C"},
                                      "C": {"type": "Succeed"}}}]},
      "Each": {"type": "Map", "itemsPath": "$.items", "maxConcurrency": 2, "end": true,
        "iterator": {"startAt": "Work", "states": {"Work": {"type": "Task", "function": "work",
                                                             "resultPath": "$.r", "end": true}}}},
      "Oops": {"type": "Fail", "error": "Boom", "cause": "fan failed"},
      "Orphan": {"type": "Pass", "end": true}
    }})");
  EXPECT_EQ(workflow_tree(m),
            "  Fan (Parallel) -> Each\n"
            "    catch States.Timeout -> Oops\n"
            "    branch 0 (start: A)\n"
            "      A (Task) function: fa (end)\n"
            "    branch 1 (start: B)\n"
            "      B (Wait) seconds: 2 -> C\n"
            "      C (Succeed) (terminal)\n"
            "  Each (Map) items: $.items maxConcurrency: 2 (end)\n"
            "    iterator (start: Work)\n"
            "      Work (Task) function: work resultPath: $.r (end)\n"
            "  Oops (Fail) error: Boom cause: \"fan failed\" (terminal)\n"
            "  Orphan (Pass) (end) (unreachable)\n");
}

TEST(WorkflowTreeTest, LoopsTerminateAndGarbageNeverThrows) {
  Json loop = Json::parse(R"({"startAt": "A", "states": {
      "A": {"type": "Task", "function": "f", "next": "B"},
      "B": {"type": "Choice", "choices": [{"variable": "$.n", "op": "<", "value": 3, "next": "A"}]}}})");
  EXPECT_EQ(workflow_tree(loop),
            "  A (Task) function: f -> B\n"
            "  B (Choice)\n"
            "    if $.n < 3 -> A\n"
            "    otherwise: fail (States.NoChoiceMatched)\n");
  for (const char* bad :
       {"null", "[]", "{}", R"({"states": 5})", R"({"startAt": 3, "states": {"x": 1}})",
        R"({"states": {"x": {"type": "Parallel", "branches": [1, {"states": []}]}}})",
        R"({"states": {"x": {"type": "Map", "iterator": "no"}}})",
        R"({"states": {"x": {"type": "Choice", "choices": [{"and": 1}, {"not": []}, 5]}}})"}) {
    EXPECT_NO_THROW(workflow_tree(Json::parse(bad))) << bad;
  }
  // Nesting far deeper than validation allows is cut, not recursed into forever.
  Json deep = {{"startAt", "P"}, {"states", Json::object()}};
  Json* cur = &deep;
  for (int i = 0; i < 100; ++i) {
    (*cur)["states"]["P"] = {
        {"type", "Parallel"},
        {"end", true},
        {"branches", Json::array({{{"startAt", "P"}, {"states", Json::object()}}})}};
    cur = &(*cur)["states"]["P"]["branches"][0];
  }
  std::string t = workflow_tree(deep);
  EXPECT_NE(t.find("…"), std::string::npos);
}

TEST(WorkflowTreeTest, RuleTextForEveryOperator) {
  EXPECT_EQ(rule_text(Json::parse(R"({"variable": "$.name", "op": "matches", "value": "*.png"})")),
            "$.name matches \"*.png\"");
  EXPECT_EQ(rule_text(Json::parse(R"({"variable": "$.x", "op": "isNull", "value": false})")),
            "$.x is not null");
  EXPECT_EQ(rule_text(Json::parse(R"({"variable": "$.x", "op": "isPresent", "value": false})")),
            "$.x is not present");
  EXPECT_EQ(rule_text(Json::parse(
                R"({"or": [{"variable": "$.a", "op": "<=", "value": 1},
                           {"and": [{"variable": "$.b", "op": "!=", "value": null},
                                    {"variable": "$.c", "op": ">=", "value": "m"}]}]})")),
            "$.a <= 1 or ($.b != null and $.c >= \"m\")");
  EXPECT_EQ(rule_text(Json::parse(R"({"not": {"or": [{"variable": "$.a", "op": "==", "value": true},
                                                      {"variable": "$.b", "op": "==", "value": false}]}})")),
            "not ($.a == true or $.b == false)");
}

TEST(WorkflowTreeTest, DescribeWorkflowHasHeaderAndTree) {
  Json wf = {{"metadata", {{"name", "classify"}, {"namespace", "default"}, {"generation", 2}}},
             {"spec", classify()}};
  wf["spec"]["maxSteps"] = 50;
  std::string d = describe_workflow(wf, 0);
  EXPECT_NE(d.find("Name:        classify\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Start At:    Measure\n"), std::string::npos) << d;
  EXPECT_NE(d.find("States:      5\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Max Steps:   50\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Timeout:     600s\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Generation:  2\n"), std::string::npos) << d;
  EXPECT_NE(d.find("State Machine:\n  Measure (Task) function: measure -> Route\n"),
            std::string::npos)
      << d;
}

Json sample_run() {
  return Json::parse(R"({
    "metadata": {"name": "classify-abc12", "namespace": "default",
                 "creationTimestamp": "2026-12-07T15:00:00Z"},
    "spec": {"workflow": "classify", "input": {"value": 12}},
    "status": {"phase": "Failed", "startTime": "2026-12-07T15:00:00Z",
      "completionTime": "2026-12-07T15:00:01.500000Z", "workflowGeneration": 1,
      "error": {"error": "States.TaskFailed", "cause": "ZeroDivisionError: division by zero", "state": "Big"},
      "steps": [
        {"key": "Measure#0", "state": "Measure", "type": "Task", "function": "measure",
         "instance": "measure-7f9c-x2", "attempt": 1, "status": "Succeeded", "durationMs": 12.34},
        {"key": "Route#0", "state": "Route", "type": "Choice", "attempt": 1, "status": "Succeeded",
         "durationMs": 0.05},
        {"key": "Big#0", "state": "Big", "type": "Task", "function": "tag-big", "instance": "tag-big-1",
         "attempt": 1, "status": "Interrupted", "error": "server restarted"},
        {"key": "Big#0", "state": "Big", "type": "Task", "function": "tag-big", "instance": "tag-big-1",
         "attempt": 2, "status": "Failed", "durationMs": 1234,
         "error": "States.TaskFailed: ZeroDivisionError: division by zero"}]}})");
}

TEST(WorkflowRunTextTest, StepTableColumns) {
  EXPECT_EQ(
      step_table(sample_run()["status"]["steps"]),
      "KEY         STATE     TYPE     FUNCTION   INSTANCE          ATTEMPT   STATUS        "
      "DURATION\n"
      "Measure#0   Measure   Task     measure    measure-7f9c-x2   1         Succeeded     12.3ms\n"
      "Route#0     Route     Choice   -          -                 1         Succeeded     0.05ms\n"
      "Big#0       Big       Task     tag-big    tag-big-1         1         Interrupted   -\n"
      "Big#0       Big       Task     tag-big    tag-big-1         2         Failed        1.2s\n");
  EXPECT_EQ(step_table(Json()),
            "KEY   STATE   TYPE   FUNCTION   INSTANCE   ATTEMPT   STATUS   DURATION\n");
  EXPECT_NO_THROW(step_table(Json::parse(R"([1, "x", null, {"key": 5, "durationMs": "x"}])")));
}

TEST(WorkflowRunTextTest, DescribeRunShowsPhaseTimesDataErrorAndSteps) {
  std::string d = describe_run(sample_run(), 0);
  EXPECT_NE(d.find("Workflow:         classify (generation 1)\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Phase:            Failed\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Duration:         1.5s\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Input:            {\"value\":12}\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Output:           <none>\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Error:            States.TaskFailed (state Big)\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Cause:            ZeroDivisionError: division by zero\n"), std::string::npos)
      << d;
  EXPECT_NE(d.find("Steps:\n  KEY         STATE"), std::string::npos) << d;
  EXPECT_NE(d.find("Step Errors:\n  Big#0 (attempt 1, Interrupted): server restarted\n"
                   "  Big#0 (attempt 2, Failed): States.TaskFailed: ZeroDivisionError"),
            std::string::npos)
      << d;
  Json pending = {{"metadata", {{"name", "r"}}}, {"spec", {{"workflow", "w"}}}};
  std::string p = describe_run(pending, 0);
  EXPECT_NE(p.find("Phase:            Pending\n"), std::string::npos) << p;
  EXPECT_NE(p.find("Input:            {}\n"), std::string::npos) << p;
  EXPECT_NE(p.find("Steps:  <none>\n"), std::string::npos) << p;
  // A huge output is cut.
  Json big = sample_run();
  big["status"]["output"] = std::string(10000, 'x');
  std::string b = describe_run(big, 0);
  EXPECT_NE(b.find("… (10002 bytes)"), std::string::npos);
  EXPECT_LT(b.size(), 5000u);
}

TEST(WorkflowRunTextTest, FailureTextNamesStateErrorAndCause) {
  EXPECT_EQ(run_failure_text(sample_run()),
            "error: workflowrun.serverless.minik8s.io/classify-abc12 Failed\n"
            "  state: Big\n"
            "  error: States.TaskFailed\n"
            "  cause: ZeroDivisionError: division by zero\n");
  // Without state in the error: the last failed step names it.
  Json r = sample_run();
  r["status"]["error"].erase("state");
  r["status"]["phase"] = "Cancelled";
  EXPECT_EQ(run_failure_text(r),
            "error: workflowrun.serverless.minik8s.io/classify-abc12 Cancelled\n  state: Big\n"
            "  error: States.TaskFailed\n  cause: ZeroDivisionError: division by zero\n");
  EXPECT_TRUE(is_terminal_phase("Succeeded"));
  EXPECT_TRUE(is_terminal_phase("Failed"));
  EXPECT_TRUE(is_terminal_phase("Cancelled"));
  EXPECT_FALSE(is_terminal_phase("Running"));
  EXPECT_FALSE(is_terminal_phase(""));
}

TEST(WorkflowRunTextTest, Durations) {
  EXPECT_EQ(format_duration_ms(0.05), "0.05ms");
  EXPECT_EQ(format_duration_ms(12.34), "12.3ms");
  EXPECT_EQ(format_duration_ms(1234), "1.2s");
  EXPECT_EQ(format_duration_ms(184000), "3m4s");
  EXPECT_EQ(format_duration_ms(7384000), "2h3m4s");
  EXPECT_EQ(format_duration_ms(3605000), "1h0m5s");
  EXPECT_EQ(format_duration_ms(12000), "12s");
  EXPECT_EQ(format_duration_ms(-1), "-");
  Json r = sample_run();
  EXPECT_EQ(run_duration(r, 0), "1.5s");
  r["status"].erase("completionTime");
  // Running: now − start (now = 15:03:04 UTC that day).
  SysTime start;
  ASSERT_TRUE(parse_rfc3339("2026-12-07T15:00:00Z", &start));
  long long now =
      std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch()).count() + 184;
  EXPECT_EQ(run_duration(r, now), "3m4s");
  r["status"].erase("startTime");
  EXPECT_EQ(run_duration(r, now), "");
  EXPECT_EQ(parse_timeout_ms("90s"), 90000);
  EXPECT_EQ(parse_timeout_ms("1m30s"), 90000);
  EXPECT_EQ(parse_timeout_ms("250ms"), 250);
  EXPECT_EQ(parse_timeout_ms("5"), 5000);
  EXPECT_EQ(parse_timeout_ms("5x"), -1);
  EXPECT_EQ(parse_timeout_ms("s"), -1);
  EXPECT_EQ(parse_timeout_ms("99999999999999999999s"), -1);
}

TEST(WorkflowDocTest, NormalizeFillsKindAndNamesBadFields) {
  Json ok = Json::parse(R"({"metadata": {"name": "w"}, "spec": {"startAt": "A", "states": {}}})");
  ASSERT_TRUE(normalize_workflow(ok));
  EXPECT_EQ(ok["kind"], "Workflow");
  EXPECT_EQ(ok["apiVersion"], "serverless.minik8s.io/v1");
  auto msg = [](const char* text) {
    Json j = Json::parse(text);
    Status s = normalize_workflow(j);
    EXPECT_EQ(s.code(), Code::kInvalid) << text;
    return s.message();
  };
  EXPECT_EQ(msg("[]"), "the document is not an object");
  EXPECT_EQ(msg(R"({"kind": "Function", "metadata": {"name": "w"}, "spec": {}})"),
            "kind is \"Function\", not Workflow (mkctl apply -f takes any kind)");
  EXPECT_EQ(msg(R"({"apiVersion": "v1", "metadata": {"name": "w"}, "spec": {}})"),
            "apiVersion is \"v1\", not serverless.minik8s.io/v1");
  EXPECT_EQ(msg(R"({"spec": {}})"), "metadata.name: Required value");
  EXPECT_EQ(msg(R"({"metadata": {"name": 5}, "spec": {}})"), "metadata.name: Required value");
  EXPECT_EQ(msg(R"({"metadata": {"name": "w"}, "spec": []})"),
            "spec: Required value (an object with startAt and states)");
}

struct Parsed {
  WorkflowOptions o;
  std::string error;
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  CLI::App app("mkctl");
  add_workflow_commands(app, p.o);
  std::vector<std::string> rev(args.rbegin(), args.rend());
  try {
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    p.error = e.what();
  }
  return p;
}

TEST(WorkflowArgsTest, SubcommandsFillTheOptions) {
  auto r = parse({"wf", "run", "classify", "-d", "{\"value\": 3}", "--wait", "--timeout", "2m"});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.o.action, "run");
  EXPECT_EQ(r.o.args, std::vector<std::string>{"classify"});
  EXPECT_EQ(r.o.data, "{\"value\": 3}");
  EXPECT_TRUE(r.o.wait);
  EXPECT_EQ(r.o.timeout, "2m");
  auto d = parse({"workflow", "describe", "run", "classify-x1"});
  ASSERT_EQ(d.error, "");
  EXPECT_EQ(d.o.action, "describe");
  EXPECT_EQ(d.o.args, (std::vector<std::string>{"run", "classify-x1"}));
  auto c = parse({"wf", "apply", "-f", "w.yaml"});
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.o.action, "apply");
  EXPECT_EQ(c.o.file, "w.yaml");
  auto l = parse({"wf", "list"});
  ASSERT_EQ(l.error, "");
  EXPECT_EQ(l.o.action, "get");
  EXPECT_TRUE(l.o.args.empty());
  EXPECT_NE(parse({"wf", "create"}).error, "");           // -f required
  EXPECT_NE(parse({"wf", "run"}).error, "");              // NAME required
  EXPECT_NE(parse({"wf", "cancel"}).error, "");           // RUN required
  EXPECT_NE(parse({"wf", "frobnicate", "x"}).error, "");  // unknown subcommand
}

}  // namespace
}  // namespace minik8s::cli
