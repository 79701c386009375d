#include "stream_cmds.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/json.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/stream/beast_names.h"
#include "minik8s/stream/websocket.h"
#include "minik8s/util/url.h"

namespace minik8s::cli {

using namespace minik8s::beast_names;
using nlohmann::json;

namespace {

// "Error from server (NotFound): pods "x" not found" — or the raw body.
std::string server_error(int code, const std::string& body) {
  auto parsed = api::parse_json_response(body);
  json j = parsed ? std::move(parsed.value()) : json();
  // value() throws type_error when a field has another type: a malformed Status falls back to the raw body.
  try {
    if (j.is_object() && j.value("kind", "") == "Status") {
      std::string reason = j.value("reason", "");
      std::string msg = j.value("message", "");
      return "Error from server" + (reason.empty() ? std::string() : " (" + reason + ")") + ": " + msg;
    }
  } catch (const json::exception&) {
  }
  return "error: the server answered HTTP " + std::to_string(code) + (body.empty() ? "" : ": " + body);
}

std::string path_for(const std::string& ns, const std::string& pod, const std::string& sub) {
  return "/api/v1/namespaces/" + url_encode(ns) + "/pods/" + url_encode(pod) + "/" + sub;
}

// Restores the terminal on every exit path.
struct RawTerminal {
  bool active = false;
  termios saved{};
  void enable() {
    if (!::isatty(0) || ::tcgetattr(0, &saved) != 0) return;
    termios raw = saved;
    ::cfmakeraw(&raw);
    if (::tcsetattr(0, TCSANOW, &raw) == 0) active = true;
  }
  ~RawTerminal() {
    if (active) ::tcsetattr(0, TCSANOW, &saved);
  }
};

// Serialises writes on one WebSocket (one outstanding async_write at a time).
struct Writer {
  explicit Writer(stream::WsStream& w) : ws(w) {}
  stream::WsStream& ws;
  std::deque<std::string> q;
  bool writing = false;
  bool closed = false;
  void send(std::string m) {
    if (closed) return;
    q.push_back(std::move(m));
    if (!writing) next();
  }
  void next() {
    writing = true;
    ws.async_write(net::buffer(q.front()), [this](beast::error_code ec, size_t) {
      q.pop_front();
      if (ec) {
        closed = true;
        q.clear();
      }
      if (q.empty()) {
        writing = false;
      } else {
        next();
      }
    });
  }
};

}  // namespace

int run_logs(const client::HttpRestClientOptions& server, const std::string& ns, const LogsOptions& o, std::ostream& out,
             std::ostream& err) {
  // A stream is not moved to another server: the first of a list is used.
  auto first = client::split_servers(server.server);
  auto u = stream::parse_url(first.empty() ? server.server : first.front());
  if (!u) {
    err << "error: " << u.status().message() << "\n";
    return 1;
  }
  stream::QueryList q;
  if (!o.container.empty()) q.emplace_back("container", o.container);
  if (o.follow) q.emplace_back("follow", "true");
  if (o.previous) q.emplace_back("previous", "true");
  if (o.timestamps) q.emplace_back("timestamps", "true");
  if (o.tail >= 0) q.emplace_back("tailLines", std::to_string(o.tail));
  if (o.since_seconds > 0) q.emplace_back("sinceSeconds", std::to_string(o.since_seconds));
  if (o.limit_bytes > 0) q.emplace_back("limitBytes", std::to_string(o.limit_bytes));
  std::string target = path_for(ns, o.pod, "log") + (q.empty() ? "" : "?" + stream::encode_query(q));
  try {
    net::io_context ioc;
    auto dialed = stream::dial(ioc, u->host, u->port, u->tls ? &server.tls : nullptr);
    if (!dialed) {
      err << "error: " << dialed.status().message() << "\n";
      return 1;
    }
    tcp::socket s = std::move(*dialed);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    if (!server.bearer_token.empty()) req.set(http::field::authorization, "Bearer " + server.bearer_token);
    req.set(http::field::host, u->host + ":" + u->port);
    req.set(http::field::accept, "*/*");
    req.set(http::field::user_agent, "mkctl");
    http::write(s, req);
    beast::flat_buffer buf;
    http::response_parser<http::buffer_body> p;
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    http::read_header(s, buf, p);
    int code = p.get().result_int();
    std::string body;
    char tmp[16384];
    while (!p.is_done()) {
      p.get().body().data = tmp;
      p.get().body().size = sizeof tmp;
      beast::error_code ec;
      http::read_some(s, buf, p, ec);
      if (ec == http::error::need_buffer) ec = {};
      size_t n = sizeof tmp - p.get().body().size;
      if (code == 200) {
        out.write(tmp, static_cast<std::streamsize>(n));
        out.flush();
      } else {
        body.append(tmp, n);
      }
      if (ec) break;
    }
    if (code != 200) {
      err << server_error(code, body) << "\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
}

int run_exec(const client::HttpRestClientOptions& server, const std::string& ns, const ExecOptions& o, std::istream& in,
             std::ostream& out, std::ostream& err) {
  // A stream is not moved to another server: the first of a list is used.
  auto first = client::split_servers(server.server);
  auto u = stream::parse_url(first.empty() ? server.server : first.front());
  if (!u) {
    err << "error: " << u.status().message() << "\n";
    return 1;
  }
  if (o.command.empty()) {
    err << "error: you must specify at least one command for the container\n";
    return 1;
  }
  stream::QueryList q;
  for (const auto& c : o.command) q.emplace_back("command", c);
  if (!o.container.empty()) q.emplace_back("container", o.container);
  if (o.stdin_) q.emplace_back("stdin", "true");
  q.emplace_back("stdout", "true");
  q.emplace_back("stderr", o.tty ? "false" : "true");
  if (o.tty) q.emplace_back("tty", "true");
  std::string target = path_for(ns, o.pod, "exec") + "?" + stream::encode_query(q);

  auto ioc = std::make_shared<net::io_context>();
  std::string proto;
  stream::UpgradeRefused refused;
  auto ws = stream::connect_ws(*ioc, u->host, u->port, target, {"v5.channel.k8s.io", "v4.channel.k8s.io"}, &proto,
                               &refused, u->tls ? &server.tls : nullptr);
  if (!ws) {
    if (refused.code != 0 && refused.code != 101) {
      err << server_error(refused.code, refused.body) << "\n";
    } else {
      err << "error: " << ws.status().message() << "\n";
    }
    return 1;
  }
  // The WebSocket and its writer outlive this call if the stdin thread is still
  // blocked in read(): they are shared with it.
  struct State {
    std::unique_ptr<stream::WsStream> ws;
    std::unique_ptr<Writer> writer;
  };
  auto st = std::make_shared<State>();
  st->ws = std::move(*ws);
  st->writer = std::make_unique<Writer>(*st->ws);
  bool v5 = proto == "v5.channel.k8s.io";

  std::thread reader;
  bool fd0 = false;
  RawTerminal term;
  if (o.tty) {
    term.enable();
    winsize w{};
    if (::ioctl(0, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) {
      st->writer->send(stream::frame(stream::kResize, json{{"Width", w.ws_col}, {"Height", w.ws_row}}.dump()));
    }
  }
  if (o.stdin_) {
    fd0 = &in == &std::cin;
    reader = std::thread([ioc, st, v5, fd0 = fd0, &in] {
      char buf[8192];
      for (;;) {
        ssize_t n = 0;
        if (fd0) {
          n = ::read(0, buf, sizeof buf);
        } else {
          in.read(buf, sizeof buf);
          n = in.gcount();
          if (n == 0 && !in) n = 0;
        }
        if (n <= 0) break;
        std::string data(buf, static_cast<size_t>(n));
        net::post(*ioc, [st, data] { st->writer->send(stream::frame(stream::kStdin, data)); });
        if (!fd0 && !in) break;
      }
      if (v5) {
        net::post(*ioc, [st] { st->writer->send(stream::frame(stream::kClose, std::string(1, '\0'))); });
      }
    });
  }

  int exit_code = 0;
  std::string status_msg;
  beast::flat_buffer rb;
  std::function<void()> read_next = [&] {
    st->ws->async_read(rb, [&](beast::error_code ec, size_t) {
      if (ec) return;  // closed: the session is over
      std::string m = beast::buffers_to_string(rb.data());
      rb.consume(rb.size());
      if (!m.empty()) {
        unsigned char ch = static_cast<unsigned char>(m[0]);
        std::string_view payload(m.data() + 1, m.size() - 1);
        if (ch == stream::kStdout) {
          out.write(payload.data(), static_cast<std::streamsize>(payload.size()));
          out.flush();
        } else if (ch == stream::kStderr) {
          err.write(payload.data(), static_cast<std::streamsize>(payload.size()));
          err.flush();
        } else if (ch == stream::kError) {
          status_msg += std::string(payload);
        }
      }
      read_next();
    });
  };
  read_next();
  // The work guard is implicit: the read is always pending until the server closes.
  ioc->run();
  if (reader.joinable()) {
    // fd 0 may block forever in read(): leave that reader behind (it owns what it uses).
    if (fd0) {
      reader.detach();
    } else {
      reader.join();
    }
  }

  if (!status_msg.empty()) {
    auto parsed = api::parse_json_response(status_msg);
    json s = parsed ? std::move(parsed.value()) : json();
    // Typed reads: json::value() would throw type_error on a malformed Status (e.g. "status": 1).
    auto str = [](const json& o, const char* key, const std::string& dflt) {
      if (!o.is_object()) return dflt;
      auto it = o.find(key);
      return it != o.end() && it->is_string() ? it->get<std::string>() : dflt;
    };
    if (s.is_object()) {
      if (str(s, "status", "") != "Success") {
        exit_code = 1;
        bool found = false;
        auto details = s.find("details");
        if (str(s, "reason", "") == "NonZeroExitCode" && details != s.end() && details->is_object()) {
          auto causes = details->find("causes");
          if (causes != details->end() && causes->is_array()) {
            for (const auto& c : *causes) {
              if (str(c, "reason", "") == "ExitCode") {
                try {
                  exit_code = std::stoi(str(c, "message", "1"));
                  found = true;
                } catch (...) {
                }
              }
            }
          }
        }
        if (!found) err << "error: " << str(s, "message", status_msg) << "\n";
      }
    } else {
      // v1–v3 servers send plain text errors.
      err << "error: " << status_msg << "\n";
      exit_code = 1;
    }
  }
  return exit_code;
}

}  // namespace minik8s::cli
