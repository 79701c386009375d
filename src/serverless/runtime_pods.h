// What the pool and function controllers share about runtime pods: the pod
// they create, and the checks they read from the caches.
#pragma once

#include <map>
#include <string>

#include "minik8s/api/json.h"

namespace minik8s::serverless {

using api::Json;

// A runtime pod: one container "runtime" (image, port 8080 named "http",
// env PORT=8080, readiness probe GET /healthz), restartPolicy Never (a
// runtime that exits lost its code: the pod fails and is replaced),
// terminationGracePeriodSeconds 2, generateName `generate_name`.
Json runtime_pod(const std::string& ns, const std::string& generate_name, const std::string& image,
                 const std::map<std::string, std::string>& labels);

bool pod_terminating(const Json& pod);
// Succeeded or Failed.
bool pod_finished(const Json& pod);
// Running, with an IP, not terminating.
bool pod_running(const Json& pod);
// pod_running and Ready=True.
bool pod_serving(const Json& pod);
// Ready=True and spec.unschedulable not set.
bool node_usable(const Json& node);
// A Function whose spec.runtime is python3 (or unset): pool pods run its
// image, so it claims them and its namespace keeps a pool. python3-ml
// functions do neither (docs/workflows.md "Runtime images").
bool uses_pool_runtime(const Json& function);
const Json& labels_of(const Json& obj);
const Json& annotations_of(const Json& obj);
std::string label(const Json& obj, const char* key);
std::string annotation(const Json& obj, const char* key);

}  // namespace minik8s::serverless
