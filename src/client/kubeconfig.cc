#include "minik8s/client/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <cctype>

#include "minik8s/util/base64.h"

namespace minik8s::client {
namespace {

std::optional<YAML::Node> find_named(const YAML::Node& list, const std::string& name, const char* field) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& entry : list) {
    if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() && entry["name"].as<std::string>() == name) {
      return entry[field];
    }
  }
  return std::nullopt;
}

std::string scalar(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap()) return "";
  auto v = node[key];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

std::string path_in(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p.front() == '/' || base_dir.empty()) return p;
  return base_dir + "/" + p;
}

Result<std::string> data_field(const YAML::Node& node, const char* key) {
  std::string v = scalar(node, key);
  if (v.empty()) return v;
  auto decoded = base64_decode_lenient(v);
  if (!decoded) return bad_request(std::string(key) + ": " + decoded.status().message());
  return *decoded;
}

}  // namespace

HttpRestClientOptions rest_options(const Kubeconfig& config) {
  HttpRestClientOptions o;
  o.server = config.server;
  o.bearer_token = config.token;
  o.tls = config.tls;
  return o;
}

Result<Kubeconfig> parse_kubeconfig(const std::string& yaml_text, const std::string& context_override,
                                    const std::string& base_dir) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    Kubeconfig out;
    out.namespace_ = "default";
    if (!root || root.IsNull()) return out;
    if (!root.IsMap()) return bad_request("kubeconfig is not a YAML mapping");
    std::string ctx_name = context_override.empty() ? scalar(root, "current-context") : context_override;
    if (ctx_name.empty()) return out;
    auto found_ctx = find_named(root["contexts"], ctx_name, "context");
    if (!found_ctx) return bad_request("context \"" + ctx_name + "\" does not exist");
    YAML::Node ctx = *found_ctx;
    out.context = ctx_name;
    if (auto ns = scalar(ctx, "namespace"); !ns.empty()) out.namespace_ = ns;
    std::string cluster_name = scalar(ctx, "cluster");
    if (!cluster_name.empty()) {
      auto cluster = find_named(root["clusters"], cluster_name, "cluster");
      if (!cluster) return bad_request("cluster \"" + cluster_name + "\" does not exist");
      out.server = scalar(*cluster, "server");
      auto ca = data_field(*cluster, "certificate-authority-data");
      if (!ca) return ca.status();
      out.tls.ca_pem = *ca;
      out.tls.ca_file = path_in(base_dir, scalar(*cluster, "certificate-authority"));
      out.tls.insecure_skip_verify = scalar(*cluster, "insecure-skip-tls-verify") == "true";
      out.tls.server_name = scalar(*cluster, "tls-server-name");
    }
    std::string user_name = scalar(ctx, "user");
    if (!user_name.empty()) {
      // kubectl tolerates a context naming a user that is not defined.
      if (auto user = find_named(root["users"], user_name, "user"); user && user->IsMap()) {
        auto cert = data_field(*user, "client-certificate-data");
        if (!cert) return cert.status();
        auto key = data_field(*user, "client-key-data");
        if (!key) return key.status();
        out.tls.cert_pem = *cert;
        out.tls.key_pem = *key;
        out.tls.cert_file = path_in(base_dir, scalar(*user, "client-certificate"));
        out.tls.key_file = path_in(base_dir, scalar(*user, "client-key"));
        out.token = scalar(*user, "token");
        if (std::string tf = path_in(base_dir, scalar(*user, "tokenFile")); out.token.empty() && !tf.empty()) {
          std::ifstream in(tf);
          if (!in) return bad_request("tokenFile: cannot read " + tf);
          std::stringstream ss;
          ss << in.rdbuf();
          out.token = ss.str();
          while (!out.token.empty() && std::isspace(static_cast<unsigned char>(out.token.back()))) out.token.pop_back();
        }
      }
    }
    return out;
  } catch (const YAML::Exception& e) {
    return bad_request(std::string("error loading kubeconfig: ") + e.what());
  }
}

Result<Kubeconfig> load_kubeconfig(const std::string& path, const std::string& context_override) {
  std::ifstream in(path);
  if (!in) return not_found("cannot read kubeconfig " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto cfg = parse_kubeconfig(ss.str(), context_override,
                              std::filesystem::path(path).parent_path().string());
  if (!cfg) return Status(cfg.status().code(), path + ": " + cfg.status().message());
  return cfg;
}

Result<Kubeconfig> resolve_connection(const ConnectionFlags& flags) {
  Kubeconfig cfg;
  cfg.namespace_ = "default";
  std::string path = flags.kubeconfig_path;
  bool explicit_path = !path.empty();
  if (path.empty() && flags.kubeconfig_env && !flags.kubeconfig_env->empty()) {
    const std::string& env = *flags.kubeconfig_env;
    path = env.substr(0, env.find(':'));
  }
  if (path.empty() && flags.home && !flags.home->empty()) {
    std::string p = *flags.home + "/.kube/config";
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) path = p;
  }
  if (!path.empty()) {
    std::error_code ec;
    if (explicit_path || std::filesystem::exists(path, ec)) {
      auto loaded = load_kubeconfig(path);
      if (!loaded) {
        // A broken file matters only when it is the source of the server.
        if (flags.server.empty() || explicit_path) return loaded.status();
      } else {
        cfg = std::move(*loaded);
      }
    }
  }
  if (!flags.server.empty()) cfg.server = flags.server;
  if (cfg.server.empty()) cfg.server = kDefaultServer;
  return cfg;
}

}  // namespace minik8s::client
