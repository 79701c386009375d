#include "minik8s/util/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace minik8s {
namespace {

TEST(ValidUtf8, AcceptsWellFormedText) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("app=web"));
  EXPECT_TRUE(valid_utf8(std::string("a\0b", 3)));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_TRUE(valid_utf8("\xc2\x80"));          // U+0080, the first two-byte form
  EXPECT_TRUE(valid_utf8("\xe0\xa0\x80"));      // U+0800
  EXPECT_TRUE(valid_utf8("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(valid_utf8("\xee\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(valid_utf8("\xf0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

TEST(ValidUtf8, RejectsBrokenSequences) {
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\x80"));                  // stray continuation
  EXPECT_FALSE(valid_utf8("\xf8\x88\x80\x80\x80"));  // five-byte form
  EXPECT_FALSE(valid_utf8("a\xc3"));                 // truncated
  EXPECT_FALSE(valid_utf8("\xe2\x82"));              // truncated
  EXPECT_FALSE(valid_utf8("\xf0\x9f\x98"));          // truncated
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));              // overlong
  EXPECT_FALSE(valid_utf8("\xe0\x9f\xbf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xf0\x8f\xbf\xbf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));          // surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));      // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xc3\x28"));              // bad continuation
}

}  // namespace
}  // namespace minik8s
