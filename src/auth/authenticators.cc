#include "minik8s/auth/authenticators.h"

#include <openssl/crypto.h>

#include <fstream>
#include <set>
#include <sstream>

namespace minik8s::auth {

Result<std::optional<UserInfo>> ClientCertAuthenticator::authenticate(const Credentials& c) {
  if (!c.client_cert) return std::optional<UserInfo>();
  if (c.client_cert->common_name.empty()) {
    return Status(Code::kUnauthorized, "client certificate without a common name");
  }
  UserInfo u;
  u.name = c.client_cert->common_name;
  u.groups = c.client_cert->organizations;
  return std::optional<UserInfo>(std::move(u));
}

namespace {

// One CSV record: fields separated by commas, a field may be "quoted" (with
// "" for a quote inside).
Result<std::vector<std::string>> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += ch;
      }
    } else if (ch == '"' && cur.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (ch == ',') {
      out.push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur += ch;
    }
  }
  if (quoted) return Status(Code::kInvalid, "unterminated quote");
  out.push_back(std::move(cur));
  return out;
}

}  // namespace

StaticTokenAuthenticator::StaticTokenAuthenticator(std::vector<Entry> entries)
    : entries_(std::move(entries)) {}

Result<std::vector<StaticTokenAuthenticator::Entry>> StaticTokenAuthenticator::parse(
    const std::string& csv) {
  std::vector<Entry> out;
  std::set<std::string> seen;
  std::istringstream in(csv);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    auto f = csv_fields(line);
    auto bad = [&](const std::string& why) {
      return Status(Code::kInvalid, "token file line " + std::to_string(n) + ": " + why);
    };
    if (!f) return bad(f.status().message());
    if (f->size() < 3) return bad("want token,user,uid[,\"group1,group2\"]");
    Entry e;
    e.token = (*f)[0];
    e.user.name = (*f)[1];
    e.user.uid = (*f)[2];
    if (e.token.empty()) return bad("empty token");
    if (e.user.name.empty()) return bad("empty user name");
    if (!seen.insert(e.token).second) return bad("duplicate token");
    if (f->size() > 3) {
      std::istringstream gs((*f)[3]);
      std::string g;
      while (std::getline(gs, g, ',')) {
        if (!g.empty()) e.user.groups.push_back(g);
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::unique_ptr<StaticTokenAuthenticator>> StaticTokenAuthenticator::from_file(
    const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(Code::kInvalid, "cannot read token file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto entries = parse(ss.str());
  if (!entries) return Status(Code::kInvalid, path + ": " + entries.status().message());
  return std::make_unique<StaticTokenAuthenticator>(std::move(*entries));
}

Result<std::optional<UserInfo>> StaticTokenAuthenticator::authenticate(const Credentials& c) {
  if (c.bearer_token.empty()) return std::optional<UserInfo>();
  for (const Entry& e : entries_) {
    if (secret_equal(e.token, c.bearer_token)) return std::optional<UserInfo>(e.user);
  }
  return std::optional<UserInfo>();
}

UnionAuthenticator::UnionAuthenticator(std::vector<std::unique_ptr<Authenticator>> parts)
    : parts_(std::move(parts)) {}

Result<std::optional<UserInfo>> UnionAuthenticator::authenticate(const Credentials& c) {
  for (const auto& p : parts_) {
    auto r = p->authenticate(c);
    if (!r || r->has_value()) return r;
  }
  return std::optional<UserInfo>();
}

bool secret_equal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace minik8s::auth
