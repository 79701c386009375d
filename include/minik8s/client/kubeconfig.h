// Kubeconfig loading and server resolution for mkctl and in-cluster tools.
//
// A kubeconfig is the kubectl YAML file (clusters / contexts / users /
// current-context). We read the current context's cluster server URL and
// the context's namespace (default "default"); credentials are ignored
// (the minik8s API server speaks plain HTTP without authentication).
//
// Resolution order (resolve_connection): explicit server flag, explicit
// kubeconfig path, the first path in $KUBECONFIG, ~/.kube/config. When no
// file exists and no server is given, the server is http://127.0.0.1:6443.
// Pure functions over their inputs (environment read through the arguments);
// errors: kNotFound (missing explicit file), kBadRequest (unparsable YAML,
// unknown context/cluster).
#pragma once

#include <optional>
#include <string>

#include "minik8s/util/status.h"

namespace minik8s::client {

struct Kubeconfig {
  std::string server;     // "http://127.0.0.1:6443" ("" when the context has no cluster)
  std::string namespace_; // "default" when unset
  std::string context;    // the context used ("" when none)
};

inline constexpr const char* kDefaultServer = "http://127.0.0.1:6443";

// Parses kubeconfig YAML text. context_override picks a context other than current-context.
Result<Kubeconfig> parse_kubeconfig(const std::string& yaml_text, const std::string& context_override = "");
Result<Kubeconfig> load_kubeconfig(const std::string& path, const std::string& context_override = "");

struct ConnectionFlags {
  std::string server;           // --server
  std::string kubeconfig_path;  // --kubeconfig
  std::optional<std::string> kubeconfig_env;  // $KUBECONFIG (may list paths separated by ':')
  std::optional<std::string> home;            // $HOME
};
// Applies the resolution order above.
Result<Kubeconfig> resolve_connection(const ConnectionFlags& flags);

}  // namespace minik8s::client
