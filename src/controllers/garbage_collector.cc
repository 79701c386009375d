// GarbageCollector — stub until its implementation lands (see controllers.h).
#include "minik8s/controllers/controllers.h"

namespace minik8s::controllers {

struct GarbageCollector::Impl {
  client::Client& client;
  GarbageCollectorOptions options;
};

GarbageCollector::GarbageCollector(client::Client& client, GarbageCollectorOptions options) : impl_(new Impl{client, std::move(options)}) {}
GarbageCollector::~GarbageCollector() { stop(); }
Status GarbageCollector::start() { return Status::ok(); }
void GarbageCollector::stop() {}

}  // namespace minik8s::controllers
