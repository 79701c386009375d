// Events the controllers record (core/v1 Event, the legacy fields kubectl
// describe shows).
#pragma once

#include <string>

#include "minik8s/api/json.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers {

// An Event about obj (its metadata name, namespace, uid, resourceVersion):
// unique name "<obj>.<hex of now + a sequence>", firstTimestamp =
// lastTimestamp = now (seconds), eventTime = now (microseconds), count 1, source/reportingComponent = component. Events
// of cluster-scoped objects go to the "default" namespace. Thread-safe.
// `now` is the controller's clock (Clock::now()); without it, real_clock().
api::Json make_event(const api::Json& obj, const std::string& api_version, const std::string& kind,
                     const std::string& type, const std::string& reason, const std::string& message,
                     const std::string& component, SysTime now);
api::Json make_event(const api::Json& obj, const std::string& api_version, const std::string& kind,
                     const std::string& type, const std::string& reason, const std::string& message,
                     const std::string& component);

}  // namespace minik8s::controllers
