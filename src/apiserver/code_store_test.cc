// CodeStore: content addresses, atomic puts, limits, removal.
#include "minik8s/apiserver/code_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "test/fakes/temp_dir.h"

namespace minik8s::apiserver {
namespace {

namespace fs = std::filesystem;

TEST(CodeStoreTest, HashIsSha256) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(CodeStore::hash_of(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(CodeStore::hash_of("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(CodeStore::valid_hash(CodeStore::hash_of("x")));
  EXPECT_FALSE(CodeStore::valid_hash("sha256:abc"));
  EXPECT_FALSE(CodeStore::valid_hash("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(CodeStore::valid_hash("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(CodeStore::valid_hash("sha256:" + std::string(63, 'a') + "/"));
  EXPECT_FALSE(CodeStore::valid_hash("sha256:" + std::string(65, 'a')));
  EXPECT_FALSE(CodeStore::valid_hash(""));
}

TEST(CodeStoreTest, PutGetExistsRemove) {
  testing::TempDir tmp("code");
  CodeStore store(tmp.path() + "/code");  // created on the first put
  std::string bytes = "def handler(event, context):\n    return 1\n";
  bytes += std::string("\0\xff\x80 binary", 10);
  std::string hash = CodeStore::hash_of(bytes);
  EXPECT_FALSE(store.exists(hash));
  auto missing = store.get(hash);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(hash), std::string::npos);

  auto put = store.put(bytes);
  ASSERT_TRUE(put.is_ok()) << put.status().to_string();
  EXPECT_EQ(put->hash, hash);
  EXPECT_EQ(put->size, bytes.size());
  EXPECT_TRUE(put->created);
  EXPECT_TRUE(fs::is_regular_file(tmp.path() + "/code/sha256/" + hash.substr(7)));
  EXPECT_EQ(store.path_of(hash), tmp.path() + "/code/sha256/" + hash.substr(7));
  EXPECT_TRUE(store.exists(hash));
  auto got = store.get(hash);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(*got, bytes);

  auto again = store.put(bytes);
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->hash, hash);

  // No temporaries left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(tmp.path() + "/code/sha256")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);

  EXPECT_TRUE(store.remove(hash).is_ok());
  EXPECT_FALSE(store.exists(hash));
  EXPECT_TRUE(store.remove(hash).is_ok());  // already gone
  EXPECT_EQ(store.get(hash).status().code(), Code::kNotFound);
}

TEST(CodeStoreTest, LimitsAndBadHashes) {
  testing::TempDir tmp("code");
  CodeStore store(tmp.path());
  auto big = store.put(std::string(kMaxCodeBytes + 1, 'x'));
  ASSERT_FALSE(big.is_ok());
  EXPECT_EQ(big.status().code(), Code::kTooLarge);
  EXPECT_EQ(big.status().message(),
            "code upload is 8388609 bytes; the limit is 8388608 bytes (8 MiB)");
  auto max = store.put(std::string(kMaxCodeBytes, 'x'));
  ASSERT_TRUE(max.is_ok()) << max.status().to_string();
  EXPECT_EQ(max->size, kMaxCodeBytes);
  auto empty = store.put("");
  ASSERT_TRUE(empty.is_ok());
  EXPECT_EQ(store.get(empty->hash).value(), "");

  for (const std::string& bad : std::vector<std::string>{
           "", "sha256:..", "sha256:../../etc/passwd", "../x", "sha256:" + std::string(64, 'g')}) {
    EXPECT_EQ(store.get(bad).status().code(), Code::kBadRequest) << bad;
    EXPECT_FALSE(store.exists(bad)) << bad;
    EXPECT_FALSE(store.remove(bad).is_ok()) << bad;
    EXPECT_EQ(store.path_of(bad), "") << bad;
  }
}

TEST(CodeStoreTest, ConcurrentPutsOfTheSameBytes) {
  testing::TempDir tmp("code");
  CodeStore store(tmp.path());
  const std::string bytes(1 << 20, 'q');
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (store.put(bytes).is_ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(store.get(CodeStore::hash_of(bytes)).value(), bytes);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(tmp.path() + "/sha256")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST(CodeStoreTest, UnwritableDirectoryIsAnError) {
  CodeStore store("/proc/minik8s-no-such-dir");
  auto put = store.put("x");
  ASSERT_FALSE(put.is_ok());
  EXPECT_EQ(put.status().code(), Code::kInternal);
  EXPECT_NE(put.status().message().find("/proc/minik8s-no-such-dir"), std::string::npos)
      << put.status().message();
}

}  // namespace
}  // namespace minik8s::apiserver
