// GrpcRuntime: cri::Runtime over gRPC to a CRI endpoint (runtime.v1), e.g.
// "unix:///run/containerd/containerd.sock" or a bare socket path.
// The generated stubs stay inside src/cri/ (this header does not include them).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "minik8s/cri/runtime.h"

namespace minik8s::cri {

struct GrpcRuntimeOptions {
  std::string endpoint;
  std::chrono::milliseconds call_timeout{120000};  // per RPC; pulls may be long
};

// Connects lazily; fails only on a malformed endpoint.
Result<std::unique_ptr<Runtime>> make_grpc_runtime(const GrpcRuntimeOptions& options);

}  // namespace minik8s::cri
