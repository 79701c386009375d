// run_process: run a program without a shell and collect what it writes.
//
// The one fork/exec implementation (images, network, gpu and kubelet wrap it
// in their own Runner interfaces). argv[0] is looked up on PATH (of the
// child's environment) unless it contains a '/'. The child gets:
//   - stdin: options.stdin_data through a pipe, or /dev/null when empty;
//   - stdout: captured, or written to options.stdout_file (truncated);
//   - stderr: captured;
//   - an empty signal mask and default SIGPIPE (agents block their stop
//     signals and ignore SIGPIPE; both survive exec otherwise, and e.g.
//     munged must stop on SIGTERM);
//   - the parent's environment plus options.env (a key in env replaces the
//     inherited value), or exactly options.env when replace_env is set;
//   - options.cwd as its working directory when set.
// Both streams are drained together (poll), so large output on either never
// deadlocks. Errors (a Status, not a result): kInvalid for an empty argv,
// kUnavailable when the program cannot be started (message: "cannot run
// PROG: REASON"), kTimeout when options.timeout passed (the child is
// SIGKILLed). Otherwise the result carries the exit code (128+signal when a
// signal ended it) whatever it is.
//
// Thread-safe: each call forks one child and waits for it; only
// async-signal-safe calls run between fork and exec.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s {

struct ProcessOptions {
  std::string stdin_data;   // written to the child's stdin (empty: /dev/null)
  std::string stdout_file;  // stdout goes here (truncated) instead of being captured
  std::string cwd;          // working directory of the child (empty: inherit)
  std::map<std::string, std::string> env;  // added to (or replacing) the environment
  bool replace_env = false;                 // true: the child's environment is exactly env
  std::chrono::milliseconds timeout{0};     // 0: wait for ever
};

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128+signal
  std::string out;     // captured stdout (empty when redirected to a file)
  std::string err;     // captured stderr
};

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options = {});

// "a b 'c d'" for messages.
std::string describe_command(const std::vector<std::string>& argv);

}  // namespace minik8s
