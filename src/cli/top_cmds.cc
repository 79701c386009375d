// mkctl top — stub until its implementation lands (see workload_cmds.h).
#include "workload_cmds.h"

namespace minik8s::cli {

int run_top(const std::string&, const std::string&, const TopOptions&, std::ostream&, std::ostream& err) {
  err << "error: mkctl top is not implemented yet\n";
  return 1;
}

}  // namespace minik8s::cli
