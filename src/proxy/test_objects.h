// Test support for the proxy suites (unit and kernel): minimal Service and
// Endpoints objects in namespace "default", as API JSON. Header-only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace minik8s::proxy::test_objects {

inline nlohmann::json service(const std::string& name, const std::string& ip, nlohmann::json ports,
                              const std::string& type = "ClusterIP",
                              nlohmann::json annotations = nlohmann::json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"annotations", annotations}}},
          {"spec", {{"type", type}, {"clusterIP", ip}, {"ports", ports}}}};
}

inline nlohmann::json endpoints(const std::string& name, const std::vector<std::string>& ips,
                                nlohmann::json ports) {
  nlohmann::json addrs = nlohmann::json::array();
  for (const auto& ip : ips) addrs.push_back({{"ip", ip}});
  return {{"apiVersion", "v1"},
          {"kind", "Endpoints"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"subsets", nlohmann::json::array({{{"addresses", addrs}, {"ports", ports}}})}};
}

}  // namespace minik8s::proxy::test_objects
