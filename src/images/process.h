// Internal to mk_images: run a program without a shell and collect its output
// (minik8s/util/process.h does the work; run_checked adds the images
// convention that a non-zero exit is kInternal).
//
// Thread-safe. Errors: kUnavailable when the program cannot be started,
// kInternal when it exits non-zero (message carries the command, exit status
// and the tail of its stderr).
#pragma once

#include <string>
#include <vector>

#include "minik8s/util/process.h"
#include "minik8s/util/status.h"

namespace minik8s::images {

using minik8s::describe_command;
using minik8s::ProcessOptions;
using minik8s::ProcessResult;
using minik8s::run_process;

// Runs argv and returns stdout; a non-zero exit becomes kInternal.
Result<std::string> run_checked(const std::vector<std::string>& argv,
                                const ProcessOptions& options = {});

}  // namespace minik8s::images
