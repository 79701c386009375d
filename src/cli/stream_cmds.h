// mkctl logs / mkctl exec: clients of the API server's pods/log (HTTP,
// chunked for follow) and pods/exec (WebSocket v5.channel.k8s.io, falling
// back to v4 when the server offers only that).
// Thread safety: each call is independent; exec runs a stdin reader thread.
// Errors: the API server's Status is printed as kubectl does
// ("Error from server (Reason): message") and the call returns 1; exec
// returns the remote command's exit code.
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"

namespace minik8s::cli {

struct LogsOptions {
  std::string pod, container;
  bool follow = false, previous = false, timestamps = false;
  long long tail = -1;  // -1 = all
  long long since_seconds = 0, limit_bytes = 0;
};

struct ExecOptions {
  std::string pod, container;
  bool stdin_ = false, tty = false;
  std::vector<std::string> command;
};

// server: "http://host:port".
int run_logs(const client::HttpRestClientOptions& server, const std::string& ns, const LogsOptions& o, std::ostream& out,
             std::ostream& err);
// in: the stdin source (std::cin reads the terminal/fd 0 directly, unbuffered).
int run_exec(const client::HttpRestClientOptions& server, const std::string& ns, const ExecOptions& o, std::istream& in,
             std::ostream& out, std::ostream& err);

}  // namespace minik8s::cli
