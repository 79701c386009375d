#include "runtime_pods.h"

#include <nlohmann/json.hpp>

#include "minik8s/serverless/controllers.h"

namespace minik8s::serverless {

using api::field;
using api::sfield;

Json runtime_pod(const std::string& ns, const std::string& generate_name, const std::string& image,
                 const std::map<std::string, std::string>& labels) {
  Json l = Json::object();
  for (const auto& [k, v] : labels) l[k] = v;
  Json container = {
      {"name", "runtime"},
      {"image", image},
      {"imagePullPolicy", "IfNotPresent"},
      {"ports",
       Json::array({{{"name", "http"}, {"containerPort", kRuntimePort}, {"protocol", "TCP"}}})},
      {"env", Json::array({{{"name", "PORT"}, {"value", std::to_string(kRuntimePort)}}})},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz"}, {"port", kRuntimePort}}},
        {"periodSeconds", 1},
        {"timeoutSeconds", 1},
        {"failureThreshold", 3}}},
  };
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"generateName", generate_name}, {"namespace", ns}, {"labels", l}}},
              {"spec",
               {{"containers", Json::array({container})},
                {"restartPolicy", "Never"},
                {"terminationGracePeriodSeconds", 2}}}};
}

const Json& labels_of(const Json& obj) { return field(field(obj, "metadata"), "labels"); }
const Json& annotations_of(const Json& obj) { return field(field(obj, "metadata"), "annotations"); }
std::string label(const Json& obj, const char* key) { return sfield(labels_of(obj), key); }
std::string annotation(const Json& obj, const char* key) {
  return sfield(annotations_of(obj), key);
}

bool pod_terminating(const Json& pod) {
  return !field(field(pod, "metadata"), "deletionTimestamp").is_null();
}

bool pod_finished(const Json& pod) {
  std::string p = sfield(field(pod, "status"), "phase");
  return p == "Succeeded" || p == "Failed";
}

namespace {
bool condition_true(const Json& obj, const char* type) {
  const Json& conds = field(field(obj, "status"), "conditions");
  if (!conds.is_array()) return false;
  for (const Json& c : conds) {
    if (sfield(c, "type") == type) return sfield(c, "status") == "True";
  }
  return false;
}
}  // namespace

bool pod_running(const Json& pod) {
  const Json& st = field(pod, "status");
  return !pod_terminating(pod) && sfield(st, "phase") == "Running" && !sfield(st, "podIP").empty();
}

bool pod_serving(const Json& pod) { return pod_running(pod) && condition_true(pod, "Ready"); }

bool node_usable(const Json& node) {
  return condition_true(node, "Ready") && !api::bfield(field(node, "spec"), "unschedulable") &&
         field(field(node, "metadata"), "deletionTimestamp").is_null();
}

bool uses_pool_runtime(const Json& function) {
  const std::string runtime = sfield(field(function, "spec"), "runtime");
  return runtime.empty() || runtime == "python3";
}

}  // namespace minik8s::serverless
