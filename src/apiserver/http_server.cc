#include "http_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "../util/http_read.h"
#include "handler.h"
#include "minik8s/apiserver/code_store.h"

namespace minik8s::apiserver {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class ChunkWriter : public StreamWriter {
 public:
  ChunkWriter(tcp::socket& s, unsigned version) : s_(s), version_(version) {}
  // HTTP/1.0 clients do not understand chunked encoding: they get the raw
  // stream, which ends when the connection closes.
  bool begin(int code, const std::string& content_type) override {
    std::string head = std::string(chunked() ? "HTTP/1.1 " : "HTTP/1.0 ") + std::to_string(code) +
                       " " + std::string(http::obsolete_reason(static_cast<http::status>(code))) +
                       "\r\nContent-Type: " + content_type + "\r\nCache-Control: no-cache, private\r\n" +
                       (chunked() ? "Transfer-Encoding: chunked\r\n\r\n" : "Connection: close\r\n\r\n");
    beast::error_code ec;
    net::write(s_, net::buffer(head), ec);
    started_ = !ec;
    return started_;
  }
  bool write(std::string_view chunk) override {
    if (chunk.empty()) return true;
    beast::error_code ec;
    if (!chunked()) {
      net::write(s_, net::buffer(chunk.data(), chunk.size()), ec);
      return !ec;
    }
    char len[32];
    int n = std::snprintf(len, sizeof len, "%zx\r\n", chunk.size());
    std::array<net::const_buffer, 3> bufs = {net::buffer(len, static_cast<size_t>(n)),
                                             net::buffer(chunk.data(), chunk.size()),
                                             net::buffer("\r\n", 2)};
    net::write(s_, bufs, ec);
    return !ec;
  }
  bool peer_closed() override {
    pollfd p{s_.native_handle(), POLLIN | POLLRDHUP, 0};
    int r = ::poll(&p, 1, 0);
    if (r <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    if (p.revents & POLLIN) {
      char c;
      ssize_t k = ::recv(s_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      return k == 0;
    }
    return false;
  }
  bool started() const { return started_; }
  void finish() {
    if (!started_ || !chunked()) return;
    beast::error_code ec;
    net::write(s_, net::buffer("0\r\n\r\n", 5), ec);
  }

 private:
  bool chunked() const { return version_ >= 11; }
  tcp::socket& s_;
  unsigned version_;
  bool started_ = false;
};

// A one-off Status response that closes the connection.
void write_error(tcp::socket& s, int code, const Status& st, unsigned version) {
  HttpResponse r = error_response(st);
  http::response<http::string_body> res{static_cast<http::status>(code), version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::connection, "close");
  res.body() = r.body;
  res.prepare_payload();
  beast::error_code ec;
  http::write(s, res, ec);
}

// After refusing a request whose body was not read (413): stop sending and
// read away what the client still sends, for a while, so that closing the
// socket with unread data (a TCP reset) does not destroy the answer before
// the client has read it.
void drain_unread(tcp::socket& s) {
  constexpr size_t kMaxDrainBytes = size_t{64} << 20;
  beast::error_code ec;
  s.shutdown(tcp::socket::shutdown_send, ec);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char buf[64 * 1024];
  for (size_t total = 0; total < kMaxDrainBytes;) {
    if (!http_read::wait_readable(s.native_handle(), deadline)) return;
    ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    total += static_cast<size_t>(n);
  }
}

}  // namespace

HttpServer::HttpServer(RestHandler& handler, size_t max_body_bytes, const ConnLimits& limits,
                       ConnectionServer::Spawner spawn, std::shared_ptr<ConnectionLayer> layer)
    : handler_(handler),
      proxy_(handler),
      max_body_bytes_(max_body_bytes),
      conns_(ConnectionServer::Options{"apiserver", limits, std::move(spawn), std::move(layer)},
             [this](Connection& c) { serve(c); }) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::listen(const std::string& address, uint16_t port) {
  Status st = conns_.listen(address, port);
  if (st.code() == Code::kInvalid) return Status(Code::kUnavailable, st.message());
  return st;
}

void HttpServer::start() { conns_.start(); }

void HttpServer::stop() { conns_.stop(); }

void HttpServer::serve(Connection& c) {
  // Each connection has its own io_context so a pods/exec session can run
  // asynchronous WebSocket relaying on its thread.
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  http_read::adopt(s, c.fd(), ec);
  if (ec) return;
  http_read::Release release(s);  // the ConnectionServer closes the descriptor
  const std::atomic<bool>& stopping = conns_.stopping();
  // The client certificate the TLS layer verified for this connection.
  std::optional<auth::PeerCertificate> client_cert;
  if (c.peer()) client_cert = auth::PeerCertificate{c.peer()->common_name, c.peer()->organizations};
  beast::flat_buffer buffer;
  for (bool first = true; !stopping; first = false) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    // Uploads to the code and blob stores have limits of their own
    // (RestHandler::upload_limit): the parser takes the largest while it
    // reads the header, and the header hook then applies the one of the
    // request's path.
    const size_t max_upload = handler_.max_upload_bytes();
    parser.body_limit(std::max(max_body_bytes_, max_upload));
    size_t upload_limit = 0;
    auto upload_limit_of = [&](const http::request_parser<http::string_body>& p) -> size_t {
      if (max_upload == 0) return 0;
      const auto& m = p.get();
      std::string_view target(m.target().data(), m.target().size());
      return handler_.upload_limit(
          std::string_view(m.method_string().data(), m.method_string().size()),
          target.substr(0, target.find('?')));
    };
    auto on_header = [&](http::request_parser<http::string_body>& p, beast::error_code& hec) {
      const auto& m = p.get();
      upload_limit = upload_limit_of(p);
      const uint64_t limit = upload_limit ? upload_limit : max_body_bytes_;
      p.body_limit(limit);  // chunked bodies: checked as chunks arrive
      if (p.content_length() && *p.content_length() > limit) {
        hec = http::error::body_limit;
      } else if (upload_limit && beast::iequals(m[http::field::expect], "100-continue")) {
        // curl asks before sending a large body (and waits a second when
        // nobody answers).
        net::write(s, net::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")), hec);
      }
    };
    http_read::read_request(s, buffer, parser, conns_.limits(), first, c.accepted_at(), ec, on_header);
    if (ec == http::error::body_limit) {
      // Beast itself refuses a Content-Length over the larger limit while
      // reading the header, before the hook has seen the path.
      if (!upload_limit) upload_limit = upload_limit_of(parser);
      std::string msg;
      if (upload_limit) {
        const auto& m = parser.get();
        std::string_view target(m.target().data(), m.target().size());
        msg = handler_.upload_too_large_message(
            target.substr(0, target.find('?')),
            parser.content_length() ? std::optional<uint64_t>(*parser.content_length())
                                    : std::nullopt);
      } else {
        msg = "the request body is larger than the limit of " + std::to_string(max_body_bytes_) +
              " bytes";
      }
      HttpResponse r = error_response(Status(Code::kTooLarge, msg));
      http::response<http::string_body> res{http::status::payload_too_large, 11};
      res.set(http::field::content_type, "application/json");
      res.set(http::field::connection, "close");
      res.body() = r.body;
      res.prepare_payload();
      http::write(s, res, ec);
      drain_unread(s);
      break;
    }
    if (ec == http::error::header_limit) {
      write_error(s, 431,
                  Status(Code::kBadRequest, "the request headers are larger than the limit"), 11);
      break;
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message &&
        ec != http::error::need_more && ec != http::error::need_buffer) {
      write_error(s, 400, bad_request("malformed HTTP request: " + ec.message()), 11);
      break;
    }
    if (ec) break;
    auto& msg = parser.get();
    if (PodProxy::matches(std::string(msg.target().substr(0, msg.target().find('?'))))) {
      // pods/log and pods/exec take over the connection (streams and upgrades).
      proxy_.serve(s, msg, stopping, c.backend_fd(), client_cert);
      break;
    }
    HttpRequest req;
    req.method = std::string(msg.method_string());
    std::string target(msg.target());
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = parse_query(target.substr(q + 1));
    req.body = std::move(msg.body());
    req.content_type = std::string(msg[http::field::content_type]);
    req.accept = std::string(msg[http::field::accept]);
    req.authorization = std::string(msg[http::field::authorization]);
    req.client_cert = client_cert;
    for (const auto& f : msg) {  // Impersonate-User / Impersonate-Group (repeatable)
      if (beast::iequals(f.name_string(), "Impersonate-User")) {
        req.impersonate_user = std::string(f.value());
      } else if (beast::iequals(f.name_string(), "Impersonate-Group")) {
        req.impersonate_groups.emplace_back(f.value());
      }
    }
    bool keep_alive = msg.keep_alive();
    unsigned version = msg.version();
    if (handler_.is_watch(req)) {
      ChunkWriter w(s, version);
      try {
        handler_.handle_watch(req, w, stopping);
        w.finish();
      } catch (const std::exception& e) {
        spdlog::error("apiserver: internal error in watch {}: {}", req.path, e.what());
        if (!w.started()) write_error(s, 500, internal_error(e.what()), version);
      }
      break;  // the stream ends the connection
    }
    HttpResponse r;
    try {
      r = handler_.handle(req);
    } catch (const std::exception& e) {
      spdlog::error("apiserver: internal error on {} {}: {}", req.method, req.path, e.what());
      r = error_response(internal_error(e.what()));
    }
    http::response<http::string_body> res{static_cast<http::status>(r.code), version};
    res.set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res.insert(k, v);
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    http::write(s, res, ec);
    if (ec || !keep_alive) break;
  }
  s.shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace minik8s::apiserver
