// The serverless controllers of `minik8s server` (docs/serverless.md):
//
// FunctionController (reconcile key: a Function): keeps status (revision,
// codeHash, url, ready/desired instances, conditions, observedGeneration),
// registers the function in the InstanceTable and the Autoscaler, and brings
// the instances of the current revision to the autoscaler's recommendation:
// claims Ready pool pods (POST /init, then relabel + ownerReference) or
// creates instance pods (/init once Running), drains and deletes surplus and
// old-revision instances once their in-flight requests finish, replaces
// failed ones. Pod events for labelled pods enqueue their Function.
//
// PoolController (reconcile key: a namespace): in every namespace that holds
// at least one Function, keeps pool_size unspecialised runtime pods (label
// serverless.minik8s.io/pool=true, spec.nodeName set, no owner) on every
// Ready, schedulable node; deletes extras, those on gone or NotReady nodes,
// and all of a namespace's pool pods once its last Function is gone. (A pod
// cannot change namespace, and an instance lives in its Function's.)
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/serverless/autoscaler.h"
#include "minik8s/serverless/instance_table.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::serverless {

inline constexpr const char* kGroup = "serverless.minik8s.io";
inline constexpr const char* kApiVersion = "serverless.minik8s.io/v1";
inline constexpr const char* kLabelFunction = "serverless.minik8s.io/function";
inline constexpr const char* kLabelRevision = "serverless.minik8s.io/revision";
inline constexpr const char* kLabelPool = "serverless.minik8s.io/pool";
inline constexpr const char* kAnnotationInitialized = "serverless.minik8s.io/initialized";
inline constexpr const char* kAnnotationDraining = "serverless.minik8s.io/draining";
inline constexpr const char* kRuntimeImage = "minik8s.io/python-runtime:1";
// spec.runtime python3-ml: the same server plus numpy, Pillow, scikit-learn
// and tesseract (docs/workflows.md "Runtime images").
inline constexpr const char* kMlRuntimeImage = "minik8s.io/python-ml-runtime:1";
inline constexpr int kRuntimePort = 8080;

// Where a pod's runtime server listens.
struct RuntimeEndpoint {
  std::string ip;
  int port = kRuntimePort;
};

struct FunctionControllerOptions {
  // Base of status.url: "http://HOST:PORT" of the gateway.
  std::string gateway_url;
  // The image of spec.runtime python3 (pool pods run it too) and of
  // python3-ml. Only python3 functions claim warm pool pods.
  std::string runtime_image = kRuntimeImage;
  std::string ml_runtime_image = kMlRuntimeImage;
  // connect + write + read of one /init.
  std::chrono::milliseconds init_timeout{std::chrono::seconds(10)};
  int workers = 4;
  // How soon /init is tried again on a new instance pod (Running, not Ready)
  // whose server does not answer yet.
  std::chrono::milliseconds start_poll{25};
  // How long a draining instance with requests in flight is looked at again.
  std::chrono::milliseconds drain_poll{100};
  // An instance started because requests waited is kept at least this long
  // (the autoscaler's recommendation lags the demand by up to a tick).
  std::chrono::milliseconds demand_hold{std::chrono::seconds(5)};
  // Where a pod's runtime listens; null: status.podIP and the container port
  // named "http" (default 8080). Tests point it at fake runtimes.
  std::function<RuntimeEndpoint(const api::Json& pod)> endpoint;
  // The bytes of an upload ("sha256:<hex>"); null: GET it from the API
  // server's code store. Fetched code is cached in memory by hash.
  std::function<Result<std::string>(const std::string& hash)> fetch_code;
};

class FunctionController : public client::ControllerHandle {
 public:
  // table and autoscaler are borrowed and outlive the controller; the
  // autoscaler's on_change and the table's on_demand should call enqueue().
  FunctionController(client::SharedInformerFactory& factory, InstanceTable& table,
                     Autoscaler& autoscaler, FunctionControllerOptions opts,
                     Clock& clock = real_clock());
  // Queue a function ("ns/name") for reconcile; safe from any thread.
  void enqueue(const std::string& key);

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // owned by the handle (set_impl)
};

struct PoolOptions {
  int pool_size = 2;  // per node; 0 disables the pool
  std::string runtime_image = kRuntimeImage;
};

class PoolController : public client::ControllerHandle {
 public:
  PoolController(client::SharedInformerFactory& factory, PoolOptions opts,
                 Clock& clock = real_clock());
  // A private factory over client (tests).
  PoolController(client::Client& client, PoolOptions opts);

 private:
  struct Impl;
};

}  // namespace minik8s::serverless
