// Events the controllers record: a forward to the one event builder in the
// client library (include/minik8s/client/event_recorder.h), so that the
// controllers and the kubelet build Events the same way.
// controllers::make_event(obj, api_version, kind, type, reason, message,
// component) keeps working unchanged.
#pragma once

#include "minik8s/client/event_recorder.h"

namespace minik8s::controllers {

using client::make_event;

}  // namespace minik8s::controllers
