// Helpers for tests that run this process short of descriptors: how many
// descriptor numbers below a limit are free, and the CPU time used so far
// (to tell a server that backs off from one that spins).
#pragma once

#include <dirent.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdlib>

namespace minik8s::testing {

// Free descriptor numbers below limit (RLIMIT_NOFILE bounds the numbers, not
// the count).
inline size_t free_slots(size_t limit) {
  size_t used = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;  // not even one
  int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    used += fd != own && static_cast<size_t>(fd) < limit;
  }
  ::closedir(d);
  return limit - used;
}

// User + system CPU seconds of this process.
inline double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace minik8s::testing
