// The agent's join (join.h).
#include "join.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/auth/pki.h"
#include "minik8s/client/client.h"
#include "minik8s/client/kubeconfig.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/file.h"

namespace minik8s::agent {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSigner = "kubernetes.io/kube-apiserver-client-kubelet";

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The kubelet.conf when its certificate is still valid: OK with the path.
Result<std::string> existing(const std::string& conf) {
  std::error_code ec;
  if (!fs::exists(conf, ec)) return not_found(conf + " does not exist");
  auto kc = client::load_kubeconfig(conf);
  if (!kc) return kc.status();
  std::string pem = kc->tls.cert_pem;
  if (pem.empty() && !kc->tls.cert_file.empty()) {
    auto f = auth::read_pem_file(kc->tls.cert_file);
    if (!f) return f.status();
    pem = *f;
  }
  if (pem.empty()) return Status(Code::kInvalid, conf + " holds no client certificate");
  auto info = auth::parse_certificate(pem);
  if (!info) return Status(Code::kInvalid, conf + ": " + info.status().message());
  if (info->not_after_unix <= unix_now()) {
    return Status(Code::kInvalid, conf + ": the client certificate has expired");
  }
  return conf;
}

std::string kubelet_conf(const std::string& server, const std::string& ca_pem,
                         const std::string& cert_file, const std::string& key_file) {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: minik8s\n"
         "  cluster:\n"
         "    server: " +
         server +
         "\n"
         "    certificate-authority-data: " +
         base64_encode(ca_pem) +
         "\n"
         "users:\n"
         "- name: kubelet\n"
         "  user:\n"
         "    client-certificate: " +
         cert_file + "\n    client-key: " + key_file +
         "\n"
         "contexts:\n"
         "- name: kubelet\n"
         "  context:\n"
         "    cluster: minik8s\n"
         "    user: kubelet\n"
         "current-context: kubelet\n";
}

Result<std::unique_ptr<client::RestClient>> rest(const std::string& server,
                                                 const std::string& ca_pem,
                                                 const std::string& token) {
  client::HttpRestClientOptions ro;
  ro.server = server;
  ro.timeout = std::chrono::seconds(10);
  ro.bearer_token = token;
  if (ca_pem.empty()) {
    ro.tls.insecure_skip_verify = true;
  } else {
    ro.tls.ca_pem = ca_pem;
  }
  return client::make_http_rest_client(ro);
}

// The CA from kube-public/cluster-info, read without credentials and
// without verifying the server (the pin does that).
Result<std::string> discover_ca(const std::string& server) {
  auto r = rest(server, "", "");
  if (!r) return r.status();
  client::Client c(**r);
  const api::ResourceType* cms = api::find_kind("v1", "ConfigMap");
  auto cm = c.get(*cms, "kube-public", "cluster-info");
  if (!cm) {
    return Status(cm.status().code(),
                  "reading kube-public/cluster-info from " + server + ": " + cm.status().message());
  }
  std::string text = api::sfield(api::field(*cm, "data"), "kubeconfig");
  auto kc = client::parse_kubeconfig(text);
  if (!kc) return Status(Code::kInvalid, "cluster-info's kubeconfig: " + kc.status().message());
  if (kc->tls.ca_pem.empty()) return Status(Code::kInvalid, "cluster-info names no CA");
  return kc->tls.ca_pem;
}

bool condition(const api::Json& csr, const char* type) {
  for (const auto& c : api::field(api::field(csr, "status"), "conditions")) {
    if (api::sfield(c, "type") == type && api::sfield(c, "status") != "False") return true;
  }
  return false;
}

}  // namespace

Result<std::string> parse_ca_cert_hash(const std::string& pin) {
  std::string p = pin;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return std::tolower(c); });
  if (p.rfind("sha256:", 0) != 0) {
    return Status(Code::kInvalid, "--ca-cert-hash \"" + pin + "\" must be sha256:<hex>");
  }
  p = p.substr(7);
  if (p.size() != 64 || !std::all_of(p.begin(), p.end(), [](char c) { return std::isxdigit(c); })) {
    return Status(Code::kInvalid,
                  "--ca-cert-hash \"" + pin + "\": want 64 hex digits after sha256:");
  }
  return p;
}

Result<std::string> ensure_node_credential(const JoinOptions& o) {
  const std::string conf = (fs::path(o.data_dir) / "kubelet.conf").string();
  auto have = existing(conf);
  if (have) {
    spdlog::info("join: using {} (its certificate is valid)", conf);
    return have;
  }
  if (o.token.empty()) {
    std::error_code ec;
    if (fs::exists(conf, ec)) {
      return Status(have.status().code(), have.status().message() + " (and no --token to rejoin)");
    }
    return std::string();
  }
  auto servers = client::split_servers(o.server);
  if (servers.empty()) return Status(Code::kInvalid, "--token needs --server");
  const std::string server = servers.front();
  std::string pin;
  if (!o.ca_cert_hash.empty()) {
    auto p = parse_ca_cert_hash(o.ca_cert_hash);
    if (!p) return p.status();
    pin = *p;
  } else if (!o.skip_ca_verification) {
    return Status(Code::kInvalid,
                  "--token needs --ca-cert-hash sha256:<hex> (or "
                  "--discovery-token-unsafe-skip-ca-verification)");
  }
  auto ca = discover_ca(server);
  if (!ca) return ca.status();
  auto hash = auth::spki_sha256(*ca);
  if (!hash) return Status(Code::kInvalid, "cluster-info's CA: " + hash.status().message());
  if (!pin.empty() && *hash != pin) {
    return Status(Code::kInvalid, "the cluster CA's hash is sha256:" + *hash +
                                      ", not the pinned --ca-cert-hash sha256:" + pin +
                                      " (not the cluster you meant, or a man in the middle)");
  }
  if (pin.empty()) spdlog::warn("join: the CA (sha256:{}) is trusted without a pin", *hash);

  auto r = rest(server, *ca, o.token);
  if (!r) return r.status();
  client::Client c(**r);
  auto key = auth::make_csr(std::string("system:node:") + o.node_name, {"system:nodes"});
  if (!key) return key.status();
  const api::ResourceType* csrs =
      api::find_kind("certificates.k8s.io/v1", "CertificateSigningRequest");
  if (!csrs) return internal_error("no CertificateSigningRequest kind");
  api::Json obj = {{"apiVersion", "certificates.k8s.io/v1"},
                   {"kind", "CertificateSigningRequest"},
                   {"metadata", {{"generateName", "node-csr-" + o.node_name + "-"}}},
                   {"spec",
                    {{"request", base64_encode(key->cert_pem)},
                     {"signerName", kSigner},
                     {"usages", {"digital signature", "client auth"}}}}};
  auto made = c.create(*csrs, obj, "");
  if (!made) {
    return Status(made.status().code(),
                  "posting the node's CSR to " + server + ": " + made.status().message());
  }
  const std::string name = api::sfield(api::field(*made, "metadata"), "name");
  spdlog::info("join: posted CSR {} for system:node:{}; waiting for its certificate", name,
               o.node_name);
  auto deadline = std::chrono::steady_clock::now() + o.wait;
  std::string cert;
  while (true) {
    auto cur = c.get(*csrs, "", name);
    if (cur) {
      if (condition(*cur, "Denied") || condition(*cur, "Failed")) {
        return Status(Code::kForbidden, "CSR " + name + " was denied or failed: " +
                                            api::field(*cur, "status").dump());
      }
      auto pem = base64_decode(api::sfield(api::field(*cur, "status"), "certificate"));
      if (pem && !pem->empty()) {
        cert = *pem;
        break;
      }
    } else if (cur.status().code() == Code::kUnauthorized) {
      return cur.status();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(Code::kTimeout,
                    "CSR " + name + " got no certificate within " + std::to_string(o.wait.count()) +
                        " s (approve it: kubectl certificate approve " + name + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const fs::path pki = fs::path(o.data_dir) / "pki";
  std::error_code ec;
  fs::create_directories(pki, ec);
  if (ec) return Status(Code::kInternal, "cannot create " + pki.string() + ": " + ec.message());
  const std::string crt = (pki / "kubelet-client.crt").string();
  const std::string keyf = (pki / "kubelet-client.key").string();
  if (Status st = auth::write_key_pair(crt, keyf, auth::KeyPair{cert, key->key_pem}); !st)
    return st;
  ::chmod(crt.c_str(), 0600);
  if (Status st = write_file_atomically(conf, kubelet_conf(server, *ca, crt, keyf)); !st) return st;
  ::chmod(conf.c_str(), 0600);
  spdlog::info("join: node credential system:node:{} written to {}", o.node_name, conf);
  return conf;
}

}  // namespace minik8s::agent
