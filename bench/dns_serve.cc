// dns_serve: the cluster DNS server alone, for dnsperf (bench/dns_bench.sh).
// Starts DnsServer without an API server on 127.0.0.1:PORT, feeds it N
// synthetic Services svc-<i>.default (clusterIP 10.96.<i/250>.<i%250+1>,
// port http/80), prints "ready PORT" and serves until SIGTERM/SIGINT.
// Usage: dns_serve [--port P] [--services N] [--threads T]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minik8s/dns/dns.h"

using namespace minik8s;

int main(int argc, char** argv) {
  dns::DnsOptions o;
  o.listen_ip = "127.0.0.1";
  o.port = 0;
  o.upstream = {"127.0.0.1:9"};  // nothing is forwarded in the benchmark
  int n = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") o.port = std::atoi(argv[i + 1]);
    else if (a == "--services") n = std::atoi(argv[i + 1]);
    else if (a == "--threads") o.threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: dns_serve [--port P] [--services N] [--threads T]\n");
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread inherits it; sigwait below

  dns::DnsServer server(nullptr, o);
  if (auto s = server.start(); !s) {
    std::fprintf(stderr, "dns_serve: %s\n", s.to_string().c_str());
    return 1;
  }
  std::vector<api::Json> services;
  for (int i = 0; i < n; ++i) {
    std::string ip = "10.96." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    services.push_back({{"metadata", {{"name", "svc-" + std::to_string(i)}, {"namespace", "default"}}},
                        {"spec", {{"clusterIP", ip}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}});
  }
  server.set_objects(services, {}, {});
  std::printf("ready %d\n", server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  return 0;
}
