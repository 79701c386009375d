// Triggers (docs/workflows.md "Trigger"): fire_trigger() is the one firing
// path, shared by the server's TriggerController (schedule, objectChange)
// and the agent's file watcher (fileChange, src/agent/file_triggers.h).
//
// fire_trigger(): the body is the event merged over spec.input; a Function
// target is POSTed to the Function's status.url (the gateway) and the call
// waits for the answer; a Workflow target creates a WorkflowRun and does not
// wait for it. The firing is then recorded on the Trigger: a merge patch of
// the status subresource (firings+1, lastFired, lastResult) with a
// resourceVersion precondition, retried on conflict, and an Event (reason
// Fired, or FireFailed as a Warning). Errors of the target are a FireResult
// with ok = false, never an exception; a Trigger deleted meanwhile is not
// recorded (its uid is checked).
//
// FiringPool: a fixed set of firing threads with a bounded queue; firings
// wait for a thread, never the caller (an informer handler, the inotify
// thread, a reconcile).
//
// Threads: every function here is thread-safe; FiringPool's methods may be
// called from any thread (stop() from the owner's).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::serverless {

// fileChange: the largest file whose content an event carries.
inline constexpr size_t kMaxTriggerFileContent = 1 << 20;
// Label put on the WorkflowRuns a trigger creates (its name).
inline constexpr const char* kLabelTrigger = "serverless.minik8s.io/trigger";

struct FireResult {
  bool ok = false;
  std::string id;       // request id (function) or run name (workflow)
  std::string message;  // error text, or a short answer summary
};

struct FireOptions {
  // Where the Events go (a started recorder); null: created synchronously
  // through the client (best effort, like the recorder).
  client::EventRecorder* events = nullptr;
  // Event source component when events is null.
  std::string component = "trigger-controller";
  // status.lastFired; null: real_clock().
  Clock* clock = nullptr;
  // Rewrites a Function's status.url before the POST (the agent: a gateway
  // advertised on a loopback host is reached at the API server's host).
  std::function<std::string(const std::string& url)> rewrite_url;
  // Set (by the owner's stop) → an HTTP call in flight is abandoned (an
  // error result) within ~100 ms.
  const std::atomic<bool>* cancel = nullptr;
};

// Fires `trigger`'s target with `event` merged over spec.input, then records
// the firing on the Trigger (status.firings/lastFired/lastResult, an Event).
// Blocks until a function answers (or fails: the Function's timeoutSeconds
// (default 60) + 35 s: the gateway's default queue wait and a margin).
FireResult fire_trigger(client::Client& client, const api::Json& trigger, const api::Json& event,
                        const FireOptions& opts = {});

// A firing that did not happen (concurrencyPolicy Forbid, a full firing
// queue): status.skipped+1 and an Event (reason Skipped, message `why`).
Status record_trigger_skipped(client::Client& client, const api::Json& trigger, const std::string& why,
                              const FireOptions& opts = {});

// The body of a firing: spec.input (an object) with the event's top-level
// fields over it; a non-object input is put under "input"; no input → event.
api::Json trigger_body(const api::Json& trigger, const api::Json& event);

// fileChange.path grammar (docs/workflows.md): absolute, ≤ 1024 bytes,
// [A-Za-z0-9._/-] only, no ".." component, not "/", not under /proc, /sys,
// /dev. kInvalid naming spec.fileChange.path.
Status validate_watch_path(const std::string& path);
// fileChange.pattern: `*` any run, `?` one character, `\x` a literal x.
bool file_pattern_match(std::string_view pattern, std::string_view name);

class FiringPool {
 public:
  // threads ≥ 1; at most max_queued firings wait (beyond: submit() false).
  FiringPool(int threads, size_t max_queued);
  ~FiringPool();  // stop()
  FiringPool(const FiringPool&) = delete;
  FiringPool& operator=(const FiringPool&) = delete;

  // False when the queue is full or the pool stopped (the task is dropped).
  bool submit(std::function<void()> task);
  // Drops queued tasks, sets cancelled(), joins the threads. Idempotent.
  void stop();
  // For FireOptions::cancel.
  const std::atomic<bool>* cancelled() const { return &stopping_; }
  size_t in_flight() const;

 private:
  void loop();

  const size_t max_queued_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool joined_ = false;
  std::vector<std::thread> threads_;  // created by the constructor, joined by stop()
};

struct TriggerControllerOptions {
  int fire_threads = 8;      // firings in flight at once
  size_t max_queued = 1024;  // firings waiting for a thread; beyond: skipped
  int workers = 2;
};

// Schedules and objectChange triggers, in `minik8s server`
// (docs/workflows.md "Schedules", "objectChange"). reconcile(trigger key):
//   schedule: a timer on the injected Clock (the work queue's delayed
//   re-add) at status.nextFire; at the time, a firing on the pool
//   (concurrencyPolicy Forbid: skipped while the previous firing of that
//   trigger runs); suspend or a deleted trigger cancels, a changed schedule
//   reschedules from now;
//   objectChange: the trigger joins the dispatch table of its kind's shared
//   informer (one per kind, all namespaces, from the factory; one handler
//   per kind); events the informer delivers after it synced and after the
//   trigger joined fire it (the initial list and the cache replay do not).
class TriggerController : public client::ControllerHandle {
 public:
  TriggerController(client::SharedInformerFactory& factory, TriggerControllerOptions opts,
                    Clock& clock = real_clock());
  // A private factory over client (tests).
  TriggerController(client::Client& client, TriggerControllerOptions opts, Clock& clock = real_clock());
  // True when the trigger ("ns/name") is armed: a schedule with a timer, or
  // an objectChange trigger in the dispatch table of its kind's synced
  // informer (tests wait for it before changing objects or the clock).
  bool watching(const std::string& trigger_key) const;

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // owned by the handle
};

}  // namespace minik8s::serverless
