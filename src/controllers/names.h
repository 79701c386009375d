// The names every controller in this library uses unqualified (JSON access,
// cache snapshots, durations), declared once for the library's .cc files.
#pragma once

#include <chrono>

#include "minik8s/api/json.h"
#include "minik8s/client/informer.h"

namespace minik8s::controllers {

using api::field;
using api::Json;
using api::sfield;
using client::ObjectPtr;
using namespace std::chrono_literals;

}  // namespace minik8s::controllers
