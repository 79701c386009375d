// The PKI `minik8s server` keeps in <data-dir>/pki/ (docs/auth.md "TLS"):
// the cluster CA, the API server's serving certificate (reissued when its
// subjectAltName list changes), the admin client certificate (the
// kubeconfig's credential) and the API server's client certificate for the
// kubelets. Given files (--tls-cert-file, --client-ca-file, --ca-cert) are
// used as they are.
// Not thread-safe; called once at start-up. Errors name the file.
#pragma once

#include <string>
#include <vector>

#include "minik8s/auth/pki.h"
#include "minik8s/util/status.h"

namespace minik8s::server {

struct ServerPkiOptions {
  std::string pki_dir;              // <data-dir>/pki
  std::string bind_address;         // --listen's host
  std::string advertise_address{};  // --advertise-address (the kubernetes Service's endpoint)
  std::string service_cidr;         // the kubernetes Service's ClusterIP is its first address
  std::string cluster_domain = "cluster.local";
  std::vector<std::string> extra_sans;      // --tls-san: names or IPs
  std::string ca_cert, ca_key;              // --ca-cert / --ca-key (empty: pki_dir/ca.*)
  std::string tls_cert_file, tls_key_file;  // --tls-cert-file / --tls-private-key-file
  std::string client_ca_file;               // --client-ca-file (empty: the CA)
};

struct ServerPki {
  std::string ca_file;  // the CA clients verify the server with
  std::string ca_pem;
  std::string cert_file, key_file;  // serving
  std::string client_ca_file;
  auth::KeyPair admin;      // CN system:admin, O system:masters
  std::string spki_sha256;  // of the CA
};

// The serving certificate's SANs for these options (sorted, unique).
void serving_sans(const ServerPkiOptions& o, std::vector<std::string>* dns,
                  std::vector<std::string>* ips);

Result<ServerPki> ensure_server_pki(const ServerPkiOptions& o);

// The kubeconfig `minik8s server` writes: url, the CA and the admin
// credential as -data fields (ca_pem empty: a plain-HTTP kubeconfig).
// token: the user's bearer token when there is no admin certificate
// (--insecure-http with authentication on).
std::string admin_kubeconfig(const std::string& url, const std::string& ca_pem,
                             const auth::KeyPair& admin, const std::string& token = "");

}  // namespace minik8s::server
