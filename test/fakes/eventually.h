// Polling with a deadline, the only way tests wait for state (no bare
// sleeps): pred is tried every `every` until it holds or `limit` passes, then
// once more at the deadline.
#pragma once

#include <chrono>
#include <thread>

namespace minik8s::testing {

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5),
                std::chrono::milliseconds every = std::chrono::milliseconds(1)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

}  // namespace minik8s::testing
