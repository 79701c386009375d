#include "allocator.h"

#include <cstdio>

namespace minik8s::apiserver {

std::optional<uint32_t> IpAllocator::parse_ipv4(const std::string& s) {
  unsigned a, b, c, d;
  char extra;
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4) return std::nullopt;
  if (a > 255 || b > 255 || c > 255 || d > 255) return std::nullopt;
  return (a << 24) | (b << 16) | (c << 8) | d;
}

std::string IpAllocator::format_ipv4(uint32_t v) {
  return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 255) + "." +
         std::to_string((v >> 8) & 255) + "." + std::to_string(v & 255);
}

Result<std::unique_ptr<IpAllocator>> IpAllocator::create(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return bad_request("invalid CIDR " + cidr);
  auto ip = parse_ipv4(cidr.substr(0, slash));
  int bits = -1;
  try {
    bits = std::stoi(cidr.substr(slash + 1));
  } catch (const std::exception&) {
  }
  if (!ip || bits < 8 || bits > 29) return bad_request("invalid service CIDR " + cidr);
  uint32_t size = 1u << (32 - bits);
  uint32_t base = *ip & ~(size - 1);
  return std::make_unique<IpAllocator>(base, size);
}

std::string IpAllocator::nth(uint32_t offset) const { return format_ipv4(base_ + offset); }

bool IpAllocator::contains(const std::string& ip) const {
  auto v = parse_ipv4(ip);
  return v && *v > base_ && *v < base_ + size_ - 1;
}

bool IpAllocator::in_use(const std::string& ip) const {
  auto v = parse_ipv4(ip);
  if (!v || *v < base_ || *v >= base_ + size_) return false;
  std::lock_guard lock(mu_);
  return used_[*v - base_];
}

Result<std::string> IpAllocator::allocate_next() {
  std::lock_guard lock(mu_);
  for (uint32_t i = 0; i < size_; ++i) {
    uint32_t off = next_ + i;
    if (off >= size_ - 1) off = 2 + (off - (size_ - 1)) % (size_ - 3);
    if (off < 2 || off >= size_ - 1) continue;
    if (!used_[off]) {
      used_[off] = true;
      next_ = off + 1;
      return format_ipv4(base_ + off);
    }
  }
  return Status(Code::kInternal, "range is full: no more cluster IPs available");
}

Status IpAllocator::allocate(const std::string& ip) {
  if (!contains(ip)) {
    return invalid("provided IP is not in the valid range. The range of valid IPs is " +
                   format_ipv4(base_) + "/" + std::to_string(32 - __builtin_ctz(size_)));
  }
  std::lock_guard lock(mu_);
  uint32_t off = *parse_ipv4(ip) - base_;
  if (used_[off]) return invalid("provided IP is already allocated");
  used_[off] = true;
  return Status::ok();
}

void IpAllocator::release(const std::string& ip) {
  auto v = parse_ipv4(ip);
  if (!v || *v < base_ || *v >= base_ + size_) return;
  std::lock_guard lock(mu_);
  used_[*v - base_] = false;
}

Result<int> PortAllocator::allocate_next() {
  std::lock_guard lock(mu_);
  int n = max_ - min_ + 1;
  for (int i = 0; i < n; ++i) {
    int off = (next_ + i) % n;
    if (!used_[off]) {
      used_[off] = true;
      next_ = off + 1;
      return min_ + off;
    }
  }
  return Status(Code::kInternal, "range is full: no more node ports available");
}

Status PortAllocator::allocate(int port) {
  if (!contains(port)) {
    return invalid("provided port is not in the valid range. The range of valid ports is " +
                   std::to_string(min_) + "-" + std::to_string(max_));
  }
  std::lock_guard lock(mu_);
  if (used_[port - min_]) return invalid("provided port is already allocated");
  used_[port - min_] = true;
  return Status::ok();
}

void PortAllocator::release(int port) {
  if (!contains(port)) return;
  std::lock_guard lock(mu_);
  used_[port - min_] = false;
}

bool PortAllocator::in_use(int port) const {
  if (!contains(port)) return false;
  std::lock_guard lock(mu_);
  return used_[port - min_];
}

}  // namespace minik8s::apiserver
