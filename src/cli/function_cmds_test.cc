// mkctl function: argument parsing, the client-side code checks (with the
// local python3 where there is one), settings and env merging, describe and
// invoke error lines.
#include "function_cmds.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

namespace minik8s::cli {
namespace {

using api::Json;
namespace fs = std::filesystem;

class FunctionCmdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mk-fncli-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& bytes) {
    auto p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  // A zip of (name, text) entries written by the local python3 (skips without one).
  std::string zip(const std::string& name,
                  const std::vector<std::pair<std::string, std::string>>& files) {
    std::string script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\n";
    std::vector<std::string> args;
    for (size_t i = 0; i < files.size(); ++i) {
      std::string f = write("zipsrc/" + std::to_string(i), files[i].second);
      script += "z.write(" + Json(f).dump() + ", " + Json(files[i].first).dump() + ")\n";
    }
    script += "z.close()\n";
    std::string py = write("mkzip.py", script);
    std::string out = (dir_ / name).string();
    std::string cmd = python_ + " " + py + " " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return out;
  }
  Status check(const std::string& path, const std::string& handler) {
    return python_check(python_, path, fs::path(path).filename().string(), handler);
  }
  bool have_python() const { return !python_.empty(); }

  fs::path dir_;
  std::string python_ = find_python("");
};

TEST_F(FunctionCmdsTest, DefaultHandlerIsTheFileStemOrMainForAZip) {
  EXPECT_EQ(default_handler("examples/hello.py"), "hello.handler");
  EXPECT_EQ(default_handler("/x/cpu.PY"), "cpu.handler");
  EXPECT_EQ(default_handler("pkg.zip"), "main.handler");
}

TEST_F(FunctionCmdsTest, HandlerMustBeModuleDotFunctionOfIdentifiers) {
  EXPECT_TRUE(check_handler("main.handler"));
  EXPECT_TRUE(check_handler("pkg.sub.run_2"));
  for (const char* bad : {"handler", ".handler", "main.", "main..handler", "hello-v2.handler",
                          "main.2x", "a b.c", ""}) {
    Status s = check_handler(bad);
    EXPECT_EQ(s.code(), Code::kInvalid) << bad;
    EXPECT_NE(s.message().find("module.function"), std::string::npos) << s.message();
  }
}

TEST_F(FunctionCmdsTest, ReadCodeFileRejectsWhatIsNotPythonOrZip) {
  auto missing = read_code_file((dir_ / "nope.py").string());
  EXPECT_EQ(missing.status().message(), (dir_ / "nope.py").string() + ": no such file");
  EXPECT_NE(read_code_file(dir_.string()).status().message().find("is a directory"),
            std::string::npos);
  auto txt = read_code_file(write("a.txt", "x"));
  EXPECT_NE(txt.status().message().find("neither a Python file (.py) nor a zip package (.zip)"),
            std::string::npos);
  auto fake = read_code_file(write("fake.zip", "def handler(e, c): pass\n"));
  EXPECT_NE(fake.status().message().find("is not a zip archive"), std::string::npos)
      << fake.status().message();
  auto empty =
      read_code_file(write("empty.zip", std::string("PK\x05\x06", 4) + std::string(18, '\0')));
  EXPECT_NE(empty.status().message().find("empty zip archive"), std::string::npos);
  auto binary = read_code_file(write("bin.py", "\xff\xfe\x00x"));
  EXPECT_NE(binary.status().message().find("not UTF-8 text"), std::string::npos);
  auto ok = read_code_file(write("ok.py", "def handler(e, c):\n    return 1\n"));
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(*ok, "def handler(e, c):\n    return 1\n");
  auto zipped = read_code_file(write("z.zip", std::string("PK\x03\x04", 4) + "rest"));
  EXPECT_TRUE(zipped);
}

TEST_F(FunctionCmdsTest, OversizeNamesTheLimit) {
  std::string p = write("big.py", std::string(2048, '#'));
  auto r = read_code_file(p, 1 << 10);
  EXPECT_EQ(r.status().message(), p + " is 2048 bytes; the limit is 1024 bytes");
  // The real limit: one byte over 8 MiB.
  std::string big = write("huge.py", std::string(kMaxCodeBytes + 1, '#'));
  EXPECT_EQ(read_code_file(big).status().message(),
            big + " is 8388609 bytes; the limit is 8388608 bytes (8 MiB)");
  EXPECT_TRUE(read_code_file(write("edge.py", std::string(kMaxCodeBytes, '#'))));
}

TEST_F(FunctionCmdsTest, PythonCheckReportsSyntaxErrorsWithFileAndLine) {
  if (!have_python()) GTEST_SKIP() << "no python3";
  std::string p = write("bad.py", "import os\n\ndef handler(event, context):\n    return (1,\n");
  Status s = check(p, "bad.handler");
  ASSERT_EQ(s.code(), Code::kInvalid) << s.message();
  EXPECT_EQ(s.message().rfind("bad.py:4: SyntaxError: ", 0), 0u) << s.message();
  // Errors the compiler (not the parser) finds count too.
  Status ret = check(write("ret.py", "return 1\ndef handler(e, c): pass\n"), "ret.handler");
  EXPECT_EQ(ret.message().rfind("ret.py:1: SyntaxError: ", 0), 0u) << ret.message();
}

TEST_F(FunctionCmdsTest, PythonCheckWantsTheHandlerFunctionAtTopLevel) {
  if (!have_python()) GTEST_SKIP() << "no python3";
  std::string src = "def other(e, c):\n    def handler(x): pass\n    return 1\n";
  Status s = check(write("nofn.py", src), "nofn.handler");
  EXPECT_EQ(s.message(), "nofn.py has no top-level function 'handler' (handler nofn.handler)");
  EXPECT_TRUE(check(write("nofn2.py", src), "nofn2.other"));
  // Assignments, imports and definitions under a top-level if/try count.
  EXPECT_TRUE(check(write("assign.py", "def _h(e, c): pass\nhandler = _h\n"), "assign.handler"));
  EXPECT_TRUE(check(write("imp.py", "from os.path import join as handler\n"), "imp.handler"));
  EXPECT_TRUE(check(write("cond.py",
                          "try:\n    import json\nexcept ImportError:\n    json = None\nelse:\n"
                          "    def handler(e, c): return 1\n"),
                    "cond.handler"));
  Status mod = check(write("hello.py", "def handler(e, c): pass\n"), "main.handler");
  EXPECT_EQ(mod.message(),
            "handler module 'main' is not in hello.py (a single file is the module 'hello': use "
            "--handler "
            "hello.handler)");
}

TEST_F(FunctionCmdsTest, PythonCheckLooksInsideZips) {
  if (!have_python()) GTEST_SKIP() << "no python3";
  std::string good =
      zip("good.zip", {{"main.py", "import helpers\ndef handler(e, c): return helpers.f()\n"},
                       {"helpers.py", "def f(): return 1\n"}});
  EXPECT_TRUE(check(good, "main.handler"));
  EXPECT_TRUE(check(zip("pkg.zip", {{"app/__init__.py", "def run(e, c): pass\n"}}), "app.run"));
  EXPECT_TRUE(check(zip("deep.zip", {{"a/b.py", "def run(e, c): pass\n"}}), "a.b.run"));

  Status bad_helper =
      check(zip("bad.zip", {{"main.py", "def handler(e, c): pass\n"}, {"helpers.py", "x = (\n"}}),
            "main.handler");
  EXPECT_EQ(bad_helper.message().rfind("helpers.py:1: SyntaxError: ", 0), 0u)
      << bad_helper.message();
  EXPECT_NE(bad_helper.message().find("(in bad.zip)"), std::string::npos);

  Status folder = check(zip("folder.zip", {{"wordstats/main.py", "def handler(e, c): pass\n"}}),
                        "main.handler");
  EXPECT_EQ(folder.message(),
            "folder.zip has no main.py or main/__init__.py for handler main.handler (found "
            "wordstats/main.py: zip "
            "the files, not their folder)");
  Status nofn = check(zip("nofn.zip", {{"main.py", "def other(e, c): pass\n"}}), "main.handler");
  EXPECT_EQ(nofn.message(), "main.py has no top-level function 'handler' (handler main.handler)");

  std::string corrupt = write("corrupt.zip", std::string("PK\x03\x04", 4) + std::string(100, 'x'));
  Status c = check(corrupt, "main.handler");
  EXPECT_EQ(c.code(), Code::kInvalid);
  EXPECT_EQ(c.message().rfind("corrupt.zip is not a valid zip archive", 0), 0u) << c.message();
}

TEST_F(FunctionCmdsTest, ZipDirectoryIsAReproducibleZipOfTheSources) {
  write("pkg/main.py", "import helpers\ndef handler(e, c): return helpers.f()\n");
  write("pkg/helpers.py", "def f(): return 1\n");
  write("pkg/sub/x.py", "y = 2\n");
  write("pkg/__pycache__/helpers.cpython-311.pyc", "junk");
  write("pkg/.git/config", "junk");
  write("pkg/old.pyc", "junk");
  auto z = zip_directory((dir_ / "pkg").string());
  ASSERT_TRUE(z) << z.status().message();
  EXPECT_EQ(z->rfind(std::string("PK\x03\x04", 4), 0), 0u);
  auto again = zip_directory((dir_ / "pkg").string());
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *z) << "the same files must give the same bytes (the same content address)";
  EXPECT_EQ(zip_directory((dir_ / "pkg").string(), 100).status().code(), Code::kInvalid);
  fs::create_directories(dir_ / "empty");
  EXPECT_EQ(zip_directory((dir_ / "empty").string()).status().message(),
            (dir_ / "empty").string() + " has no files to zip");
  if (!have_python()) GTEST_SKIP() << "no python3 to read the zip back";
  std::string path = write("pkg.zip", *z);
  std::string script =
      write("read.py",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n"
            "print(','.join(i.filename for i in z.infolist()))\n"
            "print(z.read('main.py').decode() == open(sys.argv[2]).read())\n");
  std::string cmd = python_ + " " + script + " " + path + " " + (dir_ / "pkg/main.py").string() +
                    " > " + (dir_ / "out.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream out(dir_ / "out.txt");
  std::string names, same;
  std::getline(out, names);
  std::getline(out, same);
  EXPECT_EQ(names, "helpers.py,main.py,sub/x.py");
  EXPECT_EQ(same, "True");
  EXPECT_TRUE(python_check(python_, path, "pkg.zip", "main.handler"));
}

TEST_F(FunctionCmdsTest, PythonCheckWithoutAWorkingPythonIsUnavailableNotInvalid) {
  std::string p = write("ok.py", "def handler(e, c): pass\n");
  Status s = python_check("/nonexistent/python3", p, "ok.py", "ok.handler");
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.message();
  EXPECT_EQ(find_python("/nonexistent/python3"), "");
}

TEST_F(FunctionCmdsTest, EnvSetsReplacesAndRemoves) {
  Json env = Json::array({{{"name", "A"}, {"value", "1"}}, {{"name", "B"}, {"value", "2"}}});
  ASSERT_TRUE(apply_env(env, {"A=10", "C=x=y", "B-", "D="}));
  EXPECT_EQ(
      env,
      Json::parse(
          R"([{"name":"A","value":"10"},{"name":"C","value":"x=y"},{"name":"D","value":""}])"));
  for (const char* bad : {"=x", "NOEQ", "-"}) {
    Json e = Json::array();
    Status s = apply_env(e, {bad});
    EXPECT_EQ(s.code(), Code::kInvalid) << bad;
    EXPECT_NE(s.message().find("NAME=VALUE"), std::string::npos);
  }
}

TEST_F(FunctionCmdsTest, SettingsKeepWhatWasNotGiven) {
  Json spec = Json::parse(R"({"handler":"hello.handler","timeoutSeconds":60,
                              "scale":{"minScale":0,"maxScale":10,"targetConcurrency":1,"scaleToZeroAfterSeconds":30}})");
  FunctionOptions o;
  o.max_scale = 3;
  o.idle = 45;
  o.env = {"K=V"};
  ASSERT_TRUE(apply_settings(spec, o));
  EXPECT_EQ(
      spec["scale"],
      Json::parse(
          R"({"minScale":0,"maxScale":3,"targetConcurrency":1,"scaleToZeroAfterSeconds":45})"));
  EXPECT_EQ(spec["handler"], "hello.handler");
  EXPECT_EQ(spec["timeoutSeconds"], 60);
  EXPECT_EQ(spec["env"], Json::parse(R"([{"name":"K","value":"V"}])"));

  FunctionOptions o2;
  o2.handler = "main.run";
  o2.timeout = 5;
  o2.concurrency = 4;
  o2.min_scale = 1;
  ASSERT_TRUE(apply_settings(spec, o2));
  EXPECT_EQ(spec["handler"], "main.run");
  EXPECT_EQ(spec["timeoutSeconds"], 5);
  EXPECT_EQ(spec["scale"]["targetConcurrency"], 4);
  EXPECT_EQ(spec["scale"]["minScale"], 1);
  EXPECT_EQ(spec["scale"]["maxScale"], 3);

  FunctionOptions low;
  low.min_scale = 5;  // above the kept maxScale 3
  Json copy = spec;
  EXPECT_EQ(apply_settings(copy, low).message(), "min scale 5 is above max scale 3");
  FunctionOptions zero;
  zero.concurrency = 0;
  EXPECT_EQ(apply_settings(copy, zero).message(), "--concurrency must be at least 1, not 0");
  FunctionOptions neg;
  neg.timeout = 0;
  EXPECT_EQ(apply_settings(copy, neg).message(), "--timeout must be at least 1 second, not 0");
  FunctionOptions bad_handler;
  bad_handler.handler = "nodot";
  EXPECT_EQ(apply_settings(copy, bad_handler).code(), Code::kInvalid);

  // --runtime: python3 or python3-ml; without it the runtime is kept.
  Json rt = spec;
  EXPECT_FALSE(rt.contains("runtime"));
  FunctionOptions ml;
  ml.runtime = "python3-ml";
  ASSERT_TRUE(apply_settings(rt, ml));
  EXPECT_EQ(rt["runtime"], "python3-ml");
  ASSERT_TRUE(apply_settings(rt, FunctionOptions{}));
  EXPECT_EQ(rt["runtime"], "python3-ml");
  FunctionOptions bad_runtime;
  bad_runtime.runtime = "node18";
  EXPECT_EQ(apply_settings(rt, bad_runtime).message(),
            "--runtime must be python3 or python3-ml, not \"node18\"");
}

TEST_F(FunctionCmdsTest, ParsesEverySubcommandAndTheAlias) {
  auto parse = [](std::vector<std::string> args, FunctionOptions& o) {
    CLI::App app{"t"};
    app.add_option("-n,--namespace", o.name);  // as mkctl's global flag (unused here)
    add_function_commands(app, o);
    std::reverse(args.begin(), args.end());
    app.parse(args);
  };
  FunctionOptions c;
  parse({"fn",        "create",      "hello", "-f",          "hello.py", "--handler",
         "hello.run", "--min-scale", "1",     "--max-scale", "4",        "--concurrency",
         "2",         "--idle",      "40",    "--timeout",   "9",        "--env",
         "A=1",       "--env",       "B=2",   "--runtime",   "python3-ml"},
        c);
  EXPECT_EQ(c.runtime, "python3-ml");
  EXPECT_EQ(c.action, "create");
  EXPECT_EQ(c.name, "hello");
  EXPECT_EQ(c.file, "hello.py");
  EXPECT_EQ(c.handler, "hello.run");
  EXPECT_EQ(c.min_scale, 1);
  EXPECT_EQ(c.max_scale, 4);
  EXPECT_EQ(c.concurrency, 2);
  EXPECT_EQ(c.idle, 40);
  EXPECT_EQ(c.timeout, 9);
  EXPECT_EQ(c.env, (std::vector<std::string>{"A=1", "B=2"}));

  FunctionOptions u;
  parse({"function", "update", "hello", "--max-scale", "2"}, u);
  EXPECT_EQ(u.action, "update");
  EXPECT_TRUE(u.file.empty());
  EXPECT_FALSE(u.min_scale.has_value());
  EXPECT_EQ(u.max_scale, 2);

  FunctionOptions i;
  parse({"fn", "invoke", "hello", "-d", "{\"a\":1}", "-q", "x=1", "-q", "y=2", "-v"}, i);
  EXPECT_EQ(i.action, "invoke");
  EXPECT_EQ(i.data, "{\"a\":1}");
  EXPECT_EQ(i.query, (std::vector<std::string>{"x=1", "y=2"}));
  EXPECT_TRUE(i.verbose);

  FunctionOptions l;
  parse({"fn", "list"}, l);
  EXPECT_EQ(l.action, "get");
  EXPECT_TRUE(l.name.empty());
  FunctionOptions g;
  parse({"fn", "get", "hello", "-o", "yaml"}, g);
  EXPECT_EQ(g.name, "hello");
  EXPECT_EQ(g.output, "yaml");
  FunctionOptions f;
  parse({"fn", "logs", "hello", "-f"}, f);
  EXPECT_EQ(f.action, "logs");
  EXPECT_TRUE(f.follow);
  for (const char* action : {"describe", "url", "delete"}) {
    FunctionOptions o;
    parse({"fn", action, "hello"}, o);
    EXPECT_EQ(o.action, action);
    EXPECT_EQ(o.name, "hello");
  }
  FunctionOptions missing;
  EXPECT_THROW(parse({"fn", "describe"}, missing), CLI::ParseError);
  FunctionOptions bad_num;
  EXPECT_THROW(parse({"fn", "create", "x", "--max-scale", "many"}, bad_num), CLI::ParseError);
}

TEST_F(FunctionCmdsTest, DescribeShowsRevisionCodeScaleUrlAndConditions) {
  Json fn = Json::parse(R"({
    "metadata": {"name": "hello", "namespace": "default", "creationTimestamp": "2026-12-07T12:00:00Z"},
    "spec": {"runtime": "python3", "handler": "hello.handler",
             "code": {"hash": "sha256:abc", "filename": "hello.py"},
             "env": [{"name": "GREETING", "value": "hi"}], "timeoutSeconds": 20,
             "scale": {"minScale": 1, "maxScale": 4, "targetConcurrency": 2, "scaleToZeroAfterSeconds": 45}},
    "status": {"revision": "3", "url": "http://gw:31080/functions/default/hello", "readyInstances": 1,
               "desiredInstances": 2,
               "conditions": [{"type": "CodeValid", "status": "False", "reason": "InitFailed",
                               "message": "hello.py:3: SyntaxError: invalid syntax\nmore"},
                              {"type": "Ready", "status": "False"}]}})");
  std::string d = describe_function(fn, 312, 0);
  for (const char* want :
       {"Name:", "hello\n", "Handler:", "hello.handler",
        "Code:", "sha256:abc (hello.py, 312 bytes)", "Revision:", " 3\n", "GREETING=hi",
        "Timeout:", "20s", "min 1, max 4, target concurrency 2, to zero after 45s idle",
        "http://gw:31080/functions/default/hello", "1 ready / 2 desired",
        "Conditions:", "CodeValid", "InitFailed", "hello.py:3: SyntaxError: invalid syntax\n"}) {
    EXPECT_NE(d.find(want), std::string::npos) << want << "\n" << d;
  }
  EXPECT_EQ(d.find("more"), std::string::npos) << "a condition message shows its first line only";
  Json inl = Json::parse(
      R"({"metadata":{"name":"e"},"spec":{"code":{"inline":"x=1\n","filename":"main.py"}}})");
  std::string di = describe_function(inl, 4, 0);
  EXPECT_NE(di.find("inline (main.py, 4 bytes)"), std::string::npos) << di;
  EXPECT_NE(di.find("min 0, max 10, target concurrency 1, to zero after 30s idle"),
            std::string::npos)
      << di;
  EXPECT_NE(di.find("Conditions:  <none>"), std::string::npos) << di;
}

TEST_F(FunctionCmdsTest, InvokeErrorLineIsOneLine) {
  EXPECT_EQ(
      invoke_error_line(
          500, R"({"error":"ZeroDivisionError","message":"division by zero","traceback":"T\nU"})"),
      "error: HTTP 500: ZeroDivisionError: division by zero");
  EXPECT_EQ(invoke_error_line(
                404, R"({"kind":"Status","message":"functions \"x\" not found","code":404})"),
            "error: HTTP 404: functions \"x\" not found");
  EXPECT_EQ(invoke_error_line(503, "no instance became ready in 30s\nsecond line"),
            "error: HTTP 503: no instance became ready in 30s");
  EXPECT_EQ(invoke_error_line(502, ""), "error: HTTP 502");
}

}  // namespace
}  // namespace minik8s::cli
