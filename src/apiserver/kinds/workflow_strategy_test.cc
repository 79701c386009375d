// Workflow, WorkflowRun and Trigger through the real handler (in-process
// requests): the state machine check, a run's Workflow (existence, label,
// ownerReference), run immutability, schedules, Tables, Strict field
// validation and discovery. Every refused write changes nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/apiserver/apiserver.h"
#include "test/fakes/local_api_test.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

const std::string kGroup = "/apis/serverless.minik8s.io/v1";
const std::string kWorkflows = kGroup + "/namespaces/default/workflows";
const std::string kRuns = kGroup + "/namespaces/default/workflowruns";
const std::string kTriggers = kGroup + "/namespaces/default/triggers";
const std::string kTable = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const std::string kMerge = "application/merge-patch+json";

json workflow(const std::string& name, json states = nullptr) {
  if (states.is_null()) {
    states = {{"Measure", {{"type", "Task"}, {"function", "measure"}, {"next", "Done"}}},
              {"Done", {{"type", "Succeed"}}}};
  }
  return {{"apiVersion", "serverless.minik8s.io/v1"},
          {"kind", "Workflow"},
          {"metadata", {{"name", name}}},
          {"spec", {{"startAt", "Measure"}, {"states", states}}}};
}

json run(const std::string& workflow_name, json input = nullptr) {
  json r = {{"apiVersion", "serverless.minik8s.io/v1"},
            {"kind", "WorkflowRun"},
            {"metadata", {{"generateName", workflow_name + "-"}}},
            {"spec", {{"workflow", workflow_name}}}};
  if (!input.is_null()) r["spec"]["input"] = input;
  return r;
}

json trigger(const std::string& name, const std::string& schedule) {
  return {{"apiVersion", "serverless.minik8s.io/v1"},
          {"kind", "Trigger"},
          {"metadata", {{"name", name}}},
          {"spec", {{"target", {{"function", "hello"}}}, {"schedule", schedule}}}};
}

class WorkflowKindsTest : public testing::LocalApiTest {
 protected:
  // A 422 whose only cause is on `field` with a message containing `msg`.
  json invalid(const std::string& method, const std::string& target, const json& body, const std::string& field,
               const std::string& msg, const std::string& content_type = "application/json") {
    LocalResponse r = call(method, target, body, content_type);
    EXPECT_EQ(r.code, 422) << r.body;
    json st = json::parse(r.body, nullptr, false);
    EXPECT_EQ(st["reason"], "Invalid") << r.body;
    const json& causes = st["details"]["causes"];
    EXPECT_EQ(causes.size(), 1u) << r.body;
    if (causes.size() == 1) {
      EXPECT_EQ(causes[0]["field"], field) << r.body;
      EXPECT_NE(causes[0]["message"].get<std::string>().find(msg), std::string::npos) << r.body;
    }
    return st;
  }
  size_t count(const std::string& collection) {
    return ok("GET", collection)["items"].size();
  }
  json table(const std::string& target) {
    LocalResponse r = call("GET", target, nullptr, "application/json", kTable);
    EXPECT_EQ(r.code, 200) << r.body;
    json t = json::parse(r.body, nullptr, false);
    EXPECT_EQ(t["kind"], "Table") << r.body;
    return t;
  }

};

TEST_F(WorkflowKindsTest, WorkflowCreatedWithDefaultsAndTable) {
  json w = ok("POST", kWorkflows, workflow("classify"));
  EXPECT_EQ(w["spec"]["maxSteps"], 1000);
  EXPECT_EQ(w["spec"]["timeoutSeconds"], 600);
  json t = table(kWorkflows);
  std::vector<std::string> cols;
  for (const auto& c : t["columnDefinitions"]) cols.push_back(c["name"]);
  EXPECT_EQ(cols, (std::vector<std::string>{"NAME", "STATES", "START", "AGE"}));
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"][0], "classify");
  EXPECT_EQ(t["rows"][0]["cells"][1], 2);
  EXPECT_EQ(t["rows"][0]["cells"][2], "Measure");
}

TEST_F(WorkflowKindsTest, InvalidStateMachineIsRefusedNamingTheField) {
  json bad = workflow("classify", {{"Measure", {{"type", "Task"}, {"function", "measure"}, {"next", "Nowhere"}}}});
  LocalResponse r = call("POST", kWorkflows, bad);
  ASSERT_EQ(r.code, 422) << r.body;
  json st = json::parse(r.body);
  ASSERT_EQ(st["details"]["causes"].size(), 1u) << r.body;
  std::string field = st["details"]["causes"][0]["field"];
  EXPECT_EQ(field.rfind("spec.states.Measure", 0), 0u) << r.body;
  EXPECT_NE(r.body.find("Nowhere"), std::string::npos) << r.body;
  EXPECT_EQ(count(kWorkflows), 0u);

  // Update: the stored Workflow stays as it was.
  json w = ok("POST", kWorkflows, workflow("classify"));
  json changed = w;
  changed["spec"]["startAt"] = "Missing";
  r = call("PUT", kWorkflows + "/classify", changed);
  EXPECT_EQ(r.code, 422) << r.body;
  EXPECT_NE(r.body.find("Missing"), std::string::npos) << r.body;
  json now = ok("GET", kWorkflows + "/classify");
  EXPECT_EQ(now["spec"]["startAt"], "Measure");
  EXPECT_EQ(now["metadata"]["resourceVersion"], w["metadata"]["resourceVersion"]);
  // A status write of a Workflow is not re-checked (and passes).
  ok("PATCH", kWorkflows + "/classify/status", {{"status", {{"runs", 1}}}}, kMerge);
  // Table-level errors come before the machine: shape errors name their field.
  invalid("POST", kWorkflows, workflow("other", json::object()), "spec.states", "at least one state");
}

TEST_F(WorkflowKindsTest, RunGetsLabelAndOwnerReference) {
  json w = ok("POST", kWorkflows, workflow("classify"));
  json r = ok("POST", kRuns, run("classify", {{"value", 12}}));
  std::string name = r["metadata"]["name"];
  EXPECT_EQ(name.rfind("classify-", 0), 0u);
  EXPECT_EQ(r["metadata"]["labels"]["serverless.minik8s.io/workflow"], "classify");
  ASSERT_EQ(r["metadata"]["ownerReferences"].size(), 1u) << r.dump();
  const json& ref = r["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["apiVersion"], "serverless.minik8s.io/v1");
  EXPECT_EQ(ref["kind"], "Workflow");
  EXPECT_EQ(ref["name"], "classify");
  EXPECT_EQ(ref["uid"], w["metadata"]["uid"]);
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
  EXPECT_EQ(r["spec"]["input"], json({{"value", 12}}));
  EXPECT_EQ(r["spec"]["cancel"], false);
  EXPECT_EQ(r["status"], json::object());

  // The label selects the runs of a workflow.
  json list = ok("GET", kRuns + "?labelSelector=serverless.minik8s.io%2Fworkflow%3Dclassify");
  EXPECT_EQ(list["items"].size(), 1u);
  // A client's own reference to a Workflow is replaced by the real one; others stay.
  json mine = run("classify");
  mine["metadata"]["ownerReferences"] = {
      {{"apiVersion", "serverless.minik8s.io/v1"}, {"kind", "Workflow"}, {"name", "classify"}, {"uid", "fake"}},
      {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "cm"}, {"uid", "u1"}}};
  json r2 = ok("POST", kRuns, mine);
  ASSERT_EQ(r2["metadata"]["ownerReferences"].size(), 2u) << r2.dump();
  EXPECT_EQ(r2["metadata"]["ownerReferences"][0]["kind"], "ConfigMap");
  EXPECT_EQ(r2["metadata"]["ownerReferences"][1]["uid"], w["metadata"]["uid"]);
}

TEST_F(WorkflowKindsTest, RunOfAMissingWorkflowIsRefused) {
  invalid("POST", kRuns, run("nothere"), "spec.workflow", "Not found: \"nothere\"");
  // Another namespace's Workflow does not count.
  ok("POST", "/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "other"}}}});
  ok("POST", kGroup + "/namespaces/other/workflows", workflow("classify"));
  invalid("POST", kRuns, run("classify"), "spec.workflow", "Not found");
  json bad_name = run("Bad_Name");
  bad_name["metadata"] = {{"name", "r1"}};
  invalid("POST", kRuns, bad_name, "spec.workflow", "Invalid value");
  EXPECT_EQ(count(kRuns), 0u);
  // Dry run checks the same.
  invalid("POST", kRuns + "?dryRun=All", run("nothere"), "spec.workflow", "Not found");
}

TEST_F(WorkflowKindsTest, RunSpecIsImmutableButCancel) {
  ok("POST", kWorkflows, workflow("classify"));
  ok("POST", kWorkflows, workflow("other"));
  json r = ok("POST", kRuns, run("classify", {{"value", 1}}));
  const std::string path = kRuns + "/" + r["metadata"]["name"].get<std::string>();
  invalid("PATCH", path, {{"spec", {{"workflow", "other"}}}}, "spec.workflow", "field is immutable", kMerge);
  invalid("PATCH", path, {{"spec", {{"input", {{"value", 2}}}}}}, "spec.input", "field is immutable", kMerge);
  json same = ok("GET", path);
  EXPECT_EQ(same["metadata"]["resourceVersion"], r["metadata"]["resourceVersion"]);
  EXPECT_EQ(same["spec"], r["spec"]);
  // Status writes leave the spec alone and pass.
  ok("PATCH", path + "/status", {{"status", {{"phase", "Running"}, {"steps", json::array()}}}}, kMerge);
  json cancelled = ok("PATCH", path, {{"spec", {{"cancel", true}}}}, kMerge);
  EXPECT_EQ(cancelled["spec"]["cancel"], true);
  invalid("PATCH", path, {{"spec", {{"cancel", false}}}}, "spec.cancel", "may only change from false to true",
          kMerge);
  EXPECT_EQ(ok("GET", path)["spec"]["cancel"], true);
}

TEST_F(WorkflowKindsTest, RunTable) {
  ok("POST", kWorkflows, workflow("classify"));
  json r = ok("POST", kRuns, run("classify"));
  const std::string path = kRuns + "/" + r["metadata"]["name"].get<std::string>();
  json t = table(kRuns);
  std::vector<std::string> cols;
  for (const auto& c : t["columnDefinitions"]) cols.push_back(c["name"]);
  EXPECT_EQ(cols, (std::vector<std::string>{"NAME", "WORKFLOW", "PHASE", "STEPS", "DURATION", "AGE"}));
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"][1], "classify");
  EXPECT_EQ(t["rows"][0]["cells"][2], "Pending");
  ok("PATCH", path + "/status",
     {{"status",
       {{"phase", "Succeeded"},
        {"startTime", "2026-12-07T10:00:00Z"},
        {"completionTime", "2026-12-07T10:03:04Z"},
        {"steps", {{{"key", "Measure#0"}, {"status", "Succeeded"}}, {{"key", "Done#0"}, {"status", "Succeeded"}}}}}}},
     kMerge);
  t = table(path);
  EXPECT_EQ(t["rows"][0]["cells"][2], "Succeeded");
  EXPECT_EQ(t["rows"][0]["cells"][3], 2);
  EXPECT_EQ(t["rows"][0]["cells"][4], "3m4s");
}

TEST_F(WorkflowKindsTest, TriggerScheduleIsParsed) {
  json t = ok("POST", kTriggers, trigger("every-10s", "@every 10s"));
  EXPECT_EQ(t["spec"]["suspend"], false);
  EXPECT_EQ(t["spec"]["concurrencyPolicy"], "Allow");
  invalid("POST", kTriggers, trigger("bad", "61 * * * *"), "spec.schedule", "minute field \"61\"");
  invalid("POST", kTriggers, trigger("bad", "@every 10parsecs"), "spec.schedule", "unknown unit \"parsecs\"");
  invalid("POST", kTriggers, trigger("bad", "* * *"), "spec.schedule", "expected 5 fields");
  EXPECT_EQ(count(kTriggers), 1u);
  // An update to a bad schedule changes nothing.
  invalid("PATCH", kTriggers + "/every-10s", {{"spec", {{"schedule", "*/0 * * * *"}}}}, "spec.schedule",
          "step \"0\"", kMerge);
  json now = ok("GET", kTriggers + "/every-10s");
  EXPECT_EQ(now["spec"]["schedule"], "@every 10s");
  EXPECT_EQ(now["metadata"]["resourceVersion"], t["metadata"]["resourceVersion"]);
  ok("PATCH", kTriggers + "/every-10s", {{"spec", {{"schedule", "*/5 * * * mon-fri"}}}}, kMerge);
}

TEST_F(WorkflowKindsTest, TriggerSourcesAndTable) {
  json fc = trigger("drop", "");
  fc["spec"].erase("schedule");
  fc["spec"]["fileChange"] = {{"node", "node1"}, {"path", "/var/lib/minik8s-drop"}, {"pattern", "*.png"}};
  fc["spec"]["target"] = {{"workflow", "classify"}};
  json created = ok("POST", kTriggers, fc);
  EXPECT_EQ(created["spec"]["fileChange"]["events"], json({"created", "modified", "deleted"}));
  json oc = trigger("cm", "");
  oc["spec"].erase("schedule");
  oc["spec"]["objectChange"] = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"labelSelector", "app=x"}};
  created = ok("POST", kTriggers, oc);
  EXPECT_EQ(created["spec"]["objectChange"]["namespace"], "default");

  json escape = fc;
  escape["metadata"]["name"] = "escape";
  escape["spec"]["fileChange"]["path"] = "/var/lib/../../etc";
  invalid("POST", kTriggers, escape, "spec.fileChange.path", "'..'");
  json both = oc;
  both["metadata"]["name"] = "both";
  both["spec"]["schedule"] = "@hourly";
  invalid("POST", kTriggers, both, "spec.objectChange", "may not be specified with spec.schedule");
  json unknown_kind = oc;
  unknown_kind["metadata"]["name"] = "gadget";
  unknown_kind["spec"]["objectChange"]["kind"] = "Gadget";
  invalid("POST", kTriggers, unknown_kind, "spec.objectChange.kind", "Gadget");
  EXPECT_EQ(count(kTriggers), 2u);

  ok("PATCH", kTriggers + "/drop/status", {{"status", {{"firings", 3}, {"lastFired", "2026-12-07T10:00:00Z"}}}},
     kMerge);
  json t = table(kTriggers);
  std::vector<std::string> cols;
  for (const auto& c : t["columnDefinitions"]) cols.push_back(c["name"]);
  EXPECT_EQ(cols, (std::vector<std::string>{"NAME", "TYPE", "TARGET", "LAST FIRED", "FIRINGS"}));
  ASSERT_EQ(t["rows"].size(), 2u);
  EXPECT_EQ(t["rows"][0]["cells"][0], "cm");
  EXPECT_EQ(t["rows"][0]["cells"][1], "objectChange");
  EXPECT_EQ(t["rows"][0]["cells"][2], "function/hello");
  EXPECT_EQ(t["rows"][0]["cells"][3], "<none>");
  EXPECT_EQ(t["rows"][1]["cells"][1], "fileChange");
  EXPECT_EQ(t["rows"][1]["cells"][2], "workflow/classify");
  EXPECT_EQ(t["rows"][1]["cells"][4], 3);
}

TEST_F(WorkflowKindsTest, StrictFieldValidationKeepsFreeFormJson) {
  json w = workflow("classify");
  w["spec"]["states"]["Measure"]["retry"] = {{"maxAttempts", 3}};
  LocalResponse r = call("POST", kWorkflows + "?fieldValidation=Strict", w);
  EXPECT_EQ(r.code, 201) << r.body;
  json typo = workflow("typo");
  typo["spec"]["startat"] = "Measure";
  r = call("POST", kWorkflows + "?fieldValidation=Strict", typo);
  EXPECT_EQ(r.code, 400) << r.body;
  EXPECT_NE(r.body.find("unknown field \\\"spec.startat\\\""), std::string::npos) << r.body;
  json rr = run("classify", {{"anything", {{"deep", {1, 2}}}}});
  r = call("POST", kRuns + "?fieldValidation=Strict", rr);
  EXPECT_EQ(r.code, 201) << r.body;
  json tt = trigger("t", "@daily");
  tt["spec"]["input"] = {{"free", "form"}};
  tt["spec"]["target"]["fn"] = "x";
  r = call("POST", kTriggers + "?fieldValidation=Strict", tt);
  EXPECT_EQ(r.code, 400) << r.body;
  EXPECT_NE(r.body.find("spec.target.fn"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("spec.input"), std::string::npos) << r.body;
}

TEST_F(WorkflowKindsTest, Discovery) {
  json res = ok("GET", kGroup);
  std::map<std::string, json> by_name;
  for (const auto& e : res["resources"]) by_name[e["name"]] = e;
  for (const char* n : {"workflows", "workflowruns", "triggers", "workflows/status", "workflowruns/status",
                        "triggers/status"}) {
    EXPECT_TRUE(by_name.count(n)) << n << " " << res.dump();
  }
  EXPECT_EQ(by_name["workflows"]["shortNames"], json({"wf"}));
  EXPECT_EQ(by_name["workflowruns"]["shortNames"], json({"wfr"}));
  EXPECT_EQ(by_name["triggers"]["kind"], "Trigger");
}

}  // namespace
}  // namespace minik8s::apiserver
