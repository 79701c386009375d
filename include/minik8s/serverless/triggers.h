// Triggers (docs/workflows.md "Trigger"): fire_trigger() is the one firing
// path, shared by the server's TriggerController (schedule, objectChange)
// and the agent's file watcher (fileChange).
#pragma once

#include <string>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::serverless {

struct FireResult {
  bool ok = false;
  std::string id;       // request id (function) or run name (workflow)
  std::string message;  // error text, or a short answer summary
};

// Fires `trigger`'s target with `event` merged over spec.input, then records
// the firing on the Trigger (status.firings/lastFired/lastResult, an Event).
// Blocks until a function answers (or fails). Thread-safe.
FireResult fire_trigger(client::Client& client, const api::Json& trigger, const api::Json& event);

struct TriggerControllerOptions {
  int fire_threads = 8;  // firings in flight at once
};

// Schedules and objectChange triggers, in `minik8s server`.
class TriggerController : public client::ControllerHandle {
 public:
  TriggerController(client::SharedInformerFactory& factory, TriggerControllerOptions opts,
                    Clock& clock = real_clock());

 private:
  struct Impl;
};

}  // namespace minik8s::serverless
