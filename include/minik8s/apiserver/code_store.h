// CodeStore: the API server's content-addressed stores of uploads: function
// code (docs/serverless.md "The code store") and GPU job blobs (docs/gpu.md
// "Blob store"). One class, one HTTP handler; a StoreSpec says where a store
// is served, how large an upload may be and what the messages call it.
//
// A blob lives at <dir>/sha256/<hex>, named by the SHA-256 of its bytes, and
// is at most spec.max_bytes long. put() writes a temporary file in the same
// directory and renames it into place, so a reader sees either no blob or the
// whole of it, also across a crash. The API server serves it as
//   POST /apis/serverless.minik8s.io/v1/code          (raw bytes → hash)
//   GET  /apis/serverless.minik8s.io/v1/code/<hash>   (hash → bytes)
// (the blob store likewise at /apis/minik8s.io/v1/blobs), refuses Functions
// (GPUJobs) naming a hash it lacks, and removes a blob once no Function
// (GPUJob) names it any more (src/apiserver/kinds/function_strategy.cc,
// gpujob_strategy.cc).
// Other components reach it over HTTP (minik8s/client/code.h), never through
// the directory.
//
// Thread safety: every method may be called from any thread; concurrent puts
// of the same bytes are harmless (the same name, renamed over).
// Errors: kTooLarge over the limit, kInvalid for a malformed hash, kNotFound
// for an absent blob, kInternal for I/O failures (with the path and errno).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "minik8s/util/status.h"

namespace minik8s::apiserver {

// Where the API server serves the store: POST here, GET here + "/<hash>".
inline constexpr const char* kCodeApiPath = "/apis/serverless.minik8s.io/v1/code";
inline constexpr const char* kBlobApiPath = "/apis/minik8s.io/v1/blobs";

// The largest upload each store takes: 8 MiB of code, 64 MiB of blobs.
inline constexpr size_t kMaxCodeBytes = size_t{8} << 20;
inline constexpr size_t kMaxBlobBytes = size_t{64} << 20;

// What distinguishes one store from another.
struct StoreSpec {
  const char* api_path;  // kCodeApiPath
  size_t max_bytes;      // kMaxCodeBytes
  const char* noun;  // "code": "code upload is …", "code sha256:… not found in the code store"
  const char* limit_text;  // "8 MiB"
};
inline constexpr StoreSpec kCodeStoreSpec{kCodeApiPath, kMaxCodeBytes, "code", "8 MiB"};
inline constexpr StoreSpec kBlobStoreSpec{kBlobApiPath, kMaxBlobBytes, "blob", "64 MiB"};

// The 413 message for an upload of n bytes ("code upload is N bytes; the
// limit is 8388608 bytes (8 MiB)"); too_large_message(spec) without n: "… is
// more than …" (a chunked body over the limit).
std::string too_large_message(const StoreSpec& spec, uint64_t n);
std::string too_large_message(const StoreSpec& spec);
inline std::string code_too_large_message(uint64_t n) {
  return too_large_message(kCodeStoreSpec, n);
}

class CodeStore {
 public:
  struct Put {
    std::string hash;  // "sha256:<64 hex>"
    uint64_t size = 0;
    bool created = false;  // false: the blob was already stored
  };

  // dir is created on the first put(); it need not exist before.
  explicit CodeStore(std::string dir, const StoreSpec& spec = kCodeStoreSpec)
      : dir_(std::move(dir)), spec_(spec) {}

  // "sha256:<64 lower-case hex>" of bytes.
  static std::string hash_of(std::string_view bytes);
  // True for "sha256:" followed by exactly 64 lower-case hex digits.
  static bool valid_hash(std::string_view hash);

  Result<Put> put(std::string_view bytes) const;
  Result<std::string> get(const std::string& hash) const;
  // False also for a malformed hash or an unreadable directory.
  bool exists(const std::string& hash) const;
  // OK when the blob is gone afterwards (also when it never existed).
  Status remove(const std::string& hash) const;

  const std::string& dir() const { return dir_; }
  const StoreSpec& spec() const { return spec_; }
  // <dir>/sha256/<hex> for a valid hash, "" otherwise.
  std::string path_of(const std::string& hash) const;

 private:
  const std::string dir_;
  const StoreSpec spec_;
};

}  // namespace minik8s::apiserver
