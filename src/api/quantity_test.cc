#include "minik8s/api/quantity.h"

#include <gtest/gtest.h>

#include <string>

namespace minik8s::api {
namespace {

Quantity q(const std::string& s) {
  auto r = Quantity::parse(s);
  EXPECT_TRUE(r.is_ok()) << s << ": " << r.status().to_string();
  return r.is_ok() ? *r : Quantity();
}

TEST(QuantityTest, MilliValues) {
  EXPECT_EQ(q("100m").milli_value(), 100);
  EXPECT_EQ(q("1").milli_value(), 1000);
  EXPECT_EQ(q("0.5").milli_value(), 500);
  EXPECT_EQ(q(".5").milli_value(), 500);
  EXPECT_EQ(q("5.").milli_value(), 5000);
  EXPECT_EQ(q("1Ki").milli_value(), 1024000);
  EXPECT_EQ(q("128Mi").value(), 134217728);
  EXPECT_EQ(q("1Gi").value(), 1073741824);
  EXPECT_EQ(q("2e3").milli_value(), 2000000);
  EXPECT_EQ(q("1E-2").milli_value(), 10);
  EXPECT_EQ(q("1k").milli_value(), 1000000);
  EXPECT_EQ(q("1M").value(), 1000000);
  EXPECT_EQ(q("1P").value(), 1000000000000000LL);
  EXPECT_FALSE(Quantity::parse("1E").is_ok());  // 10^21 milli-units overflow
  EXPECT_EQ(q("+3").milli_value(), 3000);
  EXPECT_EQ(q("-2").milli_value(), -2000);
  EXPECT_EQ(q("0").milli_value(), 0);
  EXPECT_EQ(q("000.000").milli_value(), 0);
}

TEST(QuantityTest, RoundsUp) {
  EXPECT_EQ(q("100n").milli_value(), 1);
  EXPECT_EQ(q("1u").milli_value(), 1);
  EXPECT_EQ(q("0.0001").milli_value(), 1);
  EXPECT_EQ(q("1e-300").milli_value(), 1);
  EXPECT_EQ(q("1500u").milli_value(), 2);
  EXPECT_EQ(q("100m").value(), 1);
  EXPECT_EQ(q("1001m").value(), 2);
  EXPECT_EQ(q("-100m").value(), -1);
}

TEST(QuantityTest, Malformed) {
  for (const char* s : {"", "-", "+", ".", "12Qi", "1 ", " 1", "1e", "1e+", "1.2.3", "Mi", "1KI",
                        "1ki", "0x10", "1e3Mi", "--1", "1mm"}) {
    auto r = Quantity::parse(s);
    EXPECT_FALSE(r.is_ok()) << s;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalid) << s;
    }
  }
}

TEST(QuantityTest, Overflow) {
  for (const char* s : {"10E", "9Ei", "1e20", "99999999999999999999", "9223372036854776",
                        "1e100000000000"}) {
    auto r = Quantity::parse(s);
    EXPECT_FALSE(r.is_ok()) << s;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalid);
    }
  }
  EXPECT_TRUE(Quantity::parse("9223372036854775").is_ok());
}

TEST(QuantityTest, CanonicalString) {
  EXPECT_EQ(q("1Gi").to_string(), "1Gi");
  EXPECT_EQ(q("1024Mi").to_string(), "1Gi");
  EXPECT_EQ(q("128Mi").to_string(), "128Mi");
  EXPECT_EQ(q("1536Mi").to_string(), "1536Mi");
  EXPECT_EQ(q("0.5Ki").to_string(), "512");
  EXPECT_EQ(q("187.5Ki").to_string(), "192000");  // not a whole number of Ki
  EXPECT_EQ(q("100m").to_string(), "100m");
  EXPECT_EQ(q("1.5").to_string(), "1500m");
  EXPECT_EQ(q("2000m").to_string(), "2");
  EXPECT_EQ(q("1000").to_string(), "1k");
  EXPECT_EQ(q("1500").to_string(), "1500");
  EXPECT_EQ(q("2e6").to_string(), "2M");
  EXPECT_EQ(q("-1Gi").to_string(), "-1Gi");
  EXPECT_EQ(q("0").to_string(), "0");
  EXPECT_EQ(Quantity::from_milli(250).to_string(), "250m");
  EXPECT_EQ(Quantity::from_milli(3000).to_string(), "3");
  EXPECT_EQ(Quantity::from_milli(INT64_MIN).to_string(), "-9223372036854775808m");
  // Canonical text parses back to the same value.
  for (const char* s : {"1Gi", "100m", "1.5", "123456789", "7Ki", "0.001", "12e2", "-5m"}) {
    Quantity a = q(s);
    Quantity b = q(a.to_string());
    EXPECT_EQ(a.milli_value(), b.milli_value()) << s << " -> " << a.to_string();
  }
}

}  // namespace
}  // namespace minik8s::api
