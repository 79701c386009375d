#include "serving_cert.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "minik8s/auth/pki.h"
#include "minik8s/util/base64.h"

namespace minik8s::agent {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kCsrPath = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
constexpr const char* kSigner = "kubernetes.io/kubelet-serving";

bool dns_name(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.' || s.back() == '-' ||
      s.back() == '.')
    return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '.';
  });
}

bool contains_all(std::vector<std::string> have, const std::vector<std::string>& want) {
  std::sort(have.begin(), have.end());
  for (const auto& w : want)
    if (!std::binary_search(have.begin(), have.end(), w)) return false;
  return true;
}

// The kept pair still does: it loads, chains to the CA, names the node and
// every wanted SAN, and has more than an hour left.
bool still_good(const std::string& cert_file, const std::string& key_file,
                const auth::CertSpec& want, const std::string& ca_pem) {
  auto cert = auth::read_pem_file(cert_file);
  auto key = auth::read_pem_file(key_file);
  if (!cert || !key) return false;
  auto info = auth::parse_certificate(*cert);
  if (!info) return false;
  if (!ca_pem.empty() && !auth::verify_certificate(*cert, ca_pem)) return false;
  if (info->common_name != want.common_name || info->organizations != want.organizations)
    return false;
  if (!contains_all(info->dns_names, want.dns_names) ||
      !contains_all(info->ip_addresses, want.ip_addresses))
    return false;
  return info->not_after_unix - ::time(nullptr) > 3600;
}

std::string random_suffix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  return buf;
}

std::string condition_message(const json& status, const char* type) {
  const json& conds = status.value("conditions", json::array());
  if (!conds.is_array()) return "";
  for (const json& c : conds) {
    if (c.is_object() && c.value("type", "") == type) {
      std::string m = c.value("message", "");
      std::string r = c.value("reason", "");
      return r.empty() ? (m.empty() ? type : m) : (m.empty() ? r : r + ": " + m);
    }
  }
  return "";
}

}  // namespace

Result<ServingCert> ensure_serving_certificate(
    client::RestClient& rest, const ServingCertOptions& o,
    const std::function<bool(std::chrono::milliseconds)>& pause) {
  const std::string dir = (fs::path(o.data_dir) / "pki").string();
  ServingCert out;
  out.cert_file = dir + "/kubelet-serving.crt";
  out.key_file = dir + "/kubelet-serving.key";
  auth::CertSpec want;
  want.common_name = std::string("system:node:") + o.node_name;
  want.organizations = {"system:nodes"};
  want.ip_addresses = o.ip_addresses;
  for (const auto& n : o.dns_names) {
    if (dns_name(n) &&
        std::find(want.dns_names.begin(), want.dns_names.end(), n) == want.dns_names.end())
      want.dns_names.push_back(n);
  }
  if (still_good(out.cert_file, out.key_file, want, o.ca_pem)) {
    out.reused = true;
    return out;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(Code::kUnavailable, "cannot create " + dir + ": " + ec.message());

  auto csr = auth::make_csr(want);
  if (!csr) return csr.status();
  const std::string name = "kubelet-serving-" + o.node_name + "-" + random_suffix();
  json body = {{"apiVersion", "certificates.k8s.io/v1"},
               {"kind", "CertificateSigningRequest"},
               {"metadata", {{"name", name}}},
               {"spec",
                {{"request", base64_encode(csr->cert_pem)},
                 {"signerName", kSigner},
                 {"usages", {"digital signature", "server auth"}}}}};
  // Posted once the API server answers (it may start after the agent).
  for (bool warned = false;;) {
    auto r = rest.request("POST", kCsrPath, body.dump());
    if (r) {
      if (r->status == 404) {
        return Status(
            Code::kNotFound,
            "the API server serves no CertificateSigningRequests: give the kubelet a serving "
            "certificate (--tls-cert-file, --tls-private-key-file)");
      }
      if (Status st = client::check_response(*r); !st) {
        return Status(st.code(), "posting CertificateSigningRequest " + name + ": " + st.message());
      }
      break;
    }
    if (!warned)
      spdlog::warn("posting the kubelet's serving CSR: {} (retrying)", r.status().to_string());
    warned = true;
    if (pause(std::chrono::seconds(1))) return Status(Code::kUnavailable, "stopped");
  }
  spdlog::info("posted CertificateSigningRequest {} ({}); waiting for its certificate", name,
               kSigner);
  const auto deadline = std::chrono::steady_clock::now() + o.wait;
  std::string cert_pem;
  while (cert_pem.empty()) {
    auto r = rest.request("GET", std::string(kCsrPath) + "/" + name);
    if (r && r->status == 200) {
      json j = json::parse(r->body, nullptr, false);
      const json& status = j.is_object() ? j.value("status", json::object()) : json::object();
      if (std::string why = condition_message(status, "Denied"); !why.empty()) {
        return Status(Code::kForbidden,
                      "CertificateSigningRequest " + name + " was denied: " + why);
      }
      if (std::string why = condition_message(status, "Failed"); !why.empty()) {
        return Status(Code::kForbidden, "CertificateSigningRequest " + name + " failed: " + why);
      }
      std::string b64 = status.is_object() ? status.value("certificate", "") : "";
      if (!b64.empty()) {
        auto pem = base64_decode_lenient(b64);
        if (!pem)
          return Status(Code::kInvalid,
                        "status.certificate of " + name + ": " + pem.status().message());
        cert_pem = *pem;
        break;
      }
    } else if (r && r->status != 200) {
      spdlog::debug("GET CertificateSigningRequest {}: {}", name,
                    client::check_response(*r).to_string());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(Code::kTimeout, "no certificate for CertificateSigningRequest " + name +
                                        " within " + std::to_string(o.wait.count()) +
                                        " s (is it approved? kubectl certificate approve " + name +
                                        ")");
    }
    if (pause(o.poll)) return Status(Code::kUnavailable, "stopped");
  }
  auto info = auth::parse_certificate(cert_pem);
  if (!info)
    return Status(Code::kInvalid, "status.certificate of " + name + ": " + info.status().message());
  if (info->common_name != want.common_name) {
    return Status(Code::kInvalid, "the certificate of " + name + " is for \"" + info->common_name +
                                      "\", not \"" + want.common_name + "\"");
  }
  if (!o.ca_pem.empty()) {
    if (Status st = auth::verify_certificate(cert_pem, o.ca_pem); !st) {
      return Status(Code::kInvalid, "the certificate of " + name +
                                        " does not chain to the cluster CA: " + st.message());
    }
  }
  if (Status st =
          auth::write_key_pair(out.cert_file, out.key_file, auth::KeyPair{cert_pem, csr->key_pem});
      !st)
    return st;
  spdlog::info("kubelet serving certificate {} issued (CSR {})", out.cert_file, name);
  return out;
}

}  // namespace minik8s::agent
