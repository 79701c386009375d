#include "cidr.h"

#include <arpa/inet.h>

#include <charconv>

namespace minik8s::controllers {

Result<Ipv4Cidr> parse_ipv4_cidr(const std::string& text, bool allow_host_bits) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return bad_request("\"" + text + "\" is not a CIDR (want A.B.C.D/N)");
  std::string ip = text.substr(0, slash);
  std::string len = text.substr(slash + 1);
  in_addr addr{};
  if (inet_pton(AF_INET, ip.c_str(), &addr) != 1) {
    return bad_request("\"" + text + "\" is not an IPv4 CIDR");
  }
  int prefix = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (len.empty() || ec != std::errc() || end != len.data() + len.size() || prefix < 0 || prefix > 32) {
    return bad_request("\"" + text + "\": prefix length must be 0..32");
  }
  Ipv4Cidr c;
  c.prefix = prefix;
  uint32_t host = ntohl(addr.s_addr);
  c.base = host & c.mask();
  if (c.base != host && !allow_host_bits) {
    return bad_request("\"" + text + "\" has host bits set (did you mean " + to_string(c) + "?)");
  }
  return c;
}

std::string to_string(const Ipv4Cidr& c) {
  return std::to_string(c.base >> 24) + "." + std::to_string((c.base >> 16) & 0xff) + "." +
         std::to_string((c.base >> 8) & 0xff) + "." + std::to_string(c.base & 0xff) + "/" +
         std::to_string(c.prefix);
}

Result<CidrBlocks> CidrBlocks::make(const Ipv4Cidr& cluster, int mask) {
  if (mask < cluster.prefix || mask > 30) {
    return bad_request("node CIDR mask /" + std::to_string(mask) + " must be between the cluster CIDR's /" +
                       std::to_string(cluster.prefix) + " and /30");
  }
  if (mask - cluster.prefix > 16) {
    return bad_request("node CIDR mask /" + std::to_string(mask) + " cuts " + to_string(cluster) +
                       " into more than 65536 blocks");
  }
  return CidrBlocks(cluster, mask);
}

Ipv4Cidr CidrBlocks::at(int index) const {
  Ipv4Cidr c;
  c.prefix = mask_;
  c.base = cluster_.base + (static_cast<uint32_t>(index) << (32 - mask_));
  return c;
}

std::optional<std::pair<int, int>> CidrBlocks::overlapping(const Ipv4Cidr& cidr) const {
  if (!cluster_.contains(cidr)) return std::nullopt;
  int shift = 32 - mask_;
  int first = static_cast<int>((cidr.base - cluster_.base) >> shift);
  int last = static_cast<int>((cidr.last() - cluster_.base) >> shift);
  return std::make_pair(first, last);
}

}  // namespace minik8s::controllers
