// mkctl gpujob: the source packer (determinism, what is left out, GNU tar
// reading it back), safe unpacking (escapes refused, symlinks not followed,
// bombs bounded), --source checks, the table, the pending/failure notes,
// describe, download's error and the argument parsing.
#include "gpujob_cmds.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "minik8s/util/time.h"
#include "pack.h"

namespace minik8s::cli {
namespace {

using api::Json;
namespace fs = std::filesystem;

class GpuJobCmdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mk-gjcli-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& bytes, bool exec = false) {
    auto p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    if (exec) fs::permissions(p, fs::perms::owner_exec, fs::perm_options::add);
    return p.string();
  }
  static std::string read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  // A sample program tree under dir_/name.
  std::string tree(const std::string& name) {
    write(name + "/Makefile", "all:\n\tnvcc -o matmul matmul.cu\n");
    write(name + "/matmul.cu", "__global__ void k() {}\n");
    write(name + "/run.sh", "#!/bin/sh\n./matmul 4096\n", true);
    write(name + "/data/in.txt", std::string(5000, 'x'));
    write(name + "/" + std::string(60, 'd') + "/" + std::string(60, 'f') + ".txt", "long\n");
    write(name + "/.git/HEAD", "ref: refs/heads/main\n");
    write(name + "/.env", "SECRET=1\n");
    return (dir_ / name).string();
  }
  static bool have(const char* tool) {
    std::string cmd = std::string("command -v ") + tool + " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  fs::path dir_;
};

// A hand-made tar entry (ustar), for archives GNU tar would not write.
std::string entry(const std::string& name, char type, const std::string& data,
                  const std::string& link = "") {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<size_t>(100, name.size()));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011o", static_cast<unsigned>(data.size()));
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = type;
  std::memcpy(h.data() + 157, link.data(), std::min<size_t>(100, link.size()));
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h.data() + 148, 7, "%06o", sum);
  std::string out = h + data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}
std::string finish(std::string tar) { return tar + std::string(1024, '\0'); }

TEST_F(GpuJobCmdsTest, PackingIsDeterministicAndLeavesOutDotFiles) {
  std::string src = tree("prog");
  auto a = tar_gz_directory(src, kMaxBlobBytes);
  ASSERT_TRUE(a) << a.status().message();
  // Other mtimes, the same content: the same bytes.
  for (auto& e : fs::recursive_directory_iterator(src))
    fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(5));
  auto b = tar_gz_directory(src, kMaxBlobBytes);
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, *b);
  // A copy made in another order, elsewhere: the same bytes.
  fs::create_directories(dir_ / "copy");
  std::vector<fs::path> files;
  for (auto& e : fs::recursive_directory_iterator(src))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), src));
  std::reverse(files.begin(), files.end());
  for (const auto& f : files) {
    fs::create_directories((dir_ / "copy" / f).parent_path());
    fs::copy_file(fs::path(src) / f, dir_ / "copy" / f);
  }
  auto c = tar_gz_directory((dir_ / "copy").string(), kMaxBlobBytes);
  ASSERT_TRUE(c);
  EXPECT_EQ(*a, *c);
  // A changed byte changes the archive.
  write("prog/matmul.cu", "__global__ void k2() {}\n");
  auto d = tar_gz_directory(src, kMaxBlobBytes);
  ASSERT_TRUE(d);
  EXPECT_NE(*a, *d);

  // Unpacked: the files, without dot files, executable bit kept.
  auto u = unpack_tar_gz(*a, (dir_ / "out").string());
  ASSERT_TRUE(u) << u.status().message();
  std::string long_name = std::string(60, 'd') + "/" + std::string(60, 'f') + ".txt";
  EXPECT_EQ(u->files, (std::vector<std::string>{"Makefile", "data/in.txt", long_name, "matmul.cu",
                                                "run.sh"}));
  EXPECT_TRUE(u->skipped.empty());
  EXPECT_EQ(read(dir_ / "out/data/in.txt"), std::string(5000, 'x'));
  EXPECT_EQ(read(dir_ / "out" / long_name), "long\n");
  EXPECT_FALSE(fs::exists(dir_ / "out/.git"));
  EXPECT_FALSE(fs::exists(dir_ / "out/.env"));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "out/run.sh").c_str(), &st), 0);
  EXPECT_NE(st.st_mode & S_IXUSR, 0u);
  ASSERT_EQ(::stat((dir_ / "out/Makefile").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & S_IXUSR, 0u);
}

TEST_F(GpuJobCmdsTest, GnuTarReadsOurArchivesAndWeReadGnuTars) {
  if (!have("tar") || !have("gzip")) GTEST_SKIP() << "no tar/gzip on PATH";
  std::string src = tree("prog");
  auto a = tar_gz_directory(src, kMaxBlobBytes);
  ASSERT_TRUE(a);
  std::string gz = (dir_ / "a.tar.gz").string();
  std::ofstream(gz, std::ios::binary) << *a;
  fs::create_directories(dir_ / "gnu");
  std::string cmd = "tar -xzf " + gz + " -C " + (dir_ / "gnu").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::string long_name = std::string(60, 'd') + "/" + std::string(60, 'f') + ".txt";
  EXPECT_EQ(read(dir_ / "gnu" / long_name), "long\n");
  EXPECT_EQ(read(dir_ / "gnu/run.sh"), "#!/bin/sh\n./matmul 4096\n");
  // GNU tar's own archive (GNU long names, directory entries) read back.
  std::string gnu = (dir_ / "gnu.tgz").string();
  cmd = "tar -czf " + gnu + " -C " + (dir_ / "gnu").string() + " .";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto u = unpack_tar_gz(read(gnu), (dir_ / "back").string());
  ASSERT_TRUE(u) << u.status().message();
  std::set<std::string> got(u->files.begin(), u->files.end());
  EXPECT_EQ(got,
            (std::set<std::string>{"Makefile", "data/in.txt", long_name, "matmul.cu", "run.sh"}));
  EXPECT_EQ(read(dir_ / "back" / long_name), "long\n");
}

TEST_F(GpuJobCmdsTest, UnpackRefusesEscapesAndDoesNotFollowSymlinks) {
  auto refused = [&](const std::string& tar, const std::string& needle) {
    auto r = unpack_tar_gz(gzip_bytes(tar), (dir_ / "t").string());
    ASSERT_FALSE(r) << "accepted: " << needle;
    EXPECT_EQ(r.status().code(), Code::kInvalid);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  refused(finish(entry("../evil", '0', "x")), "\"../evil\" would be written outside");
  refused(finish(entry("a/../../evil", '0', "x")), "would be written outside");
  refused(finish(entry("/etc/evil", '0', "x")), "\"/etc/evil\" would be written outside");
  EXPECT_FALSE(fs::exists(dir_ / "evil"));
  // A symlink entry is skipped, and a file under its name lands in a real directory.
  auto r = unpack_tar_gz(finish(entry("ln", '2', "", "/etc") + entry("ok.txt", '0', "fine")),
                         (dir_ / "s").string());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->files, std::vector<std::string>{"ok.txt"});
  EXPECT_EQ(r->skipped, std::vector<std::string>{"ln (symlink)"});
  EXPECT_FALSE(fs::is_symlink(dir_ / "s/ln"));
  // A symlink already in the target directory is never written through.
  fs::create_directories(dir_ / "planted");
  fs::create_directories(dir_ / "elsewhere");
  fs::create_directory_symlink(dir_ / "elsewhere", dir_ / "planted/sub");
  auto p = unpack_tar_gz(gzip_bytes(finish(entry("sub/x", '0', "x"))), (dir_ / "planted").string());
  ASSERT_FALSE(p);
  EXPECT_NE(p.status().message().find("is not a directory"), std::string::npos)
      << p.status().message();
  fs::create_symlink(dir_ / "elsewhere/target", dir_ / "planted/f");
  auto q = unpack_tar_gz(gzip_bytes(finish(entry("f", '0', "x"))), (dir_ / "planted").string());
  ASSERT_FALSE(q);
  EXPECT_NE(q.status().message().find("symlink"), std::string::npos) << q.status().message();
  EXPECT_TRUE(fs::is_empty(dir_ / "elsewhere"));
}

TEST_F(GpuJobCmdsTest, UnpackBoundsSizeAndNamesCorruption) {
  std::string zeros(4 << 20, '\0');
  auto big =
      unpack_tar_gz(gzip_bytes(finish(entry("z", '0', zeros))), (dir_ / "b").string(), 1 << 20);
  ASSERT_FALSE(big);
  EXPECT_NE(big.status().message().find("more than 1048576 bytes (1 MiB)"), std::string::npos)
      << big.status().message();
  auto junk = unpack_tar_gz(std::string(2048, 'j'), (dir_ / "j").string());
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.status().message().find("not a tar archive"), std::string::npos);
  std::string gz = gzip_bytes(finish(entry("a", '0', std::string(3000, 'a'))));
  auto cut = unpack_tar_gz(gz.substr(0, gz.size() / 2), (dir_ / "c").string());
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.status().message().find("gunzip"), std::string::npos) << cut.status().message();
  // An uncompressed tar is read too.
  auto plain = unpack_tar_gz(finish(entry("p.txt", '0', "plain")), (dir_ / "p").string());
  ASSERT_TRUE(plain) << plain.status().message();
  EXPECT_EQ(read(dir_ / "p/p.txt"), "plain");
}

TEST_F(GpuJobCmdsTest, PackSourceNamesAndErrors) {
  auto missing = pack_source((dir_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().message(),
            "--source " + (dir_ / "nope").string() + ": no such file or directory");
  std::string cu = write("matmul.cu", "__global__ void k() {}\n");
  auto f = pack_source(cu);
  ASSERT_TRUE(f) << f.status().message();
  EXPECT_EQ(f->filename, "matmul.cu");
  EXPECT_EQ(f->bytes, "__global__ void k() {}\n");
  auto bad = pack_source(write("my prog.cu", "x"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("the file name \"my prog.cu\" must be"), std::string::npos)
      << bad.status().message();
  tree("my src");
  auto d = pack_source((dir_ / "my src").string());
  ASSERT_TRUE(d) << d.status().message();
  EXPECT_EQ(d->filename, "my-src.tar.gz");
  auto d2 = pack_source((dir_ / "my src/").string());
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->filename, "my-src.tar.gz");
  EXPECT_EQ(d2->bytes, d->bytes);
  write("dots/.only", "x");
  auto empty = pack_source((dir_ / "dots").string());
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.status().message().find("has no files to pack"), std::string::npos);
  auto small = pack_source(write("big.bin", std::string(2000, 'b')), 1000);
  ASSERT_FALSE(small);
  EXPECT_NE(small.status().message().find("is 2000 bytes; the limit is 1000 bytes"),
            std::string::npos)
      << small.status().message();
}

TEST(GpuJobDocTest, NormalizeFillsKindAndNamesBadFields) {
  Json ok = Json::parse(R"({"metadata": {"name": "m"}, "spec": {"run": "./a"}})");
  ASSERT_TRUE(normalize_gpujob(ok));
  EXPECT_EQ(ok["kind"], "GPUJob");
  EXPECT_EQ(ok["apiVersion"], "minik8s.io/v1");
  auto msg = [](const char* text) {
    Json j = Json::parse(text);
    Status s = normalize_gpujob(j);
    EXPECT_EQ(s.code(), Code::kInvalid) << text;
    return s.message();
  };
  EXPECT_EQ(msg("[]"), "the document is not an object");
  EXPECT_EQ(msg(R"({"kind": "Pod", "metadata": {"name": "m"}, "spec": {}})"),
            "kind is \"Pod\", not GPUJob (mkctl apply -f takes any kind)");
  EXPECT_EQ(msg(R"({"apiVersion": "v1", "kind": "GPUJob", "metadata": {"name": "m"}, "spec": {}})"),
            "apiVersion is \"v1\", not minik8s.io/v1");
  EXPECT_EQ(msg(R"({"spec": {}})"), "metadata.name: Required value");
  EXPECT_EQ(msg(R"({"metadata": {"name": "m"}})"),
            "spec: Required value (an object with at least run)");
}

long long at(const char* rfc3339) {
  SysTime t;
  EXPECT_TRUE(parse_rfc3339(rfc3339, &t)) << rfc3339;
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

Json jobs() {
  return Json::parse(R"([
    {"metadata": {"name": "matmul", "creationTimestamp": "2026-12-07T18:00:00Z"},
     "spec": {"run": "./matmul 4096", "slurm": {"partition": "gpu", "gpus": 1}},
     "status": {"phase": "Queued", "jobId": "42", "submitTime": "2026-12-07T18:00:01Z",
                "reason": "Resources", "queryCommand": "scontrol show job 42"}},
    {"metadata": {"name": "cpu-add", "creationTimestamp": "2026-12-07T17:50:00Z"},
     "status": {"phase": "Completed", "jobId": "41", "nodeList": "node1",
                "submitTime": "2026-12-07T17:50:01Z", "startTime": "2026-12-07T17:50:02Z",
                "endTime": "2026-12-07T17:53:06Z", "exitCode": 0}},
    {"metadata": {"name": "running", "creationTimestamp": "2026-12-07T18:04:00Z"},
     "status": {"phase": "Running", "jobId": "43", "nodeList": "node1",
                "submitTime": "2026-12-07T18:04:00Z", "startTime": "2026-12-07T18:04:50Z"}},
    {"metadata": {"name": "broken", "creationTimestamp": "2026-12-07T18:01:00Z"},
     "status": {"phase": "Failed", "jobId": "44", "reason": "BuildFailed",
                "message": "the build exited 2: matmul.cu:1: error: expected ';'",
                "buildLog": "nvcc -o matmul matmul.cu\nmatmul.cu:1: error: expected ';'\nmake: *** [all] Error 2\n\n"}},
    {"metadata": {"name": "fresh", "creationTimestamp": "2026-12-07T18:05:00Z"}}
  ])");
}

TEST(GpuJobTextTest, TableColumns) {
  long long now = at("2026-12-07T18:05:00Z");
  EXPECT_EQ(gpujob_table(jobs(), now),
            "NAME      PHASE       JOBID    NODE     SUBMITTED   DURATION   AGE\n"
            "matmul    Queued      42       <none>   4m59s       <none>     5m\n"
            "cpu-add   Completed   41       node1    14m         3m4s       15m\n"
            "running   Running     43       node1    60s         10s        60s\n"
            "broken    Failed      44       <none>   <none>      <none>     4m\n"
            "fresh     Pending     <none>   <none>   <none>      <none>     0s\n");
  EXPECT_EQ(gpujob_table(Json::array(), now),
            "NAME   PHASE   JOBID   NODE   SUBMITTED   DURATION   AGE\n");
  EXPECT_NO_THROW(gpujob_table(Json::parse(R"([1, null, {"status": 5}, {"metadata": []}])"), now));
}

TEST(GpuJobTextTest, NotesShowTheWaitingJobAndOnRequestTheFailedBuild) {
  EXPECT_EQ(gpujob_notes(jobs(), false),
            "\nmatmul is waiting in Slurm (Queued):\n"
            "  Job ID:       42\n"
            "  Submit Time:  2026-12-07T18:00:01Z\n"
            "  Reason:       Resources\n"
            "  Query:        scontrol show job 42\n");
  std::string with = gpujob_notes(jobs(), true);
  EXPECT_NE(with.find("\nbroken failed:\n"
                      "  Reason:   BuildFailed\n"
                      "  Message:  the build exited 2: matmul.cu:1: error: expected ';'\n"
                      "  Job ID:   44\n"
                      "  Query:    scontrol show job 44\n"
                      "  Build Log (last lines):\n"
                      "    nvcc -o matmul matmul.cu\n"
                      "    matmul.cu:1: error: expected ';'\n"
                      "    make: *** [all] Error 2\n"),
            std::string::npos)
      << with;
  // A Pending job that already has an id (the status write after sbatch) counts as waiting.
  Json p =
      Json::parse(R"([{"metadata": {"name": "p"}, "status": {"phase": "Pending", "jobId": "7"}}])");
  EXPECT_NE(gpujob_notes(p, false).find("p is waiting in Slurm (Pending):\n  Job ID:       7\n"
                                        "  Submit Time:  <none>\n  Reason:       <none>\n"
                                        "  Query:        scontrol show job 7\n"),
            std::string::npos);
  EXPECT_NO_THROW(gpujob_notes(Json::parse(R"([1, {"status": {"phase": 3, "jobId": []}}])"), true));
}

TEST(GpuJobTextTest, DescribeShowsSpecSlurmStatusBuildLogAndConditions) {
  Json j = jobs()[3];
  j["metadata"]["namespace"] = "default";
  j["spec"] = Json::parse(R"({"source": {"hash": "sha256:ab", "filename": "matmul.tar.gz"},
      "build": "make", "run": "./matmul 4096", "cancel": true,
      "slurm": {"partition": "gpu", "gpus": 1, "cpusPerTask": 2, "mem": "4G", "time": "00:10:00",
                "sbatchArgs": ["--exclusive", "--comment=x"]}})");
  j["status"]["conditions"] = Json::parse(
      R"([{"type": "Failed", "status": "True", "reason": "BuildFailed", "message": "exit 2"}])");
  j["status"]["result"] =
      Json::parse(R"({"hash": "sha256:cd", "size": 1234, "files": ["build.log"]})");
  j["status"]["submitterPod"] = "broken-submitter";
  j["status"]["exitCode"] = 1;
  std::string d = describe_gpujob(j, at("2026-12-07T18:05:00Z"));
  EXPECT_EQ(d,
            "Name:       broken\n"
            "Namespace:  default\n"
            "Labels:     <none>\n"
            "Created:    2026-12-07T18:01:00Z (4m ago)\n"
            "Source:     sha256:ab (matmul.tar.gz)\n"
            "Build:      make\n"
            "Run:        ./matmul 4096\n"
            "Cancel:     requested\n"
            "Slurm:\n"
            "  Cluster:        default\n"
            "  Partition:      gpu\n"
            "  CPUs Per Task:  2\n"
            "  GPUs:           1\n"
            "  Memory:         4G\n"
            "  Time Limit:     00:10:00\n"
            "  Extra Args:     --exclusive --comment=x\n"
            "Status:\n"
            "  Phase:          Failed\n"
            "  Reason:         BuildFailed\n"
            "  Message:        the build exited 2: matmul.cu:1: error: expected ';'\n"
            "  Job ID:         44\n"
            "  Exit Code:      1\n"
            "  Query:          scontrol show job 44\n"
            "  Submitter Pod:  broken-submitter\n"
            "  Result:         sha256:cd (1234 bytes: build.log)\n"
            "Build Log (last lines):\n"
            "  nvcc -o matmul matmul.cu\n"
            "  matmul.cu:1: error: expected ';'\n"
            "  make: *** [all] Error 2\n"
            "Conditions:\n"
            "  Type     Status   Reason        Message\n"
            "  Failed   True     BuildFailed   exit 2\n");
  std::string bare = describe_gpujob(Json::parse(R"({"metadata": {"name": "x"}})"), 0);
  EXPECT_NE(bare.find("Source:     <none>\n"), std::string::npos) << bare;
  EXPECT_NE(bare.find("  Phase:   Pending\n  Job ID:  <none>\n  Result:  <none>\n"),
            std::string::npos)
      << bare;
  EXPECT_NE(bare.find("Conditions:  <none>\n"), std::string::npos);
  EXPECT_NO_THROW(describe_gpujob(Json::parse(R"({"spec": 1, "status": {"result": 5}})"), 0));
  // Only the last 20 lines of a long build log.
  Json longlog = jobs()[3];
  std::string log;
  for (int i = 1; i <= 30; ++i) log += "line " + std::to_string(i) + "\n";
  longlog["status"]["buildLog"] = log;
  std::string l = describe_gpujob(longlog, 0);
  EXPECT_EQ(l.find("line 10\n"), std::string::npos);
  EXPECT_NE(l.find("Build Log (last lines):\n  line 11\n"), std::string::npos) << l;
  EXPECT_NE(l.find("  line 30\n"), std::string::npos);
}

TEST(GpuJobTextTest, DownloadWithoutResultNamesThePhase) {
  EXPECT_EQ(
      no_result_error(jobs()[0]),
      "error: gpujob \"matmul\" has no result yet (phase Queued): it comes once the job ends");
  EXPECT_EQ(no_result_error(jobs()[3]),
            "error: gpujob \"broken\" has no result and will have none (reason BuildFailed): see "
            "mkctl gpujob describe broken");
  EXPECT_EQ(
      no_result_error(jobs()[4]),
      "error: gpujob \"fresh\" has no result yet (phase Pending): it comes once the job ends");
}

TEST(GpuJobTextTest, Durations) {
  Json j = jobs()[1];
  EXPECT_EQ(gpujob_duration(j, 0), "3m4s");
  EXPECT_EQ(gpujob_duration(jobs()[2], at("2026-12-07T18:05:00Z")), "10s");
  EXPECT_EQ(gpujob_duration(jobs()[0], at("2026-12-07T18:05:00Z")), "");
  // A job done within Slurm's second (start == end): "0s", as kubectl prints it.
  Json quick = j;
  quick["status"]["endTime"] = quick["status"]["startTime"];
  EXPECT_EQ(gpujob_duration(quick, 0), "0s");
  EXPECT_TRUE(is_terminal_gpujob_phase("Completed"));
  EXPECT_TRUE(is_terminal_gpujob_phase("Failed"));
  EXPECT_TRUE(is_terminal_gpujob_phase("Cancelled"));
  EXPECT_FALSE(is_terminal_gpujob_phase("Queued"));
  EXPECT_FALSE(is_terminal_gpujob_phase(""));
}

struct Parsed {
  GpuJobOptions o;
  std::string error;
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  CLI::App app("mkctl");
  add_gpujob_commands(app, p.o);
  std::vector<std::string> rev(args.rbegin(), args.rend());
  try {
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    p.error = e.what();
  }
  return p;
}

TEST(GpuJobArgsTest, SubcommandsFillTheOptions) {
  auto s = parse({"gj", "submit", "-f", "job.yaml", "--source", "src/"});
  ASSERT_EQ(s.error, "");
  EXPECT_EQ(s.o.action, "submit");
  EXPECT_EQ(s.o.file, "job.yaml");
  EXPECT_EQ(s.o.source, "src/");
  auto l = parse({"gpujob", "list"});
  ASSERT_EQ(l.error, "");
  EXPECT_EQ(l.o.action, "get");
  EXPECT_EQ(l.o.name, "");
  auto g = parse({"gj", "get", "matmul", "-o", "yaml"});
  ASSERT_EQ(g.error, "");
  EXPECT_EQ(g.o.name, "matmul");
  EXPECT_EQ(g.o.output, "yaml");
  auto f = parse({"gj", "logs", "matmul", "-f"});
  ASSERT_EQ(f.error, "");
  EXPECT_EQ(f.o.action, "logs");
  EXPECT_TRUE(f.o.follow);
  auto d = parse({"gj", "download", "matmul", "-o", "/tmp/r"});
  ASSERT_EQ(d.error, "");
  EXPECT_EQ(d.o.action, "download");
  EXPECT_EQ(d.o.out_dir, "/tmp/r");
  auto del = parse({"gj", "delete", "matmul", "--wait", "--timeout", "2m"});
  ASSERT_EQ(del.error, "");
  EXPECT_TRUE(del.o.wait);
  EXPECT_EQ(del.o.timeout, "2m");
  EXPECT_NE(parse({"gj", "submit"}).error, "");           // -f required
  EXPECT_NE(parse({"gj", "describe"}).error, "");         // NAME required
  EXPECT_NE(parse({"gj", "download"}).error, "");         // NAME required
  EXPECT_NE(parse({"gj", "cancel"}).error, "");           // NAME required
  EXPECT_NE(parse({"gj", "frobnicate", "x"}).error, "");  // unknown subcommand
  EXPECT_NE(parse({"gj"}).error, "");                     // a subcommand required
}

}  // namespace
}  // namespace minik8s::cli
