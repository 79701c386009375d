#include "hosts_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace minik8s::ingress {
namespace {

namespace fs = std::filesystem;

const std::string kOriginal =
    "127.0.0.1\tlocalhost\n"
    "::1     localhost ip6-localhost\n"
    "# a comment the user wrote   \n"
    "10.0.0.5 db.internal";  // no final newline on purpose

TEST(HostsBlockTest, AddsReplacesAndRemovesOnlyItsBlock) {
  std::string with = with_hosts_block(kOriginal, "node1", "127.0.0.1", {"a.test", "b.test"});
  EXPECT_EQ(
      with,
      kOriginal +
          "\n# BEGIN minik8s node1\n127.0.0.1 a.test\n127.0.0.1 b.test\n# END minik8s node1\n");
  std::string changed = with_hosts_block(with, "node1", "127.0.0.1", {"c.test"});
  EXPECT_EQ(changed,
            kOriginal + "\n# BEGIN minik8s node1\n127.0.0.1 c.test\n# END minik8s node1\n");
  // A text after our block stays where it is.
  std::string later = changed + "192.168.1.1 router\n";
  EXPECT_EQ(with_hosts_block(later, "node1", "127.0.0.1", {}),
            kOriginal + "\n192.168.1.1 router\n");
  EXPECT_EQ(with_hosts_block(with_hosts_block(later, "node1", "127.0.0.1", {"x.test"}), "node1",
                             "127.0.0.1", {}),
            kOriginal + "\n192.168.1.1 router\n");
  // Nothing to remove: unchanged, byte for byte.
  EXPECT_EQ(with_hosts_block(kOriginal, "node1", "127.0.0.1", {}), kOriginal);
}

TEST(HostsBlockTest, BlocksOfOtherTagsAreLeftAlone) {
  std::string two = with_hosts_block(with_hosts_block("h\n", "n1", "10.0.0.1", {"a.test"}), "n2",
                                     "10.0.0.2", {"a.test"});
  EXPECT_EQ(two,
            "h\n# BEGIN minik8s n1\n10.0.0.1 a.test\n# END minik8s n1\n"
            "# BEGIN minik8s n2\n10.0.0.2 a.test\n# END minik8s n2\n");
  EXPECT_EQ(with_hosts_block(two, "n1", "10.0.0.1", {}),
            "h\n# BEGIN minik8s n2\n10.0.0.2 a.test\n# END minik8s n2\n");
  // "n1" is not "n10".
  std::string other = with_hosts_block("h\n", "n10", "10.0.0.1", {"a.test"});
  EXPECT_EQ(with_hosts_block(other, "n1", "10.0.0.1", {}), other);
}

TEST(HostsBlockTest, ABeginWithoutEndOnlyLosesTheMarkerLine) {
  std::string cut = "a\n# BEGIN minik8s n1\nb\n";
  EXPECT_EQ(with_hosts_block(cut, "n1", "1.2.3.4", {}), "a\nb\n");
}

class HostsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mk-hosts-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    path_ = (dir_ / "hosts").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string read() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(HostsFileTest, RewritesInPlaceAndRestoresTheFile) {
  { std::ofstream(path_, std::ios::binary) << kOriginal; }
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  auto r = apply_hosts_block(path_, "t", "127.0.0.1", {"example.com"});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(*r);
  EXPECT_EQ(read(), kOriginal + "\n# BEGIN minik8s t\n127.0.0.1 example.com\n# END minik8s t\n");
  struct stat after {};
  ASSERT_EQ(::stat(path_.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);  // same file, not a renamed copy
  // Same content again: no write.
  r = apply_hosts_block(path_, "t", "127.0.0.1", {"example.com"});
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(*r);
  r = apply_hosts_block(path_, "t", "127.0.0.1", {});
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(read(), kOriginal + "\n");  // the newline added before the block stays
}

TEST_F(HostsFileTest, MissingFile) {
  auto r = apply_hosts_block(path_, "t", "127.0.0.1", {});
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(*r);
  EXPECT_FALSE(fs::exists(path_));
  r = apply_hosts_block(path_, "t", "127.0.0.1", {"a.test"});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(read(), "# BEGIN minik8s t\n127.0.0.1 a.test\n# END minik8s t\n");
  auto bad =
      apply_hosts_block((dir_ / "no" / "such" / "hosts").string(), "t", "127.0.0.1", {"a.test"});
  EXPECT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("no/such/hosts"), std::string::npos);
}

}  // namespace
}  // namespace minik8s::ingress
