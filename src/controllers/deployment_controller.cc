// DeploymentController — stub until its implementation lands (see controllers.h).
#include "minik8s/controllers/controllers.h"

namespace minik8s::controllers {

struct DeploymentController::Impl {
  client::Client& client;
  DeploymentOptions options;
};

DeploymentController::DeploymentController(client::Client& client, DeploymentOptions options) : impl_(new Impl{client, std::move(options)}) {}
DeploymentController::~DeploymentController() { stop(); }
Status DeploymentController::start() { return Status::ok(); }
void DeploymentController::stop() {}

}  // namespace minik8s::controllers
