// PodProxy: the API server side of pods/log and pods/exec (pods/attach is
// refused). It resolves the pod's node (spec.nodeName → Node
// status.addresses InternalIP + status.daemonEndpoints.kubeletEndpoint.Port)
// through the RestHandler (so it sees exactly what a GET would) and proxies:
//   - log:  GET /containerLogs/{ns}/{pod}/{container}?... on the kubelet,
//           streamed back chunked (follow streams until either side leaves);
//   - exec: a WebSocket (channel.k8s.io v1–v5) accepted from the client
//           before the kubelet is dialled with the same subprotocol (so the
//           command's first output cannot arrive with the 101: kubectl
//           1.30–1.33 drop frames that come before their streams exist),
//           frames relayed both ways.
// Errors are Kubernetes Status bodies: 404 pod not found, 400 no host
// assigned / container name required or invalid, 503 kubelet unreachable,
// and the kubelet's own answer when it refuses; for exec the last two come
// after the upgrade, on the error channel.
// Thread safety: serve() runs on the calling connection thread and may run
// concurrently; the handler is borrowed.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "handler.h"

namespace minik8s::apiserver {

class PodProxy {
 public:
  explicit PodProxy(RestHandler& handler) : handler_(handler) {}
  // True when path is /api/v1/namespaces/{ns}/pods/{name}/(log|exec|attach).
  static bool matches(const std::string& path);
  // Serves one proxied request on s; the connection ends afterwards (s stays
  // owned by the caller). fd_out receives the kubelet connection's fd while
  // one is open (so the owner can shut it down when stopping), else -1.
  void serve(boost::asio::ip::tcp::socket& s, const boost::beast::http::request<boost::beast::http::string_body>& msg,
             const std::atomic<bool>& stopping, std::atomic<int>& fd_out,
             const std::optional<auth::PeerCertificate>& client_cert);

 private:
  RestHandler& handler_;
};

}  // namespace minik8s::apiserver
