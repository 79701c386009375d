// `minik8s server`: wires the control plane in one process (store →
// apiserver → namespace controller; scheduler/controllers join later) and
// serves until SIGTERM/SIGINT.
//
// Flags: --data-dir DIR (default /var/lib/minik8s), --listen HOST:PORT
// (default 127.0.0.1:6443; port 0 picks one), --service-cidr,
// --node-port-range A-B, --compaction-keep-revisions N,
// --compaction-keep-age SECONDS, --log-level LEVEL.
// Writes DIR/kubeconfig (atomically) and logs "minik8s server ready at URL".
// Returns the process exit code (0 after a clean shutdown). Not reentrant:
// it installs process-wide signal handling.
#pragma once

namespace minik8s::server {

// argv[0] is "server" (the subcommand), the rest are its flags.
int run_server(int argc, char** argv);

}  // namespace minik8s::server
