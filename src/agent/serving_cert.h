// Internal to mk_agent: the kubelet's serving certificate from the cluster
// (docs/auth.md "The kubelet's server"; Kubernetes' kubelet with
// serverTLSBootstrap). When no --tls-cert-file is given the agent keeps
// <data-dir>/pki/kubelet-serving.{crt,key}:
//   - reused while they load, the certificate chains to the CA, names
//     system:node:<node> (O system:nodes), carries every wanted SAN and has
//     more than an hour left;
//   - else a new P-256 key and a CertificateSigningRequest
//     (certificates.k8s.io/v1, signerName kubernetes.io/kubelet-serving,
//     CN system:node:<node>, O system:nodes, SANs the node's IP and names,
//     usages digital signature, server auth) posted with the agent's own
//     credential; then status.certificate is awaited (the approver and the
//     signer of the cluster issue it) until the deadline, and written with
//     the key (0600).
// Blocking; not thread-safe (writes files under data_dir).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"
#include "minik8s/util/status.h"

namespace minik8s::agent {

struct ServingCertOptions {
  std::string data_dir{};
  std::string node_name{};
  std::vector<std::string> ip_addresses{};  // the node's addresses (InternalIP)
  std::vector<std::string> dns_names{};  // its host name (names that are no DNS name are left out)
  std::string ca_pem{};                  // the cluster CA; empty: the chain is not checked
  std::chrono::seconds wait{300};        // for the certificate, from the first answer
  std::chrono::milliseconds poll{500};
};

struct ServingCert {
  std::string cert_file, key_file;
  bool reused = false;
};

// pause(d): waits d; returns true when the agent is told to stop (then
// kUnavailable "stopped"). The API server unreachable: retried until it
// answers. Errors: kTimeout (no certificate in time, the CSR named),
// kForbidden (the CSR was denied or failed, with the condition's message),
// kNotFound (the server serves no CertificateSigningRequests), else the
// server's or the file system's.
Result<ServingCert> ensure_serving_certificate(
    client::RestClient& rest, const ServingCertOptions& options,
    const std::function<bool(std::chrono::milliseconds)>& pause);

}  // namespace minik8s::agent
