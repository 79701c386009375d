#include "minik8s/util/net.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

namespace minik8s {

std::string default_route_ipv4() {
  std::string iface;
  std::ifstream route("/proc/net/route");
  std::string line;
  std::getline(route, line);  // header
  while (std::getline(route, line)) {
    std::istringstream ss(line);
    std::string name, dest;
    ss >> name >> dest;
    if (dest == "00000000") {
      iface = name;
      break;
    }
  }
  if (iface.empty()) return "";
  std::string ip;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return "";
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || iface != i->ifa_name) continue;
    char buf[INET_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf,
                  sizeof buf)) {
      ip = buf;
      break;
    }
  }
  freeifaddrs(ifs);
  return ip;
}

}  // namespace minik8s
