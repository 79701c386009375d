#include "minik8s/util/base64.h"

#include <gtest/gtest.h>

namespace minik8s {

TEST(Base64, EncodesWithPadding) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xfb\xff\x00", 3)), "+/8A");
}

TEST(Base64, StrictRoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string s = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(s)).value_or("?"), s) << n;
  }
}

TEST(Base64, StrictRejectsWhatTheApiServerRejects) {
  EXPECT_EQ(base64_decode("").value_or("?"), "");
  EXPECT_EQ(base64_decode("Zm8=").value_or("?"), "fo");
  EXPECT_FALSE(base64_decode("Zm8"));       // unpadded
  EXPECT_FALSE(base64_decode("Zm8=Zm8="));  // padding inside
  EXPECT_FALSE(base64_decode("Z==="));      // three '='
  EXPECT_FALSE(base64_decode("===="));
  EXPECT_FALSE(base64_decode("Zm9v\n"));  // whitespace
  EXPECT_FALSE(base64_decode("-_8A"));    // URL-safe alphabet
  EXPECT_FALSE(base64_decode(std::string("Zm\0v", 4)));
}

TEST(Base64, LenientAcceptsWhatTheKubeletAccepts) {
  EXPECT_EQ(base64_decode_lenient("Zm8").value(), "fo");  // unpadded
  EXPECT_EQ(base64_decode_lenient("Zm9v\r\nYmFy ").value(), "foobar");
  EXPECT_EQ(base64_decode_lenient("-_8A").value(), std::string("\xfb\xff\x00", 3));
  EXPECT_EQ(base64_decode_lenient("+/8A").value(), std::string("\xfb\xff\x00", 3));
  EXPECT_EQ(base64_decode_lenient("").value(), "");
}

TEST(Base64, LenientSaysWhyItRejects) {
  auto after = base64_decode_lenient("Zm8=Zm8=");
  ASSERT_FALSE(after.is_ok());
  EXPECT_EQ(after.status().code(), Code::kInvalid);
  EXPECT_EQ(after.status().message(), "illegal base64 data: data after padding");
  EXPECT_EQ(base64_decode_lenient("Zm*v").status().message(),
            "illegal base64 data: unexpected character");
  EXPECT_EQ(base64_decode_lenient("Zm9vY").status().message(), "illegal base64 data: bad length");
  EXPECT_EQ(base64_decode_lenient("Zg===").status().message(), "illegal base64 data: bad length");
}

}  // namespace minik8s
