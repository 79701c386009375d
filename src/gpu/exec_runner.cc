// The submitter's fork/exec Runner (minik8s/gpu/submitter.h) over
// minik8s/util/process.h: no shell, stdout and stderr collected, stdin
// /dev/null, and an empty signal mask with default SIGPIPE in the child (the
// submitter blocks SIGTERM/SIGINT and ignores SIGPIPE; munged must stop on
// SIGTERM).
#include <unistd.h>

#include "minik8s/gpu/submitter.h"
#include "minik8s/util/process.h"

namespace minik8s::gpu {
namespace {

class ExecRunner : public Runner {
 public:
  explicit ExecRunner(std::string bin_dir) : bin_dir_(std::move(bin_dir)) {}

  Result<CommandResult> run(const std::vector<std::string>& argv_in,
                            const std::map<std::string, std::string>& env) override {
    if (argv_in.empty()) return invalid("empty command");
    std::vector<std::string> argv = argv_in;
    if (argv[0].find('/') == std::string::npos && !bin_dir_.empty()) {
      std::string candidate = bin_dir_ + "/" + argv[0];
      if (::access(candidate.c_str(), X_OK) == 0) argv[0] = candidate;
    }
    ProcessOptions options;
    options.env = env;
    // A Slurm command that hangs (slurmctld unreachable) must not stop the
    // submitter from seeing a cancel, a deletion or SIGTERM for good: it
    // ends as kTimeout, which the callers treat as a failed attempt.
    options.timeout = std::chrono::minutes(2);
    auto r = run_process(argv, options);
    if (!r) return r.status();
    return CommandResult{r->exit_code, std::move(r->out), std::move(r->err)};
  }

 private:
  const std::string bin_dir_;
};

}  // namespace

std::unique_ptr<Runner> make_exec_runner(std::string bin_dir) {
  return std::make_unique<ExecRunner>(std::move(bin_dir));
}

}  // namespace minik8s::gpu
