// The authenticators that need nothing but their configuration
// (docs/auth.md "Authentication"); the API server composes them with the
// ones that read objects (ServiceAccount and bootstrap tokens).
// Thread safety: all are immutable after construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "minik8s/auth/authenticator.h"

namespace minik8s::auth {

// Client certificates: CN → user, O → groups. nullopt without a certificate.
class ClientCertAuthenticator : public Authenticator {
 public:
  Result<std::optional<UserInfo>> authenticate(const Credentials& c) override;
};

// Bearer tokens from a fixed table: Kubernetes' --token-auth-file CSV,
// `token,user,uid[,"group1,group2"]` per line. A token not in the table is
// nullopt (another authenticator may own it).
class StaticTokenAuthenticator : public Authenticator {
 public:
  struct Entry {
    std::string token;
    UserInfo user;
  };
  explicit StaticTokenAuthenticator(std::vector<Entry> entries);
  // Parses the CSV text; kInvalid naming the line on a malformed one (too
  // few fields, an empty token or user, a duplicate token).
  static Result<std::vector<Entry>> parse(const std::string& csv);
  static Result<std::unique_ptr<StaticTokenAuthenticator>> from_file(const std::string& path);
  Result<std::optional<UserInfo>> authenticate(const Credentials& c) override;

 private:
  std::vector<Entry> entries_;
};

// Tries each in order; the first non-nullopt answer (a user or an error)
// decides.
class UnionAuthenticator : public Authenticator {
 public:
  explicit UnionAuthenticator(std::vector<std::unique_ptr<Authenticator>> parts);
  Result<std::optional<UserInfo>> authenticate(const Credentials& c) override;

 private:
  std::vector<std::unique_ptr<Authenticator>> parts_;
};

// Constant-time comparison of two secrets (tokens).
bool secret_equal(const std::string& a, const std::string& b);

}  // namespace minik8s::auth
