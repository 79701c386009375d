// NamespaceController: finishes namespace deletion. For every namespace with
// a deletionTimestamp it deletes every namespaced object in it (all kinds in
// the kind table, background propagation) and, once nothing is left, clears
// spec.finalizers through the namespaces/NAME/finalize subresource, which
// removes the namespace. Runs in the server process over
// ApiServer::local_request, woken by a storage watch on namespaces and a
// periodic resync.
// Thread safety: start()/stop() from the owner; reconcile_all() is safe to
// call from a test thread while stopped. Both references are borrowed and must
// outlive the controller. Errors of one pass are logged and retried on the
// next one.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/storage/storage.h"

namespace minik8s::apiserver {

class NamespaceController {
 public:
  NamespaceController(ApiServer& api, storage::Storage& store,
                      std::chrono::milliseconds resync = std::chrono::milliseconds(1000));
  ~NamespaceController();
  void start();
  void stop();
  // One pass over all terminating namespaces; returns how many are still waiting.
  int reconcile_all();

 private:
  // True when the namespace is now empty and was finalized.
  bool reconcile(const std::string& ns);
  void run();

  ApiServer& api_;
  storage::Storage& store_;
  const std::chrono::milliseconds resync_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace minik8s::apiserver
