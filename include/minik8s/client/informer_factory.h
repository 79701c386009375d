// SharedInformerFactory: one Informer (one list + watch, one indexed cache)
// per resource type and selector set per process, handed to every component
// that asks for it (client-go's SharedInformerFactory).
//
// informer(type, opts) returns the informer for (type, namespace,
// labelSelector, fieldSelector), creating it on first ask; every later ask
// with the same key gets the same object. The consumers then add their event
// handlers (and indexes) to it; see Informer for handlers added after start.
// A consumer that asks with a resync period lowers the informer's period
// (Informer::request_resync), also once it runs: the order in which
// components ask does not matter.
//
// start() starts every informer not yet started (idempotent: a component
// that asked after the first start() calls it again); stop() stops them all,
// once; after stop() nothing starts again. Consumers remove their handlers
// (Controller::stop() does) before the factory stops or is destroyed.
//
// Threads: every method may be called from any thread. Informers are owned by
// the factory; references stay valid until it is destroyed. The Client is
// borrowed and must outlive the factory.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer.h"

namespace minik8s::client {

class SharedInformerFactory {
 public:
  explicit SharedInformerFactory(Client& client);
  ~SharedInformerFactory();
  SharedInformerFactory(const SharedInformerFactory&) = delete;
  SharedInformerFactory& operator=(const SharedInformerFactory&) = delete;

  // Only namespace_, label_selector, field_selector (the key) and resync of
  // opts are read; the rest comes from the first ask.
  Informer& informer(const api::ResourceType& type, const InformerOptions& opts = {});

  void start();
  void stop();
  // True once every informer created so far has synced; false at the deadline.
  bool wait_for_sync(std::chrono::milliseconds timeout) const;

  // Informers created (one per key).
  size_t size() const;
  Client& client() { return client_; }

 private:
  // group/version/plural, namespace, label selector, field selector.
  using Key = std::tuple<std::string, std::string, std::string, std::string>;

  Client& client_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  std::map<Key, std::unique_ptr<Informer>> informers_;
  bool stopped_ = false;
};

}  // namespace minik8s::client
