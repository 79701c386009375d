#include "server_pki.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "minik8s/auth/credentials.h"

namespace minik8s::server {
namespace {

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// The first host address of an IPv4 CIDR ("10.96.0.0/12" → "10.96.0.1").
std::string first_address(const std::string& cidr) {
  auto slash = cidr.find('/');
  in_addr a{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1) return "";
  int bits = slash == std::string::npos ? 32 : std::atoi(cidr.c_str() + slash + 1);
  uint32_t mask = bits <= 0 ? 0 : (bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1));
  a.s_addr = htonl((ntohl(a.s_addr) & mask) + 1);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    out.emplace_back(buf);
  }
  freeifaddrs(ifs);
  return out;
}

// An existing certificate is kept while it chains to the CA, has these
// SANs (when given) and a month left.
bool still_good(const std::string& cert_file, const std::string& key_file,
                const std::string& ca_pem, const std::vector<std::string>* dns,
                const std::vector<std::string>* ips) {
  std::error_code ec;
  if (!std::filesystem::exists(cert_file, ec) || !std::filesystem::exists(key_file, ec))
    return false;
  auto pem = auth::read_pem_file(cert_file);
  if (!pem || !auth::verify_certificate(*pem, ca_pem)) return false;
  auto info = auth::parse_certificate(*pem);
  if (!info) return false;
  if (info->not_after_unix - ::time(nullptr) < 30 * 86400) return false;
  if (dns) {
    auto d = info->dns_names, i = info->ip_addresses;
    std::sort(d.begin(), d.end());
    std::sort(i.begin(), i.end());
    if (d != *dns || i != *ips) return false;
  }
  return true;
}

Result<auth::KeyPair> ensure_pair(const auth::CertificateAuthority& ca,
                                  const std::string& cert_file, const std::string& key_file,
                                  const auth::CertSpec& spec, bool check_sans) {
  if (still_good(cert_file, key_file, ca.cert_pem(), check_sans ? &spec.dns_names : nullptr,
                 check_sans ? &spec.ip_addresses : nullptr)) {
    auto c = auth::read_pem_file(cert_file);
    auto k = auth::read_pem_file(key_file);
    if (c && k) return auth::KeyPair{*c, *k};
  }
  auto pair = ca.issue(spec);
  if (!pair) return pair.status();
  if (Status st = auth::write_key_pair(cert_file, key_file, *pair); !st) return st;
  spdlog::info("issued {} (CN {})", cert_file, spec.common_name);
  return pair;
}

}  // namespace

void serving_sans(const ServerPkiOptions& o, std::vector<std::string>* dns,
                  std::vector<std::string>* ips) {
  std::set<std::string> d = {"localhost", "kubernetes", "kubernetes.default",
                             "kubernetes.default.svc",
                             "kubernetes.default.svc." + o.cluster_domain};
  std::set<std::string> i = {"127.0.0.1"};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) d.insert(host);
  if (o.bind_address == "0.0.0.0" || o.bind_address == "::") {
    for (const auto& a : local_addresses()) i.insert(a);
  } else if (!o.bind_address.empty()) {
    i.insert(o.bind_address);
  }
  if (!o.advertise_address.empty()) i.insert(o.advertise_address);
  if (std::string svc = first_address(o.service_cidr); !svc.empty()) i.insert(svc);
  for (const auto& s : o.extra_sans) (is_ip(s) ? i : d).insert(s);
  dns->assign(d.begin(), d.end());
  ips->assign(i.begin(), i.end());
  // parse_certificate prints addresses as inet_ntop does; sort the same way.
  std::sort(ips->begin(), ips->end());
}

Result<ServerPki> ensure_server_pki(const ServerPkiOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.pki_dir, ec);
  if (ec) return Status(Code::kInternal, "cannot create " + o.pki_dir + ": " + ec.message());
  ::chmod(o.pki_dir.c_str(), 0700);
  Result<auth::CertificateAuthority> ca = Status(Code::kInternal, "unset");
  ServerPki out;
  if (!o.ca_cert.empty() || !o.ca_key.empty()) {
    if (o.ca_cert.empty() || o.ca_key.empty())
      return Status(Code::kInvalid, "--ca-cert and --ca-key go together");
    ca = auth::CertificateAuthority::load(o.ca_cert, o.ca_key);
    out.ca_file = o.ca_cert;
  } else {
    ca = auth::CertificateAuthority::load_or_create(o.pki_dir, "minik8s-ca");
    out.ca_file = o.pki_dir + "/ca.crt";
  }
  if (!ca) return ca.status();
  out.ca_pem = ca->cert_pem();
  out.spki_sha256 = ca->spki_sha256();
  out.client_ca_file = o.client_ca_file.empty() ? out.ca_file : o.client_ca_file;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
      return Status(Code::kInvalid, "--tls-cert-file and --tls-private-key-file go together");
    }
    out.cert_file = o.tls_cert_file;
    out.key_file = o.tls_key_file;
  } else {
    auth::CertSpec spec;
    spec.common_name = "kube-apiserver";
    spec.usage = auth::KeyUsage::kServer;
    serving_sans(o, &spec.dns_names, &spec.ip_addresses);
    out.cert_file = o.pki_dir + "/apiserver.crt";
    out.key_file = o.pki_dir + "/apiserver.key";
    auto p = ensure_pair(*ca, out.cert_file, out.key_file, spec, true);
    if (!p) return p.status();
  }
  auth::CertSpec admin;
  admin.common_name = "system:admin";
  admin.organizations = {"system:masters"};
  auto a = ensure_pair(*ca, o.pki_dir + "/admin.crt", o.pki_dir + "/admin.key", admin, false);
  if (!a) return a.status();
  out.admin = *a;
  auth::CertSpec kc;
  // No group: what it may do on kubelets comes from its ClusterRoleBinding
  // to system:kubelet-api-admin (docs/auth.md "The kubelet's server").
  kc.common_name = "kube-apiserver-kubelet-client";
  auto k = ensure_pair(*ca, o.pki_dir + "/apiserver-kubelet-client.crt",
                       o.pki_dir + "/apiserver-kubelet-client.key", kc, false);
  if (!k) return k.status();
  return out;
}

std::string admin_kubeconfig(const std::string& url, const std::string& ca_pem,
                             const auth::KeyPair& admin, const std::string& token) {
  return auth::client_kubeconfig(url, ca_pem, admin, token, "admin");
}

}  // namespace minik8s::server
