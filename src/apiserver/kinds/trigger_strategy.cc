// Trigger (serverless.minik8s.io/v1): the schedule's syntax (kinds.h).
#include "kinds.h"

#include "minik8s/api/json.h"
#include "minik8s/workflow/cron.h"

namespace minik8s::apiserver {

using nlohmann::json;

Status TriggerStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs, AdmissionHold&) {
  const json& schedule = api::field(api::field(obj, "spec"), "schedule");
  if (!schedule.is_string()) return Status::ok();  // absent, or validation reported it
  if (old && api::field(api::field(*old, "spec"), "schedule") == schedule) return Status::ok();
  const std::string& text = schedule.get_ref<const std::string&>();
  auto parsed = workflow::Schedule::parse(text);
  if (!parsed) {
    errs.push_back({"spec.schedule", "Invalid value: \"" + text + "\": " + parsed.status().message()});
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
