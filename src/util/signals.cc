#include "minik8s/util/signals.h"

#include <pthread.h>

#include <ctime>

namespace minik8s {

sigset_t block_stop_signals(std::initializer_list<int> also) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (int s : also) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return set;
}

int wait_for_signal(const sigset_t& set, std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  siginfo_t info;
  int s = sigtimedwait(&set, &info, &ts);
  return s > 0 ? s : 0;
}

}  // namespace minik8s
