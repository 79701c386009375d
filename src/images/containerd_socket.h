// Which node containerd `minik8s image import|ls` (and `image build
// --data-dir`) talk to, so that they find the cluster `minik8s up` / `make run`
// started without being told its socket.
//
// A data dir names a node the way `minik8s up --data-dir DIR` and
// `minik8s down --data-dir DIR` do: its managed containerd listens on
// DIR/agent/containerd/containerd.sock (the dir given to `up`) or
// DIR/containerd/containerd.sock (the dir given to `minik8s agent`).
//
// The first rule that applies wins:
//   1. --address SOCKET            used as given (not probed);
//   2. --data-dir DIR              DIR's socket that answers, else an error;
//   3. $CONTAINERD_ADDRESS         used as given, as `ctr` does;
//   4. $MINIK8S_DATA_DIR           as --data-dir (like $KUBECONFIG: when set,
//                                  nothing else is searched);
//   5. the search dirs, in order   (./.run of `make run`, then /var/lib/minik8s):
//                                  the first whose socket answers.
// When nothing answers the error names every socket tried, why it was passed
// over, and the flags that select a cluster.
//
// resolve_containerd_socket is pure: whether a socket answers is asked of the
// probe it is given. Thread-compatible.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::images {

struct SocketLookup {
  std::string address;       // --address
  std::string data_dir;      // --data-dir
  std::string env_address;   // $CONTAINERD_ADDRESS
  std::string env_data_dir;  // $MINIK8S_DATA_DIR
  // Data dirs searched last, in order; label is how errors name them.
  struct SearchDir {
    std::string dir;
    std::string label;
  };
  std::vector<SearchDir> search;
};

struct ResolvedSocket {
  std::string socket;
  std::string source;  // how it was chosen, e.g. "--data-dir /x", "found ./.run"
};

// OK when a containerd answers at socket; otherwise why not ("no such file",
// "connection refused", "permission denied", ...).
using SocketProbe = std::function<Status(const std::string& socket)>;

// The sockets a data dir's node may listen on, in the order they are tried.
std::vector<std::string> data_dir_sockets(const std::string& data_dir);

Result<ResolvedSocket> resolve_containerd_socket(const SocketLookup& lookup,
                                                 const SocketProbe& probe);

// The real probe: the path (a bare path or unix://PATH) is a socket and
// connect() to it succeeds.
Status probe_unix_socket(const std::string& socket);

// A lookup from the flags, $CONTAINERD_ADDRESS, $MINIK8S_DATA_DIR and the
// default search dirs (<current dir>/.run, /var/lib/minik8s).
SocketLookup socket_lookup_from_environment(std::string address, std::string data_dir);

}  // namespace minik8s::images
