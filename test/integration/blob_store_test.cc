// The blob store (docs/gpu.md "Blob store") through the real API server over
// HTTP, beside the code store: each path keeps its own upload limit (the
// parser's is the larger one until the header names the path), and the
// client helpers round-trip binary bytes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/apiserver/code_store.h"
#include "minik8s/client/code.h"
#include "minik8s/client/rest_client.h"
#include "test/fakes/local_api.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::apiserver {
namespace {

using testing::ApiServerFixture;

const std::string kBlobs = kBlobApiPath;
const std::string kCode = kCodeApiPath;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

class BlobStoreApiTest : public ApiServerFixture {
 protected:
  void configure(ApiServerOptions& opts) override {
    opts.code_dir = dir_.path() + "/code";
    opts.blob_dir = dir_.path() + "/blobs";
  }
  std::unique_ptr<client::RestClient> rest() {
    client::HttpRestClientOptions o;
    o.server = local_.url();
    auto r = client::make_http_rest_client(o);
    EXPECT_TRUE(r.is_ok());
    return r ? std::move(*r) : nullptr;
  }

  testing::TempDir dir_{"blob-store"};
};

TEST_F(BlobStoreApiTest, UploadsUpToSixtyFourMiB) {
  const std::string max = random_bytes(kMaxBlobBytes, 11);
  auto up = req("POST", kBlobs, max, "application/octet-stream");
  ASSERT_EQ(up.code, 201) << up.body.substr(0, 300);
  EXPECT_EQ(up.j()["size"], kMaxBlobBytes);
  EXPECT_EQ(up.j()["hash"], CodeStore::hash_of(max));
  auto g = req("GET", kBlobs + "/" + up.j()["hash"].get<std::string>());
  ASSERT_EQ(g.code, 200);
  EXPECT_TRUE(g.body == max) << "download differs from the upload";

  auto big = req("POST", kBlobs, std::string(kMaxBlobBytes + 1, 'x'), "application/octet-stream");
  ASSERT_EQ(big.code, 413) << big.body;
  EXPECT_EQ(big.j()["message"],
            "blob upload is 67108865 bytes; the limit is 67108864 bytes (64 MiB)");
  // The code store keeps its 8 MiB although the parser now allows 64 MiB.
  auto code = req("POST", kCode, std::string(kMaxCodeBytes + 1, 'c'), "application/octet-stream");
  ASSERT_EQ(code.code, 413) << code.body;
  EXPECT_EQ(code.j()["message"],
            "code upload is 8388609 bytes; the limit is 8388608 bytes (8 MiB)");
  // And other paths the server's body limit.
  auto cm = req("POST", "/api/v1/namespaces/default/configmaps", std::string(9 << 20, ' '));
  EXPECT_EQ(cm.code, 413);
  EXPECT_NE(cm.body.find("the request body is larger than the limit"), std::string::npos)
      << cm.body;
  EXPECT_EQ(req("GET", "/readyz").body, "ok");
}

TEST_F(BlobStoreApiTest, ClientHelpers) {
  auto r = rest();
  ASSERT_TRUE(r);
  const std::string bytes = random_bytes(9 << 20, 5);  // binary, over the code store's limit
  auto hash = client::upload_blob(*r, bytes);
  ASSERT_TRUE(hash.is_ok()) << hash.status().to_string();
  EXPECT_EQ(*hash, CodeStore::hash_of(bytes));
  auto back = client::download_blob(*r, *hash);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_TRUE(*back == bytes);
  // Not in the code store.
  EXPECT_EQ(client::download_code(*r, *hash).status().code(), Code::kNotFound);
  EXPECT_EQ(client::download_blob(*r, "sha256:" + std::string(64, '0')).status().code(),
            Code::kNotFound);
  EXPECT_EQ(client::download_blob(*r, "sha256:nope").status().code(), Code::kBadRequest);
  EXPECT_EQ(client::download_blob(*r, "../../x").status().code(), Code::kBadRequest);
  auto big = client::upload_blob(*r, std::string(kMaxBlobBytes + 1, 'b'));
  ASSERT_EQ(big.status().code(), Code::kTooLarge) << big.status().to_string();
  EXPECT_NE(big.status().message().find("64 MiB"), std::string::npos) << big.status().message();
}

}  // namespace
}  // namespace minik8s::apiserver
