// JSON Web Tokens signed ES256 (ECDSA P-256 with SHA-256, RFC 7515/7519):
// what ServiceAccount tokens are (docs/auth.md "Authentication").
//
// EcKey wraps one P-256 key read from PEM (a private key signs and verifies,
// a public key only verifies); its kid is Kubernetes' key id: the unpadded
// base64url SHA-256 of the DER public key. jwt_verify checks the JOSE header
// (alg ES256 only: "none" and every other alg are refused; the kid, when
// present, must be the key's), the signature, and the claims exp, nbf, iat
// (with a leeway), iss and aud.
// Thread safety: an EcKey is immutable after construction; sign and verify
// may run concurrently. Errors: Result with kUnauthorized for a token that
// does not verify (the message names why, never the token), kInvalid for
// a bad key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "minik8s/util/status.h"

namespace minik8s::auth {

std::string base64url_encode(std::string_view data);  // unpadded
// nullopt on a character outside the base64url alphabet or a bad length;
// padding ('=') is refused as JWTs carry none.
std::optional<std::string> base64url_decode(std::string_view text);

class EcKey {
 public:
  // A PEM private key ("EC PRIVATE KEY" or PKCS#8) or public key; it must
  // be P-256.
  static Result<std::shared_ptr<const EcKey>> from_pem(const std::string& pem);
  // A new P-256 private key as PKCS#8 PEM.
  static Result<std::string> generate_private_pem();
  ~EcKey();
  EcKey(const EcKey&) = delete;
  EcKey& operator=(const EcKey&) = delete;

  bool has_private() const { return private_; }
  const std::string& kid() const { return kid_; }
  // The public key as PEM (SubjectPublicKeyInfo).
  std::string public_pem() const;
  // The JWS signature of data: r || s, 32 bytes each. kInvalid without a
  // private key.
  Result<std::string> sign(std::string_view data) const;
  bool verify(std::string_view data, std::string_view signature) const;

 private:
  struct Impl;
  explicit EcKey(Impl* impl, bool has_private, std::string kid);
  Impl* impl_;
  bool private_;
  std::string kid_;
};

// Creates path (mode 0600; its directory 0700 when made) holding a new
// P-256 private key unless it already exists: `minik8s server`'s
// <data-dir>/pki/sa.key. kInternal naming the file on failure.
Status ensure_private_key_file(const std::string& path);

// header.payload.signature with the header {"alg":"ES256","kid":key.kid()}.
Result<std::string> jwt_sign(const EcKey& key, const nlohmann::json& claims);

struct JwtExpectations {
  std::string issuer;                  // iss must equal it (empty: not checked)
  std::vector<std::string> audiences;  // aud (string or array) must hold one (empty: not checked)
  int64_t now = 0;                     // seconds since the epoch
  int64_t leeway_s = 60;               // clock skew allowed on exp, nbf and iat
};

// The claims of a valid token; kUnauthorized naming the failed check
// otherwise. Never throws, whatever the input.
Result<nlohmann::json> jwt_verify(const EcKey& key, std::string_view token,
                                  const JwtExpectations& expect);
// The claims of a token without any check (nullopt: not a JWT's shape): for
// deciding whose token it is (the iss) before verifying.
std::optional<nlohmann::json> jwt_peek_claims(std::string_view token);

}  // namespace minik8s::auth
