// Internal to mk_agent: how the kubelet's server is secured (docs/auth.md
// "The kubelet's server"). HTTPS, with client certificates verified against
// the cluster CA and requests authorized by the API server, whenever the
// agent reaches its API server over https; plain HTTP (with a warning) only
// for a plain-http API server (`minik8s server --insecure-http` test
// servers).
//
// Not thread-safe; called once at start-up. Errors name the file or flag.
#pragma once

#include <string>

#include "minik8s/agent/agent.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/status.h"

namespace minik8s::agent {

struct KubeletTls {
  bool https = false;               // false: plain HTTP, no authentication
  std::string client_ca_file;       // the CA client certificates are verified against ("" : none)
  std::string cert_file, key_file;  // given by flags; both empty: from a kubelet-serving CSR
};

// From the config and the options the agent reaches its API server with
// (ro.server: https:// → HTTPS). The client CA: config.client_ca_file, else
// the kubeconfig's CA (a certificate-authority file as it is;
// certificate-authority-data written to <data_dir>/pki/client-ca.crt);
// without either, client certificates are not asked for (a warning).
Result<KubeletTls> kubelet_tls(const NodeConfig& config, const client::HttpRestClientOptions& ro);

}  // namespace minik8s::agent
