// The cluster's public-key infrastructure (docs/auth.md "TLS"): a CA that
// issues serving and client certificates and signs certificate requests.
//
// Keys are ECDSA P-256, certificates X.509 v3 signed with SHA-256, all
// exchanged as PEM text. Subjects carry the Kubernetes identity: CN the user
// name, O the groups.
//
// Thread safety: a CertificateAuthority is immutable after loading; issue()
// and sign_csr() may be called from any thread.
// Errors: kInvalid for malformed PEM / CSR / spec (message names what),
// kNotFound for a missing file, kInternal for an OpenSSL failure (with
// OpenSSL's reason).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

struct x509_st;
struct evp_pkey_st;

namespace minik8s::auth {

// A certificate and its private key, PEM.
struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

enum class KeyUsage { kServer, kClient, kServerAndClient };

// What to put in a certificate.
struct CertSpec {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.1", "::1")
  std::chrono::seconds ttl{std::chrono::hours(24 * 365)};
  KeyUsage usage = KeyUsage::kClient;
};

// What a certificate says (parse_certificate).
struct CertInfo {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // as printed by inet_ntop
  int64_t not_after_unix = 0;
  bool is_ca = false;
};

inline constexpr std::chrono::seconds kCaTtl{std::chrono::hours(24 * 365 * 10)};

class CertificateAuthority {
 public:
  // A new self-signed CA (key usage certSign, basicConstraints CA:TRUE).
  static Result<CertificateAuthority> create(const std::string& common_name,
                                             std::chrono::seconds ttl = kCaTtl);
  static Result<CertificateAuthority> from_pem(const std::string& cert_pem,
                                               const std::string& key_pem);
  static Result<CertificateAuthority> load(const std::string& cert_file,
                                           const std::string& key_file);
  // <dir>/ca.crt and <dir>/ca.key: loaded when both exist, else created
  // (CN common_name, 10 years) and written (key 0600). dir is created.
  static Result<CertificateAuthority> load_or_create(const std::string& dir,
                                                     const std::string& common_name = "minik8s-ca");

  // A new key and a certificate for it, signed by this CA.
  Result<KeyPair> issue(const CertSpec& spec) const;
  // Signs a PEM certificate request (its signature checked): subject (CN,
  // O) and public key from the request; usage, ttl and SANs from spec (its
  // common_name and organizations are ignored). Returns the certificate PEM.
  Result<std::string> sign_csr(const std::string& csr_pem, const CertSpec& spec) const;

  const std::string& cert_pem() const { return cert_pem_; }
  std::string key_pem() const;
  // kubeadm's --discovery-token-ca-cert-hash value without "sha256:": hex
  // SHA-256 of the CA certificate's DER SubjectPublicKeyInfo.
  std::string spki_sha256() const;

 private:
  std::shared_ptr<x509_st> cert_;
  std::shared_ptr<evp_pkey_st> key_;
  std::string cert_pem_;
};

// A new ECDSA P-256 key and a PEM certificate request for (cn, orgs), signed
// with it (the kubelet's side of the bootstrap flow).
Result<KeyPair> make_csr(const std::string& common_name,
                         const std::vector<std::string>& organizations);
// KeyPair::cert_pem holds the CSR.
// The same with spec's subjectAltNames (DNS and IP) in the request (a
// kubelet-serving CSR); spec's ttl and usage are not part of a request.
Result<KeyPair> make_csr(const CertSpec& spec);

Result<CertInfo> parse_certificate(const std::string& cert_pem);
// Subject and SANs of a request whose signature verifies (else kInvalid).
Result<CertInfo> parse_csr(const std::string& csr_pem);
// Hex SHA-256 of a PEM certificate's SubjectPublicKeyInfo.
Result<std::string> spki_sha256(const std::string& cert_pem);
// Checks that cert_pem chains to ca_pem (OpenSSL's verifier, at the current time).
Status verify_certificate(const std::string& cert_pem, const std::string& ca_pem);

// Whole-file read (kNotFound when missing).
Result<std::string> read_pem_file(const std::string& path);
// Writes the certificate (mode 0644) and the key (0600, also when the file
// existed), each atomically; either path may be empty to skip it.
Status write_key_pair(const std::string& cert_file, const std::string& key_file,
                      const KeyPair& pair);

}  // namespace minik8s::auth
