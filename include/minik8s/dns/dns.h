// DnsServer: cluster DNS in every agent (the CoreDNS role), listening on the
// node's pod-bridge address (UDP and TCP, port 53 by default).
//
// Answers, for zone `cluster_domain` (default cluster.local), from informers
// on Services, Endpoints and minik8s.io/v1 DNS objects:
//   - A   <svc>.<ns>.svc.<domain> → the cluster IP; for headless Services
//         (clusterIP None) → the ready endpoint addresses;
//   - SRV _<port-name>._<proto>.<svc>.<ns>.svc.<domain> (also _<port-number>)
//         → 0 100 <port> <svc>.<ns>.svc.<domain> (+ the A record in the
//         additional section); SRV <svc>.<ns>.svc.<domain> → every port;
//         headless: one SRV per ready endpoint, named <hostname|a-b-c-d>.<svc>...;
//   - CNAME <svc>.<ns>.svc.<domain> → spec.externalName (ExternalName Services);
//   - A   <a-b-c-d>.<ns>.pod.<domain> → a.b.c.d;
//   - PTR d.c.b.a.in-addr.arpa for every cluster IP → <svc>.<ns>.svc.<domain>;
//   - A   <host> of every DNS object → options.ingress_ip (the node's nginx);
//   - NXDOMAIN for other names inside the zone (with the SOA in authority),
//     NOERROR/empty for a known name with another type and for names above
//     known ones (empty non-terminals);
//   - everything else is forwarded to the upstream resolvers: UDP queries over
//     UDP (an upstream's truncated answer is relayed with TC, so the client
//     retries over TCP), TCP queries over TCP; the next upstream after
//     upstream_timeout_ms / #upstreams, SERVFAIL after the last.
// Until the informers have synced, names inside the zone get SERVFAIL.
// Names are case-insensitive; the question is echoed with its case. Answers
// reflect a Service change as soon as the informer delivers it (≤ 1 s).
// TTL `ttl` seconds. Responses and packets under 12 bytes are dropped; a
// query whose question cannot be parsed gets FORMERR; nothing crashes. EDNS0:
// the client's OPT size (≤ 4096) bounds UDP answers, we advertise 1232;
// answers that do not fit get TC. Hot path: a snapshot (atomic shared_ptr
// swap, rebuilt by one thread, bursts coalesced) of a hash
// map from lower-case name to pre-encoded answers; `threads` UDP sockets with
// SO_REUSEPORT, recvmmsg/sendmmsg.
//
// Threads: start() spawns the informer threads + one zone-rebuild thread,
// `threads` UDP threads, one TCP acceptor (a thread per TCP connection, at most
// 128, 10 s idle) and one forwarder thread; stop() joins them all. start() and
// stop() are for one owner thread; set_objects() and port() may be called from
// any thread. The Client is borrowed. Tests and the benchmark
// may run it without an API server (client == nullptr) and feed objects
// through set_objects().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::dns {

struct DnsOptions {
  std::string listen_ip = "127.0.0.1";
  int port = 53;  // 0 picks one (tests); the same port for UDP and TCP
  std::string cluster_domain = "cluster.local";
  std::vector<std::string> upstream;  // "IP" or "IP:PORT"; empty = nameservers of resolv_conf
  std::string resolv_conf = "/etc/resolv.conf";
  std::string ingress_ip;  // the address DNS-object hosts resolve to (default listen_ip)
  uint32_t ttl = 5;
  int threads = 2;
  int upstream_timeout_ms = 2000;
};

class DnsServer {
 public:
  DnsServer(client::Client* client, DnsOptions options);
  ~DnsServer();  // stop()
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  Status start();  // binds UDP + TCP; kUnavailable naming the address when it cannot
  void stop();
  int port() const;  // the bound port (after start)

  // Replaces the record source (no client): Service, Endpoints and DNS objects
  // as API JSON; visible to the next query when it returns. With a client the
  // next informer event rebuilds from the informers' caches instead.
  void set_objects(const std::vector<api::Json>& services, const std::vector<api::Json>& endpoints,
                   const std::vector<api::Json>& dns_objects);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::dns
