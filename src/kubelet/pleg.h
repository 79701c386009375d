// PLEG (pod lifecycle event generator), the kubelet's relister: lists this
// node's sandboxes and containers in the runtime (those labelled
// minik8s.io/node = node name) every relist period and diffs the list with
// the previous one. A pod is "changed" when one of its sandboxes or
// containers appeared, changed state or went away — a container killed
// from outside is noticed within one period. What to do about it (wake the
// pod's worker, clean up an orphan, sample stats) is the caller's: the
// Kubelet coordinator (kubelet.cc).
//
// Threads: start() spawns the relister thread, which calls relist() and
// then on_relist every period; stop() joins it. relist() may also be
// called before start() (the kubelet's baseline) but never concurrently
// with the thread. The runtime is borrowed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "minik8s/cri/runtime.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

struct RelistResult {
  std::set<std::string> changed;  // pod uids whose runtime objects changed since the last relist
  // Every pod of ours in the runtime: uid → (namespace, name), from the labels.
  std::map<std::string, std::pair<std::string, std::string>> pods;
  std::vector<cri::Container> containers;  // this node's containers (for stats)
};

class Pleg {
 public:
  Pleg(cri::Runtime& runtime, std::string node_name, std::chrono::milliseconds period);
  ~Pleg();
  Pleg(const Pleg&) = delete;
  Pleg& operator=(const Pleg&) = delete;

  // One relist, diffed against the previous successful one. A runtime
  // error leaves the previous list as the baseline.
  Result<RelistResult> relist();

  using Handler = std::function<void(const Result<RelistResult>&)>;
  void start(Handler on_relist);
  void stop();

 private:
  void loop();

  cri::Runtime& runtime_;
  const std::string node_name_;
  const std::chrono::milliseconds period_;
  Handler on_relist_;  // set before the thread starts

  // Relister thread only (or the owner's before start()): id → (uid, state).
  std::map<std::string, std::pair<std::string, int>> last_seen_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace minik8s::kubelet
