// KubeletServer (include/minik8s/kubelet/server.h): the Kubelet seen through
// ContainerLocator, served by KubeletHttpServer (stream_http.cc).
#include "minik8s/kubelet/server.h"

#include <unistd.h>

#include "server_internal.h"

namespace minik8s::kubelet {

namespace {

class KubeletLocator final : public ContainerLocator {
 public:
  KubeletLocator(Kubelet& k, std::string node_name) : kubelet_(k), node_name_(std::move(node_name)) {
    if (node_name_.empty()) {
      // Not given: the host name, which is what a single-node setup registers.
      char buf[256] = {};
      if (::gethostname(buf, sizeof buf - 1) == 0) node_name_ = buf;
    }
  }
  Result<ContainerRef> find_container(const std::string& ns, const std::string& pod, const std::string& container,
                                      bool previous) override {
    return kubelet_.find_container(ns, pod, container, previous);
  }
  std::vector<PodUsage> pod_usage() override { return kubelet_.pod_usage(); }
  std::string node_name() override { return node_name_; }
  size_t running_pods() override { return kubelet_.running_pods(); }

 private:
  Kubelet& kubelet_;
  std::string node_name_;  // set once in the constructor
};

}  // namespace

struct KubeletServer::Impl {
  Impl(Kubelet& k, cri::Runtime& r, std::string listen, std::string node_name, const ConnLimits& limits)
      : locator(k, std::move(node_name)), http(locator, r, std::move(listen), limits) {}
  KubeletLocator locator;
  KubeletHttpServer http;
};

KubeletServer::KubeletServer(Kubelet& kubelet, cri::Runtime& runtime, std::string listen, std::string node_name,
                             const ConnLimits& limits)
    : impl_(std::make_unique<Impl>(kubelet, runtime, std::move(listen), std::move(node_name), limits)) {}

KubeletServer::~KubeletServer() { stop(); }

Status KubeletServer::start() { return impl_->http.start(); }

int KubeletServer::port() const { return impl_->http.port(); }

void KubeletServer::stop() { impl_->http.stop(); }

}  // namespace minik8s::kubelet
