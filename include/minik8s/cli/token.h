// `minik8s token create|list` (docs/auth.md "Bootstrap tokens and the
// join"): bootstrap tokens as Secrets kube-system/bootstrap-token-<id>.
//
// create [--ttl 24h] [--print-join-command] [--description TEXT]: a new
// token "<id>.<secret>" ([a-z0-9]{6}.[a-z0-9]{16}), printed on stdout (with
// --print-join-command the `minik8s agent --server URL --token T
// --ca-cert-hash sha256:HEX` line instead; the hash is of the CA the
// kubeconfig trusts). --ttl 0: never expires.
// list: TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS, as kubeadm.
// Both reach the API server through --kubeconfig F, or <--data-dir>/kubeconfig,
// or $KUBECONFIG / ~/.kube/config. Exit 0 on success, 1 on an API or I/O
// error, 2 on bad flags.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace minik8s::cli {

int run_token(int argc, char** argv);  // argv[0]: "token"
int run_token(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace minik8s::cli
