// The CertificateSigningRequest controllers of `minik8s server` (docs/auth.md
// "CertificateSigningRequest"), both leader-only client::Controllers on the
// shared CSR informer, key = the CSR's name, one worker each.
//
// CsrApprovingController ("csrapproving"): approves what csr_auto_approval()
// says (PATCH certificatesigningrequests/NAME/approval adding the condition
// Approved, reason AutoApproved); everything else waits for a person
// (`kubectl certificate approve|deny`).
//
// CsrSigningController ("csrsigning"): for each CSR of the three signers it
// serves that is approved, not denied or failed and has no certificate,
// signs it with the cluster CA (csr_sign()) and writes status.certificate
// through /status; a request the signer refuses gets the condition Failed
// (reason SignerValidationFailure) instead.
//
// Thread safety and ownership as the other controllers (controllers.h): the
// factory and clock are borrowed and outlive the controller; the CA is copied.
#pragma once

#include <chrono>
#include <string>

#include "minik8s/api/json.h"
#include "minik8s/auth/pki.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers {

inline constexpr const char* kSignerKubeletClient = "kubernetes.io/kube-apiserver-client-kubelet";
inline constexpr const char* kSignerKubeletServing = "kubernetes.io/kubelet-serving";
inline constexpr const char* kSignerApiserverClient = "kubernetes.io/kube-apiserver-client";

// Whether the approver approves csr (a CertificateSigningRequest as the API
// server stores it: spec.username/groups are the requester). A node's
// client certificate (kube-apiserver-client-kubelet): subject CN
// system:node:<name>, O exactly system:nodes, usages within {client auth,
// digital signature, key encipherment}, no SANs, asked by a member of
// system:bootstrappers (a join), by system:node:<name> itself (a renewal) or
// by system:masters. A node's serving certificate (kubelet-serving): same
// subject, usages within {server auth, digital signature, key
// encipherment}, at least one SAN (DNS names and IPs), asked by
// system:node:<name> itself or by system:masters. Already approved or denied
// CSRs, other signers and requests that do not parse: false. why (may be
// null) gets the reason in words either way.
bool csr_auto_approval(const api::Json& csr, std::string* why);

// The certificate (PEM) the signer issues for an approved csr: subject and
// SANs from the request, key usage from the signer (client auth for the two
// client signers, server auth for kubelet-serving), validity
// min(spec.expirationSeconds, 1 year). kInvalid (the Failed condition's
// message) for another signer, a request that does not parse, a kubelet
// signer's request whose subject is not CN system:node:<name> O
// system:nodes, or a kube-apiserver-client request for system:masters.
Result<std::string> csr_sign(const auth::CertificateAuthority& ca, const api::Json& csr);

class CsrApprovingController : public client::ControllerHandle {
 public:
  explicit CsrApprovingController(client::SharedInformerFactory& factory,
                                  Clock& clock = real_clock());

 private:
  struct Impl;
};

class CsrSigningController : public client::ControllerHandle {
 public:
  CsrSigningController(client::SharedInformerFactory& factory, auth::CertificateAuthority ca,
                       Clock& clock = real_clock());

 private:
  struct Impl;
};

}  // namespace minik8s::controllers
