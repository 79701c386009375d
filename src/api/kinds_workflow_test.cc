// The Workflow, WorkflowRun and Trigger table entries: defaults, field
// validation, Tables and schemas (docs/workflows.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/resource.h"
#include "kinds_test_util.h"
#include "minik8s/util/time.h"

namespace minik8s::api {
namespace {

using kinds_test::check;
using kinds_test::dump;
using kinds_test::has_error;
using kinds_test::J;

const ResourceType& kind(const char* k) { return kinds_test::kind("serverless.minik8s.io/v1", k); }

FieldErrors check(const char* k, Json obj, const Json* old = nullptr) {
  return check(kind(k), std::move(obj), old);
}

Json workflow() {
  return J(R"({"apiVersion":"serverless.minik8s.io/v1","kind":"Workflow",
               "metadata":{"name":"classify","namespace":"default"},
               "spec":{"startAt":"A","states":{"A":{"type":"Pass","end":true}}}})");
}
Json run() {
  return J(R"({"apiVersion":"serverless.minik8s.io/v1","kind":"WorkflowRun",
               "metadata":{"name":"classify-x1","namespace":"default"},
               "spec":{"workflow":"classify","input":{"value":12}}})");
}
Json trigger(const char* source = R"({"schedule":"@every 10s"})") {
  Json t = J(R"({"apiVersion":"serverless.minik8s.io/v1","kind":"Trigger",
                 "metadata":{"name":"every-10s","namespace":"team"},
                 "spec":{"target":{"function":"hello"}}})");
  t["spec"].update(J(source));
  return t;
}
Json with(Json obj, const char* patch) {
  obj.merge_patch(J(patch));
  return obj;
}

// ------------------------------------------------------------------ Workflow

TEST(WorkflowKindTest, TableEntry) {
  const ResourceType& t = kind("Workflow");
  EXPECT_TRUE(t.namespaced);
  EXPECT_EQ(t.plural, "workflows");
  EXPECT_EQ(t.short_names, std::vector<std::string>{"wf"});
  EXPECT_TRUE(t.has_status);
  EXPECT_EQ(kind("WorkflowRun").short_names, std::vector<std::string>{"wfr"});
  EXPECT_EQ(kind("Trigger").plural, "triggers");
}

TEST(WorkflowKindTest, Defaults) {
  Json w = workflow();
  kind("Workflow").set_defaults(w);
  EXPECT_EQ(w["spec"]["maxSteps"], 1000);
  EXPECT_EQ(w["spec"]["timeoutSeconds"], 600);
  Json given = with(workflow(), R"({"spec":{"maxSteps":5,"timeoutSeconds":30}})");
  kind("Workflow").set_defaults(given);
  EXPECT_EQ(given["spec"]["maxSteps"], 5);
  EXPECT_EQ(given["spec"]["timeoutSeconds"], 30);
  // Never throws on odd shapes.
  Json odd = J(R"({"spec":7})");
  kind("Workflow").set_defaults(odd);
  EXPECT_EQ(odd["spec"], 7);
}

TEST(WorkflowKindTest, Validation) {
  EXPECT_TRUE(check("Workflow", workflow()).empty()) << dump(check("Workflow", workflow()));
  FieldErrors no_spec = check("Workflow", with(workflow(), R"({"spec":null})"));
  EXPECT_EQ(no_spec.size(), 2u) << dump(no_spec);
  EXPECT_ERROR(no_spec, "spec.startAt", "Required value");
  EXPECT_ERROR(no_spec, "spec.states", "Required value");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"startAt":null}})")), "spec.startAt",
                    "Required value");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"startAt":3}})")), "spec.startAt", "string");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"states":null}})")), "spec.states",
                    "Required value");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"states":[1]}})")), "spec.states", "");
  Json empty = workflow();
  empty["spec"]["states"] = Json::object();
  EXPECT_ONLY_ERROR(check("Workflow", empty), "spec.states", "at least one state");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"maxSteps":0}})")), "spec.maxSteps",
                    "between 1 and 1000000");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"timeoutSeconds":604801}})")),
                    "spec.timeoutSeconds", "between 1 and 604800");
  EXPECT_ONLY_ERROR(check("Workflow", with(workflow(), R"({"spec":{"maxSteps":"x"}})")), "spec.maxSteps", "");
  // The name is a label (runs carry it as a label value).
  EXPECT_ERROR(check("Workflow", with(workflow(), R"({"metadata":{"name":"a.b"}})")), "metadata.name", "");
  Json nospec = workflow();
  nospec.erase("spec");
  FieldErrors errs;
  kind("Workflow").validate(nospec, nullptr, errs);
  EXPECT_ONLY_ERROR(errs, "spec", "Required value");
}

TEST(WorkflowKindTest, Table) {
  const ResourceType& t = kind("Workflow");
  auto cols = t.table_columns();
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].name, "STATES");
  EXPECT_EQ(cols[1].name, "START");
  EXPECT_EQ(cols[2].name, "AGE");
  Json w = with(workflow(), R"({"spec":{"states":{"B":{"type":"Succeed"}}}})");
  Json cells = t.table_cells(w);
  EXPECT_EQ(cells[0], 2);
  EXPECT_EQ(cells[1], "A");
  EXPECT_EQ(cells[2], "<unknown>");
  EXPECT_EQ(t.table_cells(J("{}")), J(R"([0,"<none>","<unknown>"])"));
}

TEST(WorkflowKindTest, UnknownFieldsOutsideStates) {
  Json w = with(workflow(),
                R"({"spec":{"startAtt":"A","states":{"A":{"type":"Task","function":"f","anything":{"x":1}}}},
                    "status":{"whatever":1}})");
  std::vector<std::string> paths;
  kind("Workflow").unknown_fields(w, paths);
  EXPECT_EQ(paths, std::vector<std::string>{"spec.startAtt"});
}

// --------------------------------------------------------------- WorkflowRun

TEST(WorkflowRunKindTest, Defaults) {
  Json r = J(R"({"metadata":{"name":"r"},"spec":{"workflow":"w"}})");
  kind("WorkflowRun").set_defaults(r);
  EXPECT_EQ(r["spec"]["input"], Json::object());
  EXPECT_EQ(r["spec"]["cancel"], false);
  Json kept = run();
  kind("WorkflowRun").set_defaults(kept);
  EXPECT_EQ(kept["spec"]["input"], J(R"({"value":12})"));
}

TEST(WorkflowRunKindTest, Validation) {
  EXPECT_TRUE(check("WorkflowRun", run()).empty()) << dump(check("WorkflowRun", run()));
  // Any JSON input.
  EXPECT_TRUE(check("WorkflowRun", with(run(), R"({"spec":{"input":[1,"a",null]}})")).empty());
  EXPECT_TRUE(check("WorkflowRun", with(run(), R"({"spec":{"input":"text"}})")).empty());
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(run(), R"({"spec":{"workflow":null}})")), "spec.workflow",
                    "Required value");
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(run(), R"({"spec":{"workflow":"Bad_Name"}})")), "spec.workflow",
                    "Invalid value: \"Bad_Name\"");
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(run(), R"({"spec":{"workflow":7}})")), "spec.workflow", "");
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(run(), R"({"spec":{"cancel":"yes"}})")), "spec.cancel", "");
  Json big = run();
  big["spec"]["input"] = {{"data", std::string(1024 * 1024, 'x')}};
  EXPECT_ONLY_ERROR(check("WorkflowRun", big), "spec.input", "Too long: may not be more than 1048576 bytes");
  Json fits = run();
  fits["spec"]["input"] = std::string(1024 * 1024 - 2, 'x');  // + 2 quotes = 1 MiB
  EXPECT_TRUE(check("WorkflowRun", fits).empty()) << dump(check("WorkflowRun", fits));
}

TEST(WorkflowRunKindTest, UpdateRules) {
  Json old = run();
  kind("WorkflowRun").set_defaults(old);
  // Status-only and label changes pass; cancel false → true passes.
  Json status = with(old, R"({"status":{"phase":"Running"},"metadata":{"labels":{"a":"b"}}})");
  EXPECT_TRUE(check("WorkflowRun", status, &old).empty());
  Json cancel = with(old, R"({"spec":{"cancel":true}})");
  EXPECT_TRUE(check("WorkflowRun", cancel, &old).empty());
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(old, R"({"spec":{"workflow":"other"}})"), &old), "spec.workflow",
                    "field is immutable");
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(old, R"({"spec":{"input":{"value":13}}})"), &old), "spec.input",
                    "field is immutable");
  // An omitted input defaults to {}: a change too.
  Json dropped = old;
  dropped["spec"].erase("input");
  EXPECT_ONLY_ERROR(check("WorkflowRun", dropped, &old), "spec.input", "field is immutable");
  // true → false is refused; true → true (and an omitted cancel after true) too when it resets.
  Json cancelled = cancel;
  EXPECT_ONLY_ERROR(check("WorkflowRun", with(cancelled, R"({"spec":{"cancel":false}})"), &cancelled),
                    "spec.cancel", "may only change from false to true");
  Json omitted = cancelled;
  omitted["spec"].erase("cancel");
  EXPECT_ONLY_ERROR(check("WorkflowRun", omitted, &cancelled), "spec.cancel", "may only change");
  EXPECT_TRUE(check("WorkflowRun", cancelled, &cancelled).empty());
}

TEST(WorkflowRunKindTest, Table) {
  const ResourceType& t = kind("WorkflowRun");
  auto cols = t.table_columns();
  ASSERT_EQ(cols.size(), 5u);
  const char* names[] = {"WORKFLOW", "PHASE", "STEPS", "DURATION", "AGE"};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(cols[i].name, names[i]);
  Json r = run();
  EXPECT_EQ(t.table_cells(r), J(R"(["classify","Pending",0,"<none>","<unknown>"])"));
  r["status"] = J(R"({"phase":"Succeeded","startTime":"2026-12-07T10:00:00Z","completionTime":"2026-12-07T10:00:01.234Z",
                      "steps":[{"key":"A#0"},{"key":"B#0"}]})");
  EXPECT_EQ(t.table_cells(r), J(R"(["classify","Succeeded",2,"1.2s","<unknown>"])"));
  r["status"]["completionTime"] = "2026-12-07T10:03:04Z";
  EXPECT_EQ(t.table_cells(r)[3], "3m4s");
  r["status"]["completionTime"] = "2026-12-07T11:00:05Z";
  EXPECT_EQ(t.table_cells(r)[3], "1h0m5s");
  r["status"]["completionTime"] = "2026-12-07T10:00:12Z";
  EXPECT_EQ(t.table_cells(r)[3], "12s");
  // Running: now − start.
  r["status"].erase("completionTime");
  r["status"]["phase"] = "Running";
  r["status"]["startTime"] = format_rfc3339(real_clock().now() - std::chrono::seconds(125));
  std::string running = t.table_cells(r)[3].get<std::string>();
  EXPECT_TRUE(running == "2m5s" || running == "2m6s") << running;
}

TEST(WorkflowRunKindTest, UnknownFieldsOutsideFreeForm) {
  Json r = with(run(), R"({"spec":{"input":{"any":{"deep":[1]}},"inputt":1},
                           "status":{"output":{"x":1},"error":{"error":"E","cause":"c","state":"S"},
                                     "definition":{"startAt":"A"},
                                     "steps":[{"key":"A#0","input":{"q":1},"output":{"r":2},"bogus":1}]}})");
  std::vector<std::string> paths;
  kind("WorkflowRun").unknown_fields(r, paths);
  EXPECT_EQ(paths, (std::vector<std::string>{"spec.inputt", "status.steps[0].bogus"}));
}

// ------------------------------------------------------------------- Trigger

TEST(TriggerKindTest, Defaults) {
  Json t = trigger(R"({"fileChange":{"node":"n1","path":"/var/lib/drop"}})");
  kind("Trigger").set_defaults(t);
  EXPECT_EQ(t["spec"]["suspend"], false);
  EXPECT_EQ(t["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(t["spec"]["fileChange"]["events"], J(R"(["created","modified","deleted"])"));
  EXPECT_EQ(t["spec"]["fileChange"]["pattern"], "*");
  EXPECT_EQ(t["spec"]["fileChange"]["includeContent"], false);

  Json o = trigger(R"({"objectChange":{"apiVersion":"v1","kind":"ConfigMap"}})");
  o["spec"].erase("schedule");
  kind("Trigger").set_defaults(o);
  EXPECT_EQ(o["spec"]["objectChange"]["on"], J(R"(["added","modified","deleted"])"));
  EXPECT_EQ(o["spec"]["objectChange"]["namespace"], "team");
  // A cluster-scoped kind gets no namespace.
  Json n = trigger(R"({"objectChange":{"apiVersion":"v1","kind":"Node"}})");
  kind("Trigger").set_defaults(n);
  EXPECT_FALSE(n["spec"]["objectChange"].contains("namespace"));
  // Given values stay.
  Json given = trigger(R"({"objectChange":{"apiVersion":"v1","kind":"ConfigMap","namespace":"x","on":["added"]}})");
  kind("Trigger").set_defaults(given);
  EXPECT_EQ(given["spec"]["objectChange"]["namespace"], "x");
  EXPECT_EQ(given["spec"]["objectChange"]["on"], J(R"(["added"])"));
}

Json only(const char* source) {
  Json t = trigger();
  t["spec"].erase("schedule");
  t["spec"].update(J(source));
  return t;
}

TEST(TriggerKindTest, ValidSources) {
  for (const char* s : {R"({"schedule":"*/5 * * * *"})",
                        R"({"fileChange":{"node":"node1","path":"/var/lib/minik8s-drop","events":["created"],
                            "pattern":"*.png","includeContent":true}})",
                        R"x({"objectChange":{"apiVersion":"v1","kind":"ConfigMap","labelSelector":"app=x,tier in (a,b)",
                            "on":["deleted"]}})x",
                        R"({"objectChange":{"apiVersion":"v1","kind":"Node"}})",
                        R"({"objectChange":{"apiVersion":"apps/v1","kind":"Deployment","namespace":"other"}})"}) {
    FieldErrors errs = check("Trigger", only(s));
    EXPECT_TRUE(errs.empty()) << s << "\n" << dump(errs);
  }
  Json wf = only(R"({"schedule":"@hourly","target":{"function":null,"workflow":"classify"},"input":{"a":1},
                     "concurrencyPolicy":"Forbid","suspend":true})");
  EXPECT_TRUE(check("Trigger", wf).empty()) << dump(check("Trigger", wf));
}

TEST(TriggerKindTest, ExactlyOneSource) {
  Json none = trigger();
  none["spec"].erase("schedule");
  EXPECT_ONLY_ERROR(check("Trigger", none), "spec", "exactly one of spec.schedule, spec.fileChange and spec.objectChange");
  Json two = trigger(R"({"schedule":"@hourly","objectChange":{"apiVersion":"v1","kind":"ConfigMap"}})");
  EXPECT_ONLY_ERROR(check("Trigger", two), "spec.objectChange", "may not be specified with spec.schedule");
  EXPECT_ONLY_ERROR(check("Trigger", only(R"({"schedule":5})")), "spec.schedule", "");
  EXPECT_ONLY_ERROR(check("Trigger", only(R"({"fileChange":"x"})")), "spec.fileChange", "");
  Json long_schedule = trigger();
  long_schedule["spec"]["schedule"] = std::string(300, '*');
  EXPECT_ONLY_ERROR(check("Trigger", long_schedule), "spec.schedule", "Too long");
}

TEST(TriggerKindTest, Target) {
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"target":null}})")), "spec.target",
                    "Required value");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"target":{"function":null}}})")), "spec.target",
                    "Required value: one of spec.target.function and spec.target.workflow");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"target":{"workflow":"w"}}})")), "spec.target",
                    "may not specify more than one of function and workflow");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"target":{"function":"Hello!"}}})")),
                    "spec.target.function", "Invalid value: \"Hello!\"");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"target":{"function":null,"workflow":"a.b"}}})")),
                    "spec.target.workflow", "Invalid value: \"a.b\"");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"target":"hello"}})")), "spec.target", "");
}

TEST(TriggerKindTest, InputPolicyAndSuspend) {
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"input":[1]}})")), "spec.input",
                    "must be an object");
  Json big = trigger();
  big["spec"]["input"] = {{"data", std::string(1024 * 1024, 'x')}};
  EXPECT_ONLY_ERROR(check("Trigger", big), "spec.input", "Too long");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"concurrencyPolicy":"Replace"}})")),
                    "spec.concurrencyPolicy", "Unsupported value: \"Replace\": supported values: \"Allow\", \"Forbid\"");
  EXPECT_ONLY_ERROR(check("Trigger", with(trigger(), R"({"spec":{"suspend":"no"}})")), "spec.suspend", "");
}

TEST(TriggerKindTest, FileChangePath) {
  auto path_error = [](const std::string& path) {
    Json t = only(R"({"fileChange":{"node":"node1"}})");
    t["spec"]["fileChange"]["path"] = path;
    return check("Trigger", t);
  };
  EXPECT_TRUE(path_error("/var/lib/minik8s-drop").empty());
  EXPECT_TRUE(path_error("/a").empty());
  EXPECT_TRUE(path_error("/processed/x").empty());
  EXPECT_TRUE(path_error("/srv/a.b_c-d/..e").empty());
  struct Case {
    std::string path, why;
  } cases[] = {
      {"relative/dir", "must be an absolute path"},
      {"/", "may not be the root directory"},
      {"/var/lib/", "may not end in '/'"},
      {"/var//lib", "may not contain empty components"},
      {"/var/../etc", "may not contain '.' or '..' components"},
      {"/var/lib/..", "may not contain '.' or '..' components"},
      {"/var/./lib", "may not contain '.' or '..' components"},
      {"/proc", "may not be under /proc"},
      {"/proc/1/fd", "may not be under /proc"},
      {"/sys/kernel", "may not be under /sys"},
      {"/dev/shm", "may not be under /dev"},
      {"/tmp/a b", "may contain only letters"},
      {"/tmp/$(reboot)", "may contain only letters"},
      {"/tmp/a;b", "may contain only letters"},
      {"/tmp/\xc3\xa9", "may contain only letters"},
      {std::string("/tmp/a\0b", 8), "may contain only letters"},
      {"/tmp/a\nb", "may contain only letters"},
      {"/" + std::string(1024, 'a'), "must be no more than 1024 bytes"},
  };
  for (const auto& c : cases) {
    FieldErrors errs = path_error(c.path);
    EXPECT_EQ(errs.size(), 1u) << c.path << "\n" << dump(errs);
    EXPECT_TRUE(has_error(errs, "spec.fileChange.path", c.why)) << c.path << "\n" << dump(errs);
  }
  EXPECT_ONLY_ERROR(path_error(""), "spec.fileChange.path", "Required value");
  EXPECT_ONLY_ERROR(check("Trigger", only(R"({"fileChange":{"node":"node1","path":7}})")), "spec.fileChange.path", "");
  EXPECT_ONLY_ERROR(check("Trigger", only(R"({"fileChange":{"node":"node1"}})")), "spec.fileChange.path",
                    "Required value");
}

TEST(TriggerKindTest, FileChangeOtherFields) {
  auto fc = [](const char* extra) {
    Json t = only(R"({"fileChange":{"node":"node1","path":"/srv/drop"}})");
    t["spec"]["fileChange"].update(J(extra));
    return check("Trigger", t);
  };
  EXPECT_ONLY_ERROR(fc(R"({"node":null})"), "spec.fileChange.node", "Required value");
  EXPECT_ONLY_ERROR(fc(R"({"node":"Node_1"})"), "spec.fileChange.node", "Invalid value: \"Node_1\"");
  EXPECT_ONLY_ERROR(fc(R"({"events":["created","renamed"]})"), "spec.fileChange.events[1]",
                    "Unsupported value: \"renamed\": supported values: \"created\", \"modified\", \"deleted\"");
  EXPECT_ONLY_ERROR(fc(R"({"events":["created","created"]})"), "spec.fileChange.events[1]", "Duplicate value");
  EXPECT_ONLY_ERROR(fc(R"({"events":[]})"), "spec.fileChange.events", "Required value");
  EXPECT_ONLY_ERROR(fc(R"({"events":"created"})"), "spec.fileChange.events", "");
  EXPECT_ONLY_ERROR(fc(R"({"events":[1]})"), "spec.fileChange.events[0]", "Unsupported value: 1");
  EXPECT_TRUE(fc(R"({"pattern":"img-??.p*g"})").empty());
  EXPECT_ONLY_ERROR(fc(R"({"pattern":"a/b"})"), "spec.fileChange.pattern", "Invalid value: \"a/b\"");
  EXPECT_ONLY_ERROR(fc(R"({"pattern":"[ab]"})"), "spec.fileChange.pattern", "glob characters");
  EXPECT_ONLY_ERROR(fc(R"({"pattern":""})"), "spec.fileChange.pattern", "must not be empty");
  EXPECT_ONLY_ERROR(fc(R"({"includeContent":"yes"})"), "spec.fileChange.includeContent", "");
}

TEST(TriggerKindTest, ObjectChange) {
  auto oc = [](const char* extra) {
    Json t = only(R"({"objectChange":{"apiVersion":"v1","kind":"ConfigMap"}})");
    t["spec"]["objectChange"].update(J(extra));
    return check("Trigger", t);
  };
  EXPECT_ONLY_ERROR(oc(R"({"kind":"Gadget"})"), "spec.objectChange.kind",
                    "Invalid value: \"Gadget\": the server serves no kind Gadget in v1");
  EXPECT_ONLY_ERROR(oc(R"({"apiVersion":"apps/v1"})"), "spec.objectChange.kind", "no kind ConfigMap in apps/v1");
  EXPECT_ONLY_ERROR(oc(R"({"apiVersion":null})"), "spec.objectChange.apiVersion", "Required value");
  EXPECT_ONLY_ERROR(oc(R"({"kind":null})"), "spec.objectChange.kind", "Required value");
  EXPECT_ONLY_ERROR(oc(R"({"labelSelector":"app in (a"})"), "spec.objectChange.labelSelector",
                    "Invalid value: \"app in (a\"");
  EXPECT_ONLY_ERROR(oc(R"({"on":["updated"]})"), "spec.objectChange.on[0]",
                    "supported values: \"added\", \"modified\", \"deleted\"");
  EXPECT_ONLY_ERROR(oc(R"({"namespace":"*"})"), "spec.objectChange.namespace", "Invalid value: \"*\"");
  EXPECT_ONLY_ERROR(oc(R"({"namespace":""})"), "spec.objectChange.namespace", "Required value");
  EXPECT_ONLY_ERROR(oc(R"({"apiVersion":"v1","kind":"Node","namespace":"team"})"), "spec.objectChange.namespace",
                    "Forbidden: Node is not namespaced");
  // Kinds its own firings change.
  EXPECT_ONLY_ERROR(oc(R"({"kind":"Event"})"), "spec.objectChange.kind", "Forbidden: a trigger may not watch Events");
  EXPECT_ONLY_ERROR(oc(R"({"apiVersion":"serverless.minik8s.io/v1","kind":"Trigger"})"), "spec.objectChange.kind",
                    "may not watch Triggers");
  EXPECT_TRUE(oc(R"({"apiVersion":"serverless.minik8s.io/v1","kind":"WorkflowRun"})").empty());
  Json loop = only(R"({"objectChange":{"apiVersion":"serverless.minik8s.io/v1","kind":"WorkflowRun"},
                       "target":{"function":null,"workflow":"w"}})");
  EXPECT_ONLY_ERROR(check("Trigger", loop), "spec.objectChange.kind",
                    "may not watch WorkflowRuns when its target is a workflow");
}

TEST(TriggerKindTest, Table) {
  const ResourceType& t = kind("Trigger");
  auto cols = t.table_columns();
  ASSERT_EQ(cols.size(), 4u);
  const char* names[] = {"TYPE", "TARGET", "LAST FIRED", "FIRINGS"};
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(cols[i].name, names[i]);
  EXPECT_EQ(t.table_cells(trigger()), J(R"(["schedule","function/hello","<none>",0])"));
  Json fired = only(R"({"fileChange":{"node":"n","path":"/srv"},"target":{"function":null,"workflow":"classify"}})");
  fired["status"] = {{"lastFired", format_rfc3339(real_clock().now() - std::chrono::seconds(90))}, {"firings", 3}};
  Json cells = t.table_cells(fired);
  EXPECT_EQ(cells[0], "fileChange");
  EXPECT_EQ(cells[1], "workflow/classify");
  EXPECT_TRUE(cells[2] == "90s" || cells[2] == "91s" || cells[2] == "1m30s" || cells[2] == "1m31s") << cells[2];
  EXPECT_EQ(cells[3], 3);
  EXPECT_EQ(t.table_cells(only(R"({"objectChange":{}})"))[0], "objectChange");
}

TEST(TriggerKindTest, UnknownFields) {
  Json t = with(trigger(), R"({"spec":{"input":{"free":{"form":1}},"schedul":"x","target":{"fn":"a"}},
                               "status":{"lastResult":{"result":"ok","id":"r"},"firings":1}})");
  std::vector<std::string> paths;
  kind("Trigger").unknown_fields(t, paths);
  EXPECT_EQ(paths, (std::vector<std::string>{"spec.schedul", "spec.target.fn"}));
}

}  // namespace
}  // namespace minik8s::api
