#include "process.h"

#include <gtest/gtest.h>

namespace minik8s::images {
namespace {

TEST(ImagesProcess, CapturesStdoutStderrAndExitCode) {
  auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(ImagesProcess, CheckedFailureCarriesStderr) {
  auto r = run_checked({"sh", "-c", "echo broken thing >&2; exit 1"});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_NE(r.status().message().find("broken thing"), std::string::npos) << r.status().message();
}

TEST(ImagesProcess, MissingProgramIsUnavailable) {
  auto r = run_process({"minik8s-no-such-program-xyz"});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(ImagesProcess, EnvAndCwd) {
  ProcessOptions o;
  o.env = {{"MINIK8S_TEST_VAR", "hello"}};
  o.cwd = "/";
  auto r = run_checked({"sh", "-c", "echo $MINIK8S_TEST_VAR; pwd"}, o);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(*r, "hello\n/\n");
}

}  // namespace
}  // namespace minik8s::images
