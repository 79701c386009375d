// A small blocking HTTP/1.1 client for the controllers' calls to runtime
// pods (/init, /healthz): one connection per call, one deadline for connect +
// write + read. Any HTTP status is an answer; only transport failures
// (refused, reset, timeout, malformed response) are an error Status
// (kUnavailable, or kTimeout when the deadline passed).
// Thread-safe: every call has its own io_context and socket.
#pragma once

#include <chrono>
#include <string>

#include "minik8s/util/status.h"

namespace minik8s::serverless {

struct PodHttpResponse {
  int status = 0;
  std::string body;
};

Result<PodHttpResponse> pod_http(const std::string& host, int port, const std::string& method,
                                 const std::string& target, const std::string& body,
                                 std::chrono::milliseconds timeout);

}  // namespace minik8s::serverless
