// KubeletHttpServer: the kubelet's HTTP endpoint (see include/minik8s/kubelet/server.h
// for the endpoints, server_internal.h for the seams).
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "../util/http_read.h"
#include "minik8s/stream/beast_names.h"
#include "minik8s/stream/websocket.h"
#include "minik8s/util/time.h"
#include "minik8s/util/url.h"
#include "server_internal.h"

namespace minik8s::kubelet {

using namespace minik8s::beast_names;
using nlohmann::json;

namespace {

int http_code(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound: return 404;
    case Code::kBadRequest: return 400;
    case Code::kInvalid: return 422;
    case Code::kMethodNotAllowed: return 405;
    case Code::kForbidden: return 403;
    case Code::kUnauthorized: return 401;
    case Code::kUnavailable: return 503;
    case Code::kTimeout: return 504;
    default: return 500;
  }
}

const char* reason_of(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 422: return "Invalid";
    case 503: return "ServiceUnavailable";
    default: return "InternalError";
  }
}

std::string status_json(int code, const std::string& message) {
  return json{{"kind", "Status"},  {"apiVersion", "v1"},     {"metadata", json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason_of(code)},
              {"code", code}}
      .dump();
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.push_back(url_decode(p.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

bool client_gone(int fd, int wait_ms) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  int r = ::poll(&p, 1, wait_ms);
  if (r <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

// An optional integer query parameter within [lo, hi]. False (with *err set)
// when present but not such an integer.
bool int_param(const stream::QueryList& q, const std::string& key, int64_t lo, int64_t hi,
               std::optional<int64_t>* out, std::string* err) {
  std::string v = stream::query_get(q, key);
  out->reset();
  if (v.empty()) return true;
  int64_t n = 0;
  bool ok = false;
  try {
    size_t used = 0;
    n = std::stoll(v, &used);
    ok = used == v.size();
  } catch (...) {
  }
  if (!ok || n < lo || n > hi) {
    *err = "invalid " + key + " \"" + v + "\": must be an integer from " + std::to_string(lo) + " to " +
           std::to_string(hi);
    return false;
  }
  *out = n;
  return true;
}

constexpr int64_t kMaxSinceSeconds = 1000000000;  // ~31 years: more is a mistake (and would overflow ns)

}  // namespace

struct KubeletHttpServer::Impl {
  // A connection's Asio side. Each has its own io_context so an exec session
  // can run asynchronous WebSocket relaying on its thread.
  struct Conn {
    explicit Conn(Connection& c) : conn(c) {}
    net::io_context ioc;
    tcp::socket socket{ioc};
    Connection& conn;
  };

  Impl(ContainerLocator& l, cri::Runtime& r, std::string listen, const ConnLimits& limits,
       ConnectionServer::Spawner spawn, Security sec)
      : locator(l),
        runtime(r),
        listen_addr(std::move(listen)),
        auth(sec.auth),
        conns(ConnectionServer::Options{"kubelet server", limits, std::move(spawn), std::move(sec.layer)},
              [this](Connection& c) { serve_connection(c); }),
        stopping(conns.stopping()) {}

  ContainerLocator& locator;
  cri::Runtime& runtime;
  std::string listen_addr;
  KubeletAuth* const auth;  // null: no checks
  ConnectionServer conns;
  const std::atomic<bool>& stopping;

  void serve_connection(Connection& conn) {
    Conn c(conn);
    beast::error_code ec;
    http_read::adopt(c.socket, conn.fd(), ec);
    if (ec) return;
    http_read::Release release(c.socket);  // the ConnectionServer closes the descriptor
    serve(c);
    c.socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  static void write_simple(tcp::socket& s, int code, const std::string& ctype, std::string body, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(code), 11};
    res.set(http::field::content_type, ctype);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ec;
    http::write(s, res, ec);
  }

  void serve(Conn& c) {
    beast::flat_buffer buffer;
    for (bool first = true; !stopping; first = false) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(1024 * 1024);
      beast::error_code ec;
      http_read::read_request(c.socket, buffer, parser, conns.limits(), first, c.conn.accepted_at(), ec);
      if (ec) return;
      auto req = parser.release();
      std::string target(req.target());
      size_t q = target.find('?');
      std::string path = target.substr(0, q);
      stream::QueryList query = q == std::string::npos ? stream::QueryList{} : stream::parse_query_list(target.substr(q + 1));
      auto parts = split_path(path);
      bool keep = req.keep_alive();
      if (auth) {
        auto sv = [](beast::string_view v) { return std::string_view(v.data(), v.size()); };
        AuthVerdict v =
            auth->check(sv(req.method_string()), path, sv(req[http::field::authorization]), c.conn.peer());
        if (v.code != 200) {
          write_simple(c.socket, v.code, "application/json", status_json(v.code, v.message), keep);
          if (!keep) return;
          continue;
        }
      }
      if (!parts.empty() && parts[0] == "exec") {
        serve_exec(c, req, parts, query);
        return;
      }
      if (!parts.empty() && parts[0] == "containerLogs") {
        if (!serve_logs(c.socket, parts, query)) return;
        continue;
      }
      if (req.method() != http::verb::get) {
        write_simple(c.socket, 405, "application/json", status_json(405, "method not allowed"), keep);
      } else if (path == "/healthz") {
        write_simple(c.socket, 200, "text/plain", "ok", keep);
      } else if (path == "/stats/summary") {
        write_simple(c.socket, 200, "application/json", summary().dump(), keep);
      } else if (path == "/metrics") {
        write_simple(c.socket, 200, "text/plain; version=0.0.4", metrics(), keep);
      } else if (path == "/pods") {
        write_simple(c.socket, 200, "application/json", pods().dump(), keep);
      } else {
        write_simple(c.socket, 404, "application/json", status_json(404, "no such kubelet endpoint " + path), keep);
      }
      if (!keep) return;
    }
  }

  // /containerLogs/{ns}/{pod}/{container}. Returns false when the connection must close.
  bool serve_logs(tcp::socket& s, const std::vector<std::string>& parts, const stream::QueryList& q) {
    if (parts.size() < 3 || parts.size() > 4) {
      write_simple(s, 400, "application/json", status_json(400, "want /containerLogs/{namespace}/{pod}/{container}"),
                   false);
      return false;
    }
    std::string container = parts.size() == 4 ? parts[3] : "";
    bool previous = stream::query_bool(q, "previous");
    auto ref = locator.find_container(parts[1], parts[2], container, previous);
    if (!ref) {
      write_simple(s, http_code(ref.status()), "application/json", status_json(http_code(ref.status()), ref.status().message()),
                   false);
      return false;
    }
    LogOptions opts;
    opts.follow = stream::query_bool(q, "follow");
    opts.timestamps = stream::query_bool(q, "timestamps");
    std::string bad;
    if (!int_param(q, "tailLines", -1, std::numeric_limits<int64_t>::max(), &opts.tail_lines, &bad) ||
        !int_param(q, "sinceSeconds", 1, kMaxSinceSeconds, &opts.since_seconds, &bad) ||
        !int_param(q, "limitBytes", 1, std::numeric_limits<int64_t>::max(), &opts.limit_bytes, &bad)) {
      write_simple(s, 400, "application/json", status_json(400, bad), false);
      return false;
    }
    if (opts.tail_lines && *opts.tail_lines < 0) opts.tail_lines.reset();  // -1 = all
    // Chunked, block by block; the header goes out with the first bytes (or at the end), so a
    // missing log file is still a 404.
    bool head_sent = false;
    beast::error_code ec;
    auto send_head = [&] {
      if (head_sent) return !ec;
      head_sent = true;
      std::string head = std::string("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n") +
                         (opts.follow ? "Connection: close\r\n" : "") + "\r\n";
      net::write(s, net::buffer(head), ec);
      return !ec;
    };
    auto emit = [&](std::string_view chunk) {
      if (!send_head()) return false;
      if (chunk.empty()) return true;
      char len[32];
      int n = std::snprintf(len, sizeof len, "%zx\r\n", chunk.size());
      std::array<net::const_buffer, 3> bufs = {net::buffer(len, static_cast<size_t>(n)),
                                               net::buffer(chunk.data(), chunk.size()), net::buffer("\r\n", 2)};
      net::write(s, bufs, ec);
      return !ec;
    };
    if (opts.follow && !send_head()) return false;  // the client sees the stream open at once
    int fd = s.native_handle();
    std::string container_id = ref->container_id;
    // The follow ends once the container exited (Kubernetes does the same). A container the
    // runtime no longer knows has stopped too; other errors leave it to the client to hang up.
    auto running = [&] {
      auto cs = runtime.container_status(container_id);
      if (!cs) return cs.status().code() != Code::kNotFound;
      return cs->container.state != cri::ContainerState::kExited;
    };
    Status st = stream_logs(ref->log_path, opts, emit, [&] { return !stopping && !client_gone(fd, 100); },
                            std::function<bool()>(running));
    if (!st.is_ok() && !head_sent) {
      write_simple(s, http_code(st), "application/json", status_json(http_code(st), st.message()), false);
      return false;
    }
    if (ec) return false;
    if (!st.is_ok()) emit("error: " + st.message() + "\n");
    if (!send_head()) return false;
    net::write(s, net::buffer("0\r\n\r\n", 5), ec);
    return !ec && !opts.follow;
  }

  void serve_exec(Conn& c, const http::request<http::string_body>& req, const std::vector<std::string>& parts,
                  const stream::QueryList& q) {
    auto fail = [&](int code, const std::string& msg) {
      write_simple(c.socket, code, "application/json", status_json(code, msg), false);
    };
    if (parts.size() < 3 || parts.size() > 4) return fail(400, "want /exec/{namespace}/{pod}/{container}");
    if (req.method() != http::verb::get && req.method() != http::verb::post) return fail(405, "method not allowed");
    cri::ExecRequest er;
    er.cmd = stream::query_all(q, "command");
    if (er.cmd.empty()) return fail(400, "you must specify at least 1 command");
    er.tty = stream::query_bool(q, "tty");
    er.stdin_ = stream::query_bool(q, "stdin");
    er.stdout_ = stream::query_get(q, "stdout", "true") != "false" && stream::query_get(q, "stdout", "true") != "0";
    er.stderr_ = !er.tty && stream::query_bool(q, "stderr");
    if (!websocket::is_upgrade(req)) {
      return fail(400, "exec needs a WebSocket upgrade (channel.k8s.io); SPDY is not supported by minik8s");
    }
    std::string proto = stream::choose_protocol(std::string(req[http::field::sec_websocket_protocol]));
    if (proto.empty()) {
      return fail(400, "none of the offered subprotocols \"" + std::string(req[http::field::sec_websocket_protocol]) +
                           "\" is supported; want one of " + stream::join_protocols(stream::channel_protocols()));
    }
    auto ref = locator.find_container(parts[1], parts[2], parts.size() == 4 ? parts[3] : "", false);
    if (!ref) return fail(http_code(ref.status()), ref.status().message());
    er.container_id = ref->container_id;
    if (stopping) return;
    // Upgrade the client first, then start the exec: the runtime's streaming
    // server runs the command as soon as it is connected, and output that
    // reaches kubectl together with the 101 races client-go's stream setup
    // (its demux loop starts before the streams exist and drops a frame for
    // a stream id it does not know yet: "Unknown stream id 1"). Failures
    // after the upgrade go to the error channel as a Status, as upstream.
    beast::error_code dup_ec;
    tcp::socket own = stream::duplicate_socket(c.socket, dup_ec);
    if (dup_ec) return fail(503, "cannot serve exec: " + dup_ec.message());
    stream::WsStream client(std::move(own));
    client.set_option(websocket::stream_base::decorator(
        [proto](websocket::response_type& res) { res.set(http::field::sec_websocket_protocol, proto); }));
    client.read_message_max(64 * 1024 * 1024);
    beast::error_code ec;
    client.accept(req, ec);
    if (ec) return;
    client.binary(true);
    auto fail_ws = [&](const std::string& msg) {
      beast::error_code ig;
      client.write(net::buffer(stream::frame(stream::kError, stream::failure_json(msg))), ig);
      client.close(websocket::close_code::normal, ig);
    };
    auto url = runtime.exec(er);
    if (!url) return fail_ws("runtime exec: " + url.status().message());
    auto u = stream::parse_url(*url);
    if (!u) return fail_ws(u.status().message());
    std::vector<std::string> offer = proto == "v5.channel.k8s.io"
                                         ? std::vector<std::string>{"v5.channel.k8s.io", "v4.channel.k8s.io"}
                                         : std::vector<std::string>{proto};
    std::string backend_proto;
    auto backend = stream::connect_ws(c.ioc, u->host, u->port, u->target, offer, &backend_proto);
    if (!backend) return fail_ws("runtime streaming server: " + backend.status().message());
    if (backend_proto.empty()) backend_proto = "channel.k8s.io";
    c.conn.backend_fd() = beast::get_lowest_layer(**backend).native_handle();
    if (stopping) {
      beast::error_code ig;
      (*backend)->close(websocket::close_code::normal, ig);
      return;
    }
    bool drop_close = proto == "v5.channel.k8s.io" && backend_proto != "v5.channel.k8s.io";
    stream::MessageFilter to_backend;
    if (drop_close) {
      // v4 has no half-close of stdin: the v5 close frame cannot be forwarded.
      to_backend = [](std::string& m) { return m.empty() || static_cast<unsigned char>(m[0]) != stream::kClose; };
    }
    stream::relay(client, **backend, to_backend, nullptr);
    c.conn.backend_fd() = -1;
  }

  json summary() {
    std::string now = format_rfc3339(std::chrono::system_clock::now());
    json pods_j = json::array();
    uint64_t node_cpu = 0, node_mem = 0, node_cum = 0;
    for (const auto& p : locator.pod_usage()) {
      json cs = json::array();
      uint64_t cum = 0;
      for (const auto& c : p.containers) {
        cum += c.cpu_usage_core_nanos;
        cs.push_back({{"name", c.name},
                      {"cpu", {{"time", now}, {"usageNanoCores", c.cpu_usage_nano_cores},
                               {"usageCoreNanoSeconds", c.cpu_usage_core_nanos}}},
                      {"memory", {{"time", now}, {"workingSetBytes", c.memory_working_set_bytes}}}});
      }
      pods_j.push_back({{"podRef", {{"name", p.name}, {"namespace", p.namespace_}, {"uid", p.uid}}},
                        {"containers", cs},
                        {"cpu", {{"time", now}, {"usageNanoCores", p.cpu_usage_nano_cores},
                                 {"usageCoreNanoSeconds", cum}}},
                        {"memory", {{"time", now}, {"workingSetBytes", p.memory_working_set_bytes}}}});
      node_cpu += p.cpu_usage_nano_cores;
      node_mem += p.memory_working_set_bytes;
      node_cum += cum;
    }
    return {{"node",
             {{"nodeName", locator.node_name()},
              {"cpu", {{"time", now}, {"usageNanoCores", node_cpu}, {"usageCoreNanoSeconds", node_cum}}},
              {"memory", {{"time", now}, {"workingSetBytes", node_mem}}}}},
            {"pods", pods_j}};
  }

  static std::string label_value(const std::string& v) {
    std::string o;
    for (char ch : v) {
      if (ch == '\\' || ch == '"') o.push_back('\\');
      if (ch == '\n') {
        o += "\\n";
        continue;
      }
      o.push_back(ch);
    }
    return o;
  }

  std::string metrics() {
    auto usage = locator.pod_usage();
    std::string cpu = "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container.\n"
                      "# TYPE container_cpu_usage_seconds_total counter\n";
    std::string mem = "# HELP container_memory_working_set_bytes Current working set of the container.\n"
                      "# TYPE container_memory_working_set_bytes gauge\n";
    std::string pcpu = "# HELP pod_cpu_usage_nano_cores CPU usage of the pod in nanocores.\n"
                       "# TYPE pod_cpu_usage_nano_cores gauge\n";
    std::string pmem = "# HELP pod_memory_working_set_bytes Current working set of the pod.\n"
                       "# TYPE pod_memory_working_set_bytes gauge\n";
    char num[64];
    for (const auto& p : usage) {
      std::string pl = "namespace=\"" + label_value(p.namespace_) + "\",pod=\"" + label_value(p.name) + "\"";
      for (const auto& c : p.containers) {
        std::string l = "{container=\"" + label_value(c.name) + "\"," + pl + "}";
        std::snprintf(num, sizeof num, "%.9f", static_cast<double>(c.cpu_usage_core_nanos) / 1e9);
        cpu += "container_cpu_usage_seconds_total" + l + " " + num + "\n";
        mem += "container_memory_working_set_bytes" + l + " " + std::to_string(c.memory_working_set_bytes) + "\n";
      }
      pcpu += "pod_cpu_usage_nano_cores{" + pl + "} " + std::to_string(p.cpu_usage_nano_cores) + "\n";
      pmem += "pod_memory_working_set_bytes{" + pl + "} " + std::to_string(p.memory_working_set_bytes) + "\n";
    }
    return cpu + mem + pcpu + pmem + "# HELP kubelet_running_pods Number of pods this kubelet runs.\n" +
           "# TYPE kubelet_running_pods gauge\nkubelet_running_pods " + std::to_string(locator.running_pods()) + "\n";
  }

  json pods() {
    // The kubelet exposes only what it samples; metadata is enough for a lookup by name.
    json items = json::array();
    for (const auto& p : locator.pod_usage()) {
      items.push_back({{"apiVersion", "v1"},
                       {"kind", "Pod"},
                       {"metadata", {{"name", p.name}, {"namespace", p.namespace_}, {"uid", p.uid}}}});
    }
    return {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"items", items}};
  }
};

KubeletHttpServer::KubeletHttpServer(ContainerLocator& locator, cri::Runtime& runtime, std::string listen,
                                     const ConnLimits& limits, ConnectionServer::Spawner spawn, Security security)
    : impl_(std::make_unique<Impl>(locator, runtime, std::move(listen), limits, std::move(spawn),
                                   std::move(security))) {}

KubeletHttpServer::~KubeletHttpServer() { stop(); }

Status KubeletHttpServer::start() {
  Impl& s = *impl_;
  std::string host = s.listen_addr, port = "0";
  size_t colon = s.listen_addr.rfind(':');
  if (colon != std::string::npos) {
    host = s.listen_addr.substr(0, colon);
    port = s.listen_addr.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  int p = 0;
  try {
    p = std::stoi(port);
  } catch (...) {
    return Status(Code::kInvalid, "kubelet server: bad listen port in \"" + s.listen_addr + "\"");
  }
  if (p < 0 || p > 65535) return Status(Code::kInvalid, "kubelet server: bad listen port in \"" + s.listen_addr + "\"");
  Status st = s.conns.listen(host, static_cast<uint16_t>(p));
  if (st.code() == Code::kInvalid) return Status(Code::kInvalid, "kubelet server: bad listen address \"" + s.listen_addr + "\"");
  if (!st.is_ok()) return Status(Code::kUnavailable, "kubelet server: " + st.message());
  s.conns.start();
  return Status::ok();
}

int KubeletHttpServer::port() const { return impl_->conns.port(); }

void KubeletHttpServer::stop() { impl_->conns.stop(); }

}  // namespace minik8s::kubelet
