// The Slurm model: sbatch arguments, quoting, the batch script (run by a
// real bash), the client slurm.conf, and the parsers on output captured from
// Slurm 22.05 (src/gpu/testdata/, see docs/gpu.md).
#include "minik8s/gpu/slurm.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test/fakes/temp_dir.h"

namespace minik8s::gpu::slurm {
namespace {

using api::Json;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string testdata(const std::string& name) {
  return slurp(std::string(MINIK8S_SOURCE_DIR) + "/src/gpu/testdata/" + name);
}

class UtcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = ::getenv("TZ");
    if (tz) saved_ = tz, had_ = true;
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  void TearDown() override {
    if (had_)
      ::setenv("TZ", saved_.c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
  }
  std::string saved_;
  bool had_ = false;
};

Json job(Json slurm = Json::object()) {
  return Json{{"metadata",
               {{"name", "matmul"},
                {"namespace", "default"},
                {"uid", "1a2b3c4d-5e6f-7788-99aa-bbccddeeff00"}}},
              {"spec", {{"run", "./matmul 4096"}, {"build", "make"}, {"slurm", slurm}}}};
}

TEST(ShellQuote, QuotesEverythingInert) {
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("abc"), "'abc'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  // Hostile strings round-trip through a real shell as one word.
  minik8s::testing::TempDir tmp("quote");
  for (std::string s :
       {std::string("$(touch pwned)"), std::string("`touch pwned`; rm -rf /nonexistent"),
        std::string("a'b\"c\\d\ne$HOME"), std::string("'; touch pwned; echo '"),
        std::string("-n")}) {
    std::string cmd =
        "cd " + shell_quote(tmp.path()) + " && printf '%s' " + shell_quote(s) + " > out";
    ASSERT_EQ(::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(slurp(tmp.path() + "/out"), s);
    EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/pwned")) << s;
  }
}

TEST(JobDir, FromWorkDirNamespaceNameUid) {
  auto d = job_dir("/var/tmp/minik8s-slurm/work/", "default", "matmul", "1a2b3c4d-5e6f");
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(*d, "/var/tmp/minik8s-slurm/work/default/matmul-1a2b3c4d");
  EXPECT_EQ(job_dir("/srv/a+b@c", "ns", "m", "1a2b3c4d").value(), "/srv/a+b@c/ns/m-1a2b3c4d");
  EXPECT_FALSE(job_dir("/w/a b", "default", "m", "1a2b3c4d").is_ok());
  EXPECT_FALSE(job_dir("/w/$(id)", "default", "m", "1a2b3c4d").is_ok());
  EXPECT_FALSE(job_dir("relative", "default", "m", "1a2b3c4d").is_ok());
  EXPECT_FALSE(job_dir("/w/../etc", "default", "m", "1a2b3c4d").is_ok());
  EXPECT_FALSE(job_dir("/w", "..", "m", "1a2b3c4d").is_ok());
  EXPECT_FALSE(job_dir("/w", "default", "a/b", "1a2b3c4d").is_ok());
  EXPECT_FALSE(job_dir("/w", "default", "m", "short").is_ok());
}

TEST(SbatchArgs, MinimalJob) {
  auto a = sbatch_args(job(), "/w/default/matmul-1a2b3c4d");
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  std::vector<std::string> want = {
      "--parsable", "--job-name=mk-1a2b3c4d-5e6f-7788-99aa-bbccddeeff00",
      "--chdir=/w/default/matmul-1a2b3c4d", "/w/default/matmul-1a2b3c4d/.minik8s/job.sh"};
  EXPECT_EQ(*a, want);
}

TEST(SbatchArgs, EveryField) {
  Json s = {{"cluster", "default"},
            {"partition", "gpu"},
            {"nodes", 2},
            {"ntasksPerNode", 4},
            {"cpusPerTask", 2},
            {"gpus", 1},
            {"mem", "4G"},
            {"time", "00:10:00"},
            {"account", "proj1"},
            {"qos", "normal"},
            {"output", "out-%j.txt"},
            {"error", "err.txt"},
            {"sbatchArgs", {"--exclusive", "--constraint=a100"}}};
  auto a = sbatch_args(job(s), "/w/d");
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  std::vector<std::string> want = {"--parsable",
                                   "--job-name=mk-1a2b3c4d-5e6f-7788-99aa-bbccddeeff00",
                                   "--chdir=/w/d",
                                   "--partition=gpu",
                                   "--nodes=2",
                                   "--ntasks-per-node=4",
                                   "--cpus-per-task=2",
                                   "--gres=gpu:1",
                                   "--mem=4G",
                                   "--time=00:10:00",
                                   "--account=proj1",
                                   "--qos=normal",
                                   "--output=/w/d/out-%j.txt",
                                   "--error=/w/d/err.txt",
                                   "--exclusive",
                                   "--constraint=a100",
                                   "/w/d/.minik8s/job.sh"};
  EXPECT_EQ(*a, want);
}

TEST(SbatchArgs, ZeroGpusGivesNoGres) {
  auto a = sbatch_args(job({{"gpus", 0}}), "/w/d");
  ASSERT_TRUE(a.is_ok());
  for (const auto& x : *a) EXPECT_EQ(x.find("--gres"), std::string::npos);
}

TEST(SbatchArgs, RejectsWhatTheApiWouldHave) {
  struct Case {
    Json slurm;
    std::string field;
  };
  std::vector<Case> cases = {
      {{{"partition", "gpu --wrap=id"}}, "spec.slurm.partition"},
      {{{"partition", "a;b"}}, "spec.slurm.partition"},
      {{{"nodes", 0}}, "spec.slurm.nodes"},
      {{{"nodes", "2"}}, "spec.slurm.nodes"},
      {{{"gpus", 65}}, "spec.slurm.gpus"},
      {{{"mem", "4GB"}}, "spec.slurm.mem"},
      {{{"time", "1:2:3:4"}}, "spec.slurm.time"},
      {{{"time", "x"}}, "spec.slurm.time"},
      {{{"output", "../etc/passwd"}}, "spec.slurm.output"},
      {{{"error", "/abs"}}, "spec.slurm.error"},
      {{{"sbatchArgs", {"-o x"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--exclusive", "--wrap=id"}}}, "spec.slurm.sbatchArgs[1]"},
      {{{"sbatchArgs", {"--chdir=/"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--comment=$(id)"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--comment=a b"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--parsable"}}}, "spec.slurm.sbatchArgs[0]"},
      // Abbreviations sbatch accepts, and options that stop the job being followed.
      {{{"sbatchArgs", {"--outp=x"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--chd=/"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--wait"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--uid=0"}}}, "spec.slurm.sbatchArgs[0]"},
      {{{"sbatchArgs", {"--array=1-4"}}}, "spec.slurm.sbatchArgs[0]"},
  };
  for (const auto& c : cases) {
    auto a = sbatch_args(job(c.slurm), "/w/d");
    ASSERT_FALSE(a.is_ok()) << c.slurm.dump();
    EXPECT_EQ(a.status().code(), Code::kInvalid);
    EXPECT_NE(a.status().message().find(c.field), std::string::npos) << a.status().message();
  }
  EXPECT_FALSE(sbatch_args(job(), "relative/dir").is_ok());
  EXPECT_FALSE(sbatch_args(job(), "/w/d e").is_ok());
}

TEST(SlurmTime, Forms) {
  for (std::string t : {"5", "05:30", "00:10:00", "1-0", "1-02:03", "1-02:03:04"})
    EXPECT_TRUE(sbatch_args(job({{"time", t}}), "/w/d").is_ok()) << t;
}

// Runs the batch script with bash in a temp dir (what slurmd would do).
struct ScriptRun {
  int rc;
  std::string dir;
};
ScriptRun run_script(const minik8s::testing::TempDir& tmp, const Json& j) {
  std::string dir = tmp.path() + "/job";
  std::filesystem::create_directories(dir + "/.minik8s");
  auto s = render_batch_script(j, dir);
  EXPECT_TRUE(s.is_ok()) << s.status().message();
  std::ofstream(dir + "/.minik8s/job.sh") << *s;
  int st = ::system(("bash " + shell_quote(dir + "/.minik8s/job.sh") + " > " +
                     shell_quote(tmp.path() + "/stdout") + " 2>&1")
                        .c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, dir};
}

TEST(BatchScript, BuildThenRunRecordsCodes) {
  minik8s::testing::TempDir tmp("script");
  Json j = job();
  j["spec"]["build"] = "echo building; echo 'int x;' > prog.c";
  j["spec"]["run"] = "echo \"it's $((6*7))\" > result.txt; exit 3";
  auto r = run_script(tmp, j);
  EXPECT_EQ(r.rc, 3);
  EXPECT_EQ(slurp(r.dir + "/.minik8s/build.rc"), "0\n");
  EXPECT_EQ(slurp(r.dir + "/.minik8s/build.log"), "building\n");
  EXPECT_TRUE(std::filesystem::exists(r.dir + "/.minik8s/built"));
  EXPECT_EQ(slurp(r.dir + "/.minik8s/exit_code"), "3\n");
  EXPECT_EQ(slurp(r.dir + "/result.txt"), "it's 42\n");
}

TEST(BatchScript, BuildFailureStopsBeforeRun) {
  minik8s::testing::TempDir tmp("script");
  Json j = job();
  j["spec"]["build"] = "echo compiling; echo 'error: no such file' >&2; exit 2";
  j["spec"]["run"] = "touch ran";
  auto r = run_script(tmp, j);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(slurp(r.dir + "/.minik8s/build.rc"), "2\n");
  EXPECT_EQ(slurp(r.dir + "/.minik8s/build.log"), "compiling\nerror: no such file\n");
  EXPECT_FALSE(std::filesystem::exists(r.dir + "/.minik8s/built"));
  EXPECT_FALSE(std::filesystem::exists(r.dir + "/ran"));
  EXPECT_FALSE(std::filesystem::exists(r.dir + "/.minik8s/exit_code"));
  EXPECT_NE(slurp(tmp.path() + "/stdout").find("error: no such file"), std::string::npos);
}

TEST(BatchScript, HostileCommandsStayInTheirBashC) {
  minik8s::testing::TempDir tmp("script");
  Json j = job();
  j["spec"].erase("build");
  j["spec"]["run"] =
      "echo '\\''; printf '%s\\n' \"$0\" > zero.txt'\n";  // unbalanced to the outer shell
  auto r = run_script(tmp, j);
  EXPECT_EQ(slurp(r.dir + "/.minik8s/build.rc"), "0\n");
  EXPECT_TRUE(std::filesystem::exists(r.dir + "/.minik8s/built"));
  // The run command is one bash -c argument: a syntax error in it is the
  // run's own failure (exit 2 from bash), not the script's.
  EXPECT_EQ(slurp(r.dir + "/.minik8s/exit_code"), std::to_string(r.rc) + "\n");
  EXPECT_FALSE(render_batch_script(Json{{"spec", Json::object()}}, "/w/d").is_ok());
}

TEST(SlurmConf, ClientConfFromCluster) {
  Json c = {{"metadata", {{"name", "default"}}},
            {"spec",
             {{"controller", {{"host", "127.0.0.1"}, {"name", "minik8s-slurm"}, {"port", 16817}}},
              {"clusterName", "minik8s"},
              {"auth", {{"type", "munge"}}}}}};
  auto conf = render_slurm_conf(c, "/run/minik8s/munge/munge.socket");
  ASSERT_TRUE(conf.is_ok()) << conf.status().message();
  EXPECT_NE(conf->find("\nClusterName=minik8s\n"), std::string::npos) << *conf;
  EXPECT_NE(conf->find("\nSlurmctldHost=minik8s-slurm(127.0.0.1)\n"), std::string::npos);
  EXPECT_NE(conf->find("\nSlurmctldPort=16817\n"), std::string::npos);
  EXPECT_NE(conf->find("\nAuthType=auth/munge\n"), std::string::npos);
  EXPECT_NE(conf->find("\nAuthInfo=socket=/run/minik8s/munge/munge.socket\n"), std::string::npos);
  EXPECT_NE(conf->find("\nGresTypes=gpu\n"), std::string::npos);
  Json bad = c;
  bad["spec"]["controller"]["host"] = "1.2.3.4\nSlurmctldPort=1";
  EXPECT_NE(render_slurm_conf(bad, "/s").status().message().find("spec.controller.host"),
            std::string::npos);
  bad = c;
  bad["spec"]["clusterName"] = "a b";
  EXPECT_NE(render_slurm_conf(bad, "/s").status().message().find("spec.clusterName"),
            std::string::npos);
  bad = c;
  bad["spec"]["auth"]["type"] = "jwt";
  EXPECT_NE(render_slurm_conf(bad, "/s").status().message().find("spec.auth.type"),
            std::string::npos);
}

TEST(KvLine, ValuesWithSpacesAndEmptyValues) {
  auto kv = parse_kv_line("JobId=4 JobName=a b NodeList= Command=/x y/job.sh WorkDir=/w Power= \n");
  EXPECT_EQ(kv["JobId"], "4");
  EXPECT_EQ(kv["JobName"], "a b");
  EXPECT_EQ(kv["NodeList"], "");
  EXPECT_EQ(kv["Command"], "/x y/job.sh");
  EXPECT_EQ(kv["WorkDir"], "/w");
  EXPECT_EQ(kv["Power"], "");
  auto kv2 = parse_kv_line("AllocNode:Sid=localhost:4529 CPUs/Task=1 ReqB:S:C:T=0:0:*:*");
  EXPECT_EQ(kv2["AllocNode:Sid"], "localhost:4529");
  EXPECT_EQ(kv2["CPUs/Task"], "1");
  EXPECT_EQ(kv2["ReqB:S:C:T"], "0:0:*:*");
}

TEST_F(UtcTest, ScontrolCompleted) {
  auto j = parse_scontrol_job(testdata("scontrol_completed.txt"));
  ASSERT_TRUE(j.is_ok()) << j.status().message();
  EXPECT_EQ(j->job_id, "1");
  EXPECT_EQ(j->name, "mk-test");
  EXPECT_EQ(j->state, "COMPLETED");
  EXPECT_EQ(phase_for_state(j->state), "Completed");
  EXPECT_EQ(j->reason, "");
  EXPECT_EQ(j->submit_time, "2026-12-07T18:05:50Z");
  EXPECT_EQ(j->start_time, "2026-12-07T18:05:51Z");
  EXPECT_EQ(j->end_time, "2026-12-07T18:05:51Z");
  EXPECT_EQ(j->node_list, "mksubnode");
  ASSERT_TRUE(j->exit_code.has_value());
  EXPECT_EQ(*j->exit_code, 0);
  EXPECT_EQ(j->std_out, "/tmp/mksub-slurm/job/slurm-1.out");
}

TEST_F(UtcTest, ScontrolFailedCancelledRunningPending) {
  auto f = parse_scontrol_job(testdata("scontrol_failed.txt"));
  ASSERT_TRUE(f.is_ok());
  EXPECT_EQ(phase_for_state(f->state), "Failed");
  EXPECT_EQ(f->reason, "NonZeroExitCode");
  EXPECT_EQ(f->exit_code.value_or(-1), 3);

  auto c = parse_scontrol_job(testdata("scontrol_cancelled.txt"));
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(phase_for_state(c->state), "Cancelled");
  EXPECT_EQ(c->exit_code.value_or(-1), 0);
  EXPECT_EQ(c->exit_signal, 15);
  EXPECT_EQ(c->end_time, "2026-12-07T18:06:01Z");

  auto r = parse_scontrol_job(testdata("scontrol_running.txt"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(phase_for_state(r->state), "Running");
  EXPECT_EQ(r->start_time, "2026-12-07T18:05:59Z");
  EXPECT_EQ(r->end_time, "");  // a running job's EndTime is its limit
  EXPECT_FALSE(r->exit_code.has_value());

  auto p = parse_scontrol_job(testdata("scontrol_pending.txt"));
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(phase_for_state(p->state), "Queued");
  EXPECT_EQ(p->reason, "Resources");
  EXPECT_EQ(p->name, "a b");
  EXPECT_EQ(p->start_time, "");
  EXPECT_EQ(p->node_list, "");
  EXPECT_EQ(p->submit_time, "2026-12-07T18:05:59Z");
}

// A job minik8s-submitter itself submitted (--output=out-%j.txt) to the
// private Slurm: StdOut comes back resolved.
TEST_F(UtcTest, ScontrolJobOfTheSubmitter) {
  auto j = parse_scontrol_job(testdata("scontrol_submitted_by_submitter.txt"));
  ASSERT_TRUE(j.is_ok()) << j.status().message();
  EXPECT_EQ(j->job_id, "11");
  EXPECT_EQ(j->name, "mk-b6049b22-e6a8-47ec-9533-6230f75692d6");
  EXPECT_EQ(phase_for_state(j->state), "Completed");
  EXPECT_EQ(j->std_out, "/tmp/mksub-real/work2/default/cprog-b6049b22/out-11.txt");
  EXPECT_EQ(j->exit_code.value_or(-1), 0);
}

TEST(Scontrol, GoneAndGarbage) {
  auto g = parse_scontrol_job("slurm_load_jobs error: Invalid job id specified\n");
  EXPECT_EQ(g.status().code(), Code::kNotFound);
  EXPECT_EQ(parse_scontrol_job("").status().code(), Code::kInvalid);
  EXPECT_EQ(parse_scontrol_job("JobId=abc JobState=RUNNING").status().code(), Code::kInvalid);
  EXPECT_EQ(parse_scontrol_job("JobId=1 JobState=RUNNING SubmitTime=yesterday").status().code(),
            Code::kInvalid);
}

TEST(Squeue, CapturedOutput) {
  auto q = parse_squeue(testdata("squeue.txt"));
  ASSERT_TRUE(q.is_ok()) << q.status().message();
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[0].job_id, "3");
  EXPECT_EQ((*q)[0].state, "CANCELLED");
  EXPECT_EQ((*q)[1].name, "mk-test");
  EXPECT_EQ((*q)[2].reason, "NonZeroExitCode");
  EXPECT_EQ((*q)[3].name, "a b");
  EXPECT_FALSE(parse_squeue("garbage\n").is_ok());
  EXPECT_TRUE(parse_squeue("").is_ok());
}

// sacct needs slurmdbd (the private Slurm runs without accounting: "Slurm
// accounting storage is disabled"), so these lines follow sacct's
// documented -P form.
TEST_F(UtcTest, Sacct) {
  auto a = parse_sacct(
      "42|mk-uid|COMPLETED|0:0|2026-12-07T18:00:00|2026-12-07T18:00:01|2026-12-07T18:00:05|node1|"
      "None\n"
      "42.batch|batch|COMPLETED|0:0|2026-12-07T18:00:01|2026-12-07T18:00:01|2026-12-07T18:00:05|"
      "node1|\n"
      "43|mk-x|CANCELLED by 0|0:15|2026-12-07T18:00:00|None|2026-12-07T18:00:02|None "
      "assigned|None\n"
      "44|mk-y|PENDING|0:0|2026-12-07T18:00:00|Unknown|Unknown|None assigned|Priority\n");
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ((*a)[0].job_id, "42");
  EXPECT_EQ((*a)[0].end_time, "2026-12-07T18:00:05Z");
  EXPECT_EQ((*a)[0].exit_code.value_or(-1), 0);
  EXPECT_EQ((*a)[1].state, "CANCELLED");
  EXPECT_EQ((*a)[1].start_time, "");
  EXPECT_EQ((*a)[1].node_list, "");
  EXPECT_EQ(phase_for_state((*a)[2].state), "Queued");
  EXPECT_EQ((*a)[2].reason, "Priority");
  EXPECT_FALSE(parse_sacct("42|x|COMPLETED\n").is_ok());
}

TEST(Times, LocalToUtcAndSpecialValues) {
  const char* old = ::getenv("TZ");
  std::string saved = old ? old : "";
  ::setenv("TZ", "CET-1", 1);
  ::tzset();
  auto t = to_rfc3339("2026-12-07T19:00:00");
  if (old)
    ::setenv("TZ", saved.c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(*t, "2026-12-07T18:00:00Z");
  for (const char* s : {"Unknown", "None", "N/A", ""}) EXPECT_EQ(to_rfc3339(s).value(), "") << s;
  EXPECT_FALSE(to_rfc3339("2026-12-07 19:00").is_ok());
  EXPECT_FALSE(to_rfc3339("2026-12-07T19:00:00junk").is_ok());
}

TEST(ExitCode, Forms) {
  EXPECT_EQ(parse_exit_code("0:0").value(), (std::pair<int, int>{0, 0}));
  EXPECT_EQ(parse_exit_code("3:0").value(), (std::pair<int, int>{3, 0}));
  EXPECT_EQ(parse_exit_code("0:15").value(), (std::pair<int, int>{0, 15}));
  EXPECT_FALSE(parse_exit_code("3").is_ok());
  EXPECT_FALSE(parse_exit_code("a:b").is_ok());
}

TEST(Phases, Mapping) {
  EXPECT_EQ(phase_for_state("PENDING"), "Queued");
  for (const char* s : {"RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"})
    EXPECT_EQ(phase_for_state(s), "Running") << s;
  EXPECT_EQ(phase_for_state("COMPLETED"), "Completed");
  EXPECT_EQ(phase_for_state("CANCELLED"), "Cancelled");
  EXPECT_EQ(phase_for_state("CANCELLED by 0"), "Cancelled");
  for (const char* s :
       {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"})
    EXPECT_EQ(phase_for_state(s), "Failed") << s;
  EXPECT_TRUE(is_terminal_phase("Completed"));
  EXPECT_FALSE(is_terminal_phase("Queued"));
}

}  // namespace
}  // namespace minik8s::gpu::slurm
