#include "minik8s/client/informer_factory.h"

#include <spdlog/spdlog.h>

#include <thread>

namespace minik8s::client {

SharedInformerFactory::SharedInformerFactory(Client& client) : client_(client) {}

SharedInformerFactory::~SharedInformerFactory() { stop(); }

Informer& SharedInformerFactory::informer(const api::ResourceType& type, const InformerOptions& opts) {
  Key key{type.group + "/" + type.version + "/" + type.plural, opts.namespace_, opts.label_selector,
          opts.field_selector};
  std::lock_guard lock(mu_);
  auto it = informers_.find(key);
  if (it == informers_.end()) {
    it = informers_.emplace(key, std::make_unique<Informer>(client_, type, opts)).first;
    return *it->second;
  }
  Informer& inf = *it->second;
  inf.request_resync(opts.resync);
  return inf;
}

void SharedInformerFactory::start() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  for (auto& [key, inf] : informers_) {
    if (!inf->started()) inf->start();
  }
}

void SharedInformerFactory::stop() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  for (auto& [key, inf] : informers_) inf->stop();
}

bool SharedInformerFactory::wait_for_sync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool all = true;
    {
      std::lock_guard lock(mu_);
      for (const auto& [key, inf] : informers_) all = all && inf->has_synced();
    }
    if (all) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

size_t SharedInformerFactory::size() const {
  std::lock_guard lock(mu_);
  return informers_.size();
}

}  // namespace minik8s::client
