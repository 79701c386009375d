// Service address allocators: cluster IPs out of the service CIDR and node
// ports out of the node-port range. In-memory bitmaps, rebuilt from the stored
// Services at start-up (the objects are the source of truth).
// Thread safety: every method is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::apiserver {

class IpAllocator {
 public:
  // cidr "10.96.0.0/12". kBadRequest when malformed or too small.
  static Result<std::unique_ptr<IpAllocator>> create(const std::string& cidr);
  IpAllocator(uint32_t base, uint32_t size) : base_(base), size_(size), used_(size, false) {}

  // Next free address (never the network address or the last one).
  Result<std::string> allocate_next();
  // kInvalid-ready message via Status kInvalid when out of range or taken.
  Status allocate(const std::string& ip);
  void release(const std::string& ip);
  bool contains(const std::string& ip) const;
  bool in_use(const std::string& ip) const;
  std::string nth(uint32_t offset) const;  // base + offset as text

  static std::optional<uint32_t> parse_ipv4(const std::string& s);
  static std::string format_ipv4(uint32_t v);

 private:
  const uint32_t base_, size_;
  mutable std::mutex mu_;
  std::vector<bool> used_;  // guarded by mu_
  uint32_t next_ = 2;       // guarded by mu_; .1 is kept for the kubernetes Service
};

class PortAllocator {
 public:
  PortAllocator(int min, int max) : min_(min), max_(max), used_(max - min + 1, false) {}
  Result<int> allocate_next();
  Status allocate(int port);
  void release(int port);
  bool contains(int port) const { return port >= min_ && port <= max_; }
  bool in_use(int port) const;

 private:
  const int min_, max_;
  mutable std::mutex mu_;
  std::vector<bool> used_;  // guarded by mu_
  int next_ = 0;            // guarded by mu_
};

}  // namespace minik8s::apiserver
