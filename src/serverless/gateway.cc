#include "minik8s/serverless/gateway.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include "../util/http_read.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer.h"
#include "minik8s/util/prometheus.h"
#include "minik8s/util/url.h"

namespace minik8s::serverless {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr const char* kWorkflowApiVersion = "serverless.minik8s.io/v1";

namespace {

constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                               0.5,   1,      2.5,   5,    10,    30,   60};
constexpr size_t kNumBuckets = sizeof(kBuckets) / sizeof(kBuckets[0]);
constexpr size_t kMaxIdlePerInstance = 64;
constexpr auto kIdleUpstreamMax = std::chrono::seconds(60);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr size_t kMaxUpstreamResponse = 64 * 1024 * 1024;

// "30s", "1500ms": for messages.
std::string fmt_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   static_cast<uint64_t>(Clock::now().time_since_epoch().count())};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

bool is_blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// Header values echoed to the upstream must not smuggle lines.
bool header_safe(std::string_view v) {
  return v.find_first_of("\r\n") == std::string_view::npos && v.size() <= 256;
}

// ---- upstream (gateway → instance) I/O on raw descriptors, every wait bounded

enum class IoResult { kOk, kTimeout, kError };

IoResult wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) left = 0;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30)));
    if (r > 0) return IoResult::kOk;
    if (r == 0) return IoResult::kTimeout;
    if (errno != EINTR) return IoResult::kError;
  }
}

// Non-blocking connect to a numeric IPv4/IPv6 address (no DNS), TCP_NODELAY.
// Returns the descriptor (blocking mode) or -1 with *err set.
int connect_to(const std::string& ip, int port, Clock::time_point deadline, std::string* err) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    *err = "bad instance address \"" + ip + "\"";
    return -1;
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) {
      *err = std::string("connect: ") + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    IoResult w = wait_fd(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (w == IoResult::kTimeout) {
      *err = "connect: timed out";
      ::close(fd);
      return -1;
    }
    if (w == IoResult::kError || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
        soerr != 0) {
      *err = std::string("connect: ") + std::strerror(soerr ? soerr : errno);
      ::close(fd);
      return -1;
    }
  }
  return fd;  // stays non-blocking: every read and write below polls first
}

IoResult write_all(int fd, std::string_view data, Clock::time_point deadline, std::string* err) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      IoResult w = wait_fd(fd, POLLOUT, deadline);
      if (w == IoResult::kTimeout) return IoResult::kTimeout;
      if (w == IoResult::kError) break;
      continue;
    }
    break;
  }
  if (data.empty()) return IoResult::kOk;
  *err = std::string("send: ") + std::strerror(errno);
  return IoResult::kError;
}

// A Beast SyncReadStream over a non-blocking descriptor: reads fail with
// timed_out past the deadline; counts what arrived (a stale pooled
// connection fails before its first byte).
class UpstreamReader {
 public:
  UpstreamReader(int fd, Clock::time_point deadline) : fd_(fd), deadline_(deadline) {}
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& bufs, beast::error_code& ec) {
    for (auto it = net::buffer_sequence_begin(bufs); it != net::buffer_sequence_end(bufs); ++it) {
      net::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      for (;;) {
        ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
        if (n > 0) {
          received_ += static_cast<size_t>(n);
          ec = {};
          return static_cast<size_t>(n);
        }
        if (n == 0) {
          ec = net::error::eof;
          return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          ec = beast::error_code(errno, boost::system::system_category());
          return 0;
        }
        IoResult w = wait_fd(fd_, POLLIN, deadline_);
        if (w == IoResult::kTimeout) {
          ec = net::error::timed_out;
          return 0;
        }
        if (w == IoResult::kError) {
          ec = beast::error_code(errno, boost::system::system_category());
          return 0;
        }
      }
    }
    ec = {};
    return 0;
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& b) {
    beast::error_code ec;
    size_t n = read_some(b, ec);
    if (ec) BOOST_THROW_EXCEPTION(beast::system_error{ec});
    return n;
  }
  size_t received() const { return received_; }

 private:
  int fd_;
  Clock::time_point deadline_;
  size_t received_ = 0;
};

// Kept-alive connections to instances, by "ip:port". Thread-safe.
class UpstreamPool {
 public:
  ~UpstreamPool() { close_all(); }
  // An idle connection that still looks alive, or -1.
  int get(const std::string& addr) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(addr);
    if (it == idle_.end()) return -1;
    while (!it->second.empty()) {
      auto [fd, since] = it->second.back();
      it->second.pop_back();
      // Readable while idle: the instance closed it (or sent junk).
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) == 0 && Clock::now() - since < kIdleUpstreamMax) return fd;
      ::close(fd);
    }
    return -1;
  }
  void put(const std::string& addr, int fd) {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    if (now - last_sweep_ > std::chrono::seconds(10)) sweep(now);
    auto& v = idle_[addr];
    if (v.size() >= kMaxIdlePerInstance) {
      ::close(fd);
      return;
    }
    v.emplace_back(fd, now);
  }
  void close_all() {
    std::lock_guard lock(mu_);
    for (auto& [addr, v] : idle_) {
      for (auto& [fd, since] : v) ::close(fd);
    }
    idle_.clear();
  }

 private:
  // Closes connections idle too long (instances that went away).
  void sweep(Clock::time_point now) {
    last_sweep_ = now;
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& v = it->second;
      std::erase_if(v, [&](const auto& e) {
        if (now - e.second < kIdleUpstreamMax) return false;
        ::close(e.first);
        return true;
      });
      it = v.empty() ? idle_.erase(it) : std::next(it);
    }
  }

  std::mutex mu_;
  // Guarded by mu_:
  std::map<std::string, std::vector<std::pair<int, Clock::time_point>>> idle_;
  Clock::time_point last_sweep_ = Clock::now();
};

struct Reply {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

Reply json_error(int code, const std::string& error, const std::string& message) {
  Reply r;
  r.code = code;
  r.body = json{{"error", error}, {"message", message}}.dump() + "\n";
  return r;
}

Reply status_reply(int code, const std::string& reason, const std::string& message) {
  Reply r;
  r.code = code;
  r.body = json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
                {"status", "Failure"}, {"reason", reason},   {"code", code},
                {"message", message}}
               .dump() +
           "\n";
  return r;
}

}  // namespace

struct Gateway::Impl {
  Impl(InstanceTable& t, GatewayOptions o, std::function<bool(const std::string&)> e)
      : table(t), opts(std::move(o)), exists(std::move(e)) {}

  InstanceTable& table;
  const GatewayOptions opts;
  const std::function<bool(const std::string&)> exists;
  std::unique_ptr<ConnectionServer> server;
  UpstreamPool pool;

  // Metrics. Guarded by metrics_mu:
  mutable std::mutex metrics_mu;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests;
  std::map<std::pair<std::string, std::string>, prometheus::Histogram> durations;
  std::map<std::pair<std::string, std::string>, uint64_t> cold_starts;

  // Workflows (serve_workflows); set before start().
  client::Client* wf_client = nullptr;
  client::Informer* wf_runs = nullptr;
  client::HandlerId wf_handler = 0;
  std::mutex wf_mu;
  std::condition_variable wf_cv;
  // Guarded by wf_mu: runs someone waits for (key → waiters), the terminal
  // (or last, when deleted) object of those that ended.
  std::map<std::string, int> wf_waiting;
  std::map<std::string, client::ObjectPtr> wf_ended;
  bool wf_stopping = false;
  void wf_seen(const client::ObjectPtr& obj, bool deleted);
  Reply run_workflow(const std::string& ns, const std::string& name,
                     http::request<http::string_body>& req);

  void serve(Connection& c);
  Reply route(http::request<http::string_body>& req, Connection& c);
  Reply invoke(const std::string& ns, const std::string& name,
               http::request<http::string_body>& req, Connection& c);
  // One round trip over fd; kOk with *reply filled, else *err says why.
  enum class Forward { kOk, kStale, kTimeout, kFailed };
  Forward round_trip(int fd, const std::string& request, Clock::time_point deadline, Reply* reply,
                     bool* keep_alive, std::string* err);
  void observe(const std::string& ns, const std::string& name, int code, double seconds, bool cold);
  std::string metrics_text() const;
};

void Gateway::Impl::observe(const std::string& ns, const std::string& name, int code,
                            double seconds, bool cold) {
  std::lock_guard lock(metrics_mu);
  ++requests[{ns, name, code}];
  durations.try_emplace({ns, name}, kBuckets, kNumBuckets).first->second.observe(seconds);
  if (cold) ++cold_starts[{ns, name}];
}

std::string Gateway::Impl::metrics_text() const {
  std::string out;
  auto labels = [](const std::string& ns, const std::string& name) {
    return "namespace=\"" + prometheus::escape_label(ns) + "\",function=\"" + prometheus::escape_label(name) + "\"";
  };
  {
    std::lock_guard lock(metrics_mu);
    out += "# HELP minik8s_function_requests_total Function invocations by HTTP code.\n";
    out += "# TYPE minik8s_function_requests_total counter\n";
    for (const auto& [k, v] : requests) {
      out += "minik8s_function_requests_total{" + labels(std::get<0>(k), std::get<1>(k)) +
             ",code=\"" + std::to_string(std::get<2>(k)) + "\"} " + std::to_string(v) + "\n";
    }
    out += "# HELP minik8s_function_request_duration_seconds Invocation latency at the gateway.\n";
    out += "# TYPE minik8s_function_request_duration_seconds histogram\n";
    for (const auto& [k, h] : durations)
      h.render(out, "minik8s_function_request_duration_seconds", labels(k.first, k.second));
    out +=
        "# HELP minik8s_function_cold_starts_total Invocations that waited for an instance to "
        "appear.\n";
    out += "# TYPE minik8s_function_cold_starts_total counter\n";
    for (const auto& [k, v] : cold_starts) {
      out += "minik8s_function_cold_starts_total{" + labels(k.first, k.second) + "} " +
             std::to_string(v) + "\n";
    }
  }
  std::string depth, in_flight;
  for (const std::string& key : table.functions()) {
    auto slash = key.find('/');
    std::string l =
        labels(key.substr(0, slash), slash == std::string::npos ? "" : key.substr(slash + 1));
    Load load = table.load(key);
    depth += "minik8s_function_queue_depth{" + l + "} " + std::to_string(load.queued) + "\n";
    in_flight += "minik8s_function_in_flight{" + l + "} " + std::to_string(load.in_flight) + "\n";
  }
  out += "# HELP minik8s_function_queue_depth Requests waiting for an instance.\n";
  out += "# TYPE minik8s_function_queue_depth gauge\n" + depth;
  out += "# HELP minik8s_function_in_flight Requests being served by instances.\n";
  out += "# TYPE minik8s_function_in_flight gauge\n" + in_flight;
  return out;
}

Gateway::Impl::Forward Gateway::Impl::round_trip(int fd, const std::string& request,
                                                 Clock::time_point deadline, Reply* reply,
                                                 bool* keep_alive, std::string* err) {
  IoResult w = write_all(fd, request, deadline, err);
  if (w == IoResult::kTimeout) return Forward::kTimeout;
  if (w == IoResult::kError) return Forward::kStale;  // nothing answered yet
  UpstreamReader reader(fd, deadline);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxUpstreamResponse);
  beast::error_code ec;
  http::read(reader, buf, parser, ec);
  if (ec == net::error::timed_out) return Forward::kTimeout;
  if (ec) {
    *err = ec == http::error::end_of_stream || ec == net::error::eof
               ? "connection closed by the instance"
               : ec.message();
    return reader.received() == 0 ? Forward::kStale : Forward::kFailed;
  }
  auto& res = parser.get();
  reply->code = static_cast<int>(res.result_int());
  auto ct = res[http::field::content_type];
  reply->content_type = ct.empty() ? "application/octet-stream" : std::string(ct);
  reply->body = std::move(res.body());
  *keep_alive = res.keep_alive() && buf.size() == 0;
  if (auto d = res["X-Duration-Ms"]; !d.empty() && header_safe(std::string_view(d.data(), d.size())))
    reply->headers.emplace_back("X-Duration-Ms", std::string(d));
  return Forward::kOk;
}

Reply Gateway::Impl::invoke(const std::string& ns, const std::string& name,
                            http::request<http::string_body>& req, Connection& c) {
  const std::string key = function_key(ns, name);
  auto start = Clock::now();
  const bool known = exists ? exists(key) : true;
  bool cold = false;
  auto finish = [&](Reply r) {
    if (known)
      observe(ns, name, r.code, std::chrono::duration<double>(Clock::now() - start).count(), cold);
    return r;
  };

  if (!is_blank(req.body()) && !json::accept(req.body())) {
    return finish(json_error(400, "BadRequest", "the request body is not valid JSON"));
  }
  auto not_found = [&] {
    return status_reply(404, "NotFound", "function \"" + key + "\" not found");
  };
  if (!known) return not_found();

  // Lease an instance, waiting (FIFO) up to the queue timeout. A Function the
  // controller has not registered yet is waited for too, while it exists.
  auto queue_deadline = start + opts.queue_timeout;
  Result<Lease> lease = table.acquire(key, queue_deadline);
  while (!lease.is_ok() && lease.status().code() == Code::kNotFound && exists &&
         Clock::now() < queue_deadline && !server->stopping()) {
    if (!exists(key)) return finish(not_found());
    std::this_thread::sleep_until(
        std::min(queue_deadline, Clock::now() + std::chrono::milliseconds(20)));
    lease = table.acquire(key, queue_deadline);
    cold = true;
  }
  if (!lease.is_ok()) {
    if (lease.status().code() == Code::kNotFound) {
      if (exists) {
        return finish(json_error(
            503, "ServiceUnavailable",
            "no instance of " + key + " became ready within " + fmt_duration(opts.queue_timeout)));
      }
      return not_found();
    }
    if (lease.status().message().find("shutting down") != std::string::npos) {
      return finish(json_error(503, "ServiceUnavailable", "the gateway is shutting down"));
    }
    return finish(json_error(
        503, "ServiceUnavailable",
        "no instance of " + key + " became ready within " + fmt_duration(opts.queue_timeout)));
  }
  cold = cold || lease->cold;
  const InstanceRef& inst = lease->instance;
  const std::string addr = inst.ip + ":" + std::to_string(inst.port);

  // The upstream request.
  std::string request_id(req["X-Request-Id"]);
  if (request_id.empty() || !header_safe(request_id)) request_id = new_request_id();
  auto timeout = lease->function.timeout.count() > 0 ? lease->function.timeout
                                                     : std::chrono::milliseconds(60000);
  auto deadline = Clock::now() + timeout;
  std::string target(req.target());
  auto q = target.find('?');
  std::string up;
  up.reserve(256 + req.body().size());
  up += "POST /invoke";
  if (q != std::string::npos) up += target.substr(q);
  up += " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(req.body().size()) + "\r\nX-Request-Id: " + request_id +
        "\r\nX-Deadline-Ms: " + std::to_string(timeout.count()) + "\r\n\r\n";
  up += req.body();

  Reply reply;
  bool keep_alive = false;
  std::string err;
  Forward result = Forward::kFailed;
  double round_trip_ms = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = attempt == 0 ? pool.get(addr) : -1;
    bool pooled = fd >= 0;
    if (fd < 0) {
      fd = connect_to(inst.ip, inst.port, std::min(deadline, Clock::now() + kConnectTimeout), &err);
      if (fd < 0) {
        result = Forward::kFailed;
        break;
      }
    }
    c.backend_fd() = fd;  // stop() shuts it down
    auto sent = Clock::now();
    result = round_trip(fd, up, deadline, &reply, &keep_alive, &err);
    round_trip_ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
    c.backend_fd() = -1;
    if (result == Forward::kOk && keep_alive) {
      pool.put(addr, fd);
    } else {
      ::close(fd);
    }
    if (result == Forward::kStale && pooled)
      continue;  // the instance closed an idle connection: once more
    break;
  }

  switch (result) {
    case Forward::kOk:
      table.release(*lease, false);
      reply.headers.emplace_back("X-Instance", inst.pod);
      reply.headers.emplace_back("X-Request-Id", request_id);
      if (std::none_of(reply.headers.begin(), reply.headers.end(),
                       [](const auto& h) { return h.first == "X-Duration-Ms"; })) {
        char d[32];
        std::snprintf(d, sizeof d, "%.3f", round_trip_ms);
        reply.headers.emplace_back("X-Duration-Ms", d);
      }
      return finish(std::move(reply));
    case Forward::kTimeout:
      table.release(*lease, false);
      return finish(json_error(504, "Timeout",
                               "function " + key + " did not answer within " +
                                   fmt_duration(timeout) + " (instance " + inst.pod + ")"));
    case Forward::kStale:
    case Forward::kFailed:
      break;
  }
  if (server->stopping()) {
    table.release(*lease, false);
    return finish(json_error(503, "ServiceUnavailable", "the gateway is shutting down"));
  }
  if (err.starts_with(
          "socket: ")) {  // the gateway's own trouble (EMFILE, ENOBUFS): not the instance's
    table.release(*lease, false);
    spdlog::warn("gateway: cannot open a connection to {}: {}", inst.pod, err);
    return finish(
        json_error(503, "ServiceUnavailable", "the gateway cannot open a connection: " + err));
  }
  table.release(*lease, true);
  spdlog::warn("gateway: instance {} of {} failed: {}", inst.pod, key, err);
  Reply r =
      json_error(502, "BadGateway", "instance " + inst.pod + " of " + key + " failed: " + err);
  r.headers.emplace_back("X-Instance", inst.pod);
  return finish(std::move(r));
}

namespace {

std::string run_phase(const api::Json& run) { return api::sfield(api::field(run, "status"), "phase"); }
bool run_ended(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Cancelled";
}

// name=value pairs of a query string, decoded.
std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view qs = target.substr(q + 1);
  while (!qs.empty()) {
    auto amp = qs.find('&');
    std::string_view kv = qs.substr(0, amp);
    if (!kv.empty()) {
      auto eq = kv.find('=');
      out.emplace_back(url_decode(kv.substr(0, eq)),
                       eq == std::string_view::npos ? "" : url_decode(kv.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    qs = qs.substr(amp + 1);
  }
  return out;
}

// The HTTP code for an API error on the gateway's behalf.
int code_for(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound:
      return 404;
    case Code::kInvalid:
      return 422;
    case Code::kForbidden:
      return 403;
    default:
      return 503;
  }
}

}  // namespace

void Gateway::Impl::wf_seen(const client::ObjectPtr& obj, bool deleted) {
  const std::string key = client::object_key(*obj);
  std::lock_guard lock(wf_mu);
  if (!wf_waiting.count(key)) return;
  if (!deleted && !run_ended(run_phase(*obj))) return;
  wf_ended[key] = obj;
  wf_cv.notify_all();
}

Reply Gateway::Impl::run_workflow(const std::string& ns, const std::string& name,
                                  http::request<http::string_body>& req) {
  const api::ResourceType* wf_type = api::find_kind(kWorkflowApiVersion, "Workflow");
  const api::ResourceType* run_type = api::find_kind(kWorkflowApiVersion, "WorkflowRun");
  if (!wf_type || !run_type) return json_error(500, "InternalError", "the kind table lacks WorkflowRun");
  // The input: the body (a non-object under "body"), query parameters
  // merged in without overriding, as the runtime does for functions.
  json input = json::object();
  bool async = false;
  if (!is_blank(req.body())) {
    auto parsed = api::parse_json(req.body());
    if (!parsed.is_ok()) return json_error(400, "BadRequest", "the request body is not valid JSON");
    input = parsed->is_object() ? std::move(*parsed) : json{{"body", std::move(*parsed)}};
  }
  for (auto& [k, v] : query_pairs(std::string_view(req.target().data(), req.target().size()))) {
    if (k == "async") {
      async = v.empty() || v == "1" || v == "true";
      continue;
    }
    if (!input.contains(k)) input[k] = v;
  }
  auto wf = wf_client->get(*wf_type, ns, name);
  if (!wf.is_ok()) {
    if (wf.status().code() == Code::kNotFound)
      return status_reply(404, "NotFound", "workflow \"" + ns + "/" + name + "\" not found");
    return json_error(code_for(wf.status()), "ServiceUnavailable", wf.status().message());
  }
  int64_t timeout_s = 600;
  if (const json& t = api::field(api::field(*wf, "spec"), "timeoutSeconds"); t.is_number_integer())
    timeout_s = std::max<int64_t>(1, t.get<int64_t>());
  json run = {{"apiVersion", kWorkflowApiVersion},
              {"kind", "WorkflowRun"},
              {"metadata", {{"generateName", name + "-"}, {"namespace", ns}}},
              {"spec", {{"workflow", name}, {"input", std::move(input)}}}};
  auto created = wf_client->create(*run_type, run, ns);
  if (!created.is_ok()) {
    const Status& st = created.status();
    if (st.code() == Code::kInvalid && st.message().find("spec.workflow") != std::string::npos &&
        st.message().find("ot found") != std::string::npos) {
      return status_reply(404, "NotFound", "workflow \"" + ns + "/" + name + "\" not found");
    }
    int code = code_for(st);
    return json_error(code, code == 422 ? "Invalid" : code == 404 ? "NotFound" : "ServiceUnavailable",
                      "cannot create the run: " + st.message());
  }
  const std::string run_name = api::sfield(api::field(*created, "metadata"), "name");
  const std::string key = ns + "/" + run_name;
  if (async) {
    Reply r;
    r.code = 202;
    r.body = json{{"run", run_name}}.dump() + "\n";
    r.headers.emplace_back("X-Workflow-Run", run_name);
    return r;
  }

  // Wait for the end: the informer's handler hands the terminal object over;
  // one already in the cache is taken at once.
  client::ObjectPtr ended;
  auto deadline = Clock::now() + std::chrono::seconds(timeout_s + 5);
  {
    std::unique_lock lock(wf_mu);
    ++wf_waiting[key];
    if (client::ObjectPtr cur = wf_runs->indexer().get(key); cur && run_ended(run_phase(*cur))) ended = cur;
    wf_cv.wait_until(lock, deadline, [&] {
      if (!ended) {
        if (auto it = wf_ended.find(key); it != wf_ended.end()) ended = it->second;
      }
      return ended != nullptr || wf_stopping;
    });
    if (--wf_waiting[key] == 0) {
      wf_waiting.erase(key);
      wf_ended.erase(key);
    }
  }
  Reply r;
  r.headers.emplace_back("X-Workflow-Run", run_name);
  if (!ended) {
    if (auto g = wf_client->get(*run_type, ns, run_name); g.is_ok() && run_ended(run_phase(*g)))
      ended = std::make_shared<const json>(std::move(*g));
  }
  if (!ended) {
    r.code = wf_stopping ? 503 : 504;
    r.body = json{{"error", wf_stopping ? "ServiceUnavailable" : "Timeout"},
                  {"message", wf_stopping ? "the gateway is shutting down"
                                          : "run " + run_name + " did not end within " +
                                                std::to_string(timeout_s + 5) + "s"},
                  {"run", run_name}}
                 .dump() +
             "\n";
    return r;
  }
  const std::string phase = run_phase(*ended);
  const json& st = api::field(*ended, "status");
  if (phase == "Succeeded") {
    const json& out = api::field(st, "output");
    r.body = out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
  }
  const json& err = api::field(st, "error");
  r.code = 500;
  if (!run_ended(phase)) {  // deleted while running
    r.body = json{{"error", "States.Runtime"}, {"cause", "the run was deleted"}, {"state", ""}, {"run", run_name}}.dump() + "\n";
    return r;
  }
  std::string error = api::sfield(err, "error");
  if (error.empty()) error = phase == "Cancelled" ? "States.Cancelled" : "States.Runtime";
  r.body = json{{"error", error},
                {"cause", api::sfield(err, "cause")},
                {"state", api::sfield(err, "state")},
                {"run", run_name}}
               .dump(-1, ' ', false, json::error_handler_t::replace) +
           "\n";
  return r;
}

Reply Gateway::Impl::route(http::request<http::string_body>& req, Connection& c) {
  std::string_view target(req.target().data(), req.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    Reply r;
    r.content_type = "text/plain";
    r.body = "ok\n";
    return r;
  }
  if (path == "/metrics") {
    Reply r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_text();
    return r;
  }
  constexpr std::string_view kPrefix = "/functions/";
  if (path.starts_with(kPrefix)) {
    std::string_view rest = path.substr(kPrefix.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && slash > 0 && slash + 1 < rest.size() &&
        rest.find('/', slash + 1) == std::string_view::npos) {
      if (req.method() != http::verb::post && req.method() != http::verb::get) {
        Reply r = status_reply(405, "MethodNotAllowed", "functions are invoked with POST or GET");
        r.headers.emplace_back("Allow", "POST, GET");
        return r;
      }
      return invoke(url_decode(rest.substr(0, slash)), url_decode(rest.substr(slash + 1)), req, c);
    }
  }
  constexpr std::string_view kWorkflows = "/workflows/";
  if (path.starts_with(kWorkflows) && wf_client) {
    std::string_view rest = path.substr(kWorkflows.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && slash > 0 && slash + 1 < rest.size() &&
        rest.find('/', slash + 1) == std::string_view::npos) {
      if (req.method() != http::verb::post) {
        Reply r = status_reply(405, "MethodNotAllowed", "workflows are run with POST");
        r.headers.emplace_back("Allow", "POST");
        return r;
      }
      return run_workflow(url_decode(rest.substr(0, slash)), url_decode(rest.substr(slash + 1)), req);
    }
  }
  return status_reply(404, "NotFound",
                      "no such path; invoke a function with POST /functions/<namespace>/<name>");
}

void Gateway::Impl::serve(Connection& c) {
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  http_read::adopt(s, c.fd(), ec);
  if (ec) return;
  http_read::Release release(s);  // the ConnectionServer closes the descriptor
  const ConnLimits& lim = server->limits();
  const std::atomic<bool>& stopping = server->stopping();
  beast::flat_buffer buffer;
  auto write_reply = [&](const Reply& r, unsigned version, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(r.code), version};
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.insert(k, v);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    http::write(s, res, ec);
  };
  for (bool first = true; !stopping; first = false) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(opts.max_body_bytes);
    // As http_read::read_request, with 100-continue between header and body.
    auto header_deadline =
        http_read::after(first ? c.accepted_at() : Clock::now(), lim.header_timeout);
    if (!first && buffer.size() == 0 &&
        !http_read::wait_readable(s.native_handle(),
                                  http_read::after(Clock::now(), lim.idle_timeout))) {
      break;
    }
    if (!first) header_deadline = http_read::after(Clock::now(), lim.header_timeout);
    http_read::DeadlineReader r(s);
    r.expires_at(header_deadline);
    http::read_header(r, buffer, parser, ec);
    if (!ec && !parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        net::write(s, net::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25), ec);
      }
      r.expires_at(http_read::after(Clock::now(), lim.body_timeout));
      if (!ec) http::read(r, buffer, parser, ec);
    }
    if (ec == http::error::body_limit) {
      Reply rep = json_error(413, "RequestEntityTooLarge",
                             "the request body is larger than the limit of " +
                                 std::to_string(opts.max_body_bytes) + " bytes");
      write_reply(rep, 11, false);
      // Let the client read the answer: stop sending, then discard what it
      // still sends for a moment (closing with unread data would reset the
      // connection before the 413 arrives).
      s.shutdown(tcp::socket::shutdown_send, ec);
      auto until = Clock::now() + std::chrono::milliseconds(500);
      char junk[16384];
      while (http_read::wait_readable(s.native_handle(), until)) {
        ssize_t n = ::recv(s.native_handle(), junk, sizeof junk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
      }
      return;
    }
    if (ec == http::error::header_limit) {
      write_reply(json_error(431, "BadRequest", "the request headers are larger than the limit"),
                  11, false);
      break;
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message &&
        ec != http::error::need_more && ec != http::error::need_buffer) {
      write_reply(json_error(400, "BadRequest", "malformed HTTP request: " + ec.message()), 11,
                  false);
      break;
    }
    if (ec) break;
    auto& msg = parser.get();
    bool keep_alive = msg.keep_alive();
    unsigned version = msg.version();
    Reply rep;
    try {
      rep = route(msg, c);
    } catch (const std::exception& e) {
      spdlog::error("gateway: internal error on {}: {}", std::string(msg.target()), e.what());
      rep = json_error(500, "InternalError", e.what());
    }
    write_reply(rep, version, keep_alive && !stopping);
    if (ec || !keep_alive) break;
  }
  s.shutdown(tcp::socket::shutdown_both, ec);
}

Gateway::Gateway(InstanceTable& table, GatewayOptions opts,
                 std::function<bool(const std::string& key)> exists)
    : impl_(std::make_unique<Impl>(table, std::move(opts), std::move(exists))) {
  impl_->server = std::make_unique<ConnectionServer>(
      ConnectionServer::Options{"gateway", impl_->opts.limits, {}, nullptr},
      [impl = impl_.get()](Connection& c) { impl->serve(c); });
}

Gateway::~Gateway() { stop(); }

Status Gateway::start() {
  const std::string& listen = impl_->opts.listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return invalid("gateway listen address \"" + listen + "\" is not HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535)
    return invalid("gateway listen address \"" + listen + "\" has a bad port");
  Status st = impl_->server->listen(host, static_cast<uint16_t>(port));
  if (!st.is_ok()) return st;
  impl_->server->start();
  return Status::ok();
}

void Gateway::serve_workflows(client::Client& client, client::Informer& runs) {
  Impl& d = *impl_;
  d.wf_client = &client;
  d.wf_runs = &runs;
  client::EventHandlers h;
  h.on_add = [&d](const client::ObjectPtr& o) { d.wf_seen(o, false); };
  h.on_update = [&d](const client::ObjectPtr&, const client::ObjectPtr& o) { d.wf_seen(o, false); };
  h.on_delete = [&d](const client::ObjectPtr& o) { d.wf_seen(o, true); };
  d.wf_handler = runs.add_event_handlers(std::move(h));
}

void Gateway::stop() {
  if (!impl_->server) return;
  {
    std::lock_guard lock(impl_->wf_mu);
    impl_->wf_stopping = true;
  }
  impl_->wf_cv.notify_all();
  // Requests waiting for an instance would hold their connection threads
  // until the queue timeout: the table wakes them (kUnavailable).
  impl_->table.shutdown();
  impl_->server->stop();
  impl_->pool.close_all();
  if (impl_->wf_handler != 0) {
    impl_->wf_runs->remove_event_handlers(impl_->wf_handler);
    impl_->wf_handler = 0;
  }
}

uint16_t Gateway::port() const { return impl_->server->port(); }

std::string Gateway::metrics_text() const { return impl_->metrics_text(); }

}  // namespace minik8s::serverless
