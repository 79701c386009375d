#include "cidr.h"

#include <gtest/gtest.h>

namespace minik8s::controllers {
namespace {

TEST(Cidr, ParsesAndPrints) {
  auto c = parse_ipv4_cidr("10.244.0.0/16");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->prefix, 16);
  EXPECT_EQ(c->base, 0x0af40000u);
  EXPECT_EQ(to_string(*c), "10.244.0.0/16");
  EXPECT_EQ(to_string(*parse_ipv4_cidr("0.0.0.0/0")), "0.0.0.0/0");
  EXPECT_EQ(to_string(*parse_ipv4_cidr("192.168.1.7/32")), "192.168.1.7/32");
}

TEST(Cidr, RejectsBadInput) {
  for (const char* bad : {"", "10.244.0.0", "10.244.0.0/", "10.244.0.0/33", "10.244.0.0/-1", "10.244.0/16",
                          "10.244.0.0/16x", "fd00::/64", "10.244.1.0/16"}) {
    auto r = parse_ipv4_cidr(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << bad;
  }
  auto lenient = parse_ipv4_cidr("10.244.1.0/16", true);
  ASSERT_TRUE(lenient.is_ok());
  EXPECT_EQ(to_string(*lenient), "10.244.0.0/16");
}

TEST(Cidr, Contains) {
  auto cluster = *parse_ipv4_cidr("10.244.0.0/16");
  EXPECT_TRUE(cluster.contains(*parse_ipv4_cidr("10.244.3.0/24")));
  EXPECT_TRUE(cluster.contains(cluster));
  EXPECT_FALSE(cluster.contains(*parse_ipv4_cidr("10.245.0.0/24")));
  EXPECT_FALSE(cluster.contains(*parse_ipv4_cidr("10.0.0.0/8")));
}

TEST(CidrBlocks, IndexesAndOverlap) {
  auto blocks = CidrBlocks::make(*parse_ipv4_cidr("10.244.0.0/16"), 24);
  ASSERT_TRUE(blocks.is_ok());
  EXPECT_EQ(blocks->count(), 256);
  EXPECT_EQ(to_string(blocks->at(0)), "10.244.0.0/24");
  EXPECT_EQ(to_string(blocks->at(5)), "10.244.5.0/24");
  EXPECT_EQ(to_string(blocks->at(255)), "10.244.255.0/24");
  auto r = blocks->overlapping(*parse_ipv4_cidr("10.244.7.0/24"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, std::make_pair(7, 7));
  r = blocks->overlapping(*parse_ipv4_cidr("10.244.8.0/23"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, std::make_pair(8, 9));
  r = blocks->overlapping(*parse_ipv4_cidr("10.244.9.128/25"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, std::make_pair(9, 9));
  EXPECT_FALSE(blocks->overlapping(*parse_ipv4_cidr("192.168.0.0/24")).has_value());
}

TEST(CidrBlocks, RejectsInconsistentMasks) {
  auto cluster = *parse_ipv4_cidr("10.244.0.0/16");
  EXPECT_EQ(CidrBlocks::make(cluster, 15).status().code(), Code::kBadRequest);
  EXPECT_EQ(CidrBlocks::make(cluster, 31).status().code(), Code::kBadRequest);
  EXPECT_FALSE(CidrBlocks::make(*parse_ipv4_cidr("10.0.0.0/8"), 26).is_ok());  // 2^18 blocks
  auto one = CidrBlocks::make(cluster, 16);
  ASSERT_TRUE(one.is_ok());
  EXPECT_EQ(one->count(), 1);
}

}  // namespace
}  // namespace minik8s::controllers
