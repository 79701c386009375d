// The agent's join (docs/auth.md "Bootstrap tokens and the join";
// docs/agent.md "Joining with a token"): a node credential from a bootstrap
// token, kept in <data-dir>/kubelet.conf.
//
// ensure_node_credential: when <data-dir>/kubelet.conf exists and its client
// certificate is valid (not expired), that is the credential and the token
// is not used. Otherwise, with a token: read kube-public/cluster-info from
// server over TLS without verification, check the CA it names against
// ca_cert_hash ("sha256:<hex>", kubeadm's pin of the CA's
// SubjectPublicKeyInfo; skipped only with skip_ca_verification), then,
// verified by that CA and with the token as bearer: make a P-256 key, post
// a CertificateSigningRequest (kubernetes.io/kube-apiserver-client-kubelet,
// CN system:node:<node>, O system:nodes), wait up to `wait` for its
// certificate, write <data-dir>/pki/kubelet-client.{crt,key} and
// <data-dir>/kubelet.conf (server, CA, the certificate files). Returns
// kubelet.conf's path, or "" when there is neither a kubelet.conf nor a
// token (the caller connects as configured).
// Errors: kInvalid for a CA whose hash is not the pin (the message names
// both) or a malformed pin; kUnauthorized when the server refuses the token;
// kTimeout when no certificate came in time; kForbidden when the CSR was
// denied or failed; otherwise what the server or the file system answered.
// Blocking; not thread-safe (writes files under data_dir).
#pragma once

#include <chrono>
#include <string>

#include "minik8s/util/status.h"

namespace minik8s::agent {

struct JoinOptions {
  std::string server{};        // https://host:port (the first of a comma list is used)
  std::string token{};         // <id>.<secret>
  std::string ca_cert_hash{};  // sha256:<hex>
  bool skip_ca_verification = false;
  std::string data_dir{};
  std::string node_name{};
  std::chrono::seconds wait{300};
};

Result<std::string> ensure_node_credential(const JoinOptions& o);

// "sha256:<64 hex>" (case-insensitive) → the lower-case hex; kInvalid otherwise.
Result<std::string> parse_ca_cert_hash(const std::string& pin);

}  // namespace minik8s::agent
