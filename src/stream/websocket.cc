// The streaming WebSocket codec (see include/minik8s/stream/websocket.h).
#include "minik8s/stream/websocket.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <chrono>
#include <exception>

#include "minik8s/stream/beast_names.h"
#include "minik8s/util/url.h"

namespace minik8s::stream {

using namespace minik8s::beast_names;

const std::vector<std::string>& channel_protocols() {
  static const std::vector<std::string> p = {"v5.channel.k8s.io", "v4.channel.k8s.io",
                                             "v3.channel.k8s.io", "v2.channel.k8s.io",
                                             "channel.k8s.io"};
  return p;
}

std::vector<std::string> split_protocols(std::string_view header) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    size_t b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
    cur.clear();
  };
  for (char c : header) {
    if (c == ',') {
      flush();
    } else {
      cur.push_back(c);
    }
  }
  flush();
  return out;
}

std::string choose_protocol(std::string_view offered) {
  for (const auto& p : split_protocols(offered)) {
    for (const auto& ours : channel_protocols()) {
      if (p == ours) return p;
    }
  }
  return "";
}

std::string join_protocols(const std::vector<std::string>& ps) {
  std::string s;
  for (const auto& p : ps) s += (s.empty() ? "" : ", ") + p;
  return s;
}

QueryList parse_query_list(std::string_view q) {
  QueryList out;
  size_t i = 0;
  while (i <= q.size()) {
    size_t amp = q.find('&', i);
    if (amp == std::string_view::npos) amp = q.size();
    std::string_view part = q.substr(i, amp - i);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(url_decode(part), "");
      } else {
        out.emplace_back(url_decode(part.substr(0, eq)), url_decode(part.substr(eq + 1)));
      }
    }
    i = amp + 1;
  }
  return out;
}

std::string query_get(const QueryList& q, const std::string& key, const std::string& dflt) {
  for (const auto& [k, v] : q) {
    if (k == key) return v;
  }
  return dflt;
}

std::vector<std::string> query_all(const QueryList& q, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& [k, v] : q) {
    if (k == key) out.push_back(v);
  }
  return out;
}

bool query_bool(const QueryList& q, const std::string& key) {
  std::string v = query_get(q, key);
  return v == "true" || v == "1" || v == "True" || v == "TRUE";
}

std::string encode_query(const QueryList& q) {
  std::string s;
  for (const auto& [k, v] : q) s += (s.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
  return s;
}

Result<Url> parse_url(const std::string& url) {
  std::string rest;
  Url u;
  for (const char* scheme : {"http://", "ws://", "https://", "wss://"}) {
    if (url.rfind(scheme, 0) == 0) {
      rest = url.substr(std::string(scheme).size());
      u.tls = scheme[0] == 'h' ? scheme[4] == 's' : scheme[2] == 's';
    }
  }
  if (rest.empty())
    return bad_request("unsupported streaming URL \"" + url + "\" (want http(s):// or ws(s)://)");
  const char* default_port = u.tls ? "443" : "80";
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) return bad_request("bad URL host in \"" + url + "\"");
    u.host = hostport.substr(1, close - 1);
    u.port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2)
                                                                       : default_port;
  } else {
    size_t colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    u.port = colon == std::string::npos ? default_port : hostport.substr(colon + 1);
  }
  if (u.host.empty()) return bad_request("bad URL host in \"" + url + "\"");
  return u;
}

tcp::socket duplicate_socket(tcp::socket& s, beast::error_code& ec) {
  tcp::socket dup(s.get_executor());
  int fd = ::fcntl(s.native_handle(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ec.assign(errno, boost::system::system_category());
    return dup;
  }
  beast::error_code local;
  auto ep = s.local_endpoint(local);
  dup.assign(!local && ep.address().is_v6() ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) ::close(fd);
  return dup;
}

Result<tcp::socket> dial(boost::asio::io_context& ioc, const std::string& host, const std::string& port,
                         const auth::TlsClientConfig* tls, std::chrono::milliseconds timeout) {
  beast::error_code ec;
  tcp::socket s(ioc);
  if (tls) {
    auto fd = auth::dial_tls_tunnel(host, port, *tls, timeout);
    if (!fd) return fd.status();
    s.assign(tcp::v4(), *fd, ec);
    if (ec) {
      ::close(*fd);
      return Status(Code::kUnavailable, "connect " + host + ":" + port + ": " + ec.message());
    }
    return s;
  }
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port, ec);
  if (ec) return Status(Code::kUnavailable, "resolve " + host + ": " + ec.message());
  net::connect(s, results, ec);
  if (ec) return Status(Code::kUnavailable, "connect " + host + ":" + port + ": " + ec.message());
  s.set_option(tcp::no_delay(true), ec);
  return s;
}

Result<std::unique_ptr<WsStream>> connect_ws(boost::asio::io_context& ioc, const std::string& host,
                                             const std::string& port, const std::string& target,
                                             const std::vector<std::string>& protocols,
                                             std::string* chosen, UpgradeRefused* refused,
                                             const auth::TlsClientConfig* tls) {
  try {
    beast::error_code ec;
    auto sock = dial(ioc, host, port, tls);
    if (!sock) return sock.status();
    auto ws = std::make_unique<WsStream>(std::move(*sock));
    std::string offer = join_protocols(protocols);
    ws->set_option(websocket::stream_base::decorator([offer](websocket::request_type& req) {
      if (!offer.empty()) req.set(http::field::sec_websocket_protocol, offer);
      req.set(http::field::user_agent, "minik8s");
    }));
    ws->read_message_max(64 * 1024 * 1024);
    // The asynchronous handshake fills `res` also when the upgrade is declined
    // (the synchronous one does not), so the refusal can be passed on.
    websocket::response_type res;
    net::steady_timer timer(ioc);
    timer.expires_after(std::chrono::seconds(30));
    timer.async_wait([&](beast::error_code e) {
      if (!e) {
        beast::error_code ig;
        beast::get_lowest_layer(*ws).close(ig);
      }
    });
    ws->async_handshake(res, host + ":" + port, target, [&](beast::error_code e) {
      ec = e;
      timer.cancel();
    });
    ioc.restart();
    ioc.run();
    ioc.restart();
    if (ec) {
      if (refused) {
        refused->code = res.result_int();
        refused->body = res.body();
      }
      std::string why = ec.message();
      // A response_type starts out as 200 with no fields: only a response
      // that arrived (it has header fields) is a refusal to report.
      bool answered = res.base().begin() != res.base().end();
      if (refused && !answered) *refused = UpgradeRefused{};
      if (answered && res.result_int() != 101) {
        why = "HTTP " + std::to_string(res.result_int()) +
              (res.body().empty() ? "" : ": " + res.body());
      }
      return Status(Code::kUnavailable,
                    "websocket upgrade to " + host + ":" + port + " failed: " + why);
    }
    if (chosen) *chosen = std::string(res[http::field::sec_websocket_protocol]);
    ws->binary(true);
    return ws;
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, std::string("websocket connect: ") + e.what());
  }
}

void relay(WsStream& a, WsStream& b, MessageFilter a_to_b, MessageFilter b_to_a) {
  struct Dir {
    WsStream& from;
    WsStream& to;
    MessageFilter filter;
    beast::flat_buffer buf;
    std::string out;
    bool ended = false;
  };
  Dir ab{a, b, std::move(a_to_b), {}, {}, false};
  Dir ba{b, a, std::move(b_to_a), {}, {}, false};
  auto& ioc = static_cast<net::io_context&>(a.get_executor().context());
  net::steady_timer deadline(ioc);
  bool deadline_armed = false;
  std::function<void(Dir&)> read;
  auto end = [&](Dir& d) {
    if (d.ended) return;
    d.ended = true;
    if (d.to.is_open()) {
      d.to.async_close(websocket::close_code::normal, [](beast::error_code) {});
    }
    if (!deadline_armed) {
      // A peer that never answers the close handshake must not hold the session.
      deadline_armed = true;
      deadline.expires_after(std::chrono::seconds(5));
      deadline.async_wait([&](beast::error_code e) {
        if (e) return;
        beast::error_code ig;
        beast::get_lowest_layer(a).close(ig);
        beast::get_lowest_layer(b).close(ig);
      });
    }
    if (ab.ended && ba.ended) deadline.cancel();
  };
  read = [&](Dir& d) {
    d.from.async_read(d.buf, [&](beast::error_code ec, size_t) {
      if (ec) {
        end(d);
        return;
      }
      d.out = beast::buffers_to_string(d.buf.data());
      d.buf.consume(d.buf.size());
      if (d.filter && !d.filter(d.out)) {
        read(d);
        return;
      }
      d.to.binary(true);
      d.to.async_write(net::buffer(d.out), [&](beast::error_code wec, size_t) {
        if (wec) {
          end(d);
          return;
        }
        read(d);
      });
    });
  };
  read(ab);
  read(ba);
  try {
    ioc.restart();
    ioc.run();
  } catch (const std::exception&) {
    beast::error_code ig;
    beast::get_lowest_layer(a).close(ig);
    beast::get_lowest_layer(b).close(ig);
  }
}

std::string frame(unsigned char channel, std::string_view payload) {
  std::string s(1, static_cast<char>(channel));
  s.append(payload);
  return s;
}

std::string exit_status_json(int code) {
  if (code == 0) return R"({"metadata":{},"status":"Success"})";
  return R"({"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [exit )" +
         std::to_string(code) + R"(], exit code )" + std::to_string(code) +
         R"(","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":")" +
         std::to_string(code) + R"("}]}})";
}

std::string failure_json(std::string_view message) {
  nlohmann::json j = {{"metadata", nlohmann::json::object()},
                      {"status", "Failure"},
                      {"message", std::string(message)},
                      {"reason", "InternalError"}};
  return j.dump();
}

}  // namespace minik8s::stream
