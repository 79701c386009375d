// The submitter against the real ApiServer (in-process, over HTTP) and fake
// Slurm commands: shell scripts in a temp bin dir that keep their "jobs" as
// files (docs/gpu.md "The submitter").
#include "minik8s/gpu/submitter.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/gpu/slurm.h"
#include "test/fakes/eventually.h"
#include "test/fakes/local_api_test.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::gpu {
namespace {

namespace fs = std::filesystem;
using minik8s::testing::eventually;
using nlohmann::json;

void write_exec(const std::string& path, const std::string& body) {
  std::ofstream(path) << body;
  ::chmod(path.c_str(), 0755);
}
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The fake Slurm: $F/next_id, and per job $F/job.ID.{name,state,reason,rc}.
// $F/mode: "run" (sbatch runs the script at once; COMPLETED/FAILED by its
// exit code), "pending" (PENDING with $F/pending_reason), "running".
// $F/reject: sbatch refuses with that message.
void write_fake_slurm(const std::string& bin, const std::string& f) {
  const std::string head = "#!/bin/bash\nF=" + slurm::shell_quote(f) + "\n";
  write_exec(bin + "/sbatch", head + R"SH(
echo "$@" >> "$F/sbatch.args"
if [ -f "$F/reject" ]; then echo "sbatch: error: $(cat "$F/reject")" >&2; exit 1; fi
id=$(cat "$F/next_id" 2>/dev/null || echo 100); echo $((id + 1)) > "$F/next_id"
for a in "$@"; do case "$a" in --job-name=*) name=${a#*=};; --chdir=*) chdir=${a#*=};; esac; done
script="${@: -1}"
echo "$name" > "$F/job.$id.name"; echo "$chdir" > "$F/job.$id.chdir"
mode=$(cat "$F/mode" 2>/dev/null || echo run)
case "$mode" in
  run) (cd "$chdir" && bash "$script" > "$chdir/slurm-$id.out" 2>&1); rc=$?; echo $rc > "$F/job.$id.rc"
       if [ $rc -eq 0 ]; then echo COMPLETED > "$F/job.$id.state"; else echo FAILED > "$F/job.$id.state"; echo NonZeroExitCode > "$F/job.$id.reason"; fi;;
  pending) echo PENDING > "$F/job.$id.state"; cat "$F/pending_reason" > "$F/job.$id.reason";;
  *) echo RUNNING > "$F/job.$id.state"; echo "started" > "$chdir/slurm-$id.out";;
esac
echo "$id"
)SH");
  write_exec(bin + "/scontrol", head + R"SH(
id="${@: -1}"
if [ ! -f "$F/job.$id.state" ]; then echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; fi
st=$(cat "$F/job.$id.state"); reason=$(cat "$F/job.$id.reason" 2>/dev/null || echo None); rc=$(cat "$F/job.$id.rc" 2>/dev/null || echo 0)
start=2026-12-07T18:00:01; nodes=fakenode; [ "$st" = PENDING ] && start=Unknown && nodes=
chdir=$(cat "$F/job.$id.chdir" 2>/dev/null)
echo "JobId=$id JobName=$(cat "$F/job.$id.name") UserId=root(0) JobState=$st Reason=$reason ExitCode=$rc:0 SubmitTime=2026-12-07T18:00:00 StartTime=$start EndTime=2026-12-07T18:00:05 NodeList=$nodes Command=$chdir/.minik8s/job.sh WorkDir=$chdir StdErr=$chdir/slurm-$id.out StdOut=$chdir/slurm-$id.out Power= "
)SH");
  write_exec(bin + "/squeue", head + R"SH(
while [ $# -gt 0 ]; do case "$1" in -n) name=$2; shift;; esac; shift; done
for f in "$F"/job.*.name; do [ -e "$f" ] || continue; id=${f#$F/job.}; id=${id%.name}
  [ "$(cat "$f")" = "$name" ] && echo "$id|$name|$(cat "$F/job.$id.state")|None"; done; exit 0
)SH");
  write_exec(bin + "/scancel", head + R"SH(
echo "$1" >> "$F/scancel.args"; echo CANCELLED > "$F/job.$1.state"
)SH");
  write_exec(bin + "/sacct", head + "echo 'Slurm accounting storage is disabled' >&2; exit 1\n");
}

class SubmitterTest : public minik8s::testing::LocalApiTest {
 protected:
  void configure(apiserver::ApiServerOptions& opts) override {
    opts.blob_dir = tmp_.path() + "/blobs";
  }
  void SetUp() override {
    LocalApiTest::SetUp();
    ASSERT_FALSE(tmp_.path().empty());
    bin_ = tmp_.path() + "/bin";
    fake_ = tmp_.path() + "/fake";
    work_ = tmp_.path() + "/work";
    run_ = tmp_.path() + "/run";
    for (auto* d : {&bin_, &fake_, &work_, &run_}) fs::create_directories(*d);
    write_fake_slurm(bin_, fake_);
    client::HttpRestClientOptions ro;
    ro.server = server_->url();
    auto r = client::make_http_rest_client(ro);
    ASSERT_TRUE(r.is_ok());
    rest_ = std::move(*r);
    client_ = std::make_unique<client::Client>(*rest_);
    runner_ = make_exec_runner(bin_);
    auto created = call(
        "POST", "/apis/minik8s.io/v1/slurmclusters",
        {{"apiVersion", "minik8s.io/v1"},
         {"kind", "SlurmCluster"},
         {"metadata", {{"name", "default"}}},
         {"spec",
          {{"controller", {{"host", "127.0.0.1"}, {"name", "fake"}, {"port", 16817}}},
           {"auth",
            {{"type", "munge"},
             {"secretRef", {{"namespace", "default"}, {"name", "munge"}, {"key", "munge.key"}}}}},
           {"workDir", work_}}}});
    ASSERT_EQ(created.code, 201) << created.body;
    // The fixture's server has the blob store (docs/gpu.md "Blob store").
    ASSERT_EQ(
        call("POST", "/apis/minik8s.io/v1/blobs", nullptr, "application/octet-stream").code, 201);
  }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    LocalApiTest::TearDown();
  }

  json create_job(json spec) {
    return ok("POST", "/apis/minik8s.io/v1/namespaces/default/gpujobs",
              {{"apiVersion", "minik8s.io/v1"},
               {"kind", "GPUJob"},
               {"metadata", {{"name", "job1"}, {"finalizers", {slurm::kFinalizer}}}},
               {"spec", spec}});
  }
  json get_job() {
    auto r = call("GET", "/apis/minik8s.io/v1/namespaces/default/gpujobs/job1");
    if (r.code == 404) return nullptr;
    return json::parse(r.body, nullptr, false);
  }
  std::string phase() {
    json j = get_job();
    return j.is_object() ? j["status"].value("phase", "") : "";
  }
  SubmitterOptions options() {
    SubmitterOptions o;
    o.ns = "default";
    o.name = "job1";
    o.run_dir = run_;
    o.start_munge = false;
    o.poll_interval = std::chrono::milliseconds(20);
    o.out = &out_;
    o.wait = [this](std::chrono::milliseconds d) {
      auto until = std::chrono::steady_clock::now() + d;
      while (std::chrono::steady_clock::now() < until && !stop_)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      // No run outlives the test's deadline, even one that would wait forever.
      return stop_.load() || std::chrono::steady_clock::now() > deadline_;
    };
    return o;
  }
  Status run_submitter() {
    Submitter s(*client_, *runner_, options());
    return s.run();
  }
  // Runs the submitter on a thread; result_ when it returns.
  void start_submitter() {
    done_ = false;
    thread_ = std::thread([this] {
      Submitter s(*client_, *runner_, options());
      result_ = s.run();
      done_ = true;
    });
  }
  std::vector<std::string> event_reasons() {
    json l = ok("GET", "/api/v1/namespaces/default/events");
    std::vector<std::string> out;
    for (auto& e : l["items"]) out.push_back(e.value("reason", ""));
    return out;
  }
  bool has_event(const std::string& reason) {
    return eventually([&] {
      auto r = event_reasons();
      return std::find(r.begin(), r.end(), reason) != r.end();
    });
  }
  void fake(const std::string& file, const std::string& content) {
    std::ofstream(fake_ + "/" + file) << content;
  }

  minik8s::testing::TempDir tmp_{"submitter"};
  std::string bin_, fake_, work_, run_;
  std::unique_ptr<client::RestClient> rest_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<Runner> runner_;
  std::ostringstream out_;  // written by the submitter thread; read after join
  std::atomic<bool> stop_{false};
  const std::chrono::steady_clock::time_point deadline_ =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::atomic<bool> done_{false};
  Status result_;
  std::thread thread_;
};

TEST_F(SubmitterTest, CpuJobRunsToCompletedWithResult) {
  json created =
      create_job({{"run", "echo hello; echo 42 > answer.txt"}, {"slurm", {{"partition", "cpu"}}}});
  std::string uid = created["metadata"]["uid"];
  Status st = run_submitter();
  ASSERT_TRUE(st.is_ok()) << st.message();
  json j = get_job();
  EXPECT_EQ(j["status"]["phase"], "Completed") << j.dump();
  EXPECT_EQ(j["status"]["jobId"], "100");
  EXPECT_EQ(j["status"]["exitCode"], 0);
  EXPECT_EQ(j["status"]["nodeList"], "fakenode");
  EXPECT_EQ(j["status"]["queryCommand"], "scontrol show job 100");
  EXPECT_FALSE(j["status"].value("submitTime", "").empty());
  EXPECT_FALSE(j["status"].value("endTime", "").empty());
  const std::string dir = work_ + "/default/job1-" + uid.substr(0, 8);
  EXPECT_EQ(j["status"]["workDir"], dir);
  EXPECT_EQ(slurp(dir + "/answer.txt"), "42\n");
  EXPECT_NE(out_.str().find("hello"), std::string::npos) << out_.str();
  std::string args = slurp(fake_ + "/sbatch.args");
  EXPECT_NE(args.find("--parsable --job-name=mk-" + uid + " --chdir=" + dir + " --partition=cpu " +
                      dir + "/.minik8s/job.sh"),
            std::string::npos)
      << args;
  bool complete = false;
  for (auto& c : j["status"]["conditions"])
    if (c["type"] == "Complete" && c["status"] == "True") complete = true;
  EXPECT_TRUE(complete) << j["status"].dump();
  EXPECT_TRUE(has_event("Submitted"));
  EXPECT_TRUE(has_event("Completed"));
  ASSERT_TRUE(j["status"].contains("result")) << j["status"].dump();
  json files = j["status"]["result"]["files"];
  EXPECT_NE(std::find(files.begin(), files.end(), "answer.txt"), files.end()) << files.dump();
  EXPECT_NE(std::find(files.begin(), files.end(), "slurm-100.out"), files.end()) << files.dump();
}

// The job replaces its output file with a link to a file outside its
// directory (the munge key, say): the submitter, root in its pod, must not
// copy what the link points at into its log.
TEST_F(SubmitterTest, OutputLinkedOutsideTheJobIsNotCopied) {
  const std::string secret = tmp_.path() + "/secret.txt";
  {
    std::ofstream f(secret);
    f << "TOPSECRET\n";
  }
  create_job({{"run", "echo before; rm -f slurm-100.out; ln -s " + slurm::shell_quote(secret) +
                          " slurm-100.out"},
              {"slurm", {{"partition", "cpu"}}}});
  Status st = run_submitter();
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(get_job()["status"]["phase"], "Completed");
  EXPECT_EQ(out_.str().find("TOPSECRET"), std::string::npos) << out_.str();
}

TEST_F(SubmitterTest, BuildFailureIsBuildFailedWithTheLogTail) {
  std::string build;
  for (int i = 1; i <= 30; ++i) build += "echo line" + std::to_string(i) + "; ";
  build += "echo 'main.c:1: error: boom' >&2; exit 2";
  create_job({{"build", build}, {"run", "touch ran"}});
  ASSERT_TRUE(run_submitter().is_ok());
  json j = get_job();
  EXPECT_EQ(j["status"]["phase"], "Failed");
  EXPECT_EQ(j["status"]["reason"], "BuildFailed");
  std::string log = j["status"].value("buildLog", "");
  EXPECT_NE(log.find("main.c:1: error: boom"), std::string::npos) << log;
  EXPECT_EQ(log.find("line11\n"), std::string::npos) << log;  // only the last 20 lines
  EXPECT_NE(log.find("line12\n"), std::string::npos) << log;
  EXPECT_NE(j["status"].value("message", "").find("exit 2"), std::string::npos)
      << j["status"].dump();
  EXPECT_TRUE(has_event("BuildFailed"));
}

TEST_F(SubmitterTest, SbatchRejectionIsSubmitRejected) {
  fake("reject", "Batch job submission failed: Invalid partition name specified");
  create_job({{"run", "true"}, {"slurm", {{"partition", "nope"}}}});
  ASSERT_TRUE(run_submitter().is_ok());
  json j = get_job();
  EXPECT_EQ(j["status"]["phase"], "Failed");
  EXPECT_EQ(j["status"]["reason"], "SubmitRejected");
  EXPECT_EQ(j["status"].value("message", ""),
            "sbatch: error: Batch job submission failed: Invalid partition name specified")
      << j["status"].dump();
  EXPECT_FALSE(j["status"].contains("jobId"));
  EXPECT_TRUE(has_event("SubmitRejected"));
}

TEST_F(SubmitterTest, CancelScancelsTheRunningJob) {
  fake("mode", "running");
  create_job({{"run", "sleep 1000"}});
  start_submitter();
  ASSERT_TRUE(eventually([&] { return phase() == "Running"; }, std::chrono::seconds(10)))
      << get_job().dump();
  ok("PATCH", "/apis/minik8s.io/v1/namespaces/default/gpujobs/job1", {{"spec", {{"cancel", true}}}},
     "application/merge-patch+json");
  ASSERT_TRUE(eventually([&] { return done_.load(); }, std::chrono::seconds(10)));
  thread_.join();
  EXPECT_TRUE(result_.is_ok()) << result_.message();
  EXPECT_EQ(phase(), "Cancelled");
  EXPECT_EQ(slurp(fake_ + "/scancel.args"), "100\n");
  EXPECT_NE(out_.str().find("started"), std::string::npos);
  EXPECT_TRUE(has_event("Cancelled"));
}

TEST_F(SubmitterTest, RestartAdoptsTheJobSlurmAlreadyHas) {
  json created = create_job({{"run", "true"}});
  std::string uid = created["metadata"]["uid"];
  // A previous run submitted job 7 and died before writing the status.
  fake("job.7.name", "mk-" + uid + "\n");
  fake("job.7.state", "RUNNING\n");
  start_submitter();
  ASSERT_TRUE(eventually([&] { return phase() == "Running"; }, std::chrono::seconds(10)))
      << get_job().dump();
  EXPECT_EQ(get_job()["status"]["jobId"], "7");
  fake("job.7.state", "COMPLETED\n");
  ASSERT_TRUE(eventually([&] { return done_.load(); }, std::chrono::seconds(10)));
  EXPECT_EQ(phase(), "Completed");
  EXPECT_FALSE(fs::exists(fake_ + "/sbatch.args"));  // never submitted twice
}

TEST_F(SubmitterTest, PendingShowsSlurmsReasonThenDeletionCancelsAndReleases) {
  fake("mode", "pending");
  fake("pending_reason", "Resources");
  create_job({{"run", "nvidia-smi"}, {"slurm", {{"gpus", 1}}}});
  start_submitter();
  ASSERT_TRUE(eventually([&] { return phase() == "Queued"; }, std::chrono::seconds(10)))
      << get_job().dump();
  json j = get_job();
  EXPECT_EQ(j["status"]["reason"], "Resources");
  EXPECT_EQ(j["status"]["jobId"], "100");
  EXPECT_EQ(j["status"]["queryCommand"], "scontrol show job 100");
  EXPECT_FALSE(j["status"].value("submitTime", "").empty());
  EXPECT_FALSE(j["status"].contains("startTime"));
  EXPECT_NE(slurp(fake_ + "/sbatch.args").find("--gres=gpu:1"), std::string::npos);
  EXPECT_TRUE(has_event("Queued"));
  // Deleting the job: scancel, then the finalizer goes and so does the job.
  auto d = call("DELETE", "/apis/minik8s.io/v1/namespaces/default/gpujobs/job1");
  ASSERT_LT(d.code, 300) << d.body;
  ASSERT_TRUE(eventually([&] { return done_.load(); }, std::chrono::seconds(10)));
  EXPECT_TRUE(result_.is_ok()) << result_.message();
  EXPECT_EQ(slurp(fake_ + "/scancel.args"), "100\n");
  EXPECT_TRUE(eventually([&] { return get_job().is_null(); }));
}

TEST_F(SubmitterTest, CancelBeforeSubmissionNeverCallsSbatch) {
  create_job({{"run", "true"}, {"cancel", true}});
  ASSERT_TRUE(run_submitter().is_ok());
  EXPECT_EQ(phase(), "Cancelled");
  EXPECT_FALSE(fs::exists(fake_ + "/sbatch.args"));
}

TEST_F(SubmitterTest, MissingClusterWaitsPending) {
  ok("DELETE", "/apis/minik8s.io/v1/slurmclusters/default");
  create_job({{"run", "true"}});
  start_submitter();
  ASSERT_TRUE(
      eventually([&] { return get_job()["status"].value("reason", "") == "SlurmClusterNotFound"; },
                 std::chrono::seconds(10)));
  EXPECT_EQ(phase(), "Pending");
  stop_ = true;
  thread_.join();
  EXPECT_FALSE(fs::exists(fake_ + "/sbatch.args"));
}

TEST(ArchiveChecks, ListingAndLinks) {
  EXPECT_TRUE(check_archive_listing("a\nsrc/b.c\n./c\n").is_ok());
  EXPECT_FALSE(check_archive_listing("a\n/etc/passwd\n").is_ok());
  EXPECT_FALSE(check_archive_listing("../x\n").is_ok());
  EXPECT_FALSE(check_archive_listing("a/../../x\n").is_ok());
  EXPECT_TRUE(check_archive_listing("a..b\n").is_ok());
  minik8s::testing::TempDir tmp("links");
  fs::create_directories(tmp.path() + "/d/sub");
  fs::create_symlink("sub", tmp.path() + "/d/ok");
  EXPECT_TRUE(check_links_inside(tmp.path() + "/d").is_ok());
  fs::create_symlink("../../x", tmp.path() + "/d/sub/bad");
  EXPECT_FALSE(check_links_inside(tmp.path() + "/d").is_ok());
  fs::remove(tmp.path() + "/d/sub/bad");
  fs::create_symlink("/etc/passwd", tmp.path() + "/d/abs");
  EXPECT_FALSE(check_links_inside(tmp.path() + "/d").is_ok());
}

}  // namespace
}  // namespace minik8s::gpu

namespace minik8s::gpu {
namespace {

class StageSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path() + "/job";
    scratch_ = tmp_.path() + "/scratch";
    src_ = tmp_.path() + "/src";
    for (auto* d : {&dir_, &scratch_, &src_}) fs::create_directories(*d);
    runner_ = make_exec_runner();
  }
  int sh(const std::string& cmd) { return ::system(cmd.c_str()); }
  std::string q(const std::string& s) { return slurm::shell_quote(s); }
  Status stage(const std::string& archive, const std::string& filename) {
    return stage_source(*runner_, slurp_bin(archive), filename, dir_, scratch_);
  }
  static std::string slurp_bin(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  minik8s::testing::TempDir tmp_{"stage"};
  std::string dir_, scratch_, src_;
  std::unique_ptr<Runner> runner_;
};

TEST_F(StageSourceTest, TarGzUnpacksIntoTheJobDirectory) {
  fs::create_directories(src_ + "/sub");
  std::ofstream(src_ + "/sub/main.c") << "int main(void) { return 0; }\n";
  write_exec(src_ + "/run.sh", "#!/bin/sh\necho hi\n");
  ASSERT_EQ(sh("tar -czf " + q(tmp_.path() + "/p.tar.gz") + " -C " + q(src_) + " ."), 0);
  Status st = stage(tmp_.path() + "/p.tar.gz", "p.tar.gz");
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(slurp(dir_ + "/sub/main.c"), "int main(void) { return 0; }\n");
  EXPECT_EQ(::access((dir_ + "/run.sh").c_str(), X_OK), 0);
  EXPECT_TRUE(fs::is_empty(scratch_));  // the staged archive is gone
}

TEST_F(StageSourceTest, PlainFileIsCopiedUnderItsName) {
  std::ofstream(tmp_.path() + "/k.cu") << "__global__ void k() {}\n";
  ASSERT_TRUE(stage(tmp_.path() + "/k.cu", "matmul.cu").is_ok());
  EXPECT_EQ(slurp(dir_ + "/matmul.cu"), "__global__ void k() {}\n");
  EXPECT_EQ(stage(tmp_.path() + "/k.cu", "../x.cu").code(), Code::kInvalid);
  EXPECT_EQ(stage(tmp_.path() + "/k.cu", "a/b.cu").code(), Code::kInvalid);
  EXPECT_FALSE(fs::exists(tmp_.path() + "/x.cu"));
}

TEST_F(StageSourceTest, HostileArchivesAreRefused) {
  // A member that climbs out, an absolute member, a link to the outside.
  ASSERT_EQ(sh("/usr/bin/python3 -c " +
               q("import tarfile, io, sys\n"
                 "def add(path, name, data=b'x', link=None):\n"
                 "  with tarfile.open(path, 'w:gz') as t:\n"
                 "    i = tarfile.TarInfo(name)\n"
                 "    if link: i.type = tarfile.SYMTYPE; i.linkname = link; t.addfile(i)\n"
                 "    else: i.size = len(data); t.addfile(i, io.BytesIO(data))\n"
                 "d = sys.argv[1]\n"
                 "add(d + '/up.tgz', '../up.txt')\n"
                 "add(d + '/abs.tgz', '/tmp/abs.txt')\n"
                 "add(d + '/link.tgz', 'etc', link='/etc')\n"
                 "add(d + '/rel.tgz', 'x', link='../../outside')\n") +
               " " + q(tmp_.path())),
            0);
  for (const char* name : {"up.tgz", "abs.tgz", "link.tgz", "rel.tgz"}) {
    Status st = stage(tmp_.path() + "/" + name, name);
    EXPECT_EQ(st.code(), Code::kInvalid) << name << ": " << st.message();
    EXPECT_NE(st.message().find("spec.source"), std::string::npos) << st.message();
  }
  EXPECT_FALSE(fs::exists(tmp_.path() + "/up.txt"));
  std::ofstream(tmp_.path() + "/junk.tar.gz") << "not an archive";
  EXPECT_EQ(stage(tmp_.path() + "/junk.tar.gz", "junk.tar.gz").code(), Code::kInvalid);
}

TEST_F(StageSourceTest, ZipUnpacks) {
  ASSERT_EQ(
      sh("/usr/bin/python3 -c " +
         q("import zipfile, sys\n"
           "with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
           "  z.writestr('Makefile', 'all:\\n\\ttrue\\n'); z.writestr('src/a.c', 'int a;\\n')\n") +
         " " + q(tmp_.path() + "/p.zip")),
      0);
  Status st = stage(tmp_.path() + "/p.zip", "p.zip");
  ASSERT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(slurp(dir_ + "/src/a.c"), "int a;\n");
  ASSERT_EQ(sh("/usr/bin/python3 -c " +
               q("import zipfile, sys\n"
                 "with zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('../evil.txt', 'x')\n") +
               " " + q(tmp_.path() + "/evil.zip")),
            0);
  EXPECT_EQ(stage(tmp_.path() + "/evil.zip", "evil.zip").code(), Code::kInvalid);
  EXPECT_FALSE(fs::exists(tmp_.path() + "/evil.txt"));
}

}  // namespace
}  // namespace minik8s::gpu
