#include "minik8s/api/address_rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "validation.h"

namespace minik8s::api {

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    if (!v::is_ipv4(s)) return std::nullopt;
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    std::memcpy(ip.bytes.data(), &a, 4);
    return ip;
  }
  in6_addr a{};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  std::memcpy(ip.bytes.data(), &a, 16);
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, 12) == 0) {
    std::array<uint8_t, 16> v4{};
    std::memcpy(v4.data(), ip.bytes.data() + 12, 4);
    ip.bytes = v4;
    return ip;
  }
  ip.v6 = true;
  return ip;
}

bool is_unspecified(const IpAddress& ip) {
  size_t n = ip.v6 ? 16 : 4;
  for (size_t i = 0; i < n; ++i) {
    if (ip.bytes[i] != 0) return false;
  }
  return true;
}

bool is_loopback(const IpAddress& ip) {
  if (!ip.v6) return ip.bytes[0] == 127;
  for (size_t i = 0; i < 15; ++i) {
    if (ip.bytes[i] != 0) return false;
  }
  return ip.bytes[15] == 1;
}

bool is_link_local_unicast(const IpAddress& ip) {
  if (!ip.v6) return ip.bytes[0] == 169 && ip.bytes[1] == 254;
  return ip.bytes[0] == 0xfe && (ip.bytes[1] & 0xc0) == 0x80;
}

bool is_multicast(const IpAddress& ip) {
  if (!ip.v6) return (ip.bytes[0] & 0xf0) == 224;
  return ip.bytes[0] == 0xff;
}

namespace {

bool is_link_local_multicast(const IpAddress& ip) {
  if (!ip.v6) return ip.bytes[0] == 224 && ip.bytes[1] == 0 && ip.bytes[2] == 0;
  return ip.bytes[0] == 0xff && (ip.bytes[1] & 0x0f) == 0x02;
}

}  // namespace

std::string non_special_ip_error(std::string_view text) {
  auto ip = parse_ip(text);
  if (!ip) return "must be a valid IP address";
  if (is_unspecified(*ip)) return "may not be unspecified (" + std::string(text) + ")";
  if (is_loopback(*ip)) return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
  if (is_link_local_unicast(*ip)) {
    return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
  }
  if (is_link_local_multicast(*ip)) {
    return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
  }
  if (is_multicast(*ip)) return "may not be a multicast address (224.0.0.0/4, ff00::/8)";
  return "";
}

std::optional<IpCidr> parse_cidr(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : bits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  std::string_view addr = text.substr(0, slash);
  auto ip = parse_ip(addr);
  if (!ip) return std::nullopt;
  // "::ffff:10.0.0.0/104" is an IPv6 CIDR even though the address maps to IPv4.
  bool v6_text = addr.find(':') != std::string_view::npos;
  if (v6_text && !ip->v6) return std::nullopt;
  if (n > (ip->v6 ? 128 : 32)) return std::nullopt;
  return IpCidr{*ip, n};
}

bool cidrs_overlap(const IpCidr& a, const IpCidr& b) {
  if (a.base.v6 != b.base.v6) return false;
  // Two prefixes overlap exactly when they agree on the shorter one's bits.
  int bits = std::min(a.prefix, b.prefix);
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8, shift = 7 - i % 8;
    if (((a.base.bytes[byte] >> shift) & 1) != ((b.base.bytes[byte] >> shift) & 1)) return false;
  }
  return true;
}

bool is_ingress_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  for (char c : path) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("._~@:+,=%/-").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string normalize_ingress_path(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out.empty() ? "/" : out;
}

// "" when `p` is a directory path the agent may watch (docs/workflows.md
// "fileChange"): it ends up in an inotify watch and a mkdir on the node.
std::string watch_path_error(std::string_view sv) {
  const std::string p(sv);
  if (p.size() > 1024) return "must be no more than 1024 bytes";
  if (p.empty() || p[0] != '/') return "must be an absolute path";
  for (char c : p) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '/' || c == '-';
    if (!ok) return "may contain only letters, digits, '.', '_', '-' and '/'";
  }
  if (p == "/") return "may not be the root directory";
  if (p.back() == '/') return "may not end in '/'";
  // Components: no empty ("//"), "." or "..".
  size_t start = 1;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    std::string part = p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty()) return "may not contain empty components ('//')";
    if (part == "." || part == "..") return "may not contain '.' or '..' components";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (const char* sys : {"/proc", "/sys", "/dev"}) {
    std::string s = sys;
    if (p == s || p.compare(0, s.size() + 1, s + "/") == 0) return "may not be under " + s;
  }
  return "";
}

}  // namespace minik8s::api
