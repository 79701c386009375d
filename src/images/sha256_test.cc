#include "sha256.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace minik8s::images {
namespace {

TEST(ImagesSha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(ImagesSha256, StreamingInOddChunksEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data.push_back(static_cast<char>(i * 31 + 7));
  for (size_t chunk : {1u, 3u, 63u, 64u, 65u, 1000u}) {
    Sha256 h;
    for (size_t off = 0; off < data.size(); off += chunk) {
      h.update(std::string_view(data).substr(off, chunk));
    }
    EXPECT_EQ(h.hex_digest(), sha256_hex(data)) << "chunk " << chunk;
  }
}

TEST(ImagesSha256, FileDigestAndSize) {
  auto path = std::filesystem::temp_directory_path() /
              ("minik8s-test-" + std::to_string(::getpid()) + "-sha.bin");
  { std::ofstream(path) << "abc"; }
  auto d = sha256_file(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->size, 3u);
  EXPECT_EQ(d->hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_file(path).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace minik8s::images
