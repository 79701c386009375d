#include "allocator.h"

#include <gtest/gtest.h>

namespace minik8s::apiserver {
namespace {

TEST(IpAllocatorTest, AllocatesSequentiallySkippingReserved) {
  auto a = IpAllocator::create("10.96.0.0/29");  // .0 network, .1 kubernetes, .7 broadcast
  ASSERT_TRUE(a.is_ok());
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    auto ip = (*a)->allocate_next();
    ASSERT_TRUE(ip.is_ok()) << i;
    got.push_back(*ip);
  }
  EXPECT_EQ(got.front(), "10.96.0.2");
  EXPECT_EQ(got.back(), "10.96.0.6");
  EXPECT_FALSE((*a)->allocate_next().is_ok());
  (*a)->release("10.96.0.4");
  auto again = (*a)->allocate_next();
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(*again, "10.96.0.4");
}

TEST(IpAllocatorTest, SpecificAddressConflictsAndRange) {
  auto a = IpAllocator::create("10.96.0.0/12");
  ASSERT_TRUE(a.is_ok());
  EXPECT_TRUE((*a)->allocate("10.96.0.5").is_ok());
  Status dup = (*a)->allocate("10.96.0.5");
  EXPECT_EQ(dup.code(), Code::kInvalid);
  EXPECT_EQ(dup.message(), "provided IP is already allocated");
  EXPECT_EQ((*a)->allocate("192.168.0.1").code(), Code::kInvalid);
  EXPECT_TRUE((*a)->in_use("10.96.0.5"));
  (*a)->release("10.96.0.5");
  EXPECT_FALSE((*a)->in_use("10.96.0.5"));
  EXPECT_EQ((*a)->nth(1), "10.96.0.1");
  EXPECT_FALSE(IpAllocator::create("10.96.0.0").is_ok());
  EXPECT_FALSE(IpAllocator::create("300.1.1.1/12").is_ok());
}

TEST(PortAllocatorTest, RangeConflictsRelease) {
  PortAllocator p(30000, 30002);
  EXPECT_TRUE(p.allocate(30001).is_ok());
  EXPECT_EQ(p.allocate(30001).message(), "provided port is already allocated");
  EXPECT_EQ(p.allocate(29999).code(), Code::kInvalid);
  auto a = p.allocate_next();
  auto b = p.allocate_next();
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(*a, 30000);
  EXPECT_EQ(*b, 30002);
  EXPECT_FALSE(p.allocate_next().is_ok());
  p.release(30001);
  auto c = p.allocate_next();
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(*c, 30001);
}

}  // namespace
}  // namespace minik8s::apiserver
