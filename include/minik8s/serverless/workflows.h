// The workflow executor (docs/workflows.md "Executor"): a controller over
// WorkflowRuns that runs each on its own thread through the interpreter
// (include/minik8s/workflow/interpreter.h), invoking Tasks through the
// gateway and persisting every step in the run's status.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"
#include "minik8s/workflow/interpreter.h"

namespace minik8s::serverless {

inline constexpr const char* kLabelWorkflow = "serverless.minik8s.io/workflow";

struct WorkflowControllerOptions {
  // "http://HOST:PORT" of the gateway: Tasks are POSTed to
  // <gateway_url>/functions/<ns>/<function>.
  std::string gateway_url;
  int max_runs = 64;  // runs executing at once; more wait Pending
  // Tests: replaces the HTTP call to the gateway (namespace, call).
  std::function<workflow::TaskResult(const std::string& ns, const workflow::TaskCall&)> invoke;
};

class WorkflowController : public client::ControllerHandle {
 public:
  WorkflowController(client::SharedInformerFactory& factory, WorkflowControllerOptions opts,
                     Clock& clock = real_clock());

 private:
  struct Impl;
};

}  // namespace minik8s::serverless
