// Address and path rules shared by API validation and the components that
// act on the same values, so that what the API accepts and what a component
// will use are decided by one function:
//   - IP parsing and classification (Endpoints/EndpointSlice addresses,
//     Node addresses, the API server's kubelet dialing in pods/log and
//     pods/exec), after Kubernetes' ValidateNonSpecialIP
//     (pkg/apis/core/validation) and proxyutil.IsProxyableIP (pkg/proxy/util);
//   - CIDR parsing and overlap (Node spec.podCIDR(s));
//   - the path grammar of DNS objects that the nginx renderer
//     (src/ingress/render.cc) can write unquoted;
//   - the directory grammar of fileChange Triggers, which the agent watches
//     with inotify and creates (src/agent/file_triggers.cc).
// All functions are pure, thread-safe and never throw.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace minik8s::api {

struct IpAddress {
  bool v6 = false;
  // IPv4: bytes[0..3]; IPv6: all 16. An IPv4-mapped IPv6 address
  // (::ffff:a.b.c.d) is stored as the IPv4 address, as Go's net.IP.To4 reads it.
  std::array<uint8_t, 16> bytes{};
};

// Textual IPv4 (dotted quad, no leading zeros) or IPv6; nullopt otherwise.
std::optional<IpAddress> parse_ip(std::string_view text);

bool is_unspecified(const IpAddress& ip);            // 0.0.0.0, ::
bool is_loopback(const IpAddress& ip);               // 127.0.0.0/8, ::1
bool is_link_local_unicast(const IpAddress& ip);     // 169.254.0.0/16, fe80::/10
bool is_multicast(const IpAddress& ip);              // 224.0.0.0/4, ff00::/8

// "" when text is an IP address an endpoint may carry; otherwise the reason,
// worded as Kubernetes' ValidateNonSpecialIP words it ("must be a valid IP
// address", "may not be unspecified (0.0.0.0)", "may not be in the loopback
// range (127.0.0.0/8, ::1/128)", "may not be in the link-local range
// (169.254.0.0/16, fe80::/10)", "may not be in the link-local multicast range
// (224.0.0.0/24, ff02::/10)"), plus "may not be a multicast address
// (224.0.0.0/4, ff00::/8)" for the rest of multicast, which Kubernetes lets
// through and nothing here can use.
std::string non_special_ip_error(std::string_view text);

struct IpCidr {
  IpAddress base;  // host bits as written (not masked)
  int prefix = 0;
};
// "a.b.c.d/n" or IPv6 "x::/n"; nullopt otherwise.
std::optional<IpCidr> parse_cidr(std::string_view text);
// Same family and one contains the other's network.
bool cidrs_overlap(const IpCidr& a, const IpCidr& b);

// The path grammar of a DNS object's spec.paths[i].path: '/' followed by
// [A-Za-z0-9._~@:+,=%/-] only (what nginx takes unquoted in a location).
bool is_ingress_path(std::string_view path);
// The form the ingress routes on: repeated '/' collapsed, trailing '/' dropped
// ("/a//b/" → "/a/b", "//" → "/").
std::string normalize_ingress_path(std::string_view path);

// Why `path` is not a directory a fileChange Trigger may watch, "" when it
// is: absolute, at most 1024 bytes of [A-Za-z0-9._/-], no empty, "." or ".."
// component, no trailing '/', not "/" and not under /proc, /sys or /dev.
std::string watch_path_error(std::string_view path);

}  // namespace minik8s::api
