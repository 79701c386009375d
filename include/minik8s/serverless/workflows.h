// The workflow executor (docs/workflows.md "Executor"): a controller over
// WorkflowRuns that runs each on its own thread through the interpreter
// (include/minik8s/workflow/interpreter.h), invoking Tasks through the
// gateway and persisting every step in the run's status.
//
// Threads: the controller's one worker reconciles runs (claims Pending ones,
// resumes Running ones nobody executes here, forwards spec.cancel); each
// executing run has a thread of its own (at most max_runs at once; more wait
// Pending), plus the interpreter's threads for Parallel branches and Map
// items. stop() abandons the runs in flight without writing anything more
// (a Task in flight over HTTP is cut off; a test's opts.invoke is waited
// for), so that a later controller resumes them as after a crash.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>  // the interpreter's types hold api::Json by value
#include <string>

#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"
#include "minik8s/workflow/interpreter.h"

namespace minik8s::serverless {

inline constexpr const char* kLabelWorkflow = "serverless.minik8s.io/workflow";
// Step outputs (and inputs) larger than this, serialized, are stored as
// {"truncated": true, "bytes": N, "head": "<first 1 KiB>"}.
inline constexpr size_t kStepDataLimit = 64 * 1024;

struct WorkflowControllerOptions {
  // "http://HOST:PORT" of the gateway: Tasks are POSTed to
  // <gateway_url>/functions/<ns>/<function>.
  std::string gateway_url;
  int max_runs = 64;  // runs executing at once; more wait Pending
  // How long a Task call waits for the gateway when the state sets no
  // timeoutSeconds (the gateway answers 504 at the Function's own timeout,
  // 503 when no instance came up within its queue timeout).
  std::chrono::milliseconds task_timeout{std::chrono::minutes(16)};
  // Past this size (serialized) a run's status.steps shrinks: the oldest
  // records' inputs, then outputs, become truncation markers (the API server
  // takes at most 3 MiB a request).
  size_t steps_budget_bytes = 2 * 1024 * 1024;
  // Tests: replaces the HTTP call to the gateway (namespace, run name, call).
  std::function<workflow::TaskResult(const std::string& ns, const workflow::TaskCall&)> invoke;
};

class WorkflowController : public client::ControllerHandle {
 public:
  WorkflowController(client::SharedInformerFactory& factory, WorkflowControllerOptions opts,
                     Clock& clock = real_clock());
  // Runs executing in this process now (tests, logs).
  int active_runs() const;
  // True once stop() has begun abandoning the runs (tests).
  bool stopping() const;

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // owned by the handle (set_impl)
};

// The TaskResult of a gateway answer (exposed for tests): 2xx → ok with the
// body as JSON (a string when it is not JSON or text/plain); 500 with the
// runtime's {"error","message"} → that error name and message; 504 →
// States.Timeout; other codes → States.TaskFailed with the body's message.
workflow::TaskResult task_result_from_answer(int status, const std::string& content_type,
                                             const std::string& body);

}  // namespace minik8s::serverless
