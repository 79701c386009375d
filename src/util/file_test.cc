#include "minik8s/util/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace minik8s {
namespace {

namespace fs = std::filesystem;

class WriteFileAtomically : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mk-file-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

TEST_F(WriteFileAtomically, CreatesAndReplacesLeavingNoTemporary) {
  const std::string path = (dir_ / "conf").string();
  ASSERT_TRUE(write_file_atomically(path, "first\n").is_ok());
  EXPECT_EQ(read(path), "first\n");
  std::string binary("a\0b\xff", 4);
  ASSERT_TRUE(write_file_atomically(path, binary).is_ok());
  EXPECT_EQ(read(path), binary);
  ASSERT_TRUE(write_file_atomically(path, "").is_ok());
  EXPECT_EQ(read(path), "");
  EXPECT_EQ(entries(), std::vector<std::string>{"conf"});
}

TEST_F(WriteFileAtomically, ReplacesTheNameNotTheOldInode) {
  // A reader holding the old file open keeps reading the old content.
  const std::string path = (dir_ / "conf").string();
  ASSERT_TRUE(write_file_atomically(path, "old").is_ok());
  std::ifstream held(path);
  ASSERT_TRUE(write_file_atomically(path, "new").is_ok());
  std::string seen;
  held >> seen;
  EXPECT_EQ(seen, "old");
  EXPECT_EQ(read(path), "new");
}

TEST_F(WriteFileAtomically, FailsWithTheReasonAndCleansUp) {
  auto missing = write_file_atomically((dir_ / "no" / "such" / "conf").string(), "x");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.code(), Code::kInternal);
  EXPECT_NE(missing.message().find("no/such/conf.tmp."), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("No such file"), std::string::npos) << missing.message();

  // The rename fails (a non-empty directory is in the way): no temporary stays behind.
  fs::create_directories(dir_ / "taken" / "inside");
  auto taken = write_file_atomically((dir_ / "taken").string(), "x");
  ASSERT_FALSE(taken.is_ok());
  EXPECT_NE(taken.message().find("cannot rename"), std::string::npos) << taken.message();
  EXPECT_EQ(entries(), std::vector<std::string>{"taken"});
}

}  // namespace
}  // namespace minik8s
