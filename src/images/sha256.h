// Internal to mk_images: SHA-256 (FIPS 180-4) for OCI content digests.
// Thread-compatible value type; no external dependency.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "minik8s/util/status.h"

namespace minik8s::images {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_;
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);
// Hex digest and size of a file's contents; kNotFound / kInternal on I/O errors.
struct FileDigest {
  std::string hex;
  uint64_t size = 0;
};
Result<FileDigest> sha256_file(const std::string& path);

}  // namespace minik8s::images
