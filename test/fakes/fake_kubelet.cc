#include "test/fakes/fake_kubelet.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "minik8s/stream/websocket.h"

namespace minik8s::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct FakeKubelet::Net {
  Net() : acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

  static void serve(FakeKubelet& k, tcp::socket s);
  static void logs(FakeKubelet& k, tcp::socket& s, const std::string& pod, const std::string& container,
                   const stream::QueryList& q);
  static void exec(FakeKubelet& k, tcp::socket s, const http::request<http::string_body>& req,
                   const stream::QueryList& q);
  // The kubelet's answer for a container that has not started.
  static void not_started(tcp::socket& s) {
    http::response<http::string_body> res{http::status::not_found, 11};
    res.body() =
        R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"container \"missing\" is waiting to start","reason":"NotFound","code":404})";
    res.prepare_payload();
    http::write(s, res);
  }

  net::io_context ioc;
  tcp::acceptor acceptor;
};

FakeKubelet::FakeKubelet() : net_(std::make_unique<Net>()) {
  port_ = net_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] { run(); });
}

FakeKubelet::~FakeKubelet() {
  release();
  release_exec();
  beast::error_code ec;
  ::shutdown(net_->acceptor.native_handle(), SHUT_RDWR);  // wakes accept()
  net_->acceptor.close(ec);
  thread_.join();
  for (auto& t : conns_) t.join();
}

std::vector<std::string> FakeKubelet::targets() {
  std::lock_guard l(mu_);
  return targets_;
}

void FakeKubelet::set_summary(int code, std::string body) {
  std::lock_guard l(mu_);
  summary_code_ = code;
  summary_body_ = std::move(body);
}

void FakeKubelet::release() {
  std::lock_guard l(mu_);
  released_ = true;
  cv_.notify_all();
}

void FakeKubelet::hold_exec() {
  std::lock_guard l(mu_);
  exec_held_ = true;
}

void FakeKubelet::release_exec() {
  std::lock_guard l(mu_);
  exec_held_ = false;
  cv_.notify_all();
}

void FakeKubelet::run() {
  for (;;) {
    tcp::socket s(net_->ioc);
    beast::error_code ec;
    net_->acceptor.accept(s, ec);
    if (ec) return;
    conns_.emplace_back([this, s = std::move(s)]() mutable {
      try {
        Net::serve(*this, std::move(s));
      } catch (...) {
      }
    });
  }
}

void FakeKubelet::Net::serve(FakeKubelet& k, tcp::socket s) {
  beast::flat_buffer buf;
  http::request<http::string_body> req;
  http::read(s, buf, req);
  std::string target(req.target());
  {
    std::lock_guard l(k.mu_);
    k.targets_.push_back(target);
  }
  size_t qp = target.find('?');
  std::string path = target.substr(0, qp);
  auto q = stream::parse_query_list(qp == std::string::npos ? "" : target.substr(qp + 1));
  std::vector<std::string> parts;
  std::stringstream ps(path);
  for (std::string seg; std::getline(ps, seg, '/');) {
    if (!seg.empty()) parts.push_back(seg);
  }
  if (path == "/stats/summary") {
    http::response<http::string_body> res;
    {
      std::lock_guard l(k.mu_);
      res.result(k.summary_code_);
      res.body() = k.summary_body_;
    }
    res.set(http::field::content_type, "application/json");
    res.prepare_payload();
    http::write(s, res);
    return;
  }
  if (parts.size() == 4 && parts[0] == "containerLogs") {
    if (parts[3] == "missing") return not_started(s);
    return logs(k, s, parts[2], parts[3], q);
  }
  if (parts.size() == 4 && parts[0] == "exec") {
    if (parts[3] == "missing") return not_started(s);
    return exec(k, std::move(s), req, q);
  }
  http::response<http::string_body> res{http::status::not_found, 11};
  res.prepare_payload();
  http::write(s, res);
}

void FakeKubelet::Net::logs(FakeKubelet& k, tcp::socket& s, const std::string& pod, const std::string& container,
                            const stream::QueryList& q) {
  std::string line = "log of " + pod + "/" + container + "\n";
  if (!stream::query_bool(q, "follow")) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = line + line;
    res.prepare_payload();
    http::write(s, res);
    return;
  }
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto chunk = [&](const std::string& c) {
    char len[16];
    std::snprintf(len, sizeof len, "%zx\r\n", c.size());
    net::write(s, net::buffer(std::string(len) + c + "\r\n"));
  };
  net::write(s, net::buffer(head));
  chunk(line);
  {
    std::unique_lock l(k.mu_);
    k.cv_.wait(l, [&] { return k.released_; });
  }
  chunk("second\n");
  net::write(s, net::buffer(std::string("0\r\n\r\n")));
}

void FakeKubelet::Net::exec(FakeKubelet& k, tcp::socket s, const http::request<http::string_body>& req,
                            const stream::QueryList& q) {
  {
    std::unique_lock l(k.mu_);
    k.cv_.wait(l, [&] { return !k.exec_held_; });
  }
  std::string proto = stream::choose_protocol(std::string(req[http::field::sec_websocket_protocol]));
  websocket::stream<tcp::socket> ws(std::move(s));
  ws.set_option(websocket::stream_base::decorator(
      [proto](websocket::response_type& r) { r.set(http::field::sec_websocket_protocol, proto); }));
  ws.accept(req);
  ws.binary(true);
  // A real exec starts a process (runc: tens of milliseconds) after the
  // upgrade. Output sent in the same instant as the 101 races client-go's
  // own stream setup (kubectl >= 1.30 drops it: "Unknown stream id 1"), a
  // race no real runtime runs into; keep the fake as slow as a fast one.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto cmd = stream::query_all(q, "command");
  std::string joined;
  for (const auto& c : cmd) joined += (joined.empty() ? "" : " ") + c;
  ws.write(net::buffer(stream::frame(stream::kStdout, "ran: " + joined + "\n")));
  int code = 0;
  if (!cmd.empty() && cmd.back().rfind("exit ", 0) == 0) code = std::stoi(cmd.back().substr(5));
  if (stream::query_bool(q, "stdin")) {
    for (;;) {
      beast::flat_buffer m;
      beast::error_code ec;
      ws.read(m, ec);
      if (ec) return;
      std::string msg = beast::buffers_to_string(m.data());
      if (msg.empty()) continue;
      if (static_cast<unsigned char>(msg[0]) == stream::kClose) break;
      if (msg[0] != 0) continue;
      std::string up = msg.substr(1);
      for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      ws.write(net::buffer(stream::frame(stream::kStdout, up)));
      if (up.find("BYE") != std::string::npos) break;
    }
  }
  ws.write(net::buffer(stream::frame(stream::kError, stream::exit_status_json(code))));
  beast::error_code ec;
  ws.close(websocket::close_code::normal, ec);
  // Drain until the peer's close arrives.
  for (;;) {
    beast::flat_buffer m;
    ws.read(m, ec);
    if (ec) break;
  }
}

}  // namespace minik8s::testing
