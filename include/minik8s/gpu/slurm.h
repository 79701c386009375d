// The Slurm model (docs/gpu.md "The submitter", "The batch script", phases):
// pure functions, no I/O, from a GPUJob / SlurmCluster object to what the
// submitter hands Slurm (sbatch's argument vector, the batch script, a
// client slurm.conf), and from what Slurm prints (`scontrol show job -o`,
// `squeue -h -o`, `sacct -n -P`) back to a GPUJob's status fields.
//
// Everything that reaches a command line, a script or a file here was
// checked by the API's grammars (src/api/kinds_gpu.cc); the renderers check
// again (kInvalid naming the field) and quote what they write into a shell
// script with shell_quote, so a hostile string that slipped past the API is
// an error or inert text, never code.
// Times: Slurm prints local time without a zone; to_rfc3339 converts with
// the process's time zone (TZ), as the Slurm client commands do.
// Thread safety: all functions are reentrant.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace minik8s::gpu::slurm {

// The finalizer the strategy adds at create and the submitter removes.
inline constexpr const char* kFinalizer = "minik8s.io/slurm-job";

// POSIX shell single quoting: 'abc' with every ' written as '\''. Any byte
// string (newlines, $(...), backquotes, NUL-free) becomes one inert word.
std::string shell_quote(std::string_view s);

// "mk-<uid>": the Slurm job name the submitter adopts after a restart.
std::string job_name(const std::string& uid);
// "<workDir>/<namespace>/<name>-<first 8 of uid>" (workDir without a
// trailing slash). kInvalid when a part is empty or not a plain name.
Result<std::string> job_dir(const std::string& work_dir, const std::string& ns,
                            const std::string& name, const std::string& uid);

// sbatch's arguments (without "sbatch" itself) for a GPUJob object:
// --parsable --job-name=mk-<uid> --chdir=<dir> then, from spec.slurm,
// --partition --nodes --ntasks-per-node --cpus-per-task --gres=gpu:N (N>0)
// --mem --time --account --qos --output=<dir>/<output> --error=<dir>/<error>,
// then sbatchArgs in order, and last <dir>/.minik8s/job.sh. Arguments go to
// execve, not a shell; each is still checked against the API's grammar.
Result<std::vector<std::string>> sbatch_args(const api::Json& gpujob, const std::string& dir);

// The batch script (#!/bin/bash): cd to dir; spec.build (if any) via
// bash -c with output to .minik8s/build.log and its exit code to
// .minik8s/build.rc (the script exits 1 when it fails); touch
// .minik8s/built; spec.run via bash -c; its exit code to .minik8s/exit_code;
// exit with it. kInvalid when spec.run is missing.
Result<std::string> render_batch_script(const api::Json& gpujob, const std::string& dir);

// A client slurm.conf for a SlurmCluster object: ClusterName,
// SlurmctldHost=name(host), SlurmctldPort, AuthType=auth/munge,
// AuthInfo=socket=<munge_socket> (and the lines a client needs besides,
// verified against Slurm 22.05). kInvalid naming the field.
Result<std::string> render_slurm_conf(const api::Json& cluster, const std::string& munge_socket);

// What the submitter knows about one Slurm job, from whichever command.
struct JobInfo {
  std::string job_id;
  std::string name;
  std::string state;        // Slurm's JobState, e.g. "PENDING", "CANCELLED" (" by 0" dropped)
  std::string reason;       // "None" mapped to ""
  std::string submit_time;  // RFC 3339 UTC or "" (Unknown/None)
  std::string start_time;
  std::string end_time;
  std::string node_list;         // "(null)" / "None assigned" mapped to ""
  std::optional<int> exit_code;  // ExitCode before ':' once known
  int exit_signal = 0;
  std::string std_out;  // scontrol's StdOut/StdErr paths (resolved), "" when unknown
  std::string std_err;
};

// Splits one `scontrol ... -o` line into key=value pairs. A value runs to
// the next " Key=" where Key is [A-Za-z][A-Za-z0-9_:/]*; so a value with
// spaces (Command=/a b/job.sh, Reason=..., Comment=) stays whole.
std::map<std::string, std::string> parse_kv_line(std::string_view line);

// `scontrol show job -o <id>`: the first job line. kNotFound when scontrol
// said "Invalid job id specified" (slurmctld forgot the job); kInvalid for
// output without JobId=.
Result<JobInfo> parse_scontrol_job(std::string_view out);

// The squeue format the submitter uses ("%i|%j|%T|%r") and its parser: one
// JobInfo per non-empty line (id, name, state, reason).
inline constexpr const char* kSqueueFormat = "%i|%j|%T|%r";
Result<std::vector<JobInfo>> parse_squeue(std::string_view out);

// The sacct fields the submitter asks for (-n -P -X -o kSacctFields) and
// the parser (one JobInfo per line, '|' separated, steps skipped).
inline constexpr const char* kSacctFields =
    "JobID,JobName,State,ExitCode,Submit,Start,End,NodeList,Reason";
Result<std::vector<JobInfo>> parse_sacct(std::string_view out);

// Slurm's time "2026-12-07T18:00:00" (local) → "2026-12-07T18:00:00Z" (UTC);
// "Unknown", "None", "N/A", "" → "". kInvalid for anything else.
Result<std::string> to_rfc3339(std::string_view slurm_time);

// "N:S" → {N, S}. kInvalid otherwise.
Result<std::pair<int, int>> parse_exit_code(std::string_view s);

// JobState → GPUJob phase: PENDING → Queued; RUNNING, CONFIGURING,
// COMPLETING, SUSPENDED (and the transient RESIZING, REQUEUED, …) →
// Running; COMPLETED → Completed; CANCELLED → Cancelled; FAILED, TIMEOUT,
// NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE, PREEMPTED → Failed.
// An unknown state → "Running" (not terminal: keep following).
std::string phase_for_state(std::string_view state);
bool is_terminal_phase(std::string_view phase);

}  // namespace minik8s::gpu::slurm
