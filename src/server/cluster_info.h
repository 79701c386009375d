// kube-public/cluster-info (docs/auth.md "Bootstrap tokens and the join"):
// the ConfigMap a joining node reads without credentials (key kubeconfig: the
// server URL and the cluster CA, no user), and the Role and RoleBinding
// kubeadm:bootstrap-signer-clusterinfo that let system:unauthenticated get
// that one object. Created when missing, rewritten when they differ.
// Not thread-safe; called by the leader at start (idempotent).
#pragma once

#include <string>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::server {

Status publish_cluster_info(client::Client& client, const std::string& url,
                            const std::string& ca_pem);

}  // namespace minik8s::server
