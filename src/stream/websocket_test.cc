// The streaming WebSocket codec: negotiation, frames, query lists, URLs, and
// connect_ws/relay against in-test WebSocket servers on loopback.
#include "minik8s/stream/websocket.h"

#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace minik8s::stream {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

TEST(StreamProtocols, SplitTrimsAndDropsEmptyTokens) {
  EXPECT_EQ(split_protocols("a, b,c ,\t d"), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(split_protocols(" , ,"), std::vector<std::string>{});
  EXPECT_EQ(split_protocols(""), std::vector<std::string>{});
}

TEST(StreamProtocols, ChoosesTheClientsFirstSupportedOffer) {
  EXPECT_EQ(choose_protocol("v4.channel.k8s.io, v5.channel.k8s.io"), "v4.channel.k8s.io");
  EXPECT_EQ(choose_protocol("base64.channel.k8s.io,v5.channel.k8s.io"), "v5.channel.k8s.io");
  EXPECT_EQ(choose_protocol("channel.k8s.io"), "channel.k8s.io");
  EXPECT_EQ(choose_protocol("base64.channel.k8s.io, v4.base64.channel.k8s.io"), "");
  EXPECT_EQ(choose_protocol(""), "");
  EXPECT_EQ(channel_protocols().front(), "v5.channel.k8s.io");
  EXPECT_EQ(join_protocols({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(split_protocols(join_protocols(channel_protocols())), channel_protocols());
}

TEST(StreamFrames, ChannelByteThenPayload) {
  std::string f = frame(kStderr, "oops");
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(static_cast<unsigned char>(f[0]), kStderr);
  EXPECT_EQ(f.substr(1), "oops");
  std::string close = frame(kClose, std::string(1, '\0'));
  EXPECT_EQ(close, std::string("\xff\0", 2));
}

TEST(StreamFrames, ExitStatusIsTheStatusKubectlExitsWith) {
  EXPECT_EQ(json::parse(exit_status_json(0))["status"], "Success");
  json st = json::parse(exit_status_json(3));
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["reason"], "NonZeroExitCode");
  EXPECT_EQ(st["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(st["details"]["causes"][0]["message"], "3");
}

TEST(StreamQuery, KeepsOrderAndRepeatsAndDecodes) {
  QueryList q = parse_query_list("command=sh&command=-c&command=echo%20a+b&tty&stdin=1&&x=");
  ASSERT_EQ(q.size(), 6u);
  EXPECT_EQ(query_all(q, "command"), (std::vector<std::string>{"sh", "-c", "echo a b"}));
  EXPECT_EQ(query_get(q, "command"), "sh");
  EXPECT_EQ(query_get(q, "tty", "dflt"), "");
  EXPECT_EQ(query_get(q, "missing", "dflt"), "dflt");
  EXPECT_FALSE(query_bool(q, "tty"));
  EXPECT_TRUE(query_bool(q, "stdin"));
  EXPECT_FALSE(query_bool(q, "missing"));
  for (const char* t : {"true", "True", "TRUE", "1"}) {
    EXPECT_TRUE(query_bool(parse_query_list(std::string("f=") + t), "f")) << t;
  }
  EXPECT_FALSE(query_bool(parse_query_list("f=yes"), "f"));
  EXPECT_TRUE(parse_query_list("").empty());
}

TEST(StreamQuery, EncodeIsTheInverseOfParse) {
  QueryList q = {{"command", "echo a&b=c"}, {"command", "ü/?"}, {"container", "main"}};
  std::string s = encode_query(q);
  EXPECT_EQ(s.find(' '), std::string::npos);
  EXPECT_EQ(parse_query_list(s), q);
  EXPECT_EQ(encode_query({}), "");
}

TEST(StreamUrl, HostPortTarget) {
  auto u = parse_url("http://10.0.0.5:10250/exec/ns/pod/c?command=sh");
  ASSERT_TRUE(u.is_ok()) << u.status().to_string();
  EXPECT_EQ(u->host, "10.0.0.5");
  EXPECT_EQ(u->port, "10250");
  EXPECT_EQ(u->target, "/exec/ns/pod/c?command=sh");

  u = parse_url("ws://node-1");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->host, "node-1");
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");

  u = parse_url("http://[::1]:6443/api");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "6443");
  EXPECT_EQ(u->target, "/api");

  u = parse_url("http://[fe80::1]/x");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->host, "fe80::1");
  EXPECT_EQ(u->port, "80");
  u = parse_url("https://10.0.0.5/api");
  ASSERT_TRUE(u.is_ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, "443");
  u = parse_url("wss://n:1");
  ASSERT_TRUE(u.is_ok());
  EXPECT_TRUE(u->tls);
  EXPECT_FALSE(parse_url("http://x")->tls);
}

TEST(StreamUrl, RefusesOtherSchemesAndEmptyHosts) {
  for (const char* bad :
       {"ftp://h:1/", "h:1/x", "http://", "http://:80/x", "http://[::1/x", ""}) {
    auto u = parse_url(bad);
    ASSERT_FALSE(u.is_ok()) << bad;
    EXPECT_EQ(u.status().code(), Code::kBadRequest) << bad;
  }
}

// One connection on a loopback port, served by `serve` on its own thread.
class OneShotServer {
 public:
  explicit OneShotServer(std::function<void(tcp::socket)> serve)
      : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, serve = std::move(serve)] {
      beast::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (!ec) serve(std::move(s));
    });
  }
  ~OneShotServer() {
    beast::error_code ig;
    acceptor_.close(ig);
    thread_.join();
  }
  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }

 private:
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// Accepts a WebSocket upgrade answering `protocol`, then runs `body`.
std::function<void(tcp::socket)> websocket_server(std::string protocol,
                                                  std::function<void(WsStream&)> body) {
  return [protocol, body](tcp::socket s) {
    try {
      WsStream ws(std::move(s));
      ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, protocol);
      }));
      ws.accept();
      body(ws);
    } catch (const std::exception&) {
    }
  };
}

TEST(StreamConnect, NegotiatesAProtocolAndSpeaksBinary) {
  std::string offered;
  OneShotServer server([&](tcp::socket s) {
    try {
      beast::flat_buffer buf;
      websocket::request_type req;
      http::read(s, buf, req);
      offered = std::string(req[http::field::sec_websocket_protocol]);
      WsStream ws(std::move(s));
      ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::sec_websocket_protocol, "v4.channel.k8s.io");
      }));
      ws.accept(req);
      ws.binary(true);
      ws.write(net::buffer(frame(kStdout, "hi")));
      ws.close(websocket::close_code::normal);
    } catch (const std::exception&) {
    }
  });
  net::io_context ioc;
  std::string chosen;
  auto ws = connect_ws(ioc, "127.0.0.1", server.port(), "/exec/x",
                       {"v5.channel.k8s.io", "v4.channel.k8s.io"}, &chosen);
  ASSERT_TRUE(ws.is_ok()) << ws.status().to_string();
  EXPECT_EQ(chosen, "v4.channel.k8s.io");
  EXPECT_EQ(offered, "v5.channel.k8s.io, v4.channel.k8s.io");
  beast::flat_buffer buf;
  (*ws)->read(buf);
  EXPECT_TRUE((*ws)->got_binary());
  EXPECT_EQ(beast::buffers_to_string(buf.data()), frame(kStdout, "hi"));
}

TEST(StreamConnect, ARefusedUpgradeCarriesTheAnswer) {
  OneShotServer server([](tcp::socket s) {
    try {
      beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(s, buf, req);
      http::response<http::string_body> res{http::status::forbidden, req.version()};
      res.set(http::field::content_type, "application/json");
      res.body() = R"({"kind":"Status","code":403})";
      res.prepare_payload();
      res.keep_alive(false);
      http::write(s, res);
    } catch (const std::exception&) {
    }
  });
  net::io_context ioc;
  std::string chosen = "unchanged";
  UpgradeRefused refused;
  auto ws =
      connect_ws(ioc, "127.0.0.1", server.port(), "/", {"v5.channel.k8s.io"}, &chosen, &refused);
  ASSERT_FALSE(ws.is_ok());
  EXPECT_EQ(ws.status().code(), Code::kUnavailable);
  EXPECT_NE(ws.status().message().find("HTTP 403"), std::string::npos) << ws.status().message();
  EXPECT_EQ(refused.code, 403);
  EXPECT_EQ(refused.body, R"({"kind":"Status","code":403})");
  EXPECT_EQ(chosen, "unchanged");
}

TEST(StreamConnect, NobodyListeningIsUnavailable) {
  std::string port;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = std::to_string(a.local_endpoint().port());
  }
  net::io_context ioc;
  auto ws = connect_ws(ioc, "127.0.0.1", port, "/", {}, nullptr);
  ASSERT_FALSE(ws.is_ok());
  EXPECT_EQ(ws.status().code(), Code::kUnavailable);
}

// front ⇄ relay ⇄ back: the front's messages reach the back through the
// filter (which drops one), the back's answers reach the front, and the
// front's close ends the relay on both sides.
TEST(StreamRelay, BothDirectionsWithAFilterAndACloseThatEndsIt) {
  std::vector<std::string> front_got, back_got;  // read once both servers have ended
  std::chrono::steady_clock::duration took{};
  {
    OneShotServer front(websocket_server("v5.channel.k8s.io", [&](WsStream& ws) {
      ws.binary(true);
      ws.write(net::buffer(frame(kStdin, "drop me")));
      ws.write(net::buffer(frame(kStdin, "hello")));
      beast::flat_buffer buf;
      ws.read(buf);
      front_got.push_back(beast::buffers_to_string(buf.data()));
      ws.close(websocket::close_code::normal);  // waits for the relay's close frame
    }));
    OneShotServer back(websocket_server("v4.channel.k8s.io", [&](WsStream& ws) {
      ws.binary(true);
      beast::flat_buffer buf;
      beast::error_code ec;
      for (;;) {
        buf.consume(buf.size());
        ws.read(buf, ec);
        if (ec) break;
        std::string m = beast::buffers_to_string(buf.data());
        back_got.push_back(m);
        for (size_t i = 1; i < m.size(); ++i) m[i] = static_cast<char>(std::toupper(m[i]));
        m[0] = static_cast<char>(kStdout);
        ws.write(net::buffer(m), ec);
        if (ec) break;
      }
    }));
    net::io_context ioc;
    auto a = connect_ws(ioc, "127.0.0.1", front.port(), "/", {"v5.channel.k8s.io"}, nullptr);
    auto b = connect_ws(ioc, "127.0.0.1", back.port(), "/", {"v4.channel.k8s.io"}, nullptr);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    auto started = std::chrono::steady_clock::now();
    relay(
        **a, **b, [](std::string& m) { return m.find("drop") == std::string::npos; }, nullptr);
    took = std::chrono::steady_clock::now() - started;
  }
  EXPECT_LT(took, std::chrono::seconds(4))
      << "the relay waited for the close deadline instead of ending on the close";
  EXPECT_EQ(back_got, std::vector<std::string>{frame(kStdin, "hello")});
  EXPECT_EQ(front_got, std::vector<std::string>{frame(kStdout, "HELLO")});
}

}  // namespace
}  // namespace minik8s::stream
