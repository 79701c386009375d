// KubeletServer (include/minik8s/kubelet/server.h): the Kubelet seen through
// ContainerLocator, served by KubeletHttpServer (stream_http.cc).
#include "minik8s/kubelet/server.h"

#include <unistd.h>

#include "server_internal.h"

namespace minik8s::kubelet {

namespace {

class KubeletLocator final : public ContainerLocator {
 public:
  explicit KubeletLocator(Kubelet& k) : kubelet_(k) {}
  Result<ContainerRef> find_container(const std::string& ns, const std::string& pod, const std::string& container,
                                      bool previous) override {
    return kubelet_.find_container(ns, pod, container, previous);
  }
  std::vector<PodUsage> pod_usage() override { return kubelet_.pod_usage(); }
  // Kubelet does not expose its node name; the host name is what a single-node setup registers.
  std::string node_name() override {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
  }
  size_t running_pods() override { return kubelet_.running_pods(); }

 private:
  Kubelet& kubelet_;
};

}  // namespace

struct KubeletServer::Impl {
  Impl(Kubelet& k, cri::Runtime& r, std::string listen) : locator(k), http(locator, r, std::move(listen)) {}
  KubeletLocator locator;
  KubeletHttpServer http;
};

KubeletServer::KubeletServer(Kubelet& kubelet, cri::Runtime& runtime, std::string listen)
    : impl_(std::make_unique<Impl>(kubelet, runtime, std::move(listen))) {}

KubeletServer::~KubeletServer() { stop(); }

Status KubeletServer::start() { return impl_->http.start(); }

int KubeletServer::port() const { return impl_->http.port(); }

void KubeletServer::stop() { impl_->http.stop(); }

}  // namespace minik8s::kubelet
