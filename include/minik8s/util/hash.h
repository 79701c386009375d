// FNV-1a (32- and 64-bit): the stable, non-cryptographic hashes behind
// pod-template-hash, container spec hashes, OpenAPI document hashes and
// per-data-dir names. Same input, same value, on every machine and run.
#pragma once

#include <cstdint>
#include <string_view>

namespace minik8s {

constexpr uint32_t fnv1a32(std::string_view data) {
  uint32_t h = 2166136261u;
  for (unsigned char c : data) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

constexpr uint64_t fnv1a64(std::string_view data) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

static_assert(fnv1a32("a") == 0xe40c292cu, "FNV-1a 32 test vector");
static_assert(fnv1a64("a") == 0xaf63dc4c8601ec8cull, "FNV-1a 64 test vector");

}  // namespace minik8s
