// Who a request is (docs/security.md "Identity"): what authentication
// produces and authorization reads. Plain data.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace minik8s::auth {

struct UserInfo {
  std::string name;  // "alice", "system:node:node-1", "system:serviceaccount:ns:sa"
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;

  bool in_group(const std::string& g) const {
    for (const auto& x : groups) {
      if (x == g) return true;
    }
    return false;
  }
};

// Kubernetes' well-known names.
inline constexpr const char* kUserAnonymous = "system:anonymous";
inline constexpr const char* kUserAdmin = "system:admin";  // the admin kubeconfig's certificate
inline constexpr const char* kUserApiserver = "system:apiserver";  // in-process (loopback) clients
inline constexpr const char* kGroupMasters = "system:masters";
inline constexpr const char* kGroupAuthenticated = "system:authenticated";
inline constexpr const char* kGroupUnauthenticated = "system:unauthenticated";
inline constexpr const char* kGroupNodes = "system:nodes";
inline constexpr const char* kGroupServiceAccounts = "system:serviceaccounts";
inline constexpr const char* kGroupBootstrappers = "system:bootstrappers";
inline constexpr const char* kNodeUserPrefix = "system:node:";
inline constexpr const char* kServiceAccountUserPrefix = "system:serviceaccount:";

}  // namespace minik8s::auth
