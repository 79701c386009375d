// Ingress: the data plane of minik8s.io/v1 DNS objects on one node
// (docs/ingress.md).
//
// Informers on DNS objects and Services (all namespaces). From all DNS
// objects it renders one nginx configuration: per host a `server { listen
// <address>:<port>; server_name <host>; }` with, per path, `location = /a` and
// `location /a/` proxying to http://<clusterIP>:<servicePort>/ (the path
// prefix is stripped: /a → /, /a/x?q → /x?q on the Service; a path "/"
// forwards unchanged). The Service is looked up in the DNS object's namespace;
// servicePort matches a port number (or a port name). A path whose Service
// does not exist (yet), is headless or lacks the port answers 503 with a text
// naming it, and a Warning Event (ServiceNotFound / IngressProblem) goes to
// the DNS object. Unknown hosts (and unknown paths of a known host) get 404.
// When two DNS objects claim one host+path the older object wins.
//
// nginx (Debian package) runs daemonized as `nginx -p <prefix_dir> -c
// <prefix_dir>/nginx.conf -e <prefix_dir>/logs/error.log` with pid, logs and
// temp paths under prefix_dir; a changed config is validated (`nginx -t` on
// nginx.conf.new) and applied by SIGHUP (reloads() counts those applied; the
// call waits, up to 1 s, for the old workers to stop accepting). A candidate
// nginx rejects is logged naming the DNS objects on the offending lines and
// the previous configuration keeps serving. A dead nginx is started again.
// On the node's hosts file it keeps one managed block
//   # BEGIN minik8s <block_tag>
//   <hosts_ip> <host>
//   # END minik8s <block_tag>
// rewritten in place under flock (not renamed: /etc/hosts may be a bind
// mount), removed when no DNS object remains and by cleanup(), leaving the
// rest of the file byte-for-byte as it was. Changes apply within 1 s
// (informer-driven, coalesced over 20 ms); nginx and the block are re-checked
// every second.
//
// stop() leaves nginx running (adopted through its pid file by the next
// start — the pid must be an nginx with `-p <prefix_dir>` — without a reload
// when the rendered config is unchanged); cleanup() stops it by PID, removes
// the files it wrote under prefix_dir (and prefix_dir when then empty) and the
// hosts block.
// Threads: start() spawns the two informer threads, one sync thread and one
// event-posting thread; stop() joins them. start()/stop() from one thread.
// The Client is borrowed and must outlive the Ingress.
// Errors: start() returns kInvalid for a missing prefix_dir or a bad port and
// kUnavailable when the nginx binary is missing (the agent logs it and runs
// without ingress); later failures (port taken, API down) are logged and
// retried, never thrown.
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
  // What DNS-object hosts map to in the hosts file. With several nodes as
  // network namespaces sharing one /etc/hosts, the node IP (reachable from
  // the root namespace and from every node) is the better choice.
  std::string hosts_ip = "127.0.0.1";
  std::string block_tag = "ingress";  // distinguishes the blocks of several agents
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
