// tls_bench: what HTTPS costs per API request, against a same-run HTTP
// baseline (docs/benchmarks.md "TLS"). One in-process API server with TLS
// (the mk_auth layer) and one without, over the same store; the REST client
// (mk_client) sends GET /version:
//   keep-alive: N requests on one pooled connection;
//   new connection: N requests, each on a fresh client (TCP connect, and for
//   HTTPS the ECDSA P-256 TLS 1.3 handshake).
// Prints a Markdown table of median and p99 latencies.
// Usage: tls_bench [--n N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/auth/pki.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/storage/storage.h"

using namespace minik8s;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  double p50_us, p99_us;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

std::unique_ptr<client::RestClient> make_client(const std::string& url, const std::string& ca_pem) {
  client::HttpRestClientOptions ro;
  ro.server = url;
  ro.tls.ca_pem = ca_pem;
  auto r = client::make_http_rest_client(ro);
  if (!r) {
    std::fprintf(stderr, "client: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

void get(client::RestClient& c) {
  auto r = c.request("GET", "/version");
  if (!r || r->status != 200) {
    std::fprintf(stderr, "GET /version failed: %s\n",
                 r ? r->body.c_str() : r.status().to_string().c_str());
    std::exit(1);
  }
}

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

Stats keep_alive(const std::string& url, const std::string& ca, int n) {
  auto c = make_client(url, ca);
  for (int i = 0; i < 50; ++i) get(*c);  // warm-up
  std::vector<double> v;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    get(*c);
    v.push_back(us_since(t0));
  }
  return stats(v);
}

Stats fresh(const std::string& url, const std::string& ca, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) {
    auto c = make_client(url, ca);  // SSL_CTX set-up is outside the timing
    auto t0 = Clock::now();
    get(*c);
    v.push_back(us_since(t0));
  }
  return stats(v);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--n") n = std::max(10, std::atoi(argv[i + 1]));
  }
  auto dir = std::filesystem::temp_directory_path() / ("tls-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  storage::SqliteOptions so;
  so.path = (dir / "store.db").string();
  auto store = storage::open_sqlite_storage(so);
  so.path = (dir / "store2.db").string();
  auto store2 = storage::open_sqlite_storage(so);
  auto ca = auth::CertificateAuthority::create("bench-ca");
  auth::CertSpec spec;
  spec.ip_addresses = {"127.0.0.1"};
  spec.usage = auth::KeyUsage::kServer;
  auto serving = ca->issue(spec);
  if (!store || !store2 || !ca || !serving ||
      !auth::write_key_pair((dir / "s.crt").string(), (dir / "s.key").string(), *serving)) {
    std::fprintf(stderr, "set-up failed\n");
    return 1;
  }
  apiserver::ApiServerOptions plain_opts;
  plain_opts.port = 0;
  apiserver::ApiServerOptions tls_opts = plain_opts;
  tls_opts.tls.cert_file = (dir / "s.crt").string();
  tls_opts.tls.key_file = (dir / "s.key").string();
  tls_opts.tls.client_ca_file = (dir / "s.crt").string();
  auto plain = apiserver::ApiServer::start(**store, plain_opts);
  auto tls = apiserver::ApiServer::start(**store2, tls_opts);
  if (!plain || !tls) {
    std::fprintf(stderr, "server: %s\n",
                 (!plain ? plain.status() : tls.status()).to_string().c_str());
    return 1;
  }
  Stats ka_http = keep_alive((*plain)->url(), "", n);
  Stats ka_https = keep_alive((*tls)->url(), ca->cert_pem(), n);
  int m = std::max(10, n / 4);
  Stats new_http = fresh((*plain)->url(), "", m);
  Stats new_https = fresh((*tls)->url(), ca->cert_pem(), m);
  std::printf(
      "| GET /version | HTTP p50 / p99 | HTTPS p50 / p99 | n |\n| --- | --- | --- | --- |\n");
  std::printf("| keep-alive | %.0f / %.0f µs | %.0f / %.0f µs | %d |\n", ka_http.p50_us,
              ka_http.p99_us, ka_https.p50_us, ka_https.p99_us, n);
  std::printf("| new connection | %.0f / %.0f µs | %.0f / %.0f µs | %d |\n", new_http.p50_us,
              new_http.p99_us, new_https.p50_us, new_https.p99_us, m);
  (*plain)->stop();
  (*tls)->stop();
  std::filesystem::remove_all(dir);
  return 0;
}
