// `minik8s server`: wires the control plane in one process (store →
// apiserver → scheduler → controllers: namespace, node IPAM, endpoints, ...;
// the scheduler and the controllers over HTTP clients to the server's own
// URL) and serves until SIGTERM/SIGINT, then stops them in reverse order.
//
// Flags: --data-dir DIR (default /var/lib/minik8s), --listen HOST:PORT
// (default 127.0.0.1:6443; port 0 picks one), --service-cidr,
// --node-port-range A-B, --compaction-keep-revisions N,
// --compaction-keep-age SECONDS, --log-level LEVEL,
// --storage sqlite|etcd (default sqlite: DIR/store.db), --etcd-servers
// URL[,URL...] with --etcd-cafile/--etcd-certfile/--etcd-keyfile for TLS,
// --scheduler-policy P, --disable-scheduler,
// --cluster-cidr CIDR (default 10.244.0.0/16) and --node-cidr-mask-size N
// (default 24) for node pod CIDRs, --allocate-node-cidrs[=false] (default
// true; false = no node IPAM controller; also --no-allocate-node-cidrs),
// --disable-controllers namespace,node-ipam,endpoints,... (tests). Bad flag values
// (including an inconsistent cluster CIDR / mask) exit with code 2.
// Writes DIR/kubeconfig (atomically) and logs "minik8s server ready at URL".
// Returns the process exit code (0 after a clean shutdown). Not reentrant:
// it installs process-wide signal handling.
#pragma once

namespace minik8s::server {

// argv[0] is "server" (the subcommand), the rest are its flags.
int run_server(int argc, char** argv);

// `minik8s kubeconfig node NAME --data-dir SERVER_DATA_DIR [--server URL]
// [-o FILE]`: a kubeconfig with a node credential issued from the server's
// CA (docs/auth.md "Node credentials"). argv[0] is "kubeconfig".
int run_kubeconfig(int argc, char** argv);

}  // namespace minik8s::server
