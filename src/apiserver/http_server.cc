#include "http_server.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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

}  // namespace

HttpServer::HttpServer(RestHandler& handler, size_t max_body_bytes)
    : handler_(handler), proxy_(handler), max_body_bytes_(max_body_bytes) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::listen(const std::string& address, uint16_t port) {
  beast::error_code ec;
  auto addr = net::ip::make_address(address, ec);
  if (ec) return Status(Code::kUnavailable, "bad listen address " + address + ": " + ec.message());
  tcp::endpoint ep(addr, port);
  acceptor_ = std::make_unique<tcp::acceptor>(ioc_);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::kUnavailable,
                  "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message());
  }
  port_ = acceptor_->local_endpoint().port();
  return Status::ok();
}

void HttpServer::start() {
  accept_thread_ = std::thread([this] { accept_loop(); });
}

void HttpServer::accept_loop() {
  while (!stopping_) {
    beast::error_code ec;
    auto c = std::make_unique<Connection>();
    acceptor_->accept(c->socket, ec);
    if (stopping_) break;
    if (ec) {
      if (ec == net::error::operation_aborted || ec == net::error::bad_descriptor) break;
      continue;
    }
    c->socket.set_option(tcp::no_delay(true), ec);
    c->fd = c->socket.native_handle();
    std::lock_guard lock(mu_);
    reap(false);
    Connection* raw = c.get();
    conns_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] {
      // Nothing may escape a connection thread: an exception here would
      // terminate the whole server.
      try {
        serve(*raw);
      } catch (const std::exception& e) {
        spdlog::error("apiserver: connection failed: {}", e.what());
      } catch (...) {
        spdlog::error("apiserver: connection failed with an unknown exception");
      }
      beast::error_code ec;
      raw->socket.shutdown(tcp::socket::shutdown_both, ec);
      raw->done = true;
    });
  }
}

void HttpServer::reap(bool all) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (all || (*it)->done) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  beast::error_code ec;
  if (acceptor_) {
    // Wake the blocking accept().
    ::shutdown(acceptor_->native_handle(), SHUT_RDWR);
    acceptor_->close(ec);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  std::lock_guard lock(mu_);
  for (auto& c : conns_) {
    if (c->done) continue;
    ::shutdown(c->fd, SHUT_RDWR);
    int b = c->backend_fd.load();
    if (b >= 0) ::shutdown(b, SHUT_RDWR);
  }
  reap(true);
}

void HttpServer::serve(Connection& c) {
  beast::flat_buffer buffer;
  tcp::socket& s = c.socket;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(max_body_bytes_);
    beast::error_code ec;
    http::read(s, buffer, parser, ec);
    if (ec == http::error::body_limit) {
      HttpResponse r = error_response(Status(
          Code::kTooLarge, "the request body is larger than the limit of " +
                               std::to_string(max_body_bytes_) + " bytes"));
      http::response<http::string_body> res{http::status::payload_too_large, 11};
      res.set(http::field::content_type, "application/json");
      res.set(http::field::connection, "close");
      res.body() = r.body;
      res.prepare_payload();
      http::write(s, res, ec);
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
      proxy_.serve(s, msg, stopping_, c.backend_fd);
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
    bool keep_alive = msg.keep_alive();
    unsigned version = msg.version();
    if (handler_.is_watch(req)) {
      ChunkWriter w(s, version);
      try {
        handler_.handle_watch(req, w, stopping_);
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
  beast::error_code ec;
  s.shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace minik8s::apiserver
