// Internal to mk_images: run a program without a shell and collect its output.
//
// Thread-compatible; each call forks one child and waits for it. argv[0] is
// looked up on PATH. Errors: kUnavailable when the program cannot be started,
// kInternal when it exits non-zero (message carries the command, exit status
// and the tail of its stderr).
#pragma once

#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::images {

struct ProcessOptions {
  std::string
      stdout_file;  // when set, stdout goes to this file (truncated) instead of being captured
  std::string cwd;  // working directory of the child (empty: inherit)
  std::vector<std::string> extra_env;  // "K=V" added to the inherited environment
};

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128+signal
  std::string out;     // captured stdout (empty when redirected to a file)
  std::string err;     // captured stderr
};

// Runs argv and returns its result whatever the exit code; a Status only when
// it could not be started at all.
Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options = {});

// Runs argv and returns stdout; a non-zero exit becomes kInternal.
Result<std::string> run_checked(const std::vector<std::string>& argv,
                                const ProcessOptions& options = {});

// "a b 'c d'" for messages.
std::string describe_command(const std::vector<std::string>& argv);

}  // namespace minik8s::images
