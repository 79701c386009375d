#include "minik8s/auth/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include "openssl_error.h"

namespace minik8s::auth {
namespace {

Status internal(const std::string& what) { return Status(Code::kInternal, ssl_error(what)); }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::shared_ptr<X509> own(X509* x) { return std::shared_ptr<X509>(x, X509_free); }
std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

BioPtr mem_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string cert_to_pem(X509* x) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), x);
  return bio_text(b.get());
}

std::string key_to_pem(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(b.get());
}

Result<std::shared_ptr<X509>> cert_from_pem(const std::string& pem) {
  auto b = mem_bio(pem);
  X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr);
  if (!x) return Status(Code::kInvalid, ssl_error("not a PEM certificate"));
  return own(x);
}

std::shared_ptr<EVP_PKEY> new_key() { return own(EVP_EC_gen("P-256")); }

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

std::string spki_hash(X509* x) {
  EVP_PKEY* pub = X509_get0_pubkey(x);
  int n = i2d_PUBKEY(pub, nullptr);
  std::string der(static_cast<size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PUBKEY(pub, &p);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), md);
  return hex(md, sizeof md);
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

bool valid_dns(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

Status add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return internal("certificate extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Status::ok();
}

Status set_subject(X509_NAME* name, const std::string& cn, const std::vector<std::string>& orgs) {
  for (const auto& o : orgs) {
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0)) {
      return Status(Code::kInvalid, ssl_error("bad organization \"" + o + "\""));
    }
  }
  if (!cn.empty() &&
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0)) {
    return Status(Code::kInvalid, ssl_error("bad common name \"" + cn + "\""));
  }
  return Status::ok();
}

std::string san_value(const CertSpec& spec) {
  std::string san;
  for (const auto& d : spec.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : spec.ip_addresses)
    san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  return san;
}

Status check_spec(const CertSpec& spec) {
  for (const auto& d : spec.dns_names) {
    if (!valid_dns(d)) return Status(Code::kInvalid, "dns_names: \"" + d + "\" is not a DNS name");
  }
  for (const auto& ip : spec.ip_addresses) {
    if (!valid_ip(ip))
      return Status(Code::kInvalid, "ip_addresses: \"" + ip + "\" is not an IP address");
  }
  if (spec.ttl.count() <= 0) return Status(Code::kInvalid, "ttl: must be positive");
  return Status::ok();
}

// A certificate for pub with subject name, signed by (issuer, issuer_key)
// (issuer null: self-signed).
Result<std::shared_ptr<X509>> build(EVP_PKEY* pub, X509_NAME* subject, X509* issuer,
                                    EVP_PKEY* issuer_key, const CertSpec& spec, bool ca) {
  auto x = own(X509_new());
  X509_set_version(x.get(), 2);
  BIGNUM* bn = BN_new();
  BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  // A little back-dated, as Kubernetes does, for clocks slightly apart.
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), static_cast<long>(spec.ttl.count()));
  X509_set_subject_name(x.get(), subject);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : subject);
  X509_set_pubkey(x.get(), pub);
  X509* iss = issuer ? issuer : x.get();
  Status st =
      add_ext(x.get(), iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (st) {
    st = add_ext(x.get(), iss, NID_key_usage,
                 ca ? "critical,digitalSignature,keyCertSign,cRLSign"
                    : "critical,digitalSignature,keyEncipherment");
  }
  if (st) st = add_ext(x.get(), iss, NID_subject_key_identifier, "hash");
  if (st && issuer) st = add_ext(x.get(), iss, NID_authority_key_identifier, "keyid:always");
  if (st && !ca) {
    const char* eku = spec.usage == KeyUsage::kServer   ? "serverAuth"
                      : spec.usage == KeyUsage::kClient ? "clientAuth"
                                                        : "serverAuth,clientAuth";
    st = add_ext(x.get(), iss, NID_ext_key_usage, eku);
  }
  if (st && !san_value(spec).empty())
    st = add_ext(x.get(), iss, NID_subject_alt_name, san_value(spec));
  if (!st) return st;
  if (X509_sign(x.get(), issuer_key, EVP_sha256()) <= 0) return internal("signing the certificate");
  return x;
}

void collect_names(X509_NAME* name, CertInfo& info) {
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0) continue;
    std::string v(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) info.common_name = v;
    if (nid == NID_organizationName) info.organizations.push_back(v);
  }
}

void collect_sans(const GENERAL_NAMES* names, CertInfo& info) {
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      const ASN1_STRING* s = g->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (g->type == GEN_IPADD) {
      const ASN1_STRING* s = g->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(s);
      if (len == 4 || len == 16) {
        inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
        info.ip_addresses.emplace_back(buf);
      }
    }
  }
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::create(const std::string& common_name,
                                                          std::chrono::seconds ttl) {
  auto key = new_key();
  if (!key) return internal("generating a P-256 key");
  X509_NAME* name = X509_NAME_new();
  Status st = set_subject(name, common_name, {});
  if (!st) {
    X509_NAME_free(name);
    return st;
  }
  CertSpec spec;
  spec.ttl = ttl;
  auto cert = build(key.get(), name, nullptr, key.get(), spec, true);
  X509_NAME_free(name);
  if (!cert) return cert.status();
  CertificateAuthority ca;
  ca.cert_ = *cert;
  ca.key_ = key;
  ca.cert_pem_ = cert_to_pem(ca.cert_.get());
  return ca;
}

Result<CertificateAuthority> CertificateAuthority::from_pem(const std::string& cert_pem,
                                                            const std::string& key_pem) {
  auto cert = cert_from_pem(cert_pem);
  if (!cert) return Status(Code::kInvalid, "CA certificate: " + cert.status().message());
  auto b = mem_bio(key_pem);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr);
  if (!k) return Status(Code::kInvalid, ssl_error("CA key: not a PEM private key"));
  auto key = own(k);
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return Status(Code::kInvalid, ssl_error("the CA key does not match the CA certificate"));
  }
  CertificateAuthority ca;
  ca.cert_ = *cert;
  ca.key_ = key;
  ca.cert_pem_ = cert_to_pem(ca.cert_.get());
  return ca;
}

Result<CertificateAuthority> CertificateAuthority::load(const std::string& cert_file,
                                                        const std::string& key_file) {
  auto c = read_pem_file(cert_file);
  if (!c) return c.status();
  auto k = read_pem_file(key_file);
  if (!k) return k.status();
  auto ca = from_pem(*c, *k);
  if (!ca)
    return Status(ca.status().code(), cert_file + ", " + key_file + ": " + ca.status().message());
  return ca;
}

Result<CertificateAuthority> CertificateAuthority::load_or_create(const std::string& dir,
                                                                  const std::string& common_name) {
  std::string crt = dir + "/ca.crt", key = dir + "/ca.key";
  std::error_code ec;
  if (std::filesystem::exists(crt, ec) && std::filesystem::exists(key, ec)) return load(crt, key);
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(Code::kInternal, "cannot create " + dir + ": " + ec.message());
  auto ca = create(common_name);
  if (!ca) return ca;
  if (Status st = write_key_pair(crt, key, {ca->cert_pem(), ca->key_pem()}); !st) return st;
  return ca;
}

std::string CertificateAuthority::key_pem() const { return key_to_pem(key_.get()); }

std::string CertificateAuthority::spki_sha256() const { return spki_hash(cert_.get()); }

Result<KeyPair> CertificateAuthority::issue(const CertSpec& spec) const {
  if (Status st = check_spec(spec); !st) return st;
  auto key = new_key();
  if (!key) return internal("generating a P-256 key");
  X509_NAME* name = X509_NAME_new();
  Status st = set_subject(name, spec.common_name, spec.organizations);
  if (!st) {
    X509_NAME_free(name);
    return st;
  }
  auto cert = build(key.get(), name, cert_.get(), key_.get(), spec, false);
  X509_NAME_free(name);
  if (!cert) return cert.status();
  return KeyPair{cert_to_pem(cert->get()), key_to_pem(key.get())};
}

Result<std::string> CertificateAuthority::sign_csr(const std::string& csr_pem,
                                                   const CertSpec& spec) const {
  if (Status st = check_spec(spec); !st) return st;
  auto b = mem_bio(csr_pem);
  X509_REQ* req = PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr);
  if (!req) return Status(Code::kInvalid, ssl_error("request: not a PEM certificate request"));
  std::unique_ptr<X509_REQ, void (*)(X509_REQ*)> guard(req, X509_REQ_free);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req);
  if (!pub || X509_REQ_verify(req, pub) != 1) {
    return Status(Code::kInvalid, ssl_error("request: the signature does not verify"));
  }
  auto cert = build(pub, X509_REQ_get_subject_name(req), cert_.get(), key_.get(), spec, false);
  if (!cert) return cert.status();
  return cert_to_pem(cert->get());
}

Result<KeyPair> make_csr(const std::string& common_name,
                         const std::vector<std::string>& organizations) {
  CertSpec spec;
  spec.common_name = common_name;
  spec.organizations = organizations;
  return make_csr(spec);
}

Result<KeyPair> make_csr(const CertSpec& spec) {
  if (Status st = check_spec(spec); !st) return st;
  auto key = new_key();
  if (!key) return internal("generating a P-256 key");
  std::unique_ptr<X509_REQ, void (*)(X509_REQ*)> req(X509_REQ_new(), X509_REQ_free);
  Status st =
      set_subject(X509_REQ_get_subject_name(req.get()), spec.common_name, spec.organizations);
  if (!st) return st;
  X509_REQ_set_pubkey(req.get(), key.get());
  if (const std::string san = san_value(spec); !san.empty()) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    if (!ext) return Status(Code::kInvalid, ssl_error("subjectAltName " + san));
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, ext);
    int ok = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (ok != 1) return internal("adding the subjectAltName to the request");
  }
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    return internal("signing the request");
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(out.get(), req.get());
  return KeyPair{bio_text(out.get()), key_to_pem(key.get())};
}

Result<CertInfo> parse_certificate(const std::string& cert_pem) {
  auto cert = cert_from_pem(cert_pem);
  if (!cert) return cert.status();
  CertInfo info;
  collect_names(X509_get_subject_name(cert->get()), info);
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr));
  collect_sans(sans, info);
  GENERAL_NAMES_free(sans);
  ASN1_TIME* epoch = ASN1_TIME_set(nullptr, 0);
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(cert->get()));
  ASN1_TIME_free(epoch);
  info.not_after_unix = int64_t{days} * 86400 + secs;
  info.is_ca = X509_check_ca(cert->get()) > 0;
  return info;
}

Result<CertInfo> parse_csr(const std::string& csr_pem) {
  auto b = mem_bio(csr_pem);
  X509_REQ* req = PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr);
  if (!req) return Status(Code::kInvalid, ssl_error("request: not a PEM certificate request"));
  std::unique_ptr<X509_REQ, void (*)(X509_REQ*)> guard(req, X509_REQ_free);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req);
  if (!pub || X509_REQ_verify(req, pub) != 1) {
    return Status(Code::kInvalid, ssl_error("request: the signature does not verify"));
  }
  CertInfo info;
  collect_names(X509_REQ_get_subject_name(req), info);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  if (exts) {
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
    collect_sans(sans, info);
    GENERAL_NAMES_free(sans);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  return info;
}

Result<std::string> spki_sha256(const std::string& cert_pem) {
  auto cert = cert_from_pem(cert_pem);
  if (!cert) return cert.status();
  return spki_hash(cert->get());
}

Status verify_certificate(const std::string& cert_pem, const std::string& ca_pem) {
  auto cert = cert_from_pem(cert_pem);
  if (!cert) return cert.status();
  auto ca = cert_from_pem(ca_pem);
  if (!ca) return Status(Code::kInvalid, "CA: " + ca.status().message());
  std::unique_ptr<X509_STORE, void (*)(X509_STORE*)> store(X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca->get());
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> ctx(X509_STORE_CTX_new(),
                                                                 X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    return Status(Code::kInvalid,
                  std::string("certificate does not verify: ") +
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));
  }
  return Status::ok();
}

Result<std::string> read_pem_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kNotFound, "cannot read " + path + ": " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {
Status write_mode(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status(Code::kInternal, "cannot write " + path + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status(Code::kInternal, "cannot write " + path + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Status(Code::kInternal, "cannot write " + path + ": " + std::strerror(e));
  }
  return Status::ok();
}
}  // namespace

Status write_key_pair(const std::string& cert_file, const std::string& key_file,
                      const KeyPair& pair) {
  if (!key_file.empty()) {
    if (Status st = write_mode(key_file, pair.key_pem, 0600); !st) return st;
  }
  if (!cert_file.empty()) return write_mode(cert_file, pair.cert_pem, 0644);
  return Status::ok();
}

}  // namespace minik8s::auth
