// mkctl workflow … in-process against a real ApiServer. No executor runs
// here: the test writes each run's status through the status subresource,
// as the WorkflowController would, and checks what the CLI makes of it
// (run --wait exit codes and output, runs table, describe run step table).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "minik8s/cli/mkctl.h"
#include "test/fakes/eventually.h"
#include "test/fakes/local_api.h"

namespace minik8s::cli {
namespace {

using Json = nlohmann::json;
using minik8s::testing::eventually;

const std::string kWfPath = "/apis/serverless.minik8s.io/v1/namespaces/default/workflows";
const std::string kRunPath = "/apis/serverless.minik8s.io/v1/namespaces/default/workflowruns";

const char* kClassifyYaml = R"(apiVersion: serverless.minik8s.io/v1
kind: Workflow
metadata: {name: classify}
spec:
  startAt: Measure
  timeoutSeconds: 60
  states:
    Measure: {type: Task, function: measure, next: Route}
    Route:
      type: Choice
      choices:
      - {variable: $.value, op: ">", value: 10, next: Big}
      default: Small
    Big: {type: Task, function: tag-big, end: true}
    Small: {type: Task, function: tag-small, end: true}
)";

struct CliRun {
  int rc;
  std::string out, err;
};

class WorkflowCliTest : public testing::ApiServerFixture {
 protected:
  CliRun mkctl(std::vector<std::string> args, const std::string& in_text = "") {
    args.insert(args.begin(), {"--server", local_.url()});
    std::ostringstream out, err;
    std::istringstream in(in_text);
    int rc = run_mkctl(args, out, err, in);
    return {rc, out.str(), err.str()};
  }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir() / name;
    std::ofstream(p) << text;
    return p.string();
  }
  void create_classify() {
    auto r = mkctl({"wf", "create", "-f", write("classify.yaml", kClassifyYaml)});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  std::vector<Json> runs() {
    Json list = req("GET", kRunPath).j();
    std::vector<Json> out;
    if (list.contains("items"))
      for (auto& i : list["items"]) out.push_back(i);
    return out;
  }
  // Writes status as the executor would (the status subresource).
  void set_status(const std::string& run, const Json& status) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      Json obj = req("GET", kRunPath + "/" + run).j();
      obj["status"] = status;
      auto r = req("PUT", kRunPath + "/" + run + "/status", obj.dump());
      if (r.code == 409) continue;
      ASSERT_EQ(r.code, 200) << r.body;
      return;
    }
    FAIL() << "status of " << run << " kept conflicting";
  }
  // Starts `mkctl wf run classify … --wait` on a thread, waits for the run it
  // creates to appear, and returns (run name, future of the CLI's result).
  std::pair<std::string, std::future<CliRun>> start_waiting(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"wf", "run", "classify", "--wait"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto fut = std::async(std::launch::async, [this, args] { return mkctl(args); });
    std::string name;
    EXPECT_TRUE(eventually(
        [&] {
          auto rs = runs();
          if (rs.empty()) return false;
          name = rs[0]["metadata"]["name"];
          return true;
        },
        std::chrono::seconds(10)));
    return {name, std::move(fut)};
  }
  static Json step(const std::string& key, const std::string& state, const std::string& fn,
                   const std::string& status, double ms, int attempt = 1) {
    Json s = {{"key", key},         {"state", state},   {"type", fn.empty() ? "Choice" : "Task"},
              {"attempt", attempt}, {"status", status}, {"startTime", "2026-12-07T15:00:00Z"},
              {"durationMs", ms}};
    if (!fn.empty()) {
      s["function"] = fn;
      s["instance"] = fn + "-pod-1";
    }
    return s;
  }
};

TEST_F(WorkflowCliTest, CreateGetDescribeApplyDelete) {
  std::string file = write("classify.yaml", kClassifyYaml);
  auto c = mkctl({"wf", "create", "-f", file});
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(c.out, "workflow.serverless.minik8s.io/classify created\n");
  auto dup = mkctl({"workflow", "create", "-f", file});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.err.rfind("Error from server (AlreadyExists): ", 0), 0u) << dup.err;

  auto g = mkctl({"wf", "get"});
  ASSERT_EQ(g.rc, 0) << g.err;
  std::istringstream lines(g.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(header.rfind("NAME", 0), 0u) << g.out;
  EXPECT_NE(header.find("STATES"), std::string::npos) << g.out;
  EXPECT_NE(header.find("START"), std::string::npos) << g.out;
  EXPECT_EQ(row.rfind("classify ", 0), 0u) << g.out;
  EXPECT_NE(row.find(" 4 "), std::string::npos) << g.out;
  EXPECT_NE(row.find(" Measure "), std::string::npos) << g.out;
  auto y = mkctl({"wf", "get", "classify", "-o", "json"});
  ASSERT_EQ(y.rc, 0) << y.err;
  EXPECT_EQ(Json::parse(y.out)["spec"]["states"]["Big"]["function"], "tag-big");

  auto d = mkctl({"wf", "describe", "classify"});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_NE(d.out.find("State Machine:\n"
                       "  Measure (Task) function: measure -> Route\n"
                       "  Route (Choice)\n"
                       "    if $.value > 10 -> Big\n"
                       "    otherwise -> Small\n"
                       "  Big (Task) function: tag-big (end)\n"
                       "  Small (Task) function: tag-small (end)\n"),
            std::string::npos)
      << d.out;

  auto same = mkctl({"wf", "apply", "-f", file});
  ASSERT_EQ(same.rc, 0) << same.err;
  EXPECT_EQ(same.out, "workflow.serverless.minik8s.io/classify unchanged\n");
  std::string changed = kClassifyYaml;
  changed.replace(changed.find("timeoutSeconds: 60"), 18, "timeoutSeconds: 90");
  auto ap = mkctl({"wf", "apply", "-f", write("c2.yaml", changed)});
  ASSERT_EQ(ap.rc, 0) << ap.err;
  EXPECT_EQ(ap.out, "workflow.serverless.minik8s.io/classify configured\n");
  EXPECT_EQ(req("GET", kWfPath + "/classify").j()["spec"]["timeoutSeconds"], 90);
  // apply from JSON on stdin creates a new one.
  Json j = {{"metadata", {{"name", "tiny"}}},
            {"spec", {{"startAt", "P"}, {"states", {{"P", {{"type", "Pass"}, {"end", true}}}}}}}};
  auto fromstdin = mkctl({"wf", "apply", "-f", "-"}, j.dump());
  ASSERT_EQ(fromstdin.rc, 0) << fromstdin.err;
  EXPECT_EQ(fromstdin.out, "workflow.serverless.minik8s.io/tiny created\n");

  auto del = mkctl({"wf", "delete", "tiny"});
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out, "workflow.serverless.minik8s.io \"tiny\" deleted\n");
  auto gone = mkctl({"wf", "describe", "tiny"});
  EXPECT_EQ(gone.rc, 1);
  EXPECT_EQ(gone.err.rfind("Error from server (NotFound): ", 0), 0u) << gone.err;
}

TEST_F(WorkflowCliTest, BadFilesAreRefusedBeforeAnythingIsSent) {
  auto missing = mkctl({"wf", "create", "-f", (dir() / "nope.yaml").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  auto two = mkctl({"wf", "create", "-f",
                    write("two.yaml", std::string(kClassifyYaml) + "---\n" + kClassifyYaml)});
  EXPECT_EQ(two.rc, 1);
  EXPECT_NE(two.err.find("expected one Workflow, found 2 documents"), std::string::npos) << two.err;
  auto kind = mkctl(
      {"wf", "create", "-f", write("fn.yaml", "kind: Function\nmetadata: {name: x}\nspec: {}\n")});
  EXPECT_EQ(kind.rc, 1);
  EXPECT_NE(kind.err.find("kind is \"Function\", not Workflow"), std::string::npos) << kind.err;
  auto noname =
      mkctl({"wf", "create", "-f", write("nn.yaml", "kind: Workflow\nspec: {startAt: A}\n")});
  EXPECT_EQ(noname.rc, 1);
  EXPECT_NE(noname.err.find("metadata.name: Required value"), std::string::npos) << noname.err;
  auto garbage = mkctl({"wf", "create", "-f", write("g.yaml", "{{{: [")});
  EXPECT_EQ(garbage.rc, 1);
  EXPECT_EQ(garbage.err.rfind("error: error parsing ", 0), 0u) << garbage.err;
  EXPECT_TRUE(req("GET", kWfPath).j()["items"].empty());
  auto noargs = mkctl({"wf", "describe", "a", "b"});
  EXPECT_EQ(noargs.rc, 1);
  EXPECT_NE(noargs.err.find("describe takes NAME or \"run RUN\""), std::string::npos) << noargs.err;
}

TEST_F(WorkflowCliTest, RunCreatesARunWithInputAndLabel) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto r = mkctl({"wf", "run", "classify", "-d", R"({"value": 12, "text": "héllo"})"});
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(r.out.rfind("classify-", 0), 0u) << r.out;
  std::string name = r.out.substr(0, r.out.size() - 1);
  Json run = req("GET", kRunPath + "/" + name).j();
  EXPECT_EQ(run["spec"]["workflow"], "classify");
  EXPECT_EQ(run["spec"]["input"], Json::parse(R"({"value": 12, "text": "héllo"})"));
  EXPECT_EQ(run["metadata"]["labels"]["serverless.minik8s.io/workflow"], "classify");

  auto f = mkctl({"wf", "run", "classify", "-d", "@" + write("in.json", "[1, 2]")});
  ASSERT_EQ(f.rc, 0) << f.err;
  EXPECT_EQ(req("GET", kRunPath + "/" + f.out.substr(0, f.out.size() - 1)).j()["spec"]["input"],
            Json::parse("[1, 2]"));
  auto s = mkctl({"wf", "run", "classify", "-d", "@-"}, R"({"from": "stdin"})");
  ASSERT_EQ(s.rc, 0) << s.err;
  auto none = mkctl({"wf", "run", "classify"});
  ASSERT_EQ(none.rc, 0) << none.err;
  EXPECT_EQ(
      req("GET", kRunPath + "/" + none.out.substr(0, none.out.size() - 1)).j()["spec"]["input"],
      Json::object());
  EXPECT_EQ(runs().size(), 4u);

  auto bad = mkctl({"wf", "run", "classify", "-d", "{nope"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(bad.err.rfind("error: -d is not valid JSON: ", 0), 0u) << bad.err;
  auto badfile = mkctl({"wf", "run", "classify", "-d", "@/nonexistent/x.json"});
  EXPECT_EQ(badfile.rc, 1);
  EXPECT_NE(badfile.err.find("does not exist"), std::string::npos) << badfile.err;
  auto badtimeout = mkctl({"wf", "run", "classify", "--wait", "--timeout", "soon"});
  EXPECT_EQ(badtimeout.rc, 1);
  EXPECT_EQ(badtimeout.err.rfind("error: invalid --timeout \"soon\"", 0), 0u) << badtimeout.err;
  auto unknown = mkctl({"wf", "run", "nosuch"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_EQ(unknown.err.rfind("Error from server (NotFound): ", 0), 0u) << unknown.err;
  EXPECT_EQ(runs().size(), 4u);  // none of the refused ones created a run
}

TEST_F(WorkflowCliTest, WaitPrintsTheOutputOfASucceededRun) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto [name, fut] = start_waiting({"-d", R"({"text": "hello world!"})"});
  ASSERT_FALSE(name.empty());
  // Running with one step, then Succeeded: --wait returns only at the end.
  set_status(name,
             {{"phase", "Running"},
              {"startTime", "2026-12-07T15:00:00Z"},
              {"steps", Json::array({step("Measure#0", "Measure", "measure", "Running", 0)})}});
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  set_status(name, {{"phase", "Succeeded"},
                    {"startTime", "2026-12-07T15:00:00Z"},
                    {"completionTime", "2026-12-07T15:00:01Z"},
                    {"output", {{"tag", "big"}, {"value", 12}}}});
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  CliRun r = fut.get();
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\"tag\":\"big\",\"value\":12}\n");
  EXPECT_EQ(r.err, "workflowrun.serverless.minik8s.io/" + name + " created\n");
}

TEST_F(WorkflowCliTest, WaitExitsOneOnFailedWithStateErrorAndCause) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto [name, fut] = start_waiting();
  ASSERT_FALSE(name.empty());
  set_status(name, {{"phase", "Failed"},
                    {"startTime", "2026-12-07T15:00:00Z"},
                    {"completionTime", "2026-12-07T15:00:02Z"},
                    {"error",
                     {{"error", "States.TaskFailed"},
                      {"cause", "ZeroDivisionError: division by zero"},
                      {"state", "Small"}}}});
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  CliRun r = fut.get();
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("error: workflowrun.serverless.minik8s.io/" + name +
                       " Failed\n"
                       "  state: Small\n"
                       "  error: States.TaskFailed\n"
                       "  cause: ZeroDivisionError: division by zero\n"),
            std::string::npos)
      << r.err;
}

TEST_F(WorkflowCliTest, CancelSetsSpecCancelAndWaitExitsOneOnCancelled) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto [name, fut] = start_waiting();
  ASSERT_FALSE(name.empty());
  set_status(name, {{"phase", "Running"}, {"startTime", "2026-12-07T15:00:00Z"}});
  auto c = mkctl({"wf", "cancel", name});
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(c.out, "workflowrun.serverless.minik8s.io/" + name + " cancel requested\n");
  EXPECT_EQ(req("GET", kRunPath + "/" + name).j()["spec"]["cancel"], true);
  set_status(name,
             {{"phase", "Cancelled"},
              {"startTime", "2026-12-07T15:00:00Z"},
              {"completionTime", "2026-12-07T15:00:03Z"},
              {"error", {{"error", "States.Cancelled"}, {"cause", "cancelled by the user"}}}});
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  CliRun r = fut.get();
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(name + " Cancelled\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("  cause: cancelled by the user\n"), std::string::npos) << r.err;
  auto again = mkctl({"wf", "cancel", name});
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_EQ(again.out, "workflowrun.serverless.minik8s.io/" + name + " already Cancelled\n");
  auto nosuch = mkctl({"wf", "cancel", "classify-nope"});
  EXPECT_EQ(nosuch.rc, 1);
  EXPECT_EQ(nosuch.err.rfind("Error from server (NotFound): ", 0), 0u) << nosuch.err;
}

TEST_F(WorkflowCliTest, WaitTimesOutWithExitOne) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto t0 = std::chrono::steady_clock::now();
  auto r = mkctl({"wf", "run", "classify", "--wait", "--timeout", "1500ms"});
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(
      r.err.find(
          "error: timed out after 1.5s waiting for workflowrun.serverless.minik8s.io/classify-"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("(phase Pending)"), std::string::npos) << r.err;
  EXPECT_GE(took, std::chrono::milliseconds(1400));
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST_F(WorkflowCliTest, WaitNoticesADeletedRun) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto [name, fut] = start_waiting();
  ASSERT_FALSE(name.empty());
  auto d = mkctl({"wf", "delete", "run", name});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_EQ(d.out, "workflowrun.serverless.minik8s.io \"" + name + "\" deleted\n");
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  CliRun r = fut.get();
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(name + " was deleted"), std::string::npos) << r.err;
}

TEST_F(WorkflowCliTest, RunsTableAndDescribeRunStepTable) {
  ASSERT_NO_FATAL_FAILURE(create_classify());
  auto a = mkctl({"wf", "run", "classify", "-d", R"({"text": "a long enough text"})"});
  auto b = mkctl({"wf", "run", "classify", "-d", R"({"text": "tiny"})"});
  ASSERT_EQ(a.rc + b.rc, 0) << a.err << b.err;
  std::string ra = a.out.substr(0, a.out.size() - 1), rb = b.out.substr(0, b.out.size() - 1);
  set_status(ra, {{"phase", "Succeeded"},
                  {"startTime", "2026-12-07T15:00:00Z"},
                  {"completionTime", "2026-12-07T15:00:01.250Z"},
                  {"output", {{"tag", "big"}}},
                  {"steps", Json::array({step("Measure#0", "Measure", "measure", "Succeeded", 10.5),
                                         step("Route#0", "Route", "", "Succeeded", 0.02),
                                         step("Big#0", "Big", "tag-big", "Succeeded", 8.25)})}});
  set_status(rb, {{"phase", "Running"},
                  {"startTime", "2026-12-07T15:00:00Z"},
                  {"steps", Json::array({step("Measure#0", "Measure", "measure", "Running", 0)})}});
  auto rs = mkctl({"wf", "runs", "classify"});
  ASSERT_EQ(rs.rc, 0) << rs.err;
  std::istringstream lines(rs.out);
  std::string header;
  std::getline(lines, header);
  for (const char* col : {"NAME", "WORKFLOW", "PHASE", "STEPS", "DURATION", "AGE"})
    EXPECT_NE(header.find(col), std::string::npos) << rs.out;
  std::map<std::string, std::string> row;
  for (std::string l; std::getline(lines, l);) row[l.substr(0, l.find(' '))] = l;
  ASSERT_EQ(row.size(), 2u) << rs.out;
  EXPECT_NE(row[ra].find(" classify "), std::string::npos) << rs.out;
  EXPECT_NE(row[ra].find(" Succeeded "), std::string::npos) << rs.out;
  EXPECT_NE(row[ra].find(" 3 "), std::string::npos) << rs.out;
  EXPECT_NE(row[ra].find(" 1.2s "), std::string::npos) << rs.out;
  EXPECT_NE(row[rb].find(" Running "), std::string::npos) << rs.out;
  EXPECT_NE(row[rb].find(" 1 "), std::string::npos) << rs.out;
  auto none = mkctl({"wf", "runs", "other"});
  EXPECT_EQ(none.rc, 0);
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "No runs of workflow \"other\" in default namespace.\n");

  auto d = mkctl({"wf", "describe", "run", ra});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_NE(d.out.find("Phase:            Succeeded\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("Input:            {\"text\":\"a long enough text\"}\n"), std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("Output:           {\"tag\":\"big\"}\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("Duration:         1.2s\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("  KEY         STATE     TYPE     FUNCTION   INSTANCE        ATTEMPT   "
                       "STATUS      DURATION\n"
                       "  Measure#0   Measure   Task     measure    measure-pod-1   1         "
                       "Succeeded   10.5ms\n"
                       "  Route#0     Route     Choice   -          -               1         "
                       "Succeeded   0.02ms\n"
                       "  Big#0       Big       Task     tag-big    tag-big-pod-1   1         "
                       "Succeeded   8.25ms\n"),
            std::string::npos)
      << d.out;
  auto missing = mkctl({"wf", "describe", "run", "classify-none"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err.rfind("Error from server (NotFound): ", 0), 0u) << missing.err;
}

// The example workflows and triggers (examples/serverless/workflows/, used by
// scripts/acceptance/09_workflow.sh and bench/workflow_bench.sh) pass the API
// server's validation, and the Parallel/Map ones draw as nested trees.
TEST_F(WorkflowCliTest, ExamplesAreAccepted) {
  const std::string ex = std::string(MINIK8S_SOURCE_DIR) + "/examples/serverless/workflows/";
  for (const char* f : {"classify.yaml", "fanout.yaml", "map.yaml", "resume.yaml"}) {
    auto r = mkctl({"wf", "create", "-f", ex + f});
    EXPECT_EQ(r.rc, 0) << f << ": " << r.err;
  }
  for (const char* f : {"trigger-schedule.yaml", "trigger-file.yaml", "trigger-object.yaml"}) {
    auto r = mkctl({"apply", "-f", ex + f});
    EXPECT_EQ(r.rc, 0) << f << ": " << r.err;
  }
  Json obj =
      req("GET", "/apis/serverless.minik8s.io/v1/namespaces/default/triggers/classify-configmaps")
          .j();
  EXPECT_EQ(obj["spec"]["objectChange"]["on"], Json::parse(R"(["added", "modified"])"))
      << obj.dump();
  auto fan = mkctl({"wf", "describe", "fanout"});
  ASSERT_EQ(fan.rc, 0) << fan.err;
  EXPECT_NE(fan.out.find("  Fan (Parallel) resultPath: $.results -> Done\n"
                         "    branch 0 (start: Measure)\n"
                         "      Measure (Task) function: measure (end)\n"
                         "    branch 1 (start: Big)\n"),
            std::string::npos)
      << fan.out;
  auto map = mkctl({"wf", "describe", "measure-all"});
  ASSERT_EQ(map.rc, 0) << map.err;
  EXPECT_NE(
      map.out.find("  Each (Map) items: $.docs maxConcurrency: 2 resultPath: $.measured (end)\n"
                   "    iterator (start: Measure)\n"
                   "      Measure (Task) function: measure (end)\n"),
      std::string::npos)
      << map.out;
  // A workflow the server refuses: its field error comes back as one line.
  auto bad = mkctl({"wf", "create", "-f",
                    write("bad.yaml",
                          "kind: Workflow\nmetadata: {name: bad}\n"
                          "spec: {startAt: A, states: {A: {type: Task, end: true}}}\n")});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(bad.err.rfind("Error from server (Invalid): ", 0), 0u) << bad.err;
  EXPECT_NE(bad.err.find("spec.states.A.function"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace minik8s::cli
