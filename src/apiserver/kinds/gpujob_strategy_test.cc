// GPUJob and the blob store through the real handler (in-process requests):
// the finalizer at create, blob checks on spec.source.hash and
// status.result.hash, blob removal on delete (kept while another GPUJob
// names a blob), the blob endpoints and their 64 MiB limit, update rules,
// Tables and SlurmCluster defaults. Every refused write changes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/apiserver/code_store.h"
#include "test/fakes/mem_storage.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

const std::string kJobs = "/apis/minik8s.io/v1/namespaces/default/gpujobs";
const std::string kClusters = "/apis/minik8s.io/v1/slurmclusters";
const std::string kBlobs = kBlobApiPath;
const std::string kTable = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const std::string kMerge = "application/merge-patch+json";

json job(const std::string& name, const std::string& source_hash = "") {
  json j = {{"apiVersion", "minik8s.io/v1"},
            {"kind", "GPUJob"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"build", "make"},
              {"run", "./matmul 4096"},
              {"slurm",
               {{"partition", "gpu"},
                {"gpus", 1},
                {"cpusPerTask", 2},
                {"mem", "4G"},
                {"time", "00:10:00"}}}}}};
  if (!source_hash.empty())
    j["spec"]["source"] = {{"hash", source_hash}, {"filename", "matmul.tar.gz"}};
  return j;
}

class GpuJobKindsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    ApiServerOptions opts;
    opts.port = 0;
    opts.blob_dir = dir_.path() + "/blobs";
    opts.code_dir = dir_.path() + "/code";
    auto s = ApiServer::start(store_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(s.value());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  LocalResponse call(const std::string& method, const std::string& target,
                     const json& body = nullptr,
                     const std::string& content_type = "application/json",
                     const std::string& accept = "application/json") {
    return server_->local_request(method, target, body.is_null() ? "" : body.dump(),
                                  {{"Content-Type", content_type}, {"Accept", accept}});
  }
  json ok(const std::string& method, const std::string& target, const json& body = nullptr,
          const std::string& content_type = "application/json") {
    LocalResponse r = call(method, target, body, content_type);
    EXPECT_LT(r.code, 300) << method << " " << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }
  // A 422 with one cause, on field, its message containing msg.
  void invalid(const std::string& method, const std::string& target, const json& body,
               const std::string& field, const std::string& msg,
               const std::string& content_type = "application/json") {
    LocalResponse r = call(method, target, body, content_type);
    ASSERT_EQ(r.code, 422) << r.body;
    json st = json::parse(r.body, nullptr, false);
    const json& causes = st["details"]["causes"];
    ASSERT_EQ(causes.size(), 1u) << r.body;
    EXPECT_EQ(causes[0]["field"], field) << r.body;
    EXPECT_NE(causes[0]["message"].get<std::string>().find(msg), std::string::npos) << r.body;
  }
  std::string upload(const std::string& bytes) {
    LocalResponse r = server_->local_request("POST", kBlobs, bytes,
                                             {{"Content-Type", "application/octet-stream"}});
    EXPECT_TRUE(r.code == 201 || r.code == 200) << r.body;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_EQ(j["size"], bytes.size()) << r.body;
    return j.value("hash", "");
  }
  bool stored(const std::string& hash) {
    return std::filesystem::exists(dir_.path() + "/blobs/sha256/" + hash.substr(7));
  }
  // Deletes a job and removes its finalizer (as the submitter would).
  void remove_job(const std::string& name) {
    ok("DELETE", kJobs + "/" + name);
    EXPECT_EQ(call("GET", kJobs + "/" + name).code, 200);  // kept by the finalizer
    ok("PATCH", kJobs + "/" + name, {{"metadata", {{"finalizers", nullptr}}}}, kMerge);
    EXPECT_EQ(call("GET", kJobs + "/" + name).code, 404);
  }

  testing::TempDir dir_{"gpujob"};
  testing::MemStorage store_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(GpuJobKindsTest, CreatedWithFinalizerDefaultsAndPendingStatus) {
  json j = ok("POST", kJobs, job("matmul"));
  EXPECT_EQ(j["metadata"]["finalizers"], json::array({"minik8s.io/slurm-job"}));
  EXPECT_EQ(j["spec"]["slurm"]["cluster"], "default");
  EXPECT_EQ(j["spec"]["cancel"], false);
  EXPECT_EQ(j["status"], json({{"phase", "Pending"}}));
  // A client's own status is replaced; its finalizers are kept, ours added once.
  json k = job("other");
  k["metadata"]["finalizers"] = {"example.com/x", "minik8s.io/slurm-job"};
  k["status"] = {{"phase", "Completed"}};
  json created = ok("POST", kJobs, k);
  EXPECT_EQ(created["metadata"]["finalizers"],
            json::array({"example.com/x", "minik8s.io/slurm-job"}));
  EXPECT_EQ(created["status"]["phase"], "Pending");

  LocalResponse t = call("GET", kJobs, nullptr, "application/json", kTable);
  ASSERT_EQ(t.code, 200) << t.body;
  json table = json::parse(t.body);
  std::vector<std::string> cols;
  for (const auto& c : table["columnDefinitions"]) cols.push_back(c["name"]);
  EXPECT_EQ(cols, (std::vector<std::string>{"NAME", "PHASE", "JOBID", "NODE", "SUBMITTED",
                                            "DURATION", "AGE", "PARTITION", "GPUS", "REASON"}));
  ASSERT_EQ(table["rows"].size(), 2u);
  EXPECT_EQ(table["rows"][0]["cells"][0], "matmul");
  EXPECT_EQ(table["rows"][0]["cells"][1], "Pending");
  EXPECT_EQ(table["rows"][0]["cells"][7], "gpu");
  EXPECT_EQ(table["rows"][0]["cells"][8], 1);
}

TEST_F(GpuJobKindsTest, InvalidFieldsAreRefusedNamingTheField) {
  json bad = job("matmul");
  bad["spec"]["slurm"]["sbatchArgs"] = {"--output=/etc/passwd"};
  invalid("POST", kJobs, bad, "spec.slurm.sbatchArgs[0]", "--output");
  bad = job("matmul");
  bad["spec"]["slurm"]["output"] = "../x";
  invalid("POST", kJobs, bad, "spec.slurm.output", "");
  invalid("POST", kJobs, job(std::string(54, 'a')), "metadata.name", "53");
  EXPECT_EQ(ok("GET", kJobs)["items"].size(), 0u);
  // Strict field validation knows the schema.
  json unknown = job("matmul");
  unknown["spec"]["slurm"]["gpu"] = 1;
  LocalResponse r = call("POST", kJobs + "?fieldValidation=Strict", unknown);
  EXPECT_EQ(r.code, 400) << r.body;
  EXPECT_NE(r.body.find("spec.slurm.gpu"), std::string::npos) << r.body;
}

TEST_F(GpuJobKindsTest, OnlyCancelMayChange) {
  ok("POST", kJobs, job("matmul"));
  invalid("PATCH", kJobs + "/matmul", {{"spec", {{"run", "./matmul 8192"}}}}, "spec.run",
          "field is immutable", kMerge);
  invalid("PATCH", kJobs + "/matmul", {{"spec", {{"slurm", {{"gpus", 2}}}}}}, "spec.slurm.gpus",
          "field is immutable", kMerge);
  json c = ok("PATCH", kJobs + "/matmul", {{"spec", {{"cancel", true}}}}, kMerge);
  EXPECT_EQ(c["spec"]["cancel"], true);
  EXPECT_EQ(c["metadata"]["generation"], 2);
  invalid("PATCH", kJobs + "/matmul", {{"spec", {{"cancel", false}}}}, "spec.cancel",
          "stays cancelled", kMerge);
  // Status writes go through (and their shape is checked).
  ok("PATCH", kJobs + "/matmul/status", {{"status", {{"phase", "Cancelled"}}}}, kMerge);
  invalid("PATCH", kJobs + "/matmul/status", {{"status", {{"phase", "Done"}}}}, "status.phase",
          "Unsupported", kMerge);
}

TEST_F(GpuJobKindsTest, SourceAndResultMustBeStoredBlobs) {
  const std::string absent = CodeStore::hash_of("never uploaded");
  invalid("POST", kJobs, job("matmul", absent), "spec.source.hash",
          "no such blob in the blob store");
  EXPECT_EQ(ok("GET", kJobs)["items"].size(), 0u);
  const std::string src = upload("source tarball");
  EXPECT_EQ(src, CodeStore::hash_of("source tarball"));
  ok("POST", kJobs, job("matmul", src));

  json result = {
      {"status",
       {{"phase", "Completed"}, {"result", {{"hash", absent}, {"size", 3}, {"files", {"a"}}}}}}};
  invalid("PATCH", kJobs + "/matmul/status", result, "status.result.hash", "no such blob", kMerge);
  const std::string res = upload("result archive");
  result["status"]["result"]["hash"] = res;
  json done = ok("PATCH", kJobs + "/matmul/status", result, kMerge);
  EXPECT_EQ(done["status"]["result"]["hash"], res);
  // Unchanged hashes are not re-checked: a later status write passes even
  // with the blob gone.
  ASSERT_TRUE(std::filesystem::remove(dir_.path() + "/blobs/sha256/" + res.substr(7)));
  ok("PATCH", kJobs + "/matmul/status", {{"status", {{"message", "done"}}}}, kMerge);
}

TEST_F(GpuJobKindsTest, DeleteRemovesBlobsNoOtherJobNames) {
  const std::string shared = upload("shared source");
  const std::string own = upload("result of a");
  const std::string other = upload("result of b");
  ok("POST", kJobs, job("a", shared));
  ok("POST", kJobs, job("b", shared));
  ok("PATCH", kJobs + "/a/status", {{"status", {{"result", {{"hash", own}, {"size", 11}}}}}},
     kMerge);
  ok("PATCH", kJobs + "/b/status", {{"status", {{"result", {{"hash", other}, {"size", 11}}}}}},
     kMerge);
  // A job in another namespace naming the same result keeps it too.
  ok("POST", "/api/v1/namespaces", {{"metadata", {{"name", "team"}}}});
  ok("POST", "/apis/minik8s.io/v1/namespaces/team/gpujobs", job("c", other));

  remove_job("a");
  EXPECT_TRUE(stored(shared));  // b still names it
  EXPECT_FALSE(stored(own));
  EXPECT_EQ(call("GET", kBlobs + "/" + own).code, 404);
  remove_job("b");
  EXPECT_FALSE(stored(shared));
  EXPECT_TRUE(stored(other));  // team/c names it as its source
  EXPECT_EQ(call("GET", kBlobs + "/" + other).code, 200);
}

TEST_F(GpuJobKindsTest, BlobEndpoints) {
  const std::string bytes = std::string("\0\x01\xff binary", 10);
  const std::string h = upload(bytes);
  LocalResponse again =
      server_->local_request("POST", kBlobs, bytes, {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(again.code, 200) << again.body;  // already stored
  LocalResponse g = server_->local_request("GET", kBlobs + "/" + h);
  ASSERT_EQ(g.code, 200) << g.body;
  EXPECT_EQ(g.body, bytes);
  EXPECT_EQ(g.content_type, "application/octet-stream");
  EXPECT_EQ(server_->local_request("GET", kBlobs + "/sha256:abc").code, 400);
  EXPECT_EQ(server_->local_request("GET", kBlobs + "/" + CodeStore::hash_of("x")).code, 404);
  EXPECT_EQ(server_->local_request("GET", kBlobs).code, 405);
  EXPECT_EQ(server_->local_request("DELETE", kBlobs + "/" + h).code, 405);
  // The blob store and the code store are separate.
  EXPECT_EQ(server_->local_request("GET", std::string(kCodeApiPath) + "/" + h).code, 404);

  LocalResponse big = server_->local_request("POST", kBlobs, std::string(kMaxBlobBytes + 1, 'x'));
  EXPECT_EQ(big.code, 413) << big.body.substr(0, 300);
  EXPECT_NE(big.body.find("blob upload is 67108865 bytes; the limit is 67108864 bytes (64 MiB)"),
            std::string::npos)
      << big.body.substr(0, 300);
  // 64 MiB exactly is fine; the code store keeps its own 8 MiB limit.
  LocalResponse max = server_->local_request("POST", kBlobs, std::string(kMaxBlobBytes, 'y'));
  EXPECT_EQ(max.code, 201) << max.body.substr(0, 300);
  LocalResponse code =
      server_->local_request("POST", kCodeApiPath, std::string(kMaxCodeBytes + 1, 'z'));
  EXPECT_EQ(code.code, 413);
  EXPECT_NE(code.body.find("(8 MiB)"), std::string::npos) << code.body;
}

TEST_F(GpuJobKindsTest, SlurmClusterDefaultsAndTable) {
  json c = ok("POST", kClusters,
              {{"apiVersion", "minik8s.io/v1"},
               {"kind", "SlurmCluster"},
               {"metadata", {{"name", "default"}}},
               {"spec",
                {{"controller", {{"host", "127.0.0.1"}}},
                 {"auth", {{"secretRef", {{"namespace", "kube-system"}, {"name", "slurm-munge"}}}}},
                 {"workDir", "/var/tmp/minik8s-slurm/work"}}}});
  EXPECT_EQ(c["spec"]["controller"]["port"], 6817);
  EXPECT_EQ(c["spec"]["clusterName"], "default");
  EXPECT_EQ(c["spec"]["submitterImage"], "minik8s.io/slurm-submitter:1");
  EXPECT_EQ(c["metadata"].contains("finalizers"), false);
  LocalResponse t = call("GET", kClusters, nullptr, "application/json", kTable);
  json table = json::parse(t.body);
  ASSERT_EQ(table["rows"].size(), 1u) << t.body;
  EXPECT_EQ(table["rows"][0]["cells"],
            json({"default", "127.0.0.1:6817", "/var/tmp/minik8s-slurm/work",
                  table["rows"][0]["cells"][3]}));
  invalid("PATCH", kClusters + "/default", {{"spec", {{"workDir", "/a/../b"}}}}, "spec.workDir",
          "normalized", kMerge);
}

}  // namespace
}  // namespace minik8s::apiserver
