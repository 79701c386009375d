// The GPUJob submitter (docs/gpu.md "The submitter"): one process per
// GPUJob, normally the `submitter` container of the job's submitter Pod.
//
// run() reads the GPUJob, its SlurmCluster and the munge key Secret through
// the API, starts its own munged, stages the source into the job directory,
// submits with sbatch (or follows / adopts the job a previous run
// submitted), polls Slurm, writes the job's status (status subresource,
// conflict retry) and Events on every change, copies the job's stdout/stderr
// files to `out` as they grow, cancels on spec.cancel, scancels and removes
// the finalizer on deletion, and at the end uploads the result archive.
//
// Every program it runs (sbatch, scontrol, squeue, sacct, scancel, munged,
// tar, unzip) goes through a Runner, so tests run fake ones.
// Errors: run() returns ok once the job is terminal and written back (also
// for a job that failed: that is the job's outcome, not the submitter's),
// or the job / its finalizer is gone; an error Status when the submitter
// itself cannot go on (API unreachable past retries, munged not starting,
// no job directory) — the Pod's restartPolicy then starts it again, and the
// next run follows the same Slurm job.
// Threads: run() blocks on the caller's thread; it starts one more thread
// (the EventRecorder's sender) and joins it before returning.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::gpu {

// What a program returned. A Status from run() only when it could not start.
struct CommandResult {
  int exit_code = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs a program to completion. Thread-safe.
class Runner {
 public:
  virtual ~Runner() = default;
  // argv[0] is a program name (looked up as the runner decides) or a path;
  // env entries are added to (or replace in) the inherited environment.
  virtual Result<CommandResult> run(const std::vector<std::string>& argv,
                                    const std::map<std::string, std::string>& env = {}) = 0;
};

// fork/exec without a shell. A bare program name is taken from bin_dir when
// bin_dir is set and holds it, else from PATH.
std::unique_ptr<Runner> make_exec_runner(std::string bin_dir = "");

struct SubmitterOptions {
  std::string ns;    // the GPUJob's namespace
  std::string name;  // the GPUJob's name
  // Where the key, slurm.conf, munged's socket/pid/log/seed and the
  // downloaded source go (0755 directory, created).
  std::string run_dir = "/run/minik8s";
  // false: no munged (tests with fake Slurm commands, or a site whose
  // munged socket is already in the client slurm.conf's AuthInfo).
  bool start_munge = true;
  // 0: the SlurmCluster's pollIntervalSeconds (default 1 s).
  std::chrono::milliseconds poll_interval{0};
  // Waits up to d; true when the submitter should stop now (SIGTERM).
  std::function<bool(std::chrono::milliseconds)> wait;
  // The submitter's stdout: where the job's output is copied.
  std::ostream* out = nullptr;
  // Largest result archive input (bytes of files packed).
  uint64_t max_result_bytes = 64ull << 20;
};

class Submitter {
 public:
  // client and runner are borrowed and must outlive the Submitter.
  Submitter(client::Client& client, Runner& runner, SubmitterOptions options);
  ~Submitter();
  Submitter(const Submitter&) = delete;
  Submitter& operator=(const Submitter&) = delete;

  Status run();

 private:
  struct State;
  client::Client& client_;
  Runner& runner_;
  SubmitterOptions options_;
  std::unique_ptr<State> st_;
};

// Puts a GPUJob's source (bytes named filename) into dir: a .tar, .tar.gz,
// .tgz or .zip is listed (check_archive_listing), unpacked with tar/unzip
// through runner and checked with check_links_inside; any other name is
// written as that file. scratch holds the archive meanwhile. kInvalid
// (naming spec.source…) for a bad name or a hostile or unreadable archive;
// other codes for I/O failures. A rejected archive may leave what it
// unpacked in dir (the job never runs).
Status stage_source(Runner& runner, const std::string& bytes, const std::string& filename,
                    const std::string& dir, const std::string& scratch);

// Checks an archive listing (one member name per line, as `tar -tf` and
// `unzip -Z1` print them): no absolute names, no ".." component. kInvalid
// naming the first bad member.
Status check_archive_listing(const std::string& listing);
// After unpacking: every symbolic link below dir must resolve (lexically)
// inside dir. kInvalid naming the first that does not.
Status check_links_inside(const std::string& dir);

}  // namespace minik8s::gpu
