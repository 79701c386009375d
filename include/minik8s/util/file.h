// Whole-file replacement that readers never see half done.
#pragma once

#include <string>
#include <string_view>

#include "minik8s/util/status.h"

namespace minik8s {

// Writes content to "<path>.tmp.<pid>" beside path and renames it over path,
// so that a reader (containerd loading its config, CNI loading a conflist, a
// script polling a kubeconfig) sees the old file or the new one, never a
// part; the pid keeps two processes writing the same path apart. The
// temporary is removed when a step fails. Nothing is fsynced — none of the
// callers' files (kubeconfig, pid files, agent state, containerd and CNI
// config) outlives the processes that write them at start-up, so a power loss
// needs no more than what the next start rewrites. The file is created with
// mode 0666 less the umask. kInternal naming the file and the reason on
// failure. Thread-safe for distinct paths.
Status write_file_atomically(const std::string& path, std::string_view content);

}  // namespace minik8s
