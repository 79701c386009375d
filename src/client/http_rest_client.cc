// RestClient over Boost.Beast: synchronous calls driven by a private
// io_context per connection (run on the caller's thread), so that every
// operation gets a deadline without a background thread.
#include <limits>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <openssl/ssl.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>

#include "minik8s/api/json.h"
#include "minik8s/auth/tls.h"
#include "minik8s/client/rest_client.h"

namespace minik8s::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  std::string port;
  std::string prefix;  // path prefix without trailing '/'
  bool tls = false;    // https://
};

Result<Endpoint> parse_server(const std::string& server) {
  std::string s = server;
  Endpoint ep;
  if (s.rfind("https://", 0) == 0) {
    ep.tls = true;
    s = s.substr(8);
  } else if (s.rfind("http://", 0) == 0) {
    s = s.substr(7);
  }
  if (s.empty()) return Status(Code::kInvalid, "no server address given");
  const char* default_port = ep.tls ? "443" : "80";
  auto slash = s.find('/');
  if (slash != std::string::npos) {
    ep.prefix = s.substr(slash);
    s = s.substr(0, slash);
    while (!ep.prefix.empty() && ep.prefix.back() == '/') ep.prefix.pop_back();
  }
  if (!s.empty() && s.front() == '[') {  // [::1]:port
    auto close = s.find(']');
    if (close == std::string::npos) return Status(Code::kInvalid, "bad server address " + server);
    ep.host = s.substr(1, close - 1);
    ep.port = close + 2 <= s.size() && s[close + 1] == ':' ? s.substr(close + 2) : default_port;
  } else {
    auto colon = s.rfind(':');
    ep.host = colon == std::string::npos ? s : s.substr(0, colon);
    ep.port = colon == std::string::npos ? default_port : s.substr(colon + 1);
  }
  if (ep.host.empty() || ep.port.empty()) return Status(Code::kInvalid, "bad server address " + server);
  return ep;
}

// A connection with its own io_context; operations run to completion or a deadline.
struct Connection {
  asio::io_context ioc;
  tcp::socket socket{ioc};
  // https: TLS over socket (its lowest layer); closing socket cancels it too.
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  beast::flat_buffer buffer;
  bool reused = false;
  size_t server = 0;  // index of the endpoint it is connected to

  // Runs f with the stream requests go over: TLS or the plain socket.
  template <class F>
  void with_stream(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(socket);
    }
  }

  // Runs the io_context until done or the deadline; on timeout closes the
  // socket (cancelling the operation) and drains it. Returns false on timeout.
  bool run_until(const bool& done, Clock::time_point deadline) {
    ioc.restart();
    while (!done) {
      if (ioc.run_one_until(deadline) == 0 && !done) {
        if (Clock::now() >= deadline) {
          beast::error_code ignored;
          socket.close(ignored);
          ioc.restart();
          ioc.run();  // let the cancelled handler run
          return false;
        }
        if (ioc.stopped()) ioc.restart();
      }
    }
    return true;
  }

  Status connect(const Endpoint& ep, Clock::time_point deadline) {
    tcp::resolver resolver(ioc);
    bool done = false;
    beast::error_code ec;
    tcp::resolver::results_type results;
    resolver.async_resolve(ep.host, ep.port, [&](beast::error_code e, tcp::resolver::results_type r) {
      ec = e;
      results = std::move(r);
      done = true;
    });
    if (!run_until(done, deadline)) return Status(Code::kTimeout, "timed out resolving " + ep.host);
    if (ec) return Status(Code::kUnavailable, "cannot resolve " + ep.host + ": " + ec.message());
    done = false;
    asio::async_connect(socket, results, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!run_until(done, deadline)) {
      return Status(Code::kTimeout, "timed out connecting to " + ep.host + ":" + ep.port);
    }
    if (ec) {
      return Status(Code::kUnavailable, "dial tcp " + ep.host + ":" + ep.port + ": " + ec.message() +
                                            " - is the server running?");
    }
    socket.set_option(tcp::no_delay(true), ec);
    return Status::ok();
  }

  Status handshake(const Endpoint& ep, asio::ssl::context& ctx, const auth::TlsClientConfig& cfg,
                   Clock::time_point deadline) {
    tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket, ctx);
    auth::prepare_client_ssl(tls->native_handle(), ep.host, cfg);
    bool done = false;
    beast::error_code ec;
    tls->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!run_until(done, deadline)) return Status(Code::kTimeout, "timed out in the TLS handshake with " + ep.host);
    if (ec) {
      std::string why = ec.message();
      long v = SSL_get_verify_result(tls->native_handle());
      if (v != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(v) + ")";
      return Status(Code::kUnavailable, "TLS handshake with " + ep.host + ":" + ep.port + ": " + why);
    }
    return Status::ok();
  }
};

http::request<http::string_body> make_request(const Endpoint& ep, const std::string& method,
                                              const std::string& target, const std::string& body,
                                              const std::string& content_type,
                                              const std::string& accept,
                                              const std::string& bearer_token) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(ep.prefix + target);
  req.version(11);
  req.set(http::field::host, ep.host + ":" + ep.port);
  req.set(http::field::user_agent, "minik8s-client/0.1");
  if (!accept.empty()) req.set(http::field::accept, accept);
  if (!bearer_token.empty()) req.set(http::field::authorization, "Bearer " + bearer_token);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

class HttpLineStream final : public LineStream {
 public:
  HttpLineStream(std::unique_ptr<Connection> conn, std::unique_ptr<http::response_parser<http::buffer_body>> parser)
      : conn_(std::move(conn)), parser_(std::move(parser)) {}
  ~HttpLineStream() override {
    closed_.store(true);
    beast::error_code ignored;
    conn_->socket.close(ignored);
    conn_->ioc.restart();
    conn_->ioc.run();  // completes (aborts) a pending read before the parser goes away
  }

  std::optional<std::string> next(std::chrono::milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    while (true) {
      if (auto line = pop_line()) return line;
      if (ended_) {
        if (!pending_.empty()) {  // last line without newline
          std::string rest = std::move(pending_);
          pending_.clear();
          return rest;
        }
        return std::nullopt;
      }
      if (closed_.load()) {
        ended_ = true;
        continue;
      }
      if (!reading_) start_read();
      conn_->ioc.restart();
      while (reading_ && !read_done_) {
        if (conn_->ioc.run_one_until(deadline) == 0 && Clock::now() >= deadline) break;
        if (conn_->ioc.stopped()) conn_->ioc.restart();
      }
      if (!read_done_) return std::nullopt;  // timeout; the read stays pending
      reading_ = false;
      read_done_ = false;
      size_t n = sizeof(chunk_) - parser_->get().body().size;
      pending_.append(chunk_, n);
      if (read_ec_ == http::error::need_buffer) read_ec_ = {};
      if (read_ec_) {
        ended_ = true;
        if (!closed_.load() && read_ec_ != asio::error::eof && read_ec_ != http::error::end_of_stream &&
            read_ec_ != asio::error::operation_aborted) {
          std::lock_guard lock(mu_);
          status_ = Status(Code::kUnavailable, "watch stream broken: " + read_ec_.message());
        }
      } else if (parser_->is_done()) {
        ended_ = true;
      }
    }
  }

  bool ended() const override { return ended_; }
  Status status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }
  void close() override {
    if (closed_.exchange(true)) return;
    // Posted so the socket is only touched on the thread running the io_context
    // (or here, if nobody runs it: the handler then runs on the next next()).
    asio::post(conn_->ioc, [c = conn_.get()] {
      beast::error_code ignored;
      c->socket.shutdown(tcp::socket::shutdown_both, ignored);
      c->socket.close(ignored);
    });
  }

 private:
  std::optional<std::string> pop_line() {
    auto nl = pending_.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  void start_read() {
    reading_ = true;
    read_done_ = false;
    parser_->get().body().data = chunk_;
    parser_->get().body().size = sizeof(chunk_);
    conn_->with_stream([&](auto& stream) {
      http::async_read_some(stream, conn_->buffer, *parser_, [this](beast::error_code ec, size_t) {
        read_ec_ = ec;
        read_done_ = true;
      });
    });
  }

  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  // Reader-thread state.
  char chunk_[16384];
  std::string pending_;
  bool reading_ = false;
  bool read_done_ = false;
  beast::error_code read_ec_;
  std::atomic<bool> ended_{false};
  std::atomic<bool> closed_{false};
  mutable std::mutex mu_;
  Status status_;  // guarded by mu_
};

class HttpRestClient final : public RestClient {
 public:
  HttpRestClient(std::vector<Endpoint> eps, HttpRestClientOptions opts,
                 std::unique_ptr<asio::ssl::context> ssl)
      : eps_(std::move(eps)), opts_(std::move(opts)), ssl_(std::move(ssl)) {}

  Result<HttpResponse> request(const std::string& method, const std::string& path,
                               const std::string& body, const std::string& content_type,
                               const std::string& accept) override {
    auto deadline = Clock::now() + opts_.timeout;
    const size_t first = current_.load();
    Status last;
    for (size_t k = 0; k < eps_.size(); ++k) {
      const size_t i = (first + k) % eps_.size();
      bool elsewhere = false;
      auto res = request_on(i, method, path, body, content_type, accept, deadline, elsewhere);
      if (res) {
        stick_to(i);
        return res;
      }
      last = res.status();
      if (!elsewhere || Clock::now() >= deadline) break;
    }
    return last;
  }

  Result<std::unique_ptr<LineStream>> watch(const std::string& path,
                                            const std::string& accept) override {
    auto deadline = Clock::now() + opts_.timeout;
    const size_t first = current_.load();
    Status last;
    for (size_t k = 0; k < eps_.size(); ++k) {
      const size_t i = (first + k) % eps_.size();
      bool elsewhere = false;
      auto res = watch_on(i, path, accept, deadline, elsewhere);
      if (res) {
        stick_to(i);
        return res;
      }
      last = res.status();
      if (!elsewhere || Clock::now() >= deadline) break;
    }
    return last;
  }

 private:
  // The connect deadline: with one server, the request's; with several, at
  // most connect_timeout so that the next one gets its turn.
  Clock::time_point connect_deadline(Clock::time_point deadline) const {
    if (eps_.size() < 2) return deadline;
    return std::min(deadline, Clock::now() + opts_.connect_timeout);
  }

  void stick_to(size_t i) {
    if (current_.exchange(i) == i) return;
    std::lock_guard lock(mu_);
    idle_.clear();  // connections to the server given up on
  }

  // One request to server i. elsewhere: the request surely did not reach
  // the server (see HttpRestClientOptions::server) and may go to the next.
  Result<HttpResponse> request_on(size_t i, const std::string& method, const std::string& path,
                                  const std::string& body, const std::string& content_type,
                                  const std::string& accept, Clock::time_point deadline,
                                  bool& elsewhere) {
    const Endpoint& ep = eps_[i];
    auto req = make_request(ep, method, path, body, content_type, accept, opts_.bearer_token);
    const bool safe = method == "GET" || method == "HEAD";
    for (int attempt = 0;; ++attempt) {
      // The retry never takes another pooled connection: it is as old as the
      // one the server closed (its idle timeout closes them all alike).
      auto conn = attempt == 0 ? take_idle(i) : nullptr;
      if (!conn) {
        conn = std::make_unique<Connection>();
        conn->server = i;
        if (Status s = dial(*conn, ep, connect_deadline(deadline)); !s) {
          elsewhere = true;  // nothing was sent
          return s;
        }
      }
      bool reused = conn->reused;
      bool nothing_back = false;
      bool keep_alive = false;
      auto res = exchange(*conn, req, deadline, nothing_back, keep_alive);
      // A pooled connection the server already closed: retry once on a fresh one.
      if (!res && reused && nothing_back && attempt == 0) {
        std::lock_guard lock(mu_);
        idle_.clear();
        continue;
      }
      if (!res) {
        elsewhere = safe && nothing_back;
        return res;
      }
      if (keep_alive) {
        conn->reused = true;
        std::lock_guard lock(mu_);
        if (idle_.size() < opts_.max_idle_connections) idle_.push_back(std::move(conn));
      }
      return res;
    }
  }

  // A watch on server i; elsewhere: no answer came back (a watch is a GET).
  Result<std::unique_ptr<LineStream>> watch_on(size_t i, const std::string& path,
                                               const std::string& accept,
                                               Clock::time_point deadline, bool& elsewhere) {
    const Endpoint& ep = eps_[i];
    auto conn = std::make_unique<Connection>();
    conn->server = i;
    elsewhere = true;
    if (Status s = dial(*conn, ep, connect_deadline(deadline)); !s) return s;
    auto req = make_request(ep, "GET", path, "", "", accept, opts_.bearer_token);
    bool done = false;
    beast::error_code ec;
    conn->with_stream([&](auto& stream) {
      http::async_write(stream, req, [&](beast::error_code e, size_t) {
        ec = e;
        done = true;
      });
    });
    if (!conn->run_until(done, deadline))
      return Status(Code::kTimeout, "timed out sending watch request");
    if (ec) return Status(Code::kUnavailable, "watch request failed: " + ec.message());
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    done = false;
    conn->with_stream([&](auto& stream) {
      http::async_read_header(stream, conn->buffer, *parser, [&](beast::error_code e, size_t) {
        ec = e;
        done = true;
      });
    });
    if (!conn->run_until(done, deadline))
      return Status(Code::kTimeout, "timed out waiting for watch response");
    if (ec) return Status(Code::kUnavailable, "watch response: " + ec.message());
    elsewhere = false;  // the server answered
    int code = static_cast<int>(parser->get().result_int());
    if (code < 200 || code >= 300) {
      // Read the (small) error body.
      std::string body;
      char tmp[4096];
      while (!parser->is_done()) {
        parser->get().body().data = tmp;
        parser->get().body().size = sizeof(tmp);
        done = false;
        conn->with_stream([&](auto& stream) {
          http::async_read_some(stream, conn->buffer, *parser, [&](beast::error_code e, size_t) {
            ec = e;
            done = true;
          });
        });
        if (!conn->run_until(done, deadline)) break;
        body.append(tmp, sizeof(tmp) - parser->get().body().size);
        if (ec && ec != http::error::need_buffer) break;
      }
      return status_from_response(code, body);
    }
    return std::unique_ptr<LineStream>(new HttpLineStream(std::move(conn), std::move(parser)));
  }

  // Connects and, for an https server, completes the TLS handshake (no
  // byte of a request has been sent when this fails).
  Status dial(Connection& conn, const Endpoint& ep, Clock::time_point deadline) {
    if (Status s = conn.connect(ep, deadline); !s) return s;
    if (ep.tls) return conn.handshake(ep, *ssl_, opts_.tls, deadline);
    return Status::ok();
  }

  Result<HttpResponse> exchange(Connection& conn_ref, http::request<http::string_body>& req,
                                Clock::time_point deadline, bool& nothing_back, bool& keep_alive) {
    bool done = false;
    beast::error_code ec;
    conn_ref.with_stream([&](auto& stream) {
      http::async_write(stream, req, [&](beast::error_code e, size_t) {
        ec = e;
        done = true;
      });
    });
    if (!conn_ref.run_until(done, deadline)) return Status(Code::kTimeout, "request timed out (sending)");
    if (ec) {
      nothing_back = true;
      return Status(Code::kUnavailable, "sending request: " + ec.message());
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    done = false;
    size_t read_bytes = 0;
    conn_ref.with_stream([&](auto& stream) {
      http::async_read(stream, conn_ref.buffer, parser, [&](beast::error_code e, size_t n) {
        ec = e;
        read_bytes = n;
        done = true;
      });
    });
    if (!conn_ref.run_until(done, deadline)) {
      return Status(Code::kTimeout, "request timed out waiting for the server");
    }
    if (ec) {
      nothing_back = read_bytes == 0;
      return Status(Code::kUnavailable, "reading response: " + ec.message());
    }
    auto& msg = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(msg.result_int());
    if (auto it = msg.find(http::field::content_type); it != msg.end()) out.content_type = std::string(it->value());
    out.body = std::move(msg.body());
    keep_alive = msg.keep_alive() && conn_ref.buffer.size() == 0;
    return out;
  }

  std::unique_ptr<Connection> take_idle(size_t server) {
    std::lock_guard lock(mu_);
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if ((*it)->server != server) continue;
      auto c = std::move(*it);
      idle_.erase(std::next(it).base());
      return c;
    }
    return nullptr;
  }

  const std::vector<Endpoint> eps_;
  const HttpRestClientOptions opts_;
  std::unique_ptr<asio::ssl::context> ssl_;  // when a server is https; shared by the connections
  std::atomic<size_t> current_{0};           // the server that last answered
  std::mutex mu_;
  std::deque<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

Code code_for_reason(const std::string& reason, int http_status) {
  static const std::pair<const char*, Code> kReasons[] = {
      {"NotFound", Code::kNotFound},
      {"AlreadyExists", Code::kAlreadyExists},
      {"Conflict", Code::kConflict},
      {"Invalid", Code::kInvalid},
      {"BadRequest", Code::kBadRequest},
      {"Expired", Code::kGone},
      {"Gone", Code::kGone},
      {"RequestEntityTooLarge", Code::kTooLarge},
      {"UnsupportedMediaType", Code::kUnsupported},
      {"MethodNotAllowed", Code::kMethodNotAllowed},
      {"Forbidden", Code::kForbidden},
      {"Unauthorized", Code::kUnauthorized},
      {"Timeout", Code::kTimeout},
      {"ServerTimeout", Code::kTimeout},
      {"ServiceUnavailable", Code::kUnavailable},
      {"InternalError", Code::kInternal},
  };
  for (const auto& [name, code] : kReasons) {
    if (reason == name) return code;
  }
  switch (http_status) {
    case 400: return Code::kBadRequest;
    case 401: return Code::kUnauthorized;
    case 403: return Code::kForbidden;
    case 404: return Code::kNotFound;
    case 405: return Code::kMethodNotAllowed;
    case 409: return Code::kConflict;
    case 410: return Code::kGone;
    case 413: return Code::kTooLarge;
    case 415: return Code::kUnsupported;
    case 422: return Code::kInvalid;
    case 503: return Code::kUnavailable;
    case 504: return Code::kTimeout;
    default: return Code::kInternal;
  }
}

}  // namespace

Status status_from_response(int http_status, std::string_view body) {
  std::string reason;
  std::string message;
  auto decoded = api::parse_json_response(body);
  nlohmann::json parsed = decoded ? std::move(decoded.value()) : nlohmann::json();
  if (parsed.is_object()) {
    if (auto it = parsed.find("reason"); it != parsed.end() && it->is_string()) reason = it->get<std::string>();
    if (auto it = parsed.find("message"); it != parsed.end() && it->is_string()) message = it->get<std::string>();
  }
  if (message.empty()) {
    std::string text(body.substr(0, 1024));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    message = text.empty() ? "the server responded with status " + std::to_string(http_status) : text;
  }
  return Status(code_for_reason(reason, http_status), message);
}

Status check_response(const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return Status::ok();
  return status_from_response(response.status, response.body);
}


std::vector<std::string> split_servers(const std::string& servers) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= servers.size()) {
    size_t comma = servers.find(',', start);
    if (comma == std::string::npos) comma = servers.size();
    std::string one = servers.substr(start, comma - start);
    while (!one.empty() && std::isspace(static_cast<unsigned char>(one.front()))) one.erase(0, 1);
    while (!one.empty() && std::isspace(static_cast<unsigned char>(one.back()))) one.pop_back();
    if (!one.empty()) out.push_back(std::move(one));
    start = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<RestClient>> make_http_rest_client(const HttpRestClientOptions& options) {
  std::vector<Endpoint> eps;
  bool any_tls = false;
  for (const auto& server : split_servers(options.server)) {
    auto ep = parse_server(server);
    if (!ep) return ep.status();
    any_tls = any_tls || ep->tls;
    eps.push_back(std::move(*ep));
  }
  if (eps.empty()) return Status(Code::kInvalid, "no server address given");
  std::unique_ptr<asio::ssl::context> ssl;
  if (any_tls) {
    auto ctx = auth::make_client_ssl_ctx(options.tls);
    if (!ctx) return ctx.status();
    ssl = std::make_unique<asio::ssl::context>(*ctx);  // takes ownership
  }
  return std::unique_ptr<RestClient>(new HttpRestClient(std::move(eps), options, std::move(ssl)));
}

namespace {
}  // namespace
}  // namespace minik8s::client
