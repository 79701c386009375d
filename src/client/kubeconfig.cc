#include "minik8s/client/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

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

}  // namespace

Result<Kubeconfig> parse_kubeconfig(const std::string& yaml_text, const std::string& context_override) {
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
  auto cfg = parse_kubeconfig(ss.str(), context_override);
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
