// ReplicaSetController — stub until its implementation lands (see controllers.h).
#include "minik8s/controllers/controllers.h"

namespace minik8s::controllers {

struct ReplicaSetController::Impl {
  client::Client& client;
  ReplicaSetOptions options;
};

ReplicaSetController::ReplicaSetController(client::Client& client, ReplicaSetOptions options) : impl_(new Impl{client, std::move(options)}) {}
ReplicaSetController::~ReplicaSetController() { stop(); }
Status ReplicaSetController::start() { return Status::ok(); }
void ReplicaSetController::stop() {}

}  // namespace minik8s::controllers
