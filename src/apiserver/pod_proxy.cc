#include "pod_proxy.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <limits>

#include "minik8s/api/address_rules.h"
#include "minik8s/api/json.h"
#include "minik8s/stream/beast_names.h"
#include "minik8s/stream/websocket.h"
#include "minik8s/util/url.h"

namespace minik8s::apiserver {

using namespace minik8s::beast_names;

namespace {

struct PathParts {
  std::string ns, name, sub;
};

std::optional<PathParts> split(const std::string& path) {
  // /api/v1/namespaces/{ns}/pods/{name}/{sub}
  static const std::string kPrefix = "/api/v1/namespaces/";
  if (path.rfind(kPrefix, 0) != 0) return std::nullopt;
  std::vector<std::string> parts;
  size_t i = kPrefix.size();
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  if (parts.size() != 4 || parts[1] != "pods" || parts[0].empty() || parts[2].empty()) return std::nullopt;
  if (parts[3] != "log" && parts[3] != "exec" && parts[3] != "attach") return std::nullopt;
  return PathParts{url_decode(parts[0]), url_decode(parts[2]), parts[3]};
}

void write_response(tcp::socket& s, const HttpResponse& r, unsigned version) {
  http::response<http::string_body> res{static_cast<http::status>(r.code), version};
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::connection, "close");
  res.body() = r.body;
  res.prepare_payload();
  beast::error_code ec;
  http::write(s, res, ec);
}

void write_status(tcp::socket& s, const Status& st, unsigned version, const std::string& name = {}) {
  HttpResponse r;
  r.code = st.http_code();
  r.body = status_body(st, name, "", name.empty() ? "" : "pods");
  write_response(s, r, version);
}

// What the kubelet said when it refused: its Status body if it is one.
HttpResponse backend_refusal(int code, const std::string& body) {
  auto p = api::parse_json_response(body);
  json j = p ? std::move(p.value()) : json();
  HttpResponse r;
  if (j.is_object() && j.value("kind", "") == "Status") {
    r.code = code;
    r.body = body;
  } else {
    Status st(code == 404 ? Code::kNotFound : code == 400 ? Code::kBadRequest : Code::kInternal,
              body.empty() ? "the kubelet answered HTTP " + std::to_string(code) : body);
    r.code = st.http_code();
    r.body = status_body(st, "", "", "");
  }
  return r;
}

void write_backend_refusal(tcp::socket& s, int code, const std::string& body, unsigned version) {
  write_response(s, backend_refusal(code, body), version);
}

// Ends an exec session whose upgrade was already answered with a failure
// Status on the error channel (v4/v5: the Status JSON; v1-v3: its message as
// text), then closes, as the Kubernetes API server's stream translator reports
// what goes wrong after the upgrade. A client that does not answer the close
// is cut off after 5 s. Runs the connection's io_context.
void finish_exec(stream::WsStream& ws, const std::string& proto, const std::string& status_json) {
  std::string payload = status_json;
  if (proto != "v5.channel.k8s.io" && proto != "v4.channel.k8s.io") {
    auto p = api::parse_json_response(status_json);
    json j = p ? std::move(p.value()) : json();
    if (j.is_object() && j.contains("message") && j["message"].is_string()) payload = j["message"].get<std::string>();
  }
  std::string out = stream::frame(stream::kError, payload);
  auto& ioc = static_cast<net::io_context&>(ws.get_executor().context());
  net::steady_timer deadline(ioc);
  deadline.expires_after(std::chrono::seconds(5));
  deadline.async_wait([&](beast::error_code e) {
    if (e) return;
    beast::error_code ig;
    beast::get_lowest_layer(ws).close(ig);
  });
  ws.binary(true);
  ws.async_write(net::buffer(out), [&](beast::error_code e, size_t) {
    if (e) {
      deadline.cancel();
      return;
    }
    ws.async_close(websocket::close_code::normal, [&](beast::error_code) { deadline.cancel(); });
  });
  try {
    ioc.restart();
    ioc.run();
  } catch (const std::exception&) {
    beast::error_code ig;
    beast::get_lowest_layer(ws).close(ig);
  }
}

bool gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  char c;
  return (p.revents & POLLIN) && ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

struct Target {
  std::string host, port, container;
};

// Where pods/log and pods/exec may dial the kubelet of Node node_name: only
// the address and port the Node registered (status.addresses InternalIP, an
// IP literal, so no name is resolved, and
// status.daemonEndpoints.kubeletEndpoint.Port). A loopback or link-local
// address (this host, its metadata service) is used only for a local Node:
// the one named by ApiServerOptions::local_node, or any Node when the server
// listens on a loopback address only, with no advertise address of its own
// (its clients are then on this host and reach those addresses themselves). Unspecified and
// multicast addresses are never dialled. Kubernetes refuses such node addresses for its node proxy
// likewise (proxyutil.IsProxyableIP → 400 "address not allowed").
Status kubelet_target(const json& node, const std::string& node_name, const ApiServerOptions& opts, Target& t) {
  const json none;
  const json& status = node.is_object() && node.contains("status") ? node["status"] : none;
  std::string internal;
  int64_t port = 0;
  if (status.is_object() && status.contains("addresses") && status["addresses"].is_array()) {
    for (const auto& a : status["addresses"]) {
      if (!a.is_object() || a.value("type", json()) != "InternalIP") continue;
      if (a.contains("address") && a["address"].is_string()) internal = a["address"].get<std::string>();
      break;
    }
  }
  if (status.is_object() && status.contains("daemonEndpoints")) {
    const json& d = status["daemonEndpoints"];
    if (d.is_object() && d.contains("kubeletEndpoint") && d["kubeletEndpoint"].is_object()) {
      const json& p = d["kubeletEndpoint"].value("Port", json());
      if (p.is_number_integer()) port = p.get<int64_t>();
    }
  }
  if (internal.empty()) {
    return Status(Code::kUnavailable, "node " + node_name + " has no InternalIP address to reach its kubelet");
  }
  if (port <= 0 || port > 65535) {
    return Status(Code::kUnavailable, "node " + node_name +
                                          " has not registered its kubelet port "
                                          "(status.daemonEndpoints.kubeletEndpoint.Port)");
  }
  auto ip = api::parse_ip(internal);
  if (!ip) return Status(Code::kUnavailable, "node " + node_name + " InternalIP " + internal + " is not an IP address");
  std::string where = "node " + node_name + " registered its kubelet at " + internal + ":" + std::to_string(port);
  if (api::is_unspecified(*ip) || api::is_multicast(*ip)) {
    return bad_request("address not allowed: " + where + ", an unspecified or multicast address");
  }
  if (api::is_loopback(*ip) || api::is_link_local_unicast(*ip)) {
    auto bind = api::parse_ip(opts.bind_address);
    // Listening on loopback only: no advertise address with a listener of its own.
    const bool loopback_only =
        bind && api::is_loopback(*bind) &&
        (opts.advertise_address.empty() || opts.advertise_address == opts.bind_address);
    bool local = (!opts.local_node.empty() && node_name == opts.local_node) || loopback_only;
    if (!local) {
      return bad_request("address not allowed: " + where +
                         ", a loopback or link-local address, and it is not the local node "
                         "(the API server dials such addresses only for the node named by --local-node, "
                         "or for every node when it listens on loopback only)");
    }
  }
  t.host = internal;
  t.port = std::to_string(port);
  return Status::ok();
}

}  // namespace

bool PodProxy::matches(const std::string& path) { return split(path).has_value(); }

void PodProxy::serve(tcp::socket& s, const http::request<http::string_body>& msg, const std::atomic<bool>& stopping,
                     std::atomic<int>& fd_out, const std::optional<auth::PeerCertificate>& client_cert) {
  fd_out = -1;
  unsigned version = msg.version();
  std::string target(msg.target());
  size_t qpos = target.find('?');
  std::string path = target.substr(0, qpos);
  {
    HttpRequest who;
    who.method = std::string(msg.method_string());
    who.path = path;
    who.authorization = std::string(msg[http::field::authorization]);
    who.client_cert = client_cert;
    for (const auto& f : msg) {
      if (boost::beast::iequals(f.name_string(), "Impersonate-User")) {
        who.impersonate_user = std::string(f.value());
      } else if (boost::beast::iequals(f.name_string(), "Impersonate-Group")) {
        who.impersonate_groups.emplace_back(f.value());
      }
    }
    if (auto refused = handler_.admit(who)) return write_response(s, *refused, version);
  }
  stream::QueryList query = qpos == std::string::npos ? stream::QueryList{} : stream::parse_query_list(target.substr(qpos + 1));
  auto pp = split(path);
  if (!pp) return write_status(s, not_found("the server could not find the requested resource"), version);
  std::string method(msg.method_string());
  if (pp->sub == "attach") {
    return write_status(s, Status(Code::kMethodNotAllowed, "pods/attach is not supported by minik8s; use exec"),
                        version);
  }
  if (pp->sub == "log" && method != "GET") {
    return write_status(s, Status(Code::kMethodNotAllowed, "the server does not allow this method on pods/log"),
                        version);
  }
  if (pp->sub == "exec" && method != "GET" && method != "POST") {
    return write_status(s, Status(Code::kMethodNotAllowed, "the server does not allow this method on pods/exec"),
                        version);
  }

  // ---- resolve pod → node → kubelet
  HttpRequest get;
  get.method = "GET";
  get.path = "/api/v1/namespaces/" + url_encode(pp->ns) + "/pods/" + url_encode(pp->name);
  get.accept = "application/json";
  HttpResponse pr = handler_.handle_admitted(get);
  if (pr.code != 200) return write_response(s, pr, version);
  auto parsed_pod = api::parse_json_response(pr.body);
  json pod = parsed_pod ? std::move(parsed_pod.value()) : json();
  const json spec = pod.is_object() && pod.contains("spec") && pod["spec"].is_object() ? pod["spec"] : json::object();
  std::vector<std::string> names, init_names;
  auto collect = [&](const char* key, std::vector<std::string>& into) {
    auto it = spec.find(key);
    if (it == spec.end() || !it->is_array()) return;
    for (const auto& c : *it) {
      if (c.is_object() && c.contains("name") && c["name"].is_string()) into.push_back(c["name"].get<std::string>());
    }
  };
  collect("containers", names);
  collect("initContainers", init_names);
  std::string container = stream::query_get(query, "container");
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : " ") + n;
    return "[" + s + "]";
  };
  if (container.empty()) {
    if (names.size() == 1) {
      container = names[0];
    } else {
      std::string m = "a container name must be specified for pod " + pp->name + ", choose one of: " + list(names);
      if (!init_names.empty()) m += " or one of the init containers: " + list(init_names);
      return write_status(s, bad_request(m), version, pp->name);
    }
  } else if (std::find(names.begin(), names.end(), container) == names.end() &&
             std::find(init_names.begin(), init_names.end(), container) == init_names.end()) {
    return write_status(s, bad_request("container " + container + " is not valid for pod " + pp->name), version,
                        pp->name);
  }
  std::string node = spec.value("nodeName", "");
  if (node.empty()) {
    return write_status(s, bad_request("pod " + pp->name + " does not have a host assigned"), version, pp->name);
  }
  HttpRequest nget;
  nget.method = "GET";
  nget.path = "/api/v1/nodes/" + url_encode(node);
  nget.accept = "application/json";
  HttpResponse nr = handler_.handle_admitted(nget);
  if (nr.code != 200) {
    return write_status(s, Status(Code::kUnavailable, "node " + node + " of pod " + pp->name + " is not registered"),
                        version);
  }
  auto parsed_node = api::parse_json_response(nr.body);
  json n = parsed_node ? std::move(parsed_node.value()) : json();
  Target t;
  t.container = container;
  if (Status st = kubelet_target(n, node, handler_.options(), t); !st.is_ok()) {
    return write_status(s, st, version);
  }
  stream::QueryList fwd;
  for (const auto& kv : query) {
    if (kv.first != "container") fwd.push_back(kv);
  }
  std::string kpath = "/" + std::string(pp->sub == "log" ? "containerLogs" : "exec") + "/" +
                      url_encode(pp->ns) + "/" + url_encode(pp->name) + "/" +
                      url_encode(container) + (fwd.empty() ? "" : "?" + stream::encode_query(fwd));

  // The kubelet over HTTPS (docs/auth.md "The kubelet's server"), with the
  // API server's kubelet client certificate; plain HTTP for plain servers.
  const ApiKubeletClientOptions& kc = handler_.options().kubelet_client;
  auth::TlsClientConfig tls_config;
  tls_config.ca_file = kc.ca_file;
  tls_config.cert_file = kc.cert_file;
  tls_config.key_file = kc.key_file;
  const auth::TlsClientConfig* tls = kc.https ? &tls_config : nullptr;

  if (pp->sub == "exec") {
    if (!websocket::is_upgrade(msg)) {
      return write_status(
          s, bad_request("exec needs a WebSocket upgrade (v5.channel.k8s.io ... channel.k8s.io); SPDY is not supported"),
          version);
    }
    std::string proto = stream::choose_protocol(std::string(msg[http::field::sec_websocket_protocol]));
    if (proto.empty()) {
      return write_status(s, bad_request("none of the offered WebSocket subprotocols is supported; want one of " +
                                         stream::join_protocols(stream::channel_protocols())),
                          version);
    }
    // The client's upgrade is answered before the kubelet is dialled, as the
    // Kubernetes API server's stream translator does: the kubelet starts the
    // command only when asked, so its first output cannot reach the client
    // together with the 101. kubectl 1.30-1.33 (client-go before 1.34) start
    // reading frames before they register their streams and drop any frame
    // that comes first ("Unknown stream id 1, discarding message").
    // What fails from here on is a Status on the error channel.
    auto& ioc = static_cast<net::io_context&>(s.get_executor().context());
    beast::error_code dup_ec;
    tcp::socket own = stream::duplicate_socket(s, dup_ec);
    if (dup_ec) {
      return write_status(s, Status(Code::kUnavailable, "cannot serve exec: " + dup_ec.message()), version,
                          pp->name);
    }
    stream::WsStream client(std::move(own));
    client.set_option(websocket::stream_base::decorator(
        [proto](websocket::response_type& res) { res.set(http::field::sec_websocket_protocol, proto); }));
    client.read_message_max(64 * 1024 * 1024);
    beast::error_code ec;
    client.accept(msg, ec);
    if (!ec && !stopping) {
      client.binary(true);
      std::string chosen;
      stream::UpgradeRefused refused;
      auto backend = stream::connect_ws(ioc, t.host, t.port, kpath, {proto}, &chosen, &refused, tls);
      if (!backend) {
        std::string failure =
            refused.code != 0 && refused.code != 101
                ? backend_refusal(refused.code, refused.body).body
                : status_body(Status(Code::kUnavailable, "error dialing backend: " + backend.status().message()), "",
                              "", "");
        finish_exec(client, proto, failure);
      } else if (!chosen.empty() && chosen != proto) {
        beast::error_code ig;
        beast::get_lowest_layer(**backend).close(ig);
        finish_exec(client, proto,
                    status_body(Status(Code::kInternal, "the kubelet answered with subprotocol " + chosen +
                                                            ", not the offered " + proto),
                                "", "", ""));
      } else {
        fd_out = beast::get_lowest_layer(**backend).native_handle();
        if (!stopping) stream::relay(client, **backend, nullptr, nullptr);
        fd_out = -1;
        beast::error_code ig;
        beast::get_lowest_layer(**backend).close(ig);
      }
    }
    return;
  }

  // ---- logs
  auto& ioc = static_cast<net::io_context&>(s.get_executor().context());
  auto dialed = stream::dial(ioc, t.host, t.port, tls);
  if (!dialed) {
    return write_status(s, Status(Code::kUnavailable, "error dialing backend: " + dialed.status().message()),
                        version);
  }
  tcp::socket k = std::move(*dialed);
  beast::error_code ec;
  fd_out = k.native_handle();
  http::request<http::empty_body> kreq{http::verb::get, kpath, 11};
  kreq.set(http::field::host, t.host + ":" + t.port);
  http::write(k, kreq, ec);
  beast::flat_buffer kbuf;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (!ec) http::read_header(k, kbuf, parser, ec);
  if (ec) {
    fd_out = -1;
    return write_status(s, Status(Code::kUnavailable, "kubelet " + t.host + ":" + t.port + ": " + ec.message()),
                        version);
  }
  int code = parser.get().result_int();
  char tmp[16384];
  auto read_chunk = [&](std::string& into) -> bool {
    parser.get().body().data = tmp;
    parser.get().body().size = sizeof tmp;
    beast::error_code rec;
    http::read_some(k, kbuf, parser, rec);
    if (rec == http::error::need_buffer) rec = {};
    into.append(tmp, sizeof tmp - parser.get().body().size);
    return !rec;
  };
  if (code != 200) {
    std::string body;
    while (!parser.is_done() && body.size() < 1024 * 1024 && read_chunk(body)) {
    }
    fd_out = -1;
    return write_backend_refusal(s, code, body, version);
  }
  bool chunked = version >= 11;
  std::string head = std::string(chunked ? "HTTP/1.1" : "HTTP/1.0") +
                     " 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache, private\r\n" +
                     (chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Connection: close\r\n\r\n");
  net::write(s, net::buffer(head), ec);
  while (!ec && !stopping && !parser.is_done()) {
    // Wait for kubelet data, watching the client so an abandoned follow ends.
    pollfd fds[2] = {{k.native_handle(), POLLIN, 0}, {s.native_handle(), POLLRDHUP, 0}};
    if (kbuf.size() == 0) {
      int r = ::poll(fds, 2, 200);
      if (r < 0) break;
      if (gone(s.native_handle())) break;
      if (r == 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    }
    std::string data;
    bool ok = read_chunk(data);
    if (!data.empty()) {
      if (chunked) {
        char len[32];
        int nlen = std::snprintf(len, sizeof len, "%zx\r\n", data.size());
        std::array<net::const_buffer, 3> bufs = {net::buffer(len, static_cast<size_t>(nlen)), net::buffer(data),
                                                 net::buffer("\r\n", 2)};
        net::write(s, bufs, ec);
      } else {
        net::write(s, net::buffer(data), ec);
      }
    }
    if (!ok) break;
  }
  fd_out = -1;
  beast::error_code ig;
  k.close(ig);
  if (chunked && !ec) net::write(s, net::buffer("0\r\n\r\n", 5), ig);
}

}  // namespace minik8s::apiserver
