// ES256 JWTs (jwt.h) on OpenSSL 3's EVP interface.
#include "minik8s/auth/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace minik8s::auth {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

Status unauthorized(std::string m) { return Status(Code::kUnauthorized, std::move(m)); }

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigDeleter {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::optional<std::string> public_der(EVP_PKEY* k) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(k, &der);
  if (n <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(data[k]); };
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int d = decode_char(c);
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits of a canonical encoding are zero.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

struct EcKey::Impl {
  PkeyPtr pkey;
};

EcKey::EcKey(Impl* impl, bool has_private, std::string kid)
    : impl_(impl), private_(has_private), kid_(std::move(kid)) {}

EcKey::~EcKey() { delete impl_; }

Result<std::shared_ptr<const EcKey>> EcKey::from_pem(const std::string& pem) {
  if (pem.size() > (1 << 20)) return Status(Code::kInvalid, "the key is too large");
  bool priv = true;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return internal_error("out of memory");
  PkeyPtr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!k) {
    priv = false;
    BioPtr bio2(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio2) return internal_error("out of memory");
    k.reset(PEM_read_bio_PUBKEY(bio2.get(), nullptr, nullptr, nullptr));
  }
  if (!k) return Status(Code::kInvalid, "no PEM private or public key found");
  char group[64] = {0};
  size_t glen = 0;
  if (EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(k.get(), group, sizeof group, &glen) != 1 ||
      (std::string(group) != "prime256v1" && std::string(group) != "P-256")) {
    return Status(Code::kInvalid, "the key is not an ECDSA P-256 key (ES256 needs one)");
  }
  auto der = public_der(k.get());
  if (!der) return Status(Code::kInvalid, "the key has no public part");
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der->data()), der->size(), digest);
  std::string kid =
      base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
  auto* impl = new Impl{std::move(k)};
  return std::shared_ptr<const EcKey>(new EcKey(impl, priv, std::move(kid)));
}

Result<std::string> EcKey::generate_private_pem() {
  PkeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return internal_error("generating a P-256 key failed");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return internal_error("writing the key as PEM failed");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string EcKey::public_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->pkey.get()) != 1) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<std::string> EcKey::sign(std::string_view data) const {
  if (!private_) return Status(Code::kInvalid, "a public key cannot sign");
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return internal_error("signing failed");
  }
  std::string der(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return internal_error("signing failed");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigDeleter> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  if (!sig) return internal_error("signing failed");
  std::array<unsigned char, 64> raw{};
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32) != 32) {
    return internal_error("signing failed");
  }
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

bool EcKey::verify(std::string_view data, std::string_view signature) const {
  if (signature.size() != 64) return false;
  std::unique_ptr<ECDSA_SIG, SigDeleter> sig(ECDSA_SIG_new());
  if (!sig) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
  BIGNUM* r = BN_bin2bn(raw, 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig.get(), &der);
  if (n <= 0) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  bool ok =
      ctx &&
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->pkey.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), der, static_cast<size_t>(n),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  OPENSSL_free(der);
  return ok;
}

Status ensure_private_key_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return Status::ok();
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return internal_error("cannot create " + dir.string() + ": " + ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  auto pem = EcKey::generate_private_pem();
  if (!pem) return pem.status();
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return internal_error("cannot create " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < pem->size()) {
    ssize_t n = ::write(fd, pem->data() + off, pem->size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return internal_error("cannot write " + tmp + ": " + why);
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  // link() refuses to replace: a key another process made first wins.
  if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return internal_error("cannot create " + path + ": " + why);
  }
  ::unlink(tmp.c_str());
  return Status::ok();
}

Result<std::string> jwt_sign(const EcKey& key, const nlohmann::json& claims) {
  nlohmann::json header = {{"alg", "ES256"}, {"kid", key.kid()}};
  std::string input =
      base64url_encode(header.dump()) + "." +
      base64url_encode(claims.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  auto sig = key.sign(input);
  if (!sig) return sig.status();
  return input + "." + base64url_encode(*sig);
}

namespace {

struct Parts {
  std::string_view header, payload, signature, signed_input;
};

std::optional<Parts> split(std::string_view token) {
  if (token.size() > 64 * 1024) return std::nullopt;
  auto a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return Parts{token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1),
               token.substr(0, b)};
}

std::optional<nlohmann::json> decode_json(std::string_view part) {
  auto raw = base64url_decode(part);
  if (!raw) return std::nullopt;
  auto j = nlohmann::json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::optional<int64_t> time_claim(const nlohmann::json& c, const char* name, bool& bad) {
  auto it = c.find(name);
  if (it == c.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (d > -9e15 && d < 9e15) return static_cast<int64_t>(d);
  }
  bad = true;
  return std::nullopt;
}

}  // namespace

std::optional<nlohmann::json> jwt_peek_claims(std::string_view token) {
  auto p = split(token);
  if (!p) return std::nullopt;
  auto h = decode_json(p->header);
  if (!h) return std::nullopt;
  return decode_json(p->payload);
}

Result<nlohmann::json> jwt_verify(const EcKey& key, std::string_view token,
                                  const JwtExpectations& expect) {
  auto p = split(token);
  if (!p) return unauthorized("the token is not a JWT");
  auto header = decode_json(p->header);
  if (!header) return unauthorized("the token's header is not base64url JSON");
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "ES256") {
    return unauthorized("the token's alg is not ES256");
  }
  auto kid = header->find("kid");
  if (kid != header->end() && (!kid->is_string() || kid->get<std::string>() != key.kid())) {
    return unauthorized("the token's kid is not the signing key's");
  }
  auto sig = base64url_decode(p->signature);
  if (!sig || !key.verify(p->signed_input, *sig)) {
    return unauthorized("the token's signature is invalid");
  }
  auto claims = decode_json(p->payload);
  if (!claims) return unauthorized("the token's payload is not base64url JSON");
  bool bad = false;
  auto exp = time_claim(*claims, "exp", bad);
  auto nbf = time_claim(*claims, "nbf", bad);
  auto iat = time_claim(*claims, "iat", bad);
  if (bad) return unauthorized("the token has a malformed time claim");
  if (!exp) return unauthorized("the token has no exp claim");
  if (expect.now > *exp + expect.leeway_s) return unauthorized("the token has expired");
  if (nbf && expect.now + expect.leeway_s < *nbf) return unauthorized("the token is not valid yet");
  if (iat && expect.now + expect.leeway_s < *iat) {
    return unauthorized("the token was issued in the future");
  }
  if (!expect.issuer.empty()) {
    auto iss = claims->find("iss");
    if (iss == claims->end() || !iss->is_string() || iss->get<std::string>() != expect.issuer) {
      return unauthorized("the token's issuer is not " + expect.issuer);
    }
  }
  if (!expect.audiences.empty()) {
    std::vector<std::string> aud;
    auto a = claims->find("aud");
    if (a != claims->end() && a->is_string()) aud.push_back(a->get<std::string>());
    if (a != claims->end() && a->is_array()) {
      for (const auto& x : *a) {
        if (x.is_string()) aud.push_back(x.get<std::string>());
      }
    }
    bool match = false;
    for (const auto& want : expect.audiences) {
      for (const auto& have : aud) match = match || want == have;
    }
    if (!match) return unauthorized("the token's audience is not accepted");
  }
  return std::move(*claims);
}

}  // namespace minik8s::auth
