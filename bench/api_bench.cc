// api_bench: measures a running minik8s API server from outside, over
// keep-alive HTTP/1.1 connections, beside the raw store as the baseline.
//
//   api_bench --url http://127.0.0.1:PORT --data-dir DIR [--quick]
//   api_bench --url URL --creates-only LABEL   (1 and 8 clients, rows named
//                                               "API creates (LABEL)"; etcd_bench.sh)
//
// Prints one Markdown table row per measurement (see docs/benchmarks.md).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "minik8s/storage/storage.h"

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Url {
  std::string host;
  std::string port;
};

Url parse_url(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  auto colon = rest.rfind(':');
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

// One keep-alive connection.
class Conn {
 public:
  explicit Conn(const Url& url) : url_(url), stream_(ioc_) {
    tcp::resolver resolver(ioc_);
    stream_.connect(resolver.resolve(url.host, url.port));
    stream_.socket().set_option(tcp::no_delay(true));
  }
  int request(http::verb verb, const std::string& target, const std::string& body,
              std::string* out = nullptr) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, url_.host);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 31);
    http::read(stream_, buf, parser);
    if (out) *out = std::move(parser.get().body());
    return parser.get().result_int();
  }
  beast::tcp_stream& stream() { return stream_; }

 private:
  Url url_;
  asio::io_context ioc_;
  beast::tcp_stream stream_;
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

std::string configmap(const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}}},
              {"data", {{"k", "v"}}}}
      .dump();
}

std::string pod(const std::string& name) {
  return json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"labels", {{"app", "bench"}}}}},
              {"spec",
               {{"containers",
                 json::array({{{"name", "c"},
                               {"image", "busybox:1.36"},
                               {"command", json::array({"sleep", "3600"})}}})}}}}
      .dump();
}

void row(const std::string& what, const std::string& result, const std::string& target) {
  std::printf("| %s | %s | %s |\n", what.c_str(), result.c_str(), target.c_str());
  std::fflush(stdout);
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

// N clients, each creating `per_client` objects in namespace ns over one connection.
void bench_creates(const Url& url, int clients, int per_client, const std::string& ns,
                   const std::string& label = "") {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Conn conn(url);
      for (int i = 0; i < per_client; ++i) {
        auto s = Clock::now();
        int code = conn.request(http::verb::post, "/api/v1/namespaces/" + ns + "/configmaps",
                                configmap("c" + std::to_string(c) + "-" + std::to_string(i)));
        lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
        if (code != 201) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  double rate = all.size() / secs;
  row("API creates" + (label.empty() ? "" : " (" + label + ")") + ", " + std::to_string(clients) +
          " client(s)",
      fmt("%.0f/s, p50 %.2f ms, p99 %.2f ms", rate, percentile(all, 0.5), percentile(all, 0.99)) +
          (errors ? " (" + std::to_string(errors.load()) + " errors)" : ""),
      clients == 8 ? "≥ 2,000/s, p99 ≤ 10 ms" : "");
}

void ensure_ns(const Url& url, const std::string& ns) {
  Conn conn(url);
  conn.request(http::verb::post, "/api/v1/namespaces",
               json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}
                   .dump());
}

void bench_list(const Url& url, int n) {
  std::string ns = "bench-list";
  ensure_ns(url, ns);
  {
    std::vector<std::thread> threads;
    for (int c = 0; c < 8; ++c) {
      threads.emplace_back([&, c] {
        Conn conn(url);
        for (int i = c; i < n; i += 8)
          conn.request(http::verb::post, "/api/v1/namespaces/" + ns + "/pods",
                       pod("p" + std::to_string(i)));
      });
    }
    for (auto& t : threads) t.join();
  }
  Conn conn(url);
  std::vector<double> lat;
  size_t items = 0, bytes = 0;
  for (int r = 0; r < 5; ++r) {
    std::string body;
    auto s = Clock::now();
    conn.request(http::verb::get, "/api/v1/namespaces/" + ns + "/pods", "", &body);
    lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    bytes = body.size();
    items = json::parse(body)["items"].size();
  }
  row("List " + std::to_string(items) + " pods (" + std::to_string(bytes / 1024) + " KiB)",
      fmt("p50 %.1f ms, max %.1f ms", percentile(lat, 0.5), percentile(lat, 1.0)), "");
}

// W watchers on one namespace; a writer creates objects carrying their send time.
void bench_watch(const Url& url, int watchers, int events) {
  std::string ns = "bench-watch";
  ensure_ns(url, ns);
  std::string rv;
  {
    Conn conn(url);
    std::string body;
    conn.request(http::verb::get, "/api/v1/namespaces/" + ns + "/configmaps", "", &body);
    rv = json::parse(body)["metadata"].value("resourceVersion", "0");
  }
  std::mutex mu;
  std::vector<double> lat;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  auto epoch = Clock::now();
  for (int w = 0; w < watchers; ++w) {
    threads.emplace_back([&] {
      Conn conn(url);
      // HTTP/1.0: the server streams newline-delimited events unchunked until close.
      std::string req = "GET /api/v1/namespaces/" + ns +
                        "/configmaps?watch=1&resourceVersion=" + rv + " HTTP/1.0\r\nHost: bench\r\n\r\n";
      asio::write(conn.stream().socket(), asio::buffer(req));
      ready++;
      std::string pending;
      bool in_body = false;
      int got = 0;
      char chunk[65536];
      timeval tv{5, 0};  // a stalled stream ends this watcher instead of hanging the bench
      setsockopt(conn.stream().socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      auto deadline = Clock::now() + std::chrono::seconds(60);
      while (got < events && Clock::now() < deadline) {
        beast::error_code ec;
        size_t n = conn.stream().socket().read_some(asio::buffer(chunk), ec);
        if (ec) break;
        pending.append(chunk, n);
        if (!in_body) {
          auto hdr_end = pending.find("\r\n\r\n");
          if (hdr_end == std::string::npos) continue;
          pending.erase(0, hdr_end + 4);
          in_body = true;
        }
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          double now = std::chrono::duration<double, std::milli>(Clock::now() - epoch).count();
          auto ev = json::parse(pending.substr(0, nl), nullptr, false);
          pending.erase(0, nl + 1);
          if (ev.is_discarded() || ev.value("type", "") != "ADDED") continue;
          double sent = std::stod(ev["object"]["data"]["t"].get<std::string>());
          std::lock_guard<std::mutex> lock(mu);
          lat.push_back(now - sent);
          ++got;
        }
      }
      conn.stream().socket().close();
    });
  }
  while (ready < watchers) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Conn writer(url);
  for (int i = 0; i < events; ++i) {
    double t = std::chrono::duration<double, std::milli>(Clock::now() - epoch).count();
    writer.request(http::verb::post, "/api/v1/namespaces/" + ns + "/configmaps",
                   json{{"apiVersion", "v1"},
                        {"kind", "ConfigMap"},
                        {"metadata", {{"name", "w" + std::to_string(i)}}},
                        {"data", {{"t", std::to_string(t)}}}}
                       .dump());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& t : threads) t.join();
  row("Watch delivery to " + std::to_string(watchers) + " watchers (" +
          std::to_string(lat.size()) + " deliveries)",
      fmt("p50 %.2f ms, p99 %.2f ms", percentile(lat, 0.5), percentile(lat, 0.99)), "p99 ≤ 5 ms");
}

// Baseline: the raw store, in-process, same concurrency.
void bench_store(const std::string& dir, int clients, int per_client) {
  std::filesystem::create_directories(dir);
  minik8s::storage::SqliteOptions opts;
  opts.path = dir + "/baseline.db";
  auto store = minik8s::storage::open_sqlite_storage(opts);
  if (!store.is_ok()) {
    row("Baseline: SqliteStorage creates", store.status().to_string(), "");
    return;
  }
  std::vector<std::vector<double>> lat(clients);
  std::vector<std::thread> threads;
  std::string value = configmap("x");
  auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < per_client; ++i) {
        auto s = Clock::now();
        (void)(*store)->create("/registry/configmaps/b/" + std::to_string(c) + "-" + std::to_string(i), value);
        lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  row("Baseline: raw SqliteStorage creates, " + std::to_string(clients) + " thread(s)",
      fmt("%.0f/s, p50 %.2f ms, p99 %.2f ms", all.size() / secs, percentile(all, 0.5),
          percentile(all, 0.99)),
      "");
}

}  // namespace

int main(int argc, char** argv) {
  std::string url_s, dir = "/tmp/minik8s-bench";
  bool quick = false;
  std::string creates_only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--url" && i + 1 < argc) url_s = argv[++i];
    else if (a == "--data-dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--quick") quick = true;
    else if (a == "--creates-only" && i + 1 < argc) creates_only = argv[++i];
  }
  if (url_s.empty()) {
    std::fprintf(stderr, "usage: api_bench --url http://127.0.0.1:PORT [--data-dir DIR] [--quick]\n");
    return 2;
  }
  Url url = parse_url(url_s);
  int scale = quick ? 1 : 4;
  try {
    if (!creates_only.empty()) {
      for (int clients : {1, 8}) {
        std::string ns = "bench-only-c" + std::to_string(clients);
        ensure_ns(url, ns);
        bench_creates(url, clients, 2000 / clients, ns, creates_only);
      }
      return 0;
    }
    for (int clients : {1, 8, 64}) {
      bench_store(dir + "/store-" + std::to_string(clients), clients, 2000 * scale / clients);
      std::string ns = "bench-c" + std::to_string(clients);
      ensure_ns(url, ns);
      bench_creates(url, clients, 2000 * scale / clients, ns);
    }
    bench_list(url, quick ? 1000 : 10000);
    bench_watch(url, 100, quick ? 20 : 100);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "api_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
