// IPv4 CIDR arithmetic for the node IPAM controller: parsing, containment and
// the split of a cluster CIDR into equal node blocks (index <-> CIDR).
// Value types; thread-compatible. Parsers return kBadRequest on bad input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "minik8s/util/status.h"

namespace minik8s::controllers {

struct Ipv4Cidr {
  uint32_t base = 0;  // network address, host bits zero
  int prefix = 0;     // 0..32

  uint32_t mask() const { return prefix == 0 ? 0u : ~uint32_t{0} << (32 - prefix); }
  uint32_t last() const { return base | ~mask(); }
  bool contains(const Ipv4Cidr& other) const {
    return other.prefix >= prefix && (other.base & mask()) == base;
  }
  bool operator==(const Ipv4Cidr&) const = default;
};

// "10.244.0.0/16". Host bits set ("10.244.1.5/16") are refused unless
// allow_host_bits, in which case they are cleared.
Result<Ipv4Cidr> parse_ipv4_cidr(const std::string& text, bool allow_host_bits = false);
std::string to_string(const Ipv4Cidr& cidr);

// The cluster CIDR cut into 2^(mask - cluster.prefix) blocks of /mask.
class CidrBlocks {
 public:
  // kBadRequest unless cluster.prefix <= mask <= 30 and at most 2^16 blocks.
  static Result<CidrBlocks> make(const Ipv4Cidr& cluster, int mask);

  int count() const { return count_; }
  Ipv4Cidr at(int index) const;
  // The block indexes [first, last] that cidr overlaps; nullopt when cidr is
  // not inside the cluster CIDR.
  std::optional<std::pair<int, int>> overlapping(const Ipv4Cidr& cidr) const;

 private:
  CidrBlocks(Ipv4Cidr cluster, int mask) : cluster_(cluster), mask_(mask), count_(1 << (mask - cluster.prefix)) {}
  Ipv4Cidr cluster_;
  int mask_ = 0;
  int count_ = 0;
};

}  // namespace minik8s::controllers
