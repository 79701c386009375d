// Internal to mk_ingress: the managed block in a hosts file.
//
//   # BEGIN minik8s <tag>
//   <ip> <host>
//   ...
//   # END minik8s <tag>
//
// with_hosts_block() is the pure edit: everything outside our block stays
// byte-for-byte (a file without a final newline gets one before a new block);
// an empty host list removes the block. apply_hosts_block() does it on a file
// in place: open without O_TRUNC, flock(LOCK_EX) (several agents may share one
// file, each with its own tag), read, and only when the text changes pwrite
// + ftruncate to the new length (a reader never sees an empty file) — never a
// rename, since /etc/hosts may be a bind mount.
// Thread-safe (no shared state); errors come back as kInternal naming the file.
#pragma once

#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::ingress {

std::string with_hosts_block(const std::string& content, const std::string& tag,
                             const std::string& ip, const std::vector<std::string>& hosts);

// Returns whether the file changed. A missing file with no hosts is fine
// (nothing to remove); a missing file with hosts is created.
Result<bool> apply_hosts_block(const std::string& path, const std::string& tag,
                               const std::string& ip, const std::vector<std::string>& hosts);

}  // namespace minik8s::ingress
