// serverless.minik8s.io/v1 Workflow, WorkflowRun and Trigger
// (docs/workflows.md). The table entries hold what is a pure function of one
// object (defaults, field validation, the Table); what needs other objects
// or mk_workflow (the state machine, schedules, the Workflow a run names)
// is in the strategies: src/apiserver/kinds/{workflow,trigger}_strategy.cc.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kinds.h"
#include "validation.h"

namespace minik8s::api {

void add_workflow_kinds(std::vector<const ResourceType*>& out) {
  auto base = [](const char* kind, const char* plural, const char* singular) {
    ResourceType t;
    t.group = "serverless.minik8s.io";
    t.version = "v1";
    t.kind = kind;
    t.plural = plural;
    t.singular = singular;
    t.has_status = true;
    t.bump_generation = true;
    t.clear_status_on_create = true;
    return t;
  };
  static const ResourceType workflow = [&] {
    ResourceType t = base("Workflow", "workflows", "workflow");
    t.short_names = {"wf"};
    return t;
  }();
  static const ResourceType run = [&] {
    ResourceType t = base("WorkflowRun", "workflowruns", "workflowrun");
    t.short_names = {"wfr"};
    return t;
  }();
  static const ResourceType trigger = [&] {
    ResourceType t = base("Trigger", "triggers", "trigger");
    return t;
  }();
  out.push_back(&workflow);
  out.push_back(&run);
  out.push_back(&trigger);
}

}  // namespace minik8s::api
