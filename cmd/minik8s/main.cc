// minik8s: subcommand dispatch only (see ARCHITECTURE.md §1).
#include <cstdio>
#include <cstring>

#include "minik8s/cli/mkctl.h"
#include "minik8s/server/server.h"

namespace {
void usage() {
  std::fputs(
      "usage: minik8s <command> [flags]\n"
      "commands:\n"
      "  server   run the control plane (API server + controllers)\n"
      "  ctl      the kubectl-like CLI (same as mkctl)\n",
      stderr);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "server") == 0) return minik8s::server::run_server(argc - 1, argv + 1);
  if (std::strcmp(cmd, "ctl") == 0) return minik8s::cli::run_mkctl(argc - 1, argv + 1);
  if (std::strcmp(cmd, "-h") == 0 || std::strcmp(cmd, "--help") == 0) {
    usage();
    return 0;
  }
  std::fprintf(stderr, "minik8s: unknown command \"%s\"\n", cmd);
  usage();
  return 2;
}
