// NodeLifecycleController — stub until its implementation lands (see controllers.h).
#include "minik8s/controllers/controllers.h"

namespace minik8s::controllers {

struct NodeLifecycleController::Impl {
  client::Client& client;
  NodeLifecycleOptions options;
};

NodeLifecycleController::NodeLifecycleController(client::Client& client, NodeLifecycleOptions options) : impl_(new Impl{client, std::move(options)}) {}
NodeLifecycleController::~NodeLifecycleController() { stop(); }
Status NodeLifecycleController::start() { return Status::ok(); }
void NodeLifecycleController::stop() {}

}  // namespace minik8s::controllers
