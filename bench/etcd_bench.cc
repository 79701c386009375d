// etcd_bench: the two ways a client can talk to etcd v3, measured in the same
// run against the same etcd (the choice for EtcdStorage, docs/storage.md):
// gRPC (the stubs EtcdStorage uses) and the JSON gateway (POST /v3/kv/put,
// base64 keys and values, one keep-alive HTTP/1.1 connection per client);
// then EtcdStorage creates (a Txn each) as the raw-store baseline of the API
// benchmark.
//
//   etcd_bench --etcd http://127.0.0.1:PORT [--n N]
//
// Prints one Markdown table row per measurement (docs/benchmarks.md).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "minik8s/storage/etcd.h"
#include "minik8s/storage/storage.h"
#include "minik8s/util/base64.h"

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

// Runs `clients` threads, each doing `per_client` calls of op(client, i)
// (false = error); prints the rate and latency percentiles.
template <typename MakeOp>
void measure(const std::string& what, int clients, int per_client, MakeOp make_op) {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point t0;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto op = make_op(c);  // per-client set-up (a connection) is not timed
      ready++;
      while (!go) std::this_thread::yield();
      for (int i = 0; i < per_client; ++i) {
        auto s = Clock::now();
        if (!op(i)) ++errors;
        lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
    });
  }
  while (ready < clients) std::this_thread::yield();
  t0 = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  char buf[256];
  std::snprintf(buf, sizeof buf, "%.0f/s, p50 %.2f ms, p99 %.2f ms%s", all.size() / secs,
                percentile(all, 0.5), percentile(all, 0.99),
                errors ? (" (" + std::to_string(errors.load()) + " errors)").c_str() : "");
  std::printf("| %s, %d client%s | %s | |\n", what.c_str(), clients, clients == 1 ? "" : "s", buf);
  std::fflush(stdout);
}

const std::string kValue(400, 'x');  // about a small ConfigMap

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int n = 2000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--etcd" && i + 1 < argc)
      url = argv[++i];
    else if (a == "--n" && i + 1 < argc)
      n = std::stoi(argv[++i]);
  }
  if (url.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "usage: etcd_bench --etcd http://127.0.0.1:PORT [--n N]\n");
    return 2;
  }
  std::string hostport = url.substr(7);
  std::string host = hostport.substr(0, hostport.rfind(':'));
  std::string port = hostport.substr(hostport.rfind(':') + 1);

  auto channel = grpc::CreateChannel(hostport, grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  for (int clients : {1, 8}) {
    measure("etcd gRPC Put (one shared channel)", clients, n / clients, [&](int c) {
      return [&, c](int i) {
        etcdserverpb::PutRequest req;
        req.set_key("/bench/grpc/" + std::to_string(clients) + "/" + std::to_string(c) + "/" +
                    std::to_string(i));
        req.set_value(kValue);
        etcdserverpb::PutResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        return kv->Put(&ctx, req, &resp).ok();
      };
    });
  }
  for (int clients : {1, 8}) {
    measure("etcd JSON gateway POST /v3/kv/put (keep-alive connection per client)", clients,
            n / clients, [&](int c) {
              auto ioc = std::make_shared<asio::io_context>();
              auto stream = std::make_shared<beast::tcp_stream>(*ioc);
              tcp::resolver resolver(*ioc);
              stream->connect(resolver.resolve(host, port));
              stream->socket().set_option(tcp::no_delay(true));
              return [&, c, ioc, stream](int i) {
                nlohmann::json body = {
                    {"key", minik8s::base64_encode("/bench/json/" + std::to_string(clients) + "/" +
                                                   std::to_string(c) + "/" + std::to_string(i))},
                    {"value", minik8s::base64_encode(kValue)}};
                http::request<http::string_body> req{http::verb::post, "/v3/kv/put", 11};
                req.set(http::field::host, host);
                req.set(http::field::content_type, "application/json");
                req.keep_alive(true);
                req.body() = body.dump();
                req.prepare_payload();
                beast::error_code ec;
                http::write(*stream, req, ec);
                if (ec) return false;
                beast::flat_buffer buf;
                http::response<http::string_body> resp;
                http::read(*stream, buf, resp, ec);
                if (ec || resp.result_int() != 200) return false;
                auto j = nlohmann::json::parse(resp.body(), nullptr, false);
                return !j.is_discarded() && j.contains("header");
              };
            });
  }
  minik8s::storage::EtcdOptions o;
  o.endpoints = {url};
  o.compaction_interval = std::chrono::milliseconds(0);
  auto store = minik8s::storage::open_etcd_storage(o);
  if (!store) {
    std::fprintf(stderr, "etcd_bench: %s\n", store.status().to_string().c_str());
    return 1;
  }
  for (int clients : {1, 8}) {
    measure("Baseline: raw EtcdStorage creates (Txn)", clients, n / clients, [&](int c) {
      return [&, c](int i) {
        return (*store)
            ->create("/registry/configmaps/bench-" + std::to_string(clients) + "/" +
                         std::to_string(c) + "-" + std::to_string(i),
                     kValue)
            .is_ok();
      };
    });
  }
  return 0;
}
