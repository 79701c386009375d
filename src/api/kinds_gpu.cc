// minik8s.io/v1 GPUJob and SlurmCluster (docs/gpu.md).
// BARE REGISTRATION: the kinds exist so that every part can be built against
// them; defaults, validation and Table columns come with the API work.
#include <nlohmann/json.hpp>

#include "kinds.h"

namespace minik8s::api {

void add_gpu_kinds(std::vector<const ResourceType*>& out) {
  auto base = [](const char* kind, const char* plural, const char* singular, bool namespaced) {
    ResourceType t;
    t.group = "minik8s.io";
    t.version = "v1";
    t.kind = kind;
    t.plural = plural;
    t.singular = singular;
    t.namespaced = namespaced;
    t.has_status = true;
    t.bump_generation = true;
    t.clear_status_on_create = true;
    return t;
  };
  static const ResourceType gpujob = [&] {
    ResourceType t = base("GPUJob", "gpujobs", "gpujob", true);
    t.short_names = {"gj"};
    return t;
  }();
  static const ResourceType slurm_cluster = [&] {
    ResourceType t = base("SlurmCluster", "slurmclusters", "slurmcluster", false);
    return t;
  }();
  out.push_back(&gpujob);
  out.push_back(&slurm_cluster);
}

}  // namespace minik8s::api
