// Client credentials issued straight from the cluster CA (docs/auth.md
// "Node credentials"): a node's certificate (CN system:node:<node>, O
// system:nodes) for `minik8s up`'s agent and `minik8s kubeconfig node`, and
// the kubeconfig text that carries a certificate.
//
// Stateless; safe from any thread. Errors: kInvalid for a node name that is
// not a DNS subdomain, the CA's errors otherwise (pki.h).
#pragma once

#include <string>

#include "minik8s/auth/pki.h"
#include "minik8s/util/status.h"

namespace minik8s::auth {

// A new key and a client certificate CN system:node:<node>, O system:nodes
// (what the Node authorizer and the system:node rules govern).
Result<KeyPair> issue_node_credential(const CertificateAuthority& ca, const std::string& node);

// A kubeconfig for url: the CA (empty: none, a plain-HTTP server), the
// certificate and key of cred (empty: none), or else token; all as -data
// fields, so the file stands alone. user names the kubeconfig's user entry.
std::string client_kubeconfig(const std::string& url, const std::string& ca_pem,
                              const KeyPair& cred, const std::string& token = "",
                              const std::string& user = "admin");

}  // namespace minik8s::auth
