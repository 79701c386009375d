// Ingress: the data plane of minik8s.io/v1 DNS objects on one node.
//
// Informers on DNS objects and Services. From all DNS objects it renders one
// nginx configuration: per host a `server { listen <port>; server_name
// <host>; }` with, per path, `location = /a` and `location /a/` proxying to
// http://<clusterIP>:<servicePort>/ (the path prefix is stripped: /a/x → /x
// on the Service); a path whose Service does not exist (yet) answers 503
// with a text naming it. Unknown hosts get 404 from a default server.
// nginx (Debian package) runs as `nginx -p <prefix_dir> -c nginx.conf` with
// pid, logs and temp paths under prefix_dir; a changed config is validated
// (`nginx -t`) and applied with `nginx -s reload`; a dead nginx is started
// again. On the node's hosts file it keeps one managed block
//   # BEGIN minik8s <block_tag>
//   <hosts_ip> <host> ...
//   # END minik8s <block_tag>
// rewritten in place (not renamed: /etc/hosts may be a bind mount) and
// removed by cleanup(), leaving the rest of the file byte-for-byte as it was.
// Changes apply within 1 s (informer-driven, coalesced).
//
// stop() leaves nginx running (adopted through its pid file by the next
// start, like the pods); cleanup() stops it by PID and removes the block.
// Threads: start() spawns the informer threads and one sync thread. The
// Client is borrowed. When the nginx binary is missing, start() returns
// kUnavailable with the reason (the agent logs it and runs without ingress).
#pragma once

#include <memory>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::ingress {

struct IngressOptions {
  std::string prefix_dir;  // required: nginx prefix (config, pid, logs, temp)
  std::string nginx = "nginx";
  std::string listen_address = "0.0.0.0";
  int port = 80;
  std::string hosts_file = "/etc/hosts";
  std::string hosts_ip = "127.0.0.1";  // what DNS-object hosts map to in the hosts file
  std::string block_tag = "ingress";   // distinguishes the blocks of several agents
};

class Ingress {
 public:
  Ingress(client::Client& client, IngressOptions options);
  ~Ingress();  // stop()
  Ingress(const Ingress&) = delete;
  Ingress& operator=(const Ingress&) = delete;

  Status start();
  void stop();
  uint64_t reloads() const;  // configurations applied (tests)

  static Status cleanup(const IngressOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::ingress
