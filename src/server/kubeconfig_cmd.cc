// `minik8s kubeconfig node NAME --data-dir SERVER_DATA_DIR [--server URL] [-o FILE]`
// (docs/auth.md "Node credentials"; cf. `kubeadm kubeconfig user`): a
// kubeconfig holding a node's client certificate (CN system:node:NAME, O
// system:nodes), issued from the cluster CA a server keeps in
// SERVER_DATA_DIR/pki, for an agent's --kubeconfig.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "minik8s/auth/credentials.h"
#include "minik8s/client/kubeconfig.h"
#include "minik8s/server/server.h"
#include "minik8s/util/file.h"

namespace minik8s::server {

int run_kubeconfig(int argc, char** argv) {
  CLI::App app{"minik8s kubeconfig: issue kubeconfigs from the cluster CA", "kubeconfig"};
  app.require_subcommand(1);
  CLI::App* node = app.add_subcommand(
      "node",
      "a node's credential (CN system:node:NAME, O system:nodes) for `minik8s agent --kubeconfig`");
  std::string name, data_dir = "/var/lib/minik8s", server, out, ca_cert, ca_key;
  node->add_option("NAME", name, "the node's name (its Node object)")->required();
  node->add_option("--data-dir", data_dir,
                   "the server's data dir (its pki/ca.crt, pki/ca.key and kubeconfig)");
  node->add_option("--server", server,
                   "the API server URL(s) (default: the server's kubeconfig's)");
  node->add_option("--ca-cert", ca_cert,
                   "the cluster CA certificate (default: DATA-DIR/pki/ca.crt)");
  node->add_option("--ca-key", ca_key, "the cluster CA key (default: DATA-DIR/pki/ca.key)");
  node->add_option("-o,--output", out, "write here, mode 0600 (default: standard output)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const std::filesystem::path dir(data_dir);
  if (ca_cert.empty()) ca_cert = (dir / "pki" / "ca.crt").string();
  if (ca_key.empty()) ca_key = (dir / "pki" / "ca.key").string();
  if (server.empty()) {
    auto kc = client::load_kubeconfig((dir / "kubeconfig").string());
    if (!kc || kc->server.empty()) {
      std::fprintf(stderr, "error: no --server and no server in %s/kubeconfig%s%s\n",
                   data_dir.c_str(), kc ? "" : ": ", kc ? "" : kc.status().message().c_str());
      return 2;
    }
    server = kc->server;
  }
  auto ca = auth::CertificateAuthority::load(ca_cert, ca_key);
  if (!ca) {
    std::fprintf(stderr, "error: the cluster CA: %s\n", ca.status().message().c_str());
    return 1;
  }
  auto cred = auth::issue_node_credential(*ca, name);
  if (!cred) {
    std::fprintf(stderr, "error: %s\n", cred.status().message().c_str());
    return 2;
  }
  const std::string text =
      auth::client_kubeconfig(server, ca->cert_pem(), *cred, "", "system:node:" + name);
  if (out.empty() || out == "-") {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  mode_t old = ::umask(077);  // the key: owner only
  Status st = write_file_atomically(out, text);
  ::umask(old);
  if (!st) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace minik8s::server
