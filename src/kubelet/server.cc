// KubeletServer (include/minik8s/kubelet/server.h): the Kubelet seen through
// ContainerLocator, served by KubeletHttpServer (stream_http.cc).
#include "minik8s/kubelet/server.h"

#include <unistd.h>

#include "minik8s/auth/tls.h"

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
  Impl(Kubelet& k, cri::Runtime& r, KubeletServerOptions o)
      : options(std::move(o)), locator(k, options.node_name), runtime(r) {}
  KubeletServerOptions options;
  KubeletLocator locator;
  cri::Runtime& runtime;
  std::unique_ptr<KubeletAuth> auth;       // null: no authentication (plain HTTP)
  std::unique_ptr<KubeletHttpServer> http;  // made by start()
};

KubeletServer::KubeletServer(Kubelet& kubelet, cri::Runtime& runtime, KubeletServerOptions options)
    : impl_(std::make_unique<Impl>(kubelet, runtime, std::move(options))) {}

KubeletServer::~KubeletServer() { stop(); }

Status KubeletServer::start() {
  Impl& s = *impl_;
  KubeletHttpServer::Security sec;
  if (!s.options.tls_cert_file.empty() || !s.options.tls_key_file.empty()) {
    auth::TlsServerConfig tc;
    tc.cert_file = s.options.tls_cert_file;
    tc.key_file = s.options.tls_key_file;
    tc.client_ca_file = s.options.client_ca_file;
    auto layer = auth::make_tls_server_layer(tc);
    if (!layer) return Status(layer.status().code(), "kubelet server: " + layer.status().message());
    sec.layer = std::move(*layer);
  }
  if (s.options.reviewer) {
    s.auth = std::make_unique<KubeletAuth>(*s.options.reviewer, s.locator.node_name());
    sec.auth = s.auth.get();
  }
  s.http = std::make_unique<KubeletHttpServer>(s.locator, s.runtime, s.options.listen, s.options.limits, nullptr,
                                               std::move(sec));
  return s.http->start();
}

int KubeletServer::port() const { return impl_->http ? impl_->http->port() : 0; }

void KubeletServer::stop() {
  if (impl_->http) impl_->http->stop();
}

}  // namespace minik8s::kubelet
