// `minik8s token` (minik8s/cli/token.h).
#include <openssl/rand.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/auth/pki.h"
#include "minik8s/cli/token.h"
#include "minik8s/client/client.h"
#include "minik8s/client/kubeconfig.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/time.h"

namespace minik8s::cli {

namespace {

constexpr const char* kNs = "kube-system";
constexpr const char* kExtraGroup = "system:bootstrappers:kubeadm:default-node-token";

// [a-z0-9]{n} from the system's CSPRNG (rejection sampling: no modulo bias).
std::string random_chars(size_t n) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  while (out.size() < n) {
    unsigned char b[32];
    if (RAND_bytes(b, sizeof b) != 1) std::abort();  // no entropy: nothing safe to do
    for (unsigned char c : b) {
      if (c < 252 && out.size() < n) out += kAlphabet[c % 36];
    }
  }
  return out;
}

// Go-style "24h", "1h30m", "90s", "0" → seconds; nullopt when malformed.
std::optional<int64_t> parse_ttl(const std::string& s) {
  if (s == "0") return 0;
  int64_t total = 0;
  size_t i = 0;
  if (s.empty()) return std::nullopt;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || j == s.size() || j - i > 9) return std::nullopt;
    int64_t n = std::stoll(s.substr(i, j - i));
    char unit = s[j];
    if (unit == 'h') {
      total += n * 3600;
    } else if (unit == 'm') {
      total += n * 60;
    } else if (unit == 's') {
      total += n;
    } else {
      return std::nullopt;
    }
    i = j + 1;
  }
  return total;
}

struct Conn {
  client::Kubeconfig config;
  std::unique_ptr<client::RestClient> rest;
  std::unique_ptr<client::Client> client;
};

Result<Conn> connect(const std::string& kubeconfig, const std::string& data_dir) {
  client::ConnectionFlags f;
  f.kubeconfig_path = !kubeconfig.empty() ? kubeconfig
                      : !data_dir.empty() ? data_dir + "/kubeconfig"
                                          : "";
  if (const char* e = std::getenv("KUBECONFIG")) f.kubeconfig_env = e;
  if (const char* h = std::getenv("HOME")) f.home = h;
  auto cfg = client::resolve_connection(f);
  if (!cfg) return cfg.status();
  Conn c;
  c.config = *cfg;
  auto rest = client::make_http_rest_client(client::rest_options(c.config));
  if (!rest) return rest.status();
  c.rest = std::move(*rest);
  c.client = std::make_unique<client::Client>(*c.rest);
  return c;
}

std::string data_of(const api::Json& secret, const char* key) {
  auto v = base64_decode(api::sfield(api::field(secret, "data"), key));
  return v ? *v : "";
}

int create(Conn& c, const std::string& ttl_text, bool join, const std::string& description,
           std::ostream& out, std::ostream& err) {
  auto ttl = parse_ttl(ttl_text);
  if (!ttl) {
    err << "error: --ttl: \"" << ttl_text << "\" is not a duration (24h, 30m, 0 for never)\n";
    return 2;
  }
  std::string ca_pem = c.config.tls.ca_pem;
  if (ca_pem.empty() && !c.config.tls.ca_file.empty()) {
    auto f = auth::read_pem_file(c.config.tls.ca_file);
    if (f) ca_pem = *f;
  }
  std::string hash;
  if (join) {
    if (ca_pem.empty()) {
      err << "error: --print-join-command: the kubeconfig names no CA (an HTTPS server is "
             "needed)\n";
      return 1;
    }
    auto h = auth::spki_sha256(ca_pem);
    if (!h) {
      err << "error: the kubeconfig's CA: " << h.status().message() << "\n";
      return 1;
    }
    hash = *h;
  }
  const api::ResourceType* secrets = api::find_kind("v1", "Secret");
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string id = random_chars(6), secret = random_chars(16);
    api::Json data = {{"token-id", id},
                      {"token-secret", secret},
                      {"usage-bootstrap-authentication", "true"},
                      {"usage-bootstrap-signing", "true"},
                      {"auth-extra-groups", kExtraGroup}};
    if (*ttl > 0) {
      data["expiration"] =
          format_rfc3339(std::chrono::system_clock::now() + std::chrono::seconds(*ttl));
    }
    if (!description.empty()) data["description"] = description;
    api::Json obj = {{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", {{"name", "bootstrap-token-" + id}, {"namespace", kNs}}},
                     {"type", "bootstrap.kubernetes.io/token"},
                     {"stringData", data}};
    auto r = c.client->create(*secrets, obj, kNs);
    if (!r && r.status().code() == Code::kAlreadyExists) continue;
    if (!r) {
      err << "error: creating the token: " << r.status().message() << "\n";
      return 1;
    }
    std::string token = id + "." + secret;
    if (join) {
      out << "minik8s agent --server " << c.config.server << " --token " << token
          << " --ca-cert-hash sha256:" << hash << "\n";
    } else {
      out << token << "\n";
    }
    return 0;
  }
  err << "error: creating the token: three random ids were taken\n";
  return 1;
}

int list(Conn& c, std::ostream& out, std::ostream& err) {
  const api::ResourceType* secrets = api::find_kind("v1", "Secret");
  auto r = c.client->list(*secrets, kNs);
  if (!r) {
    err << "error: listing tokens: " << r.status().message() << "\n";
    return 1;
  }
  out << "TOKEN                     TTL         EXPIRES                USAGES                   "
         "DESCRIPTION   EXTRA GROUPS\n";
  auto now = std::chrono::system_clock::now();
  for (const auto& s : api::field(*r, "items")) {
    if (api::sfield(s, "type") != "bootstrap.kubernetes.io/token") continue;
    std::string id = data_of(s, "token-id"), exp = data_of(s, "expiration");
    std::string ttl = "<forever>", expires = "<never>";
    if (!exp.empty()) {
      SysTime t;
      expires = exp;
      if (parse_rfc3339(exp, &t)) {
        auto left = std::chrono::duration_cast<std::chrono::seconds>(t - now);
        ttl = left.count() > 0 ? human_duration(left) : "<invalid>";
      }
    }
    std::string usages;
    for (const char* u : {"authentication", "signing"}) {
      if (data_of(s, (std::string("usage-bootstrap-") + u).c_str()) == "true") {
        usages += (usages.empty() ? "" : ",") + std::string(u);
      }
    }
    std::string desc = data_of(s, "description");
    std::string groups = data_of(s, "auth-extra-groups");
    auto pad = [](std::string x, size_t w) {
      if (x.size() < w) x.append(w - x.size(), ' ');
      return x + " ";
    };
    out << pad(id + ".<secret>", 25) << pad(ttl, 11) << pad(expires, 22)
        << pad(usages.empty() ? "<none>" : usages, 24) << pad(desc.empty() ? "<none>" : desc, 13)
        << (groups.empty() ? "<none>" : groups) << "\n";
  }
  return 0;
}

}  // namespace

int run_token(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"bootstrap tokens for joining nodes", "minik8s token"};
  std::string kubeconfig, data_dir, ttl = "24h", description;
  bool join = false;
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig of an admin");
  app.add_option("--data-dir", data_dir, "the server's data directory (its kubeconfig)");
  app.require_subcommand(1);
  app.fallthrough();  // --kubeconfig and --data-dir also after the subcommand
  auto* c = app.add_subcommand("create", "create a token and print it");
  c->add_option("--ttl", ttl, "lifetime (24h, 30m; 0: never expires)");
  c->add_flag("--print-join-command", join, "print the minik8s agent command line instead");
  c->add_option("--description", description, "a note kept with the token");
  auto* l = app.add_subcommand("list", "list tokens");
  std::vector<std::string> rev(args.rbegin(), args.rend());
  try {
    app.parse(rev);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      out << app.help();
      return 0;
    }
    err << "error: " << e.what() << "\n";
    return 2;
  }
  auto conn = connect(kubeconfig, data_dir);
  if (!conn) {
    err << "error: " << conn.status().message() << "\n";
    return 1;
  }
  if (c->parsed()) return create(*conn, ttl, join, description, out, err);
  if (l->parsed()) return list(*conn, out, err);
  return 2;
}

int run_token(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return run_token(args, std::cout, std::cerr);
}

}  // namespace minik8s::cli
