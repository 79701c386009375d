// mkctl rollout — stub until its implementation lands (see workload_cmds.h).
#include "workload_cmds.h"

namespace minik8s::cli {

int run_rollout(const std::string&, const std::string&, const RolloutOptions&, std::ostream&, std::ostream& err) {
  err << "error: mkctl rollout is not implemented yet\n";
  return 1;
}

}  // namespace minik8s::cli
