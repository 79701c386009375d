// mkctl gpujob … in-process against a real ApiServer. No controller or
// submitter runs here: the test writes each job's status through the status
// subresource, as the submitter would, and checks what the CLI makes of it
// (the table and the waiting-job lines, describe, cancel, download of a
// result archive, delete --wait behind a finalizer) and that bad input is
// refused before anything is created.
//
// The source/result parts need the API server's blob store
// (ApiServerOptions::blob_dir, docs/gpu.md "Blob store"); they are skipped,
// saying so, on a server built without it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "minik8s/apiserver/code_store.h"
#include "minik8s/cli/mkctl.h"
#include "src/cli/pack.h"
#include "test/fakes/eventually.h"
#include "test/fakes/local_api.h"

namespace minik8s::cli {
namespace {

using Json = nlohmann::json;
using minik8s::testing::eventually;

const std::string kJobs = "/apis/minik8s.io/v1/namespaces/default/gpujobs";
const std::string kBlobs = "/apis/minik8s.io/v1/blobs";

const char* kJobYaml = R"(apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: matmul}
spec:
  build: make
  run: ./matmul 4096
  slurm: {partition: gpu, gpus: 1, cpusPerTask: 2, mem: 4G, time: "00:10:00"}
)";

struct CliRun {
  int rc;
  std::string out, err;
};

class GpuJobCliTest : public testing::ApiServerFixture {
 protected:
  void configure(apiserver::ApiServerOptions& o) override {
    blob_dir_ =
        std::filesystem::temp_directory_path() / ("mk-gjcli-blobs-" + std::to_string(::getpid()) +
                                                  "-" + std::to_string(std::random_device{}()));
    o.blob_dir = blob_dir_.string();
  }
  void TearDown() override {
    testing::ApiServerFixture::TearDown();
    std::error_code ec;
    std::filesystem::remove_all(blob_dir_, ec);
  }
  CliRun mkctl(std::vector<std::string> args, const std::string& in_text = "") {
    args.insert(args.begin(), {"--server", local_.url()});
    std::ostringstream out, err;
    std::istringstream in(in_text);
    int rc = run_mkctl(args, out, err, in);
    return {rc, out.str(), err.str()};
  }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir() / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  bool have_blobs() { return req("POST", kBlobs, "probe", "application/octet-stream").code == 201; }
  Json job(const std::string& name) { return req("GET", kJobs + "/" + name).j(); }
  size_t job_count() {
    Json l = req("GET", kJobs).j();
    return l.contains("items") ? l["items"].size() : 0;
  }
  // Writes status as the submitter would (the status subresource).
  void set_status(const std::string& name, const Json& status) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      Json obj = job(name);
      obj["status"] = status;
      auto r = req("PUT", kJobs + "/" + name + "/status", obj.dump());
      if (r.code == 409) continue;
      ASSERT_EQ(r.code, 200) << r.body;
      return;
    }
    FAIL() << "status of " << name << " kept conflicting";
  }

  std::filesystem::path blob_dir_;
};

TEST_F(GpuJobCliTest, SubmitGetDescribeCancelDelete) {
  auto s = mkctl({"gj", "submit", "-f", write("job.yaml", kJobYaml)});
  ASSERT_EQ(s.rc, 0) << s.err;
  EXPECT_EQ(s.out, "gpujob.minik8s.io/matmul submitted\n");
  Json j = job("matmul");
  EXPECT_EQ(j["spec"]["run"], "./matmul 4096");
  EXPECT_EQ(j["spec"]["slurm"]["gpus"], 1);

  auto g = mkctl({"gpujob", "get"});
  ASSERT_EQ(g.rc, 0) << g.err;
  EXPECT_EQ(g.out.rfind("NAME     PHASE     JOBID    NODE     SUBMITTED   DURATION   AGE\n"
                        "matmul   Pending   <none>   <none>   <none>      <none>     ",
                        0),
            0u)
      << g.out;

  // Queued in Slurm: the table and the job id, submit time, reason and query.
  ASSERT_NO_FATAL_FAILURE(set_status("matmul", {{"phase", "Queued"},
                                                {"jobId", "42"},
                                                {"submitTime", "2026-12-07T18:00:01Z"},
                                                {"reason", "Resources"},
                                                {"queryCommand", "scontrol show job 42"}}));
  auto q = mkctl({"gj", "list"});
  ASSERT_EQ(q.rc, 0) << q.err;
  EXPECT_NE(q.out.find("\nmatmul   Queued   42      <none>"), std::string::npos) << q.out;
  EXPECT_NE(q.out.find("\n\nmatmul is waiting in Slurm (Queued):\n"
                       "  Job ID:       42\n"
                       "  Submit Time:  2026-12-07T18:00:01Z\n"
                       "  Reason:       Resources\n"
                       "  Query:        scontrol show job 42\n"),
            std::string::npos)
      << q.out;
  auto one = mkctl({"gj", "get", "matmul", "-o", "json"});
  ASSERT_EQ(one.rc, 0) << one.err;
  EXPECT_EQ(Json::parse(one.out)["status"]["jobId"], "42");

  auto d = mkctl({"gj", "describe", "matmul"});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_NE(d.out.find("Run:        ./matmul 4096\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("  Partition:      gpu\n"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("  Phase:        Queued\n  Reason:       Resources\n"
                       "  Job ID:       42\n"),
            std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("Events:"), std::string::npos) << d.out;

  // Nothing to download and no submitter pod yet: one clear line each.
  auto dl = mkctl({"gj", "download", "matmul", "-o", (dir() / "r").string()});
  EXPECT_EQ(dl.rc, 1);
  EXPECT_EQ(dl.err,
            "error: gpujob \"matmul\" has no result yet (phase Queued): it comes once the "
            "job ends\n");
  auto lg = mkctl({"gj", "logs", "matmul"});
  EXPECT_EQ(lg.rc, 1);
  EXPECT_EQ(lg.err,
            "error: gpujob \"matmul\" has no submitter pod (matmul-submitter not found; "
            "phase Queued, reason Resources)\n");

  // With a submitter pod, logs asks pods/log for its container "submitter"
  // (here it has another one too, and no node: the server says so).
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "matmul-submitter"}}},
              {"spec",
               {{"containers",
                 {{{"name", "helper"}, {"image", "busybox"}},
                  {{"name", "submitter"}, {"image", "minik8s.io/slurm-submitter:1"}}}}}}};
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod).code, 201);
  auto lp = mkctl({"gj", "logs", "matmul"});
  EXPECT_EQ(lp.rc, 1);
  EXPECT_NE(lp.err.find("pod matmul-submitter does not have a host assigned"), std::string::npos)
      << lp.err;

  auto c = mkctl({"gj", "cancel", "matmul"});
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(c.out, "gpujob.minik8s.io/matmul cancel requested\n");
  EXPECT_EQ(job("matmul")["spec"]["cancel"], true);
  auto c2 = mkctl({"gj", "cancel", "matmul"});
  EXPECT_EQ(c2.out, "gpujob.minik8s.io/matmul cancel already requested (phase Queued)\n");
  ASSERT_NO_FATAL_FAILURE(set_status("matmul", {{"phase", "Cancelled"}, {"jobId", "42"}}));
  auto c3 = mkctl({"gj", "cancel", "matmul"});
  EXPECT_EQ(c3.out, "gpujob.minik8s.io/matmul already Cancelled\n");
  auto dl2 = mkctl({"gj", "download", "matmul"});
  EXPECT_EQ(dl2.rc, 1);
  EXPECT_NE(dl2.err.find("has no result and will have none"), std::string::npos) << dl2.err;

  // delete --wait waits for the finalizers (the submitter's, here the test's).
  Json fin = {{"metadata", {{"finalizers", {"test.minik8s.io/hold"}}}}};
  ASSERT_EQ(req("PATCH", kJobs + "/matmul", fin.dump(), "application/merge-patch+json").code, 200);
  auto waiting = std::async(std::launch::async, [this] {
    return mkctl({"gj", "delete", "matmul", "--wait", "--timeout", "20s"});
  });
  ASSERT_TRUE(eventually([&] { return job("matmul")["metadata"].contains("deletionTimestamp"); },
                         std::chrono::seconds(10)));
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  Json release = {{"metadata", {{"finalizers", nullptr}}}};
  ASSERT_EQ(req("PATCH", kJobs + "/matmul", release.dump(), "application/merge-patch+json").code,
            200);
  auto del = waiting.get();
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out, "gpujob.minik8s.io \"matmul\" deleted\n");
  EXPECT_EQ(req("GET", kJobs + "/matmul").code, 404);
  auto gone = mkctl({"gj", "describe", "matmul"});
  EXPECT_EQ(gone.rc, 1);
  EXPECT_EQ(gone.err.rfind("Error from server (NotFound): ", 0), 0u) << gone.err;
}

TEST_F(GpuJobCliTest, DeleteWaitTimesOutNamingTheFinalizer) {
  ASSERT_EQ(mkctl({"gj", "submit", "-f", write("job.yaml", kJobYaml)}).rc, 0);
  Json fin = {{"metadata", {{"finalizers", {"test.minik8s.io/hold"}}}}};
  ASSERT_EQ(req("PATCH", kJobs + "/matmul", fin.dump(), "application/merge-patch+json").code, 200);
  auto r = mkctl({"gj", "delete", "matmul", "--wait", "--timeout", "300ms"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("error: timed out after 300ms waiting for gpujob \"matmul\" to go "
                        "(finalizers: ",
                        0),
            0u)
      << r.err;
  EXPECT_NE(r.err.find("test.minik8s.io/hold"), std::string::npos) << r.err;
  Json release = {{"metadata", {{"finalizers", nullptr}}}};
  req("PATCH", kJobs + "/matmul", release.dump(), "application/merge-patch+json");
}

TEST_F(GpuJobCliTest, BadInputIsRefusedBeforeAnythingIsCreated) {
  auto pod =
      mkctl({"gj", "submit", "-f",
             write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n")});
  EXPECT_EQ(pod.rc, 1);
  EXPECT_NE(pod.err.find("kind is \"Pod\", not GPUJob"), std::string::npos) << pod.err;
  auto two =
      mkctl({"gj", "submit", "-f", write("two.yaml", std::string(kJobYaml) + "---\n" + kJobYaml)});
  EXPECT_EQ(two.rc, 1);
  EXPECT_NE(two.err.find("expected one GPUJob, found 2 documents"), std::string::npos) << two.err;
  std::string missing = (dir() / "no-such-src").string();
  auto nosrc = mkctl({"gj", "submit", "-f", write("job.yaml", kJobYaml), "--source", missing});
  EXPECT_EQ(nosrc.rc, 1);
  EXPECT_EQ(nosrc.err, "error: --source " + missing + ": no such file or directory\n");
  std::string with_source = std::string(kJobYaml) +
                            "  source: {hash: \"sha256:" + std::string(64, 'a') +
                            "\", filename: a.cu}\n";
  auto both = mkctl({"gj", "submit", "-f", write("both.yaml", with_source), "--source",
                     write("a.cu", "int main() {}\n")});
  EXPECT_EQ(both.rc, 1);
  EXPECT_NE(both.err.find("sets spec.source and --source was given: use one"), std::string::npos)
      << both.err;
  auto nofile = mkctl({"gj", "submit", "-f", (dir() / "absent.yaml").string()});
  EXPECT_EQ(nofile.rc, 1);
  EXPECT_NE(nofile.err.find("does not exist"), std::string::npos) << nofile.err;
  EXPECT_EQ(job_count(), 0u);
  auto none = mkctl({"gj", "get"});
  EXPECT_EQ(none.rc, 0);
  EXPECT_EQ(none.err, "No resources found in default namespace.\n");
}

TEST_F(GpuJobCliTest, SourceUploadAndResultDownload) {
  ASSERT_TRUE(have_blobs()) << "the fixture's API server has no blob store";
  write("prog/Makefile", "all:\n\tcc -o add add.c\n");
  write("prog/add.c", "int main() { return 0; }\n");
  write("prog/.git/HEAD", "ref\n");
  auto s = mkctl(
      {"gj", "submit", "-f", write("job.yaml", kJobYaml), "--source", (dir() / "prog").string()});
  ASSERT_EQ(s.rc, 0) << s.err;
  EXPECT_EQ(s.out, "gpujob.minik8s.io/matmul submitted\n");
  Json src = job("matmul")["spec"]["source"];
  EXPECT_EQ(src["filename"], "prog.tar.gz");
  auto packed = tar_gz_directory((dir() / "prog").string(), 64 << 20);
  ASSERT_TRUE(packed);
  auto blob = req("GET", kBlobs + "/" + src["hash"].get<std::string>());
  ASSERT_EQ(blob.code, 200);
  EXPECT_EQ(blob.body, *packed);  // the deterministic archive, as packed here

  // A job the server refuses (the name is taken) uploads nothing.
  std::string other = write("other.cu", "int other;\n");
  auto dup = mkctl({"gj", "submit", "-f", write("job.yaml", kJobYaml), "--source", other});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.err.rfind("Error from server (AlreadyExists): ", 0), 0u) << dup.err;
  EXPECT_EQ(req("GET", kBlobs + "/" + apiserver::CodeStore::hash_of("int other;\n")).code, 404);

  // A single file goes as it is, under its name.
  std::string yaml2 = kJobYaml;
  yaml2.replace(yaml2.find("name: matmul"), 12, "name: single");
  auto f = mkctl({"gj", "submit", "-f", write("job2.yaml", yaml2), "--source",
                  write("vec_add.cu", "__global__ void add() {}\n")});
  ASSERT_EQ(f.rc, 0) << f.err;
  Json src2 = job("single")["spec"]["source"];
  EXPECT_EQ(src2["filename"], "vec_add.cu");
  EXPECT_EQ(req("GET", kBlobs + "/" + src2["hash"].get<std::string>()).body,
            "__global__ void add() {}\n");

  // A finished job's result archive, downloaded and unpacked.
  write("res/out.txt", "max error 0\n");
  write("res/sub/C.bin", std::string(3000, 'c'));
  auto res = tar_gz_directory((dir() / "res").string(), 64 << 20);
  ASSERT_TRUE(res);
  auto up = req("POST", kBlobs, *res, "application/octet-stream");
  ASSERT_EQ(up.code, 201) << up.body;
  std::string hash = up.j()["hash"];
  ASSERT_NO_FATAL_FAILURE(set_status(
      "matmul",
      {{"phase", "Completed"},
       {"jobId", "41"},
       {"exitCode", 0},
       {"result", {{"hash", hash}, {"size", res->size()}, {"files", {"out.txt", "sub/C.bin"}}}}}));
  std::string out_dir = (dir() / "results").string();
  auto dl = mkctl({"gj", "download", "matmul", "-o", out_dir});
  ASSERT_EQ(dl.rc, 0) << dl.err;
  EXPECT_EQ(dl.out, "gpujob.minik8s.io/matmul: 2 files written to " + out_dir +
                        "\n  out.txt\n  sub/C.bin\n");
  std::ifstream in(out_dir + "/out.txt");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "max error 0");
  EXPECT_EQ(std::filesystem::file_size(out_dir + "/sub/C.bin"), 3000u);
  auto d = mkctl({"gj", "describe", "matmul"});
  EXPECT_NE(d.out.find("  Result:     " + hash + " (" + std::to_string(res->size()) +
                       " bytes: out.txt, sub/C.bin)\n"),
            std::string::npos)
      << d.out;
}

}  // namespace
}  // namespace minik8s::cli
