#include "kubelet_tls.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "minik8s/auth/pki.h"

namespace minik8s::agent {

namespace fs = std::filesystem;

Result<KubeletTls> kubelet_tls(const NodeConfig& config, const client::HttpRestClientOptions& ro) {
  KubeletTls out;
  auto servers = client::split_servers(ro.server);
  out.https = !servers.empty() && servers.front().rfind("https://", 0) == 0;
  if (!out.https) {
    if (!config.tls_cert_file.empty()) {
      spdlog::warn(
          "--tls-cert-file is not used: the API server {} is plain http, so is the kubelet's "
          "server",
          ro.server);
    }
    return out;
  }
  out.cert_file = config.tls_cert_file;
  out.key_file = config.tls_key_file;
  if (!config.client_ca_file.empty()) {
    out.client_ca_file = config.client_ca_file;
  } else if (!ro.tls.ca_pem.empty()) {
    const std::string dir = (fs::path(config.data_dir) / "pki").string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status(Code::kUnavailable, "cannot create " + dir + ": " + ec.message());
    out.client_ca_file = dir + "/client-ca.crt";
    auth::KeyPair ca;
    ca.cert_pem = ro.tls.ca_pem;
    if (Status st = auth::write_key_pair(out.client_ca_file, "", ca); !st) return st;
  } else if (!ro.tls.ca_file.empty()) {
    out.client_ca_file = ro.tls.ca_file;
  } else {
    spdlog::warn(
        "the kubelet's server asks for no client certificates: no --client-ca-file and no CA in "
        "the "
        "kubeconfig (only bearer tokens are accepted, and the API server cannot use its "
        "certificate)");
  }
  return out;
}

}  // namespace minik8s::agent
