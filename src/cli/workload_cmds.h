// mkctl rollout (status|history|undo|pause|resume|restart) and mkctl top
// (nodes|pods): clients of the Deployment/ReplicaSet objects and of the
// metrics.k8s.io/v1beta1 API, printing what kubectl prints.
// Errors: the API server's Status is printed as kubectl does and the call
// returns 1.
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"

namespace minik8s::cli {

struct RolloutOptions {
  std::string action;             // status | history | undo | pause | resume | restart
  std::vector<std::string> args;  // "deployment/NAME" or "deployment NAME"
  long long revision = 0;         // history --revision / undo --to-revision
  bool watch = true;              // status -w (default true)
  std::string timeout;            // status --timeout (e.g. 60s; empty = none)
};

struct TopOptions {
  std::string what;  // nodes | pods
  std::string name;
  std::string selector;
  bool all_namespaces = false;
  bool containers = false;
  bool no_headers = false;
  std::string sort_by;  // cpu | memory
};

// server: "http://host:port".
int run_rollout(const client::HttpRestClientOptions& server, const std::string& ns, const RolloutOptions& o, std::ostream& out,
                std::ostream& err);
int run_top(const client::HttpRestClientOptions& server, const std::string& ns, const TopOptions& o, std::ostream& out,
            std::ostream& err);

}  // namespace minik8s::cli
