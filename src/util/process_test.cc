#include "minik8s/util/process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace minik8s {
namespace {

namespace fs = std::filesystem;

TEST(RunProcess, CapturesBothStreamsAndExitCode) {
  auto r = run_process({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(RunProcess, LargeOutputOnBothStreamsDoesNotDeadlock) {
  // 4 MiB on each stream, interleaved: far beyond a pipe buffer.
  auto r = run_process({"/bin/sh", "-c",
                        "head -c 4194304 /dev/zero; head -c 4194304 /dev/zero >&2; "
                        "head -c 4194304 /dev/zero"});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out.size(), 8u * 1024 * 1024);
  EXPECT_EQ(r->err.size(), 4u * 1024 * 1024);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RunProcess, FeedsStdinData) {
  std::string big(3 * 1024 * 1024, 'x');
  big += "end";
  ProcessOptions o;
  o.stdin_data = big;
  auto r = run_process({"cat"}, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out, big);
}

TEST(RunProcess, StdinIsDevNullWithoutData) {
  auto r = run_process({"/bin/sh", "-c", "readlink /proc/self/fd/0; cat"});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out, "/dev/null\n");
}

TEST(RunProcess, ChildExitingBeforeReadingStdinIsNoError) {
  ProcessOptions o;
  o.stdin_data = std::string(4 * 1024 * 1024, 'y');
  auto r = run_process({"/bin/sh", "-c", "exit 5"}, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->exit_code, 5);
}

TEST(RunProcess, SignalDeathIs128PlusSignal) {
  auto r = run_process({"/bin/sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->exit_code, 128 + SIGTERM);
}

TEST(RunProcess, MissingProgramIsUnavailable) {
  auto r = run_process({"mk-process-test-no-such-program"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot run mk-process-test-no-such-program"),
            std::string::npos)
      << r.status().message();
}

TEST(RunProcess, EmptyArgvIsInvalid) {
  auto r = run_process({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kInvalid);
}

TEST(RunProcess, ChildGetsEmptySignalMaskAndDefaultSigpipe) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  struct sigaction ign {}, old_pipe {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGPIPE, &ign, &old_pipe), 0);
  auto r = run_process({"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_NE(r->out.find("SigBlk:\t0000000000000000\n"), std::string::npos) << r->out;
  // SIGPIPE is signal 13: bit 12 of SigIgn (0x1000) must be clear.
  auto pos = r->out.find("SigIgn:\t");
  ASSERT_NE(pos, std::string::npos) << r->out;
  unsigned long long ign_mask = std::stoull(r->out.substr(pos + 8, 16), nullptr, 16);
  EXPECT_EQ(ign_mask & (1ULL << (SIGPIPE - 1)), 0u) << r->out;
}

TEST(RunProcess, EnvAddsReplacesOrIsExact) {
  ::setenv("MK_PROCESS_TEST_A", "inherited", 1);
  ProcessOptions o;
  o.env = {{"MK_PROCESS_TEST_A", "replaced"}, {"MK_PROCESS_TEST_B", "added"}};
  auto r = run_process({"/bin/sh", "-c", "echo $MK_PROCESS_TEST_A $MK_PROCESS_TEST_B"}, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out, "replaced added\n");

  ProcessOptions exact;
  exact.replace_env = true;
  exact.env = {{"ONLY", "1"}};
  r = run_process({"/usr/bin/env"}, exact);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out, "ONLY=1\n");
  ::unsetenv("MK_PROCESS_TEST_A");
}

TEST(RunProcess, CwdAndStdoutFile) {
  std::string tmpl = (fs::temp_directory_path() / "mk-process-test.XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  ProcessOptions o;
  o.cwd = tmpl;
  o.stdout_file = tmpl + "/out.txt";
  auto r = run_process({"/bin/sh", "-c", "pwd; echo e >&2"}, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(r->err, "e\n");
  std::ifstream f(tmpl + "/out.txt");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), fs::canonical(tmpl).string() + "\n");

  ProcessOptions bad;
  bad.cwd = tmpl + "/missing";
  auto b = run_process({"true"}, bad);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.status().code(), Code::kUnavailable);
  fs::remove_all(tmpl);
}

TEST(RunProcess, TimeoutKillsTheChild) {
  ProcessOptions o;
  o.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  auto r = run_process({"sleep", "30"}, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(DescribeCommand, QuotesArgumentsWithSpaces) {
  EXPECT_EQ(describe_command({"a", "b c", ""}), "a 'b c' ''");
}

}  // namespace
}  // namespace minik8s
