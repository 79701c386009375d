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

// Lowers this process's soft RLIMIT_NOFILE so that `free` descriptor numbers
// are left, and restores it on destruction. limit() is the lowered value.
class TightFdLimit {
 public:
  explicit TightFdLimit(size_t free) {
    ok_ = ::getrlimit(RLIMIT_NOFILE, &saved_) == 0;
    rlimit tight = saved_;
    tight.rlim_cur = 0;
    while (free_slots(tight.rlim_cur) < free) ++tight.rlim_cur;
    ok_ = ok_ && ::setrlimit(RLIMIT_NOFILE, &tight) == 0;
    limit_ = tight.rlim_cur;
  }
  ~TightFdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  TightFdLimit(const TightFdLimit&) = delete;
  TightFdLimit& operator=(const TightFdLimit&) = delete;
  bool ok() const { return ok_; }
  size_t limit() const { return limit_; }

 private:
  rlimit saved_{};
  size_t limit_ = 0;
  bool ok_ = false;
};

// User + system CPU seconds of this process.
inline double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace minik8s::testing
