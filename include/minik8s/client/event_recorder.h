// Events (core/v1 Event, the legacy fields kubectl describe shows), built in
// one place for every component: the controllers and the kubelet.
//
// make_event builds the object; EventRecorder sends them to the API server
// from its own thread so that recording never delays the caller (the
// kubelet's pod workers start containers while their events go out). An
// event that cannot be created is logged at debug level and dropped: events
// are best-effort, like Kubernetes' recorder.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/util/time.h"

namespace minik8s::client {

// Who records: source.component / reportingComponent, and for node agents
// the host (source.host / reportingInstance = the node name).
struct EventSource {
  std::string component;
  std::string host;  // "" = none (the controllers)
};

// An Event about obj (its metadata name, namespace, uid, resourceVersion):
// unique name "<obj>.<hex of now + a sequence>", firstTimestamp =
// lastTimestamp = now (seconds), eventTime = now (microseconds), count 1,
// source/reportingComponent = source.component (and source.host /
// reportingInstance = source.host when set). field_path, when set, becomes
// involvedObject.fieldPath (e.g. "spec.containers{app}"). Events of
// cluster-scoped objects go to the "default" namespace. `now` is the
// recorder's clock (a controller's Clock::now()); the forms without it read
// real_clock(). Thread-safe.
api::Json make_event(const api::Json& obj, const std::string& api_version, const std::string& kind,
                     const std::string& type, const std::string& reason, const std::string& message,
                     const EventSource& source, const std::string& field_path, SysTime now);
api::Json make_event(const api::Json& obj, const std::string& api_version, const std::string& kind,
                     const std::string& type, const std::string& reason, const std::string& message,
                     const EventSource& source, const std::string& field_path = "");
// The controllers' forms: source = {component}.
api::Json make_event(const api::Json& obj, const std::string& api_version, const std::string& kind,
                     const std::string& type, const std::string& reason, const std::string& message,
                     const std::string& component, SysTime now);
api::Json make_event(const api::Json& obj, const std::string& api_version, const std::string& kind,
                     const std::string& type, const std::string& reason, const std::string& message,
                     const std::string& component);

// Records events through a Client on one background thread, in order.
// Threads: record() is thread-safe and never blocks on the network; start()
// spawns the sender, stop() sends what is queued and joins it (both from
// the owner's thread). At most max_queued events wait; beyond that the
// oldest is dropped. Ownership: client is borrowed and must outlive the
// recorder. record() before start() queues; after stop() it queues for the
// next start().
class EventRecorder {
 public:
  EventRecorder(Client& client, EventSource source, size_t max_queued = 1000);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void start();
  void stop();

  // make_event(obj, ...) queued for creation; nothing for an object without
  // a name.
  void record(const api::Json& obj, const std::string& api_version, const std::string& kind, const std::string& type,
              const std::string& reason, const std::string& message, const std::string& field_path = "");

 private:
  void loop();

  Client& client_;
  const EventSource source_;
  const size_t max_queued_;
  const api::ResourceType* event_type_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::deque<api::Json> queue_;
  bool stopping_ = false;

  std::thread thread_;  // the sender; started/joined by the owner's thread
};

}  // namespace minik8s::client
