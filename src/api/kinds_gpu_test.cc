// The GPUJob and SlurmCluster table entries: defaults, field validation (the
// grammars of docs/gpu.md), update rules, Tables and schemas.
#include <gtest/gtest.h>

#include <algorithm>
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

const ResourceType& kind(const char* k) { return kinds_test::kind("minik8s.io/v1", k); }

FieldErrors check(const char* k, Json obj, const Json* old = nullptr) {
  return check(kind(k), std::move(obj), old);
}

// The issue's pinned example.
Json job() {
  return J(R"({"apiVersion":"minik8s.io/v1","kind":"GPUJob",
               "metadata":{"name":"matmul","namespace":"default"},
               "spec":{"build":"make","run":"./matmul 4096",
                       "slurm":{"partition":"gpu","gpus":1,"cpusPerTask":2,"mem":"4G","time":"00:10:00"}}})");
}

Json cluster() {
  return J(R"({"apiVersion":"minik8s.io/v1","kind":"SlurmCluster","metadata":{"name":"default"},
               "spec":{"controller":{"host":"127.0.0.1","name":"minik8s-slurm","port":16817},
                       "auth":{"secretRef":{"namespace":"kube-system","name":"slurm-munge"}},
                       "workDir":"/var/tmp/minik8s-slurm/work"}})");
}

FieldErrors slurm_with(const char* key, Json value) {
  Json j = job();
  j["spec"]["slurm"][key] = value;
  return check("GPUJob", j);
}

TEST(GpuKindsTest, TableEntries) {
  const ResourceType& g = kind("GPUJob");
  EXPECT_TRUE(g.namespaced);
  EXPECT_EQ(g.plural, "gpujobs");
  EXPECT_EQ(g.short_names, std::vector<std::string>{"gj"});
  EXPECT_EQ(find_by_user_name("gj"), &g);
  EXPECT_EQ(find_by_user_name("gpujobs"), &g);
  const ResourceType& c = kind("SlurmCluster");
  EXPECT_FALSE(c.namespaced);
  EXPECT_EQ(find_by_user_name("slurmclusters"), &c);
}

TEST(GpuKindsTest, PinnedExampleIsValidAndDefaulted) {
  Json j = job();
  kind("GPUJob").set_defaults(j);
  EXPECT_EQ(j["spec"]["slurm"]["cluster"], "default");
  EXPECT_EQ(j["spec"]["cancel"], false);
  FieldErrors errs;
  kind("GPUJob").validate(j, nullptr, errs);
  EXPECT_TRUE(errs.empty()) << dump(errs);
  // Without slurm at all: the cluster default still applies.
  Json bare = J(R"({"metadata":{"name":"a","namespace":"default"},"spec":{"run":"true"}})");
  kind("GPUJob").set_defaults(bare);
  EXPECT_EQ(bare["spec"]["slurm"]["cluster"], "default");
  Json st = job();
  kind("GPUJob").initial_status(st);
  EXPECT_EQ(st["status"]["phase"], "Pending");
}

TEST(GpuKindsTest, FullSpecIsValid) {
  Json j = job();
  j["spec"]["source"] = {{"hash", "sha256:" + std::string(64, 'a')}, {"filename", "matmul.tar.gz"}};
  j["spec"]["slurm"] =
      J(R"({"cluster":"hpc.example","partition":"gpu_a100","nodes":2,"ntasksPerNode":4,
      "cpusPerTask":8,"gpus":0,"mem":"16384","time":"1-12:00:00","account":"proj-1","qos":"normal",
      "output":"out-%j.txt","error":"err_%x_%N.%A-%a","sbatchArgs":["--exclusive","--constraint=a100&","--mail-user=a@b.c"]})");
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.slurm.sbatchArgs[1]", "may contain only");
  j["spec"]["slurm"]["sbatchArgs"][1] = "--gres-flags=enforce-binding";
  FieldErrors errs = check("GPUJob", j);
  EXPECT_TRUE(errs.empty()) << dump(errs);
}

TEST(GpuKindsTest, NameIsALabelOfAtMost53) {
  Json j = job();
  j["metadata"]["name"] = std::string(53, 'a');
  EXPECT_TRUE(check("GPUJob", j).empty());
  j["metadata"]["name"] = std::string(54, 'a');
  EXPECT_ONLY_ERROR(check("GPUJob", j), "metadata.name", "no more than 53");
  j["metadata"]["name"] = "a.b";
  EXPECT_ONLY_ERROR(check("GPUJob", j), "metadata.name", "");
}

TEST(GpuKindsTest, Commands) {
  Json j = job();
  j["spec"].erase("run");
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.run", "Required value");
  j["spec"]["run"] = "";
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.run", "Required value");
  j["spec"]["run"] = 3;
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.run", "");
  j["spec"]["run"] = std::string(64 * 1024 + 1, 'x');
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.run", "Too long");
  j["spec"]["run"] = std::string(64 * 1024, 'x');
  EXPECT_TRUE(check("GPUJob", j).empty());
  j["spec"]["run"] = std::string("echo a\0b", 8);
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.run", "NUL");
  j = job();
  j["spec"]["build"] = std::string("make\0", 5);
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.build", "NUL");
  j["spec"]["build"] = "";  // no build step
  EXPECT_TRUE(check("GPUJob", j).empty());
  j["spec"]["cancel"] = "yes";
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.cancel", "");
}

TEST(GpuKindsTest, Source) {
  Json j = job();
  j["spec"]["source"] = {{"hash", "sha256:" + std::string(64, 'A')}, {"filename", "m.cu"}};
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source.hash", "64 lower-case hex");
  j["spec"]["source"] = {{"filename", "m.cu"}};
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source.hash", "Required value");
  const std::string h = "sha256:" + std::string(64, '0');
  j["spec"]["source"] = {{"hash", h}};
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source.filename", "Required value");
  for (const char* bad : {"../x", "a/b", ".minik8s", ".", "..", "-rf", "a b", "x;rm", "m$.cu"}) {
    j["spec"]["source"] = {{"hash", h}, {"filename", bad}};
    EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source.filename", "") << bad;
  }
  j["spec"]["source"] = {{"hash", h}, {"filename", std::string(101, 'a')}};
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source.filename", "100");
  j["spec"]["source"] = {{"hash", h}, {"filename", "%j.cu"}};  // no Slurm patterns here
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source.filename", "");
  j["spec"]["source"] = "x";
  EXPECT_ONLY_ERROR(check("GPUJob", j), "spec.source", "");
}

TEST(GpuKindsTest, SlurmNumbers) {
  EXPECT_ONLY_ERROR(slurm_with("nodes", 0), "spec.slurm.nodes", "between 1 and 1024");
  EXPECT_ONLY_ERROR(slurm_with("nodes", 1025), "spec.slurm.nodes", "between 1 and 1024");
  EXPECT_ONLY_ERROR(slurm_with("ntasksPerNode", 0), "spec.slurm.ntasksPerNode", "between");
  EXPECT_ONLY_ERROR(slurm_with("cpusPerTask", 2000), "spec.slurm.cpusPerTask", "between");
  EXPECT_ONLY_ERROR(slurm_with("gpus", 65), "spec.slurm.gpus", "between 0 and 64");
  EXPECT_ONLY_ERROR(slurm_with("gpus", -1), "spec.slurm.gpus", "between 0 and 64");
  EXPECT_ONLY_ERROR(slurm_with("gpus", "1"), "spec.slurm.gpus", "");
  EXPECT_TRUE(slurm_with("gpus", 64).empty());
}

TEST(GpuKindsTest, SlurmStrings) {
  for (const char* ok : {"1", "4G", "512M", "100K", "2T"})
    EXPECT_TRUE(slurm_with("mem", ok).empty()) << ok;
  for (const char* bad : {"", "G", "4GB", "4g", "-1", "4 G", "$(id)"}) {
    EXPECT_ONLY_ERROR(slurm_with("mem", bad), "spec.slurm.mem", "") << bad;
  }
  for (const char* ok : {"10", "10:30", "01:10:00", "2-12", "2-12:30", "2-12:30:00"}) {
    EXPECT_TRUE(slurm_with("time", ok).empty()) << ok;
  }
  for (const char* bad :
       {"", "1:2:3:4", "2-", "-1", "1--2", "a", "1:", ":1", "1-2-3", "2-1:2:3:4"}) {
    EXPECT_ONLY_ERROR(slurm_with("time", bad), "spec.slurm.time", "time forms") << bad;
  }
  for (const char* key : {"partition", "account", "qos"}) {
    EXPECT_TRUE(slurm_with(key, "a.b_c-1").empty()) << key;
    EXPECT_ONLY_ERROR(slurm_with(key, "a b"), std::string("spec.slurm.") + key, "") << key;
    EXPECT_ONLY_ERROR(slurm_with(key, "a;b"), std::string("spec.slurm.") + key, "") << key;
    EXPECT_ONLY_ERROR(slurm_with(key, std::string(65, 'a')), std::string("spec.slurm.") + key, "64")
        << key;
  }
  EXPECT_ONLY_ERROR(slurm_with("cluster", "Bad_Name"), "spec.slurm.cluster", "");
  EXPECT_ONLY_ERROR(slurm_with("cluster", ""), "spec.slurm.cluster", "Required value");
}

TEST(GpuKindsTest, OutputAndErrorFiles) {
  for (const char* ok : {"out.txt", "%j.out", "job-%x-%u-%N-%A_%a.log"}) {
    EXPECT_TRUE(slurm_with("output", ok).empty()) << ok;
    EXPECT_TRUE(slurm_with("error", ok).empty()) << ok;
  }
  for (const char* bad :
       {"/tmp/out", "../out", "a/b", ".hidden", "%", "%%", "%t.out", "out%", "a b", "-o"}) {
    EXPECT_ONLY_ERROR(slurm_with("output", bad), "spec.slurm.output", "") << bad;
    EXPECT_ONLY_ERROR(slurm_with("error", bad), "spec.slurm.error", "") << bad;
  }
}

TEST(GpuKindsTest, SbatchArgs) {
  for (const char* ok :
       {"--exclusive", "--constraint=a100", "--gres=gpu:a100:2", "--mail-type=END,FAIL",
        "--export=NONE", "--signal=B:USR1@60", "--exclude=node[1-2]x"}) {
    FieldErrors e = slurm_with("sbatchArgs", Json::array({ok}));
    if (std::string(ok).find('[') != std::string::npos) {
      EXPECT_ONLY_ERROR(e, "spec.slurm.sbatchArgs[0]", "may contain only") << ok;
    } else {
      EXPECT_TRUE(e.empty()) << ok << ": " << dump(e);
    }
  }
  for (const char* bad :
       {"-o",          "-e",        "-D",          "-J",           "--chdir=/", "--output=x",
        "--error=x",   "--wrap=id", "--parsable",  "--job-name=x", "--out=x",   "--ch=/tmp",
        "--par",       "--wra",     "--workdir=/", "--uid=0",      "--wait",    "--test-only",
        "exclusive",   "--",        "--a b",       "--x;id",       "--x=$(id)", "--x=`id`",
        "--Exclusive", "--x='a'"}) {
    EXPECT_ONLY_ERROR(slurm_with("sbatchArgs", Json::array({bad})), "spec.slurm.sbatchArgs[0]", "")
        << bad;
  }
  EXPECT_ONLY_ERROR(slurm_with("sbatchArgs", Json::array({"--exclusive", 3})),
                    "spec.slurm.sbatchArgs[1]", "string");
  EXPECT_ONLY_ERROR(slurm_with("sbatchArgs", "--exclusive"), "spec.slurm.sbatchArgs", "");
  Json many = Json::array();
  for (int i = 0; i < 65; ++i) many.push_back("--exclusive");
  EXPECT_ONLY_ERROR(slurm_with("sbatchArgs", many), "spec.slurm.sbatchArgs", "at most 64");
  EXPECT_ONLY_ERROR(slurm_with("sbatchArgs", Json::array({"--x=" + std::string(300, 'a')})),
                    "spec.slurm.sbatchArgs[0]", "256");
}

TEST(GpuKindsTest, UnknownFieldsAndStatus) {
  Json j = job();
  j["spec"]["slurm"]["gpu"] = 1;
  j["spec"]["runn"] = "x";
  j["status"] = {{"phase", "Running"}, {"result", {{"hash", "h"}, {"sizes", 1}}}};
  std::vector<std::string> paths;
  kind("GPUJob").unknown_fields(j, paths);
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths,
            (std::vector<std::string>{"spec.runn", "spec.slurm.gpu", "status.result.sizes"}));
  Json s = job();
  s["status"] = {{"phase", "Done"}};
  EXPECT_ONLY_ERROR(check("GPUJob", s), "status.phase", "Unsupported value");
  s["status"] = {{"phase", "Completed"},
                 {"result", {{"hash", "sha256:x"}, {"size", 1}, {"files", {"a"}}}}};
  EXPECT_ONLY_ERROR(check("GPUJob", s), "status.result.hash", "64 lower-case hex");
  s["status"]["result"]["hash"] = "sha256:" + std::string(64, 'b');
  EXPECT_TRUE(check("GPUJob", s).empty()) << dump(check("GPUJob", s));
  s["status"]["exitCode"] = "0";
  EXPECT_ONLY_ERROR(check("GPUJob", s), "status.exitCode", "");
  Json c = cluster();
  c["spec"]["controller"]["hots"] = "x";
  paths.clear();
  kind("SlurmCluster").unknown_fields(c, paths);
  EXPECT_EQ(paths, std::vector<std::string>{"spec.controller.hots"});
}

TEST(GpuKindsTest, OnlyCancelMayChange) {
  Json old = job();
  kind("GPUJob").set_defaults(old);
  Json now = old;
  now["spec"]["cancel"] = true;
  EXPECT_TRUE(check("GPUJob", now, &old).empty());
  Json back = now;
  back["spec"]["cancel"] = false;
  EXPECT_ONLY_ERROR(check("GPUJob", back, &now), "spec.cancel", "stays cancelled");
  Json changed = old;
  changed["spec"]["run"] = "./matmul 8192";
  EXPECT_ONLY_ERROR(check("GPUJob", changed, &old), "spec.run", "field is immutable");
  changed = old;
  changed["spec"]["slurm"]["gpus"] = 2;
  EXPECT_ONLY_ERROR(check("GPUJob", changed, &old), "spec.slurm.gpus", "field is immutable");
  changed = old;
  changed["spec"]["slurm"].erase("time");
  EXPECT_ONLY_ERROR(check("GPUJob", changed, &old), "spec.slurm.time", "field is immutable");
  changed = old;
  changed["spec"]["source"] = {{"hash", "sha256:" + std::string(64, 'c')}, {"filename", "a.cu"}};
  EXPECT_ONLY_ERROR(check("GPUJob", changed, &old), "spec.source", "field is immutable");
  // Status writes keep the spec: no error.
  Json st = old;
  st["status"] = {{"phase", "Queued"}, {"jobId", "42"}, {"reason", "Resources"}};
  EXPECT_TRUE(check("GPUJob", st, &old).empty());
}

TEST(GpuKindsTest, GpuJobTable) {
  const ResourceType& t = kind("GPUJob");
  auto cols = t.table_columns();
  std::vector<std::string> names;
  for (const auto& c : cols) names.push_back(c.name + (c.priority ? "*" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"PHASE", "JOBID", "NODE", "SUBMITTED", "DURATION",
                                             "AGE", "PARTITION*", "GPUS*", "REASON*"}));
  Json j = job();
  kind("GPUJob").set_defaults(j);
  Json cells = t.table_cells(j);
  ASSERT_EQ(cells.size(), cols.size());
  EXPECT_EQ(cells,
            J(R"(["Pending","<none>","<none>","<none>","<none>","<unknown>","gpu",1,"<none>"])"));
  auto now = real_clock().now();
  j["status"] = {{"phase", "Completed"},
                 {"jobId", "42"},
                 {"nodeList", "node1"},
                 {"submitTime", format_rfc3339(now - std::chrono::minutes(5))},
                 {"startTime", format_rfc3339(now - std::chrono::minutes(4))},
                 {"endTime", format_rfc3339(now - std::chrono::minutes(1))}};
  cells = t.table_cells(j);
  EXPECT_EQ(cells[0], "Completed");
  EXPECT_EQ(cells[1], "42");
  EXPECT_EQ(cells[2], "node1");
  EXPECT_EQ(cells[3], "5m");
  EXPECT_EQ(cells[4], "3m");
  // Running: to now.
  j["status"]["phase"] = "Running";
  j["status"].erase("endTime");
  EXPECT_EQ(t.table_cells(j)[4], "4m");
  j["status"]["phase"] = "Queued";
  j["status"]["reason"] = "Resources";
  j["status"].erase("startTime");
  EXPECT_EQ(t.table_cells(j)[4], "<none>");
  EXPECT_EQ(t.table_cells(j)[8], "Resources");
  EXPECT_EQ(t.table_cells(J("{}")).size(), cols.size());  // never throws on junk
}

TEST(GpuKindsTest, SlurmClusterDefaultsAndTable) {
  Json c = cluster();
  c["spec"]["controller"].erase("port");
  kind("SlurmCluster").set_defaults(c);
  EXPECT_EQ(c["spec"]["controller"]["port"], 6817);
  EXPECT_EQ(c["spec"]["clusterName"], "default");
  EXPECT_EQ(c["spec"]["auth"]["type"], "munge");
  EXPECT_EQ(c["spec"]["auth"]["secretRef"]["key"], "munge.key");
  EXPECT_EQ(c["spec"]["submitterImage"], "minik8s.io/slurm-submitter:1");
  EXPECT_EQ(c["spec"]["pollIntervalSeconds"], 1);
  EXPECT_EQ(c["spec"]["workDir"], "/var/tmp/minik8s-slurm/work");  // as given
  FieldErrors errs;
  kind("SlurmCluster").validate(c, nullptr, errs);
  EXPECT_TRUE(errs.empty()) << dump(errs);
  const ResourceType& t = kind("SlurmCluster");
  std::vector<std::string> names;
  for (const auto& col : t.table_columns()) names.push_back(col.name);
  EXPECT_EQ(names, (std::vector<std::string>{"CONTROLLER", "WORKDIR", "AGE"}));
  EXPECT_EQ(t.table_cells(c), J(R"(["127.0.0.1:6817","/var/tmp/minik8s-slurm/work","<unknown>"])"));
  c["spec"]["controller"]["host"] = "fd00::1";
  EXPECT_EQ(t.table_cells(c)[0], "[fd00::1]:6817");
  EXPECT_EQ(t.table_cells(J("{}")), J(R"(["<none>","<none>","<unknown>"])"));
}

FieldErrors cluster_with(const std::string& path, Json value) {
  Json c = cluster();
  Json* at = &c["spec"];
  std::string p = path;
  for (size_t dot; (dot = p.find('.')) != std::string::npos; p = p.substr(dot + 1))
    at = &(*at)[p.substr(0, dot)];
  if (value.is_null()) {
    at->erase(p);
  } else {
    (*at)[p] = value;
  }
  return check("SlurmCluster", c);
}

TEST(GpuKindsTest, SlurmClusterWorkDirDefault) {
  Json c = cluster();
  c["spec"].erase("workDir");
  kind("SlurmCluster").set_defaults(c);
  EXPECT_EQ(c["spec"]["workDir"], "/var/tmp/minik8s-slurm/work");
}

TEST(GpuKindsTest, SlurmClusterValidation) {
  EXPECT_TRUE(check("SlurmCluster", cluster()).empty()) << dump(check("SlurmCluster", cluster()));
  for (const char* ok : {"10.0.0.1", "fd00::1", "slurm-ctl.example.org"}) {
    EXPECT_TRUE(cluster_with("controller.host", ok).empty()) << ok;
  }
  for (const char* bad : {"", "ctl host", "ctl;id", "-ctl", "Ctl_1", "1.2.3.4:80"}) {
    FieldErrors e = cluster_with("controller.host", bad);
    EXPECT_ONLY_ERROR(e, "spec.controller.host", "") << bad;
  }
  EXPECT_ONLY_ERROR(cluster_with("controller", nullptr), "spec.controller", "Required value");
  EXPECT_ONLY_ERROR(cluster_with("controller.port", 70000), "spec.controller.port", "");
  EXPECT_ONLY_ERROR(cluster_with("controller.name", "a b"), "spec.controller.name", "");
  EXPECT_ONLY_ERROR(cluster_with("controller.name", "-x"), "spec.controller.name", "start");
  EXPECT_TRUE(cluster_with("controller.name", "Ctl_1.x").empty());
  EXPECT_ONLY_ERROR(cluster_with("clusterName", "My Cluster"), "spec.clusterName", "");
  EXPECT_ONLY_ERROR(cluster_with("clusterName", "Upper"), "spec.clusterName", "lower case");
  EXPECT_ONLY_ERROR(cluster_with("auth.type", "jwt"), "spec.auth.type", "Unsupported value");
  EXPECT_ONLY_ERROR(cluster_with("auth.secretRef", nullptr), "spec.auth.secretRef",
                    "Required value");
  EXPECT_ONLY_ERROR(cluster_with("auth.secretRef.namespace", "Kube_System"),
                    "spec.auth.secretRef.namespace", "");
  EXPECT_ONLY_ERROR(cluster_with("auth.secretRef.name", nullptr), "spec.auth.secretRef.name",
                    "Required value");
  EXPECT_ONLY_ERROR(cluster_with("auth.secretRef.key", "a/b"), "spec.auth.secretRef.key", "");
  for (const char* bad : {"relative/dir", "/", "/a//b", "/a/./b", "/a/../b", "/a/b/", "/a b",
                          "/a;b", "/a$b", "/.."}) {
    EXPECT_ONLY_ERROR(cluster_with("workDir", bad), "spec.workDir", "") << bad;
  }
  EXPECT_ONLY_ERROR(cluster_with("workDir", ""), "spec.workDir", "Required value");
  EXPECT_TRUE(cluster_with("workDir", "/shared/hpc_1/minik8s.work").empty());
  EXPECT_ONLY_ERROR(cluster_with("pollIntervalSeconds", 0), "spec.pollIntervalSeconds",
                    "between 1 and 60");
  EXPECT_ONLY_ERROR(cluster_with("pollIntervalSeconds", 61), "spec.pollIntervalSeconds",
                    "between 1 and 60");
  EXPECT_ONLY_ERROR(cluster_with("submitterImage", "a b"), "spec.submitterImage", "");
  EXPECT_ONLY_ERROR(cluster_with("nodeSelector", J(R"({"bad key!":"x"})")), "spec.nodeSelector",
                    "");
  EXPECT_TRUE(cluster_with("nodeSelector", J(R"({"minik8s.io/slurm":"true"})")).empty());
  // A cluster name that is no valid clusterName needs one spelled out.
  Json c = cluster();
  c["metadata"]["name"] = std::string(35, 'a') + "." + std::string(34, 'a');
  FieldErrors e = check("SlurmCluster", c);
  EXPECT_ONLY_ERROR(e, "spec.clusterName", "64");
}

}  // namespace
}  // namespace minik8s::api
