// The grammars of GPUJob and SlurmCluster fields (docs/gpu.md) that end up on
// an sbatch command line, in the batch script, in a client slurm.conf or in a
// path. The API's validation (src/api/kinds_gpu.cc), the submitter's second
// check before it writes them (src/gpu/slurm.cc) and mkctl's check before an
// upload (src/cli/gpujob_cmds.cc) all call these, so what the API accepts is
// exactly what the submitter will use. Each returns "" when the value is
// fine, else the reason (for a field error). Pure, thread-safe, no throw.
#pragma once

#include <cstddef>
#include <string>

namespace minik8s::api {

inline constexpr size_t kMaxSlurmTokenLength = 64;
inline constexpr size_t kMaxSlurmFileNameLength = 100;
inline constexpr size_t kMaxSbatchArgLength = 256;
inline constexpr size_t kMaxSlurmWorkDirLength = 512;

// [A-Za-z0-9._-]{1,max}: partition, account, QOS, cluster and host names.
std::string slurm_token_error(const std::string& s, size_t max = kMaxSlurmTokenLength);
// A plain file name in the job directory: [A-Za-z0-9._-]{1,100}, not starting
// with '.' or '-'; with slurm_patterns Slurm's %j %x %u %N %A %a too
// (--output/--error).
std::string slurm_file_name_error(const std::string& s, bool slurm_patterns);
// sbatch --mem: [0-9]+[KMGT]?.
std::string slurm_mem_error(const std::string& s);
// sbatch --time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
std::string slurm_time_error(const std::string& s);
// One extra sbatch argument: "--long-option[=value]" of [-A-Za-z0-9_.:,=/%+@],
// not an option minik8s sets (or an abbreviation of one).
std::string sbatch_arg_error(const std::string& s);
// An absolute, normalized path of [A-Za-z0-9._/+@-]: SlurmCluster workDir,
// and the job directories under it.
std::string slurm_work_dir_error(const std::string& s, size_t max = kMaxSlurmWorkDirLength);

}  // namespace minik8s::api
