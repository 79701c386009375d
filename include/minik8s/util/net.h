// The host's addresses as the control plane and the agent choose them.
#pragma once

#include <string>

namespace minik8s {

// The IPv4 address of the default route's interface (/proc/net/route, the
// route with destination 0); empty when there is no default route.
// Kubernetes' choice of advertise address and node IP.
std::string default_route_ipv4();

}  // namespace minik8s
