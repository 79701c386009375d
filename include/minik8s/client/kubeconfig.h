// Kubeconfig loading and server resolution for mkctl and in-cluster tools.
//
// A kubeconfig is the kubectl YAML file (clusters / contexts / users /
// current-context). We read the current context's cluster (server URL,
// certificate-authority(-data), insecure-skip-tls-verify, tls-server-name),
// its user (client-certificate(-data), client-key(-data), token, tokenFile)
// and the context's namespace (default "default"). Relative file paths are
// relative to the kubeconfig's directory, as in kubectl.
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

#include "minik8s/auth/tls.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/status.h"

namespace minik8s::client {

struct Kubeconfig {
  std::string server;     // "http://127.0.0.1:6443" ("" when the context has no cluster)
  std::string namespace_; // "default" when unset
  std::string context;    // the context used ("" when none)
  std::string token;      // the user's bearer token (token, or tokenFile's content)
  auth::TlsClientConfig tls;
};

// The REST client options a kubeconfig asks for (server, token, TLS).
HttpRestClientOptions rest_options(const Kubeconfig& config);

inline constexpr const char* kDefaultServer = "http://127.0.0.1:6443";

// Parses kubeconfig YAML text. context_override picks a context other than current-context.
// base_dir: what relative file paths are relative to ("": as given).
Result<Kubeconfig> parse_kubeconfig(const std::string& yaml_text, const std::string& context_override = "",
                                    const std::string& base_dir = "");
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
