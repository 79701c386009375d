// HpaController — stub until its implementation lands (see controllers.h).
#include "minik8s/controllers/controllers.h"

namespace minik8s::controllers {

struct HpaController::Impl {
  client::Client& client;
  HpaOptions options;
};

HpaController::HpaController(client::Client& client, HpaOptions options) : impl_(new Impl{client, std::move(options)}) {}
HpaController::~HpaController() { stop(); }
Status HpaController::start() { return Status::ok(); }
void HpaController::stop() {}

}  // namespace minik8s::controllers
