// mkctl: the kubectl-like command line client (apply, create, get, describe,
// delete, scale, patch, api-resources, version).
//
// run_mkctl parses argv (argv[0] is the program name) and runs one command
// against the API server chosen by --server / --kubeconfig / $KUBECONFIG /
// ~/.kube/config. Output goes to out, errors (one line, kubectl style) to err,
// `-f -` reads in. Returns the process exit code: 0 on success, 1 on any error.
// Never throws. Each call is independent (no global state), so several may run
// concurrently from different threads.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace minik8s::cli {

// Uses std::cout / std::cerr / std::cin.
int run_mkctl(int argc, char** argv);
// args excludes the program name: {"get", "pods", "-n", "kube-system"}.
int run_mkctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              std::istream& in);

}  // namespace minik8s::cli
