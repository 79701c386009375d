#include "minik8s/util/time.h"

#include <gtest/gtest.h>

namespace minik8s {

TEST(Time, RoundTripsRfc3339) {
  SysTime t;
  ASSERT_TRUE(parse_rfc3339("2026-11-25T19:56:19Z", &t));
  EXPECT_EQ(format_rfc3339(t), "2026-11-25T19:56:19Z");
  ASSERT_TRUE(parse_rfc3339("2026-11-25T19:56:19.250000Z", &t));
  EXPECT_EQ(format_rfc3339_micro(t), "2026-11-25T19:56:19.250000Z");
  ASSERT_TRUE(parse_rfc3339("2026-11-25T21:56:19+02:00", &t));
  EXPECT_EQ(format_rfc3339(t), "2026-11-25T19:56:19Z");
}

TEST(Time, RejectsGarbage) {
  SysTime t;
  EXPECT_FALSE(parse_rfc3339("", &t));
  EXPECT_FALSE(parse_rfc3339("2026-13-01T00:00:00Z", &t));
  EXPECT_FALSE(parse_rfc3339("2026-11-25T19:56:19", &t));
  EXPECT_FALSE(parse_rfc3339("2026-11-25T19:56:19Zjunk", &t));
}

TEST(Time, HumanDurationLikeKubectl) {
  using std::chrono::seconds;
  EXPECT_EQ(human_duration(seconds(5)), "5s");
  EXPECT_EQ(human_duration(seconds(185)), "3m5s");
  EXPECT_EQ(human_duration(seconds(3600)), "60m");
  EXPECT_EQ(human_duration(seconds(4 * 3600 + 60)), "4h1m");
  EXPECT_EQ(human_duration(seconds(3 * 86400)), "3d");
}

}  // namespace minik8s
