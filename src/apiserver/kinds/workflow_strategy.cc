// Workflow and WorkflowRun (serverless.minik8s.io/v1): the state machine
// check, and a run's Workflow: existence, label and ownerReference (kinds.h).
#include "kinds.h"

#include "../request.h"
#include "minik8s/api/json.h"
#include "minik8s/workflow/machine.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

constexpr const char* kWorkflowLabel = "serverless.minik8s.io/workflow";
constexpr const char* kApiVersion = "serverless.minik8s.io/v1";

bool terminating(const json& obj) { return api::field(obj, "metadata").contains("deletionTimestamp"); }

// The Workflow a run names: the stored object, NotFound, or a store error.
Result<json> read_workflow(storage::Storage& store, const std::string& ns, const std::string& name) {
  const api::ResourceType* workflows = api::find_kind(kApiVersion, "Workflow");
  if (workflows == nullptr) return internal_error("no Workflow kind");
  auto kv = store.get(object_key(*workflows, ns, name));
  if (!kv) return kv.status();
  auto decoded = api::parse_json(kv->value);
  if (!decoded) return internal_error("stored Workflow " + ns + "/" + name + " does not decode");
  return std::move(*decoded);
}

// spec.workflow when it can name an object ("" otherwise: validation says why).
std::string run_workflow(const json& run) {
  std::string name = api::sfield(api::field(run, "spec"), "workflow");
  return api::check_dns1123_label(name).empty() ? name : "";
}

}  // namespace

Status WorkflowStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs, AdmissionHold&) {
  const json& spec = api::field(obj, "spec");
  if (terminating(obj) || (old && api::field(*old, "spec") == spec)) return Status::ok();
  api::FieldErrors found = workflow::validate_machine(spec, "spec");
  errs.insert(errs.end(), found.begin(), found.end());
  return Status::ok();
}

void WorkflowRunStrategy::prepare_for_create(json& obj) {
  const std::string name = run_workflow(obj);
  if (name.empty() || !obj["metadata"].is_object()) return;
  json& meta = obj["metadata"];
  if (!meta.contains("labels") || !meta["labels"].is_object()) meta["labels"] = json::object();
  meta["labels"][kWorkflowLabel] = name;
  auto wf = read_workflow(store_, api::sfield(meta, "namespace"), name);
  if (!wf) return;  // admit() answers
  const std::string uid = api::sfield(api::field(*wf, "metadata"), "uid");
  // One controller reference, to this Workflow (a client's own reference to
  // a Workflow is replaced).
  json refs = json::array();
  if (meta.contains("ownerReferences") && meta["ownerReferences"].is_array()) {
    for (const auto& r : meta["ownerReferences"]) {
      if (r.is_object() && api::sfield(r, "apiVersion") == kApiVersion && api::sfield(r, "kind") == "Workflow") {
        continue;
      }
      refs.push_back(r);
    }
  }
  refs.push_back({{"apiVersion", kApiVersion},
                  {"kind", "Workflow"},
                  {"name", name},
                  {"uid", uid},
                  {"controller", true},
                  {"blockOwnerDeletion", true}});
  meta["ownerReferences"] = std::move(refs);
}

Status WorkflowRunStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs, AdmissionHold&) {
  if (old) return Status::ok();
  const std::string name = run_workflow(obj);
  if (name.empty()) return Status::ok();  // validation reported it
  const std::string ns = api::sfield(api::field(obj, "metadata"), "namespace");
  auto wf = read_workflow(store_, ns, name);
  if (!wf) {
    if (wf.status().code() != Code::kNotFound) return wf.status();
    errs.push_back({"spec.workflow", "Not found: \"" + name + "\": no Workflow " + name + " in namespace " + ns});
    return Status::ok();
  }
  if (terminating(*wf)) {
    errs.push_back({"spec.workflow", "Forbidden: Workflow " + name + " is being deleted"});
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
