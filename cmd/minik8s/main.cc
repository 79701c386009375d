// minik8s: subcommand dispatch only (see ARCHITECTURE.md §1).
#include <cstdio>
#include <cstring>

#include "minik8s/agent/agent.h"
#include "minik8s/cli/mkctl.h"
#include "minik8s/cli/token.h"
#include "minik8s/images/images.h"
#include "minik8s/server/server.h"

namespace {
void usage() {
  std::fputs(
      "usage: minik8s <command> [flags]\n"
      "commands:\n"
      "  server   run the control plane (API server + scheduler + controllers)\n"
      "  agent    run a node: kubelet on containerd (managed or given), Node + Lease heartbeats\n"
      "  up       server + agent + private containerd on this host (single-node cluster)\n"
      "  down     stop `up` and remove everything it created under --data-dir\n"
      "  kubeconfig node NAME --data-dir DIR  a node's kubeconfig from the server's CA\n"
      "  image    build|import|ls offline images (pause, busybox, python)\n"
      "  ctl      the kubectl-like CLI (same as mkctl)\n"
      "  token    create|list bootstrap tokens for joining nodes\n",
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
  if (std::strcmp(cmd, "agent") == 0) return minik8s::agent::run_agent(argc - 1, argv + 1);
  if (std::strcmp(cmd, "up") == 0) return minik8s::agent::run_up(argc - 1, argv + 1);
  if (std::strcmp(cmd, "kubeconfig") == 0)
    return minik8s::server::run_kubeconfig(argc - 1, argv + 1);
  if (std::strcmp(cmd, "down") == 0) return minik8s::agent::run_down(argc - 1, argv + 1);
  if (std::strcmp(cmd, "image") == 0) return minik8s::images::run_image_command(argc - 1, argv + 1);
  if (std::strcmp(cmd, "token") == 0) return minik8s::cli::run_token(argc - 1, argv + 1);
  if (std::strcmp(cmd, "ctl") == 0) return minik8s::cli::run_mkctl(argc - 1, argv + 1);
  if (std::strcmp(cmd, "-h") == 0 || std::strcmp(cmd, "--help") == 0) {
    usage();
    return 0;
  }
  std::fprintf(stderr, "minik8s: unknown command \"%s\"\n", cmd);
  usage();
  return 2;
}
