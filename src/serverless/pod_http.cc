#include "pod_http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace minik8s::serverless {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

Result<PodHttpResponse> pod_http(const std::string& host, int port, const std::string& method,
                                 const std::string& target, const std::string& body,
                                 std::chrono::milliseconds timeout) {
  std::string where = method + " " + host + ":" + std::to_string(port) + target;
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    beast::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return Status(Code::kUnavailable, where + ": bad address: " + ec.message());
    stream.expires_after(timeout);
    asio::ip::tcp::endpoint ep(addr, static_cast<uint16_t>(port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::connection, "close");
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    stream.async_connect(ep, [&](beast::error_code e) {
      ec = e;
      if (e) return;
      http::async_write(stream, req, [&](beast::error_code e2, size_t) {
        ec = e2;
        if (e2) return;
        http::async_read(stream, buffer, parser, [&](beast::error_code e3, size_t) { ec = e3; });
      });
    });
    ioc.run();
    if (ec == beast::error::timeout)
      return Status(Code::kTimeout,
                    where + ": no answer within " + std::to_string(timeout.count()) + " ms");
    if (ec) return Status(Code::kUnavailable, where + ": " + ec.message());
    PodHttpResponse out;
    out.status = static_cast<int>(parser.get().result_int());
    out.body = std::move(parser.get().body());
    return out;
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, where + ": " + e.what());
  }
}

}  // namespace minik8s::serverless
