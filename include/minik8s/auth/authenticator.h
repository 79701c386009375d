// Authentication (docs/security.md "Authentication"): credentials a request
// presents → the user it acts as.
//
// The API server runs a chain of authenticators (client certificate, static
// token file, ServiceAccount tokens, bootstrap tokens, the in-process
// loopback token) in order. Thread safety: authenticate() is called
// concurrently from connection threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "minik8s/auth/user.h"
#include "minik8s/util/status.h"

namespace minik8s::auth {

// A client certificate the TLS layer has already verified against the
// cluster CA (only verified certificates reach the handler).
struct PeerCertificate {
  std::string common_name;                 // → user name
  std::vector<std::string> organizations;  // → groups
};

// What one request presents.
struct Credentials {
  std::string bearer_token;                    // "Authorization: Bearer <token>" (empty: none)
  std::optional<PeerCertificate> client_cert;  // from the TLS handshake
  bool empty() const { return bearer_token.empty() && !client_cert; }
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // nullopt: not this authenticator's kind of credential (the chain tries the
  // next). A user: authenticated. An error (kUnauthorized, message for the
  // log, never the token itself): this authenticator owns the credential and
  // it is invalid (expired, bad signature, unknown token) — the request gets
  // 401 and no later authenticator is asked.
  virtual Result<std::optional<UserInfo>> authenticate(const Credentials& c) = 0;
};

}  // namespace minik8s::auth
