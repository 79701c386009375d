#include "minik8s/auth/credentials.h"

#include "minik8s/auth/user.h"
#include "minik8s/util/base64.h"

namespace minik8s::auth {

namespace {

// RFC 1123 subdomain, as Kubernetes' node names.
bool dns_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!alnum && c != '-') return false;
    if (c == '-' && label == 0) return false;
    if (++label > 63) return false;
  }
  return s.back() != '-' && s.back() != '.';
}

}  // namespace

Result<KeyPair> issue_node_credential(const CertificateAuthority& ca, const std::string& node) {
  if (!dns_subdomain(node)) {
    return Status(
        Code::kInvalid,
        "node name \"" + node + "\": must be a lower-case RFC 1123 subdomain (a-z, 0-9, '-', '.')");
  }
  CertSpec spec;
  spec.common_name = std::string(kNodeUserPrefix) + node;
  if (spec.common_name.size() > 64) {  // X.509's upper bound on a CN (OpenSSL enforces it)
    return Status(Code::kInvalid,
                  "node name \"" + node + "\": at most " +
                      std::to_string(64 - std::string(kNodeUserPrefix).size()) +
                      " characters fit a certificate's common name (system:node:NAME)");
  }
  spec.organizations = {kGroupNodes};
  spec.usage = KeyUsage::kClient;
  return ca.issue(spec);
}

std::string client_kubeconfig(const std::string& url, const std::string& ca_pem,
                              const KeyPair& cred, const std::string& token,
                              const std::string& user) {
  std::string cluster = "    server: " + url + "\n";
  if (!ca_pem.empty()) cluster += "    certificate-authority-data: " + base64_encode(ca_pem) + "\n";
  std::string creds = "  user: {}\n";
  if (!cred.cert_pem.empty()) {
    creds = "  user:\n    client-certificate-data: " + base64_encode(cred.cert_pem) +
            "\n    client-key-data: " + base64_encode(cred.key_pem) + "\n";
  } else if (!token.empty()) {
    creds = "  user:\n    token: " + token + "\n";
  }
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: minik8s\n"
         "  cluster:\n" +
         cluster +
         "users:\n"
         "- name: " +
         user + "\n" + creds +
         "contexts:\n"
         "- name: minik8s\n"
         "  context:\n"
         "    cluster: minik8s\n"
         "    user: " +
         user +
         "\n"
         "    namespace: default\n"
         "current-context: minik8s\n"
         "preferences: {}\n";
}

}  // namespace minik8s::auth
