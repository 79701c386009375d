// The WebSocket codec for the Kubernetes streaming protocols (channel.k8s.io
// v1–v5), shared by the kubelet server (exec relay, log/exec queries), the API
// server's pods/log and pods/exec proxy, and mkctl logs/exec.
//
// Wire format: binary messages whose first byte is the channel: 0 stdin,
// 1 stdout, 2 stderr, 3 error (a v1 Status JSON since v4), 4 resize
// ({"Width":W,"Height":H}), 255 close (v5: the sender closes the channel
// named by the second byte, stdin in practice). Only the binary protocols are
// spoken; the base64.channel.k8s.io variants are refused by negotiation.
//
// Also here: the query lists of these requests (exec repeats `command`, so a
// map will not do) and the http:// / ws:// URLs the streams are dialled at.
//
// Thread safety: the free functions are pure or work only on what they are
// given. connect_ws() and relay() run the io_context passed (or the one the
// streams belong to) on the calling thread; give each call its own.
// Errors are values: nothing here throws (Boost exceptions are caught inside).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minik8s/auth/tls.h"
#include "minik8s/util/status.h"

namespace minik8s::stream {

using WsStream = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;

// Channel bytes.
inline constexpr unsigned char kStdin = 0, kStdout = 1, kStderr = 2, kError = 3, kResize = 4,
                               kClose = 255;

// --- protocol negotiation (Sec-WebSocket-Protocol) ---

// The binary channel protocols we speak, newest first.
const std::vector<std::string>& channel_protocols();
// Splits a header value ("a, b,c") into trimmed tokens; empty tokens are dropped.
std::vector<std::string> split_protocols(std::string_view header);
// The first protocol the client offered that we support; "" when none.
std::string choose_protocol(std::string_view offered);
// "a, b, c".
std::string join_protocols(const std::vector<std::string>& protocols);

// --- frames ---

// A channel message: the channel byte then the payload.
std::string frame(unsigned char channel, std::string_view payload);
// The error-channel Status for an exit code (v4/v5): kubectl exits with it.
std::string exit_status_json(int code);
// The error-channel Status for a failure before the command ran (kubectl
// prints `message`).
std::string failure_json(std::string_view message);

// --- query strings ---

// A query string as ordered (key, value) pairs, percent-decoded.
using QueryList = std::vector<std::pair<std::string, std::string>>;

// "a=1&b&a=2" (no leading '?') → {a,1},{b,""},{a,2}.
QueryList parse_query_list(std::string_view query);
// The first value of `key`, or dflt.
std::string query_get(const QueryList& q, const std::string& key, const std::string& dflt = "");
// Every value of `key`, in order.
std::vector<std::string> query_all(const QueryList& q, const std::string& key);
// true for "true", "True", "TRUE" and "1".
bool query_bool(const QueryList& q, const std::string& key);
// The inverse of parse_query_list: percent-encoded "k=v&k=v".
std::string encode_query(const QueryList& q);

// --- URLs ---

// "http://host:port/path?x" → host, port, target ("/path?x"). ws:// is
// accepted too; an IPv6 host is written in brackets; the port defaults to 80.
struct Url {
  std::string host, port, target;
  bool tls = false;  // https:// or wss:// (default port 443)
};
// http://, ws://, https://, wss://; kBadRequest for another scheme or an empty host.
Result<Url> parse_url(const std::string& url);

// --- connections ---

// An HTTP error answered instead of the WebSocket upgrade.
struct UpgradeRefused {
  int code = 0;
  std::string body;
};

// Opens a WebSocket client connection to host:port target, offering
// `protocols` (none: no Sec-WebSocket-Protocol header). On success *chosen
// (if given) is the server's pick and the stream is in binary mode. Errors are
// kUnavailable: resolve/connect failures, a 30 s handshake timeout, or a
// server that answered without upgrading — then *refused (if given) carries
// its status code and body. Runs (and restarts) ioc.
// A socket on a duplicate of s's descriptor, on s's executor, for a server
// to upgrade to a WebSocket: the stream's closing handshake closes the
// duplicate, while s's descriptor stays with whoever owns it (the
// ConnectionServer closes it when the connection ends). Moving s itself into
// the stream closed that descriptor twice, and the second close could hit a
// descriptor just given to a new connection. ec is set when no descriptor is
// left.
boost::asio::ip::tcp::socket duplicate_socket(boost::asio::ip::tcp::socket& s,
                                              boost::system::error_code& ec);

// tls (not null): the connection goes through TLS with these settings
// (auth::dial_tls_tunnel: the stream itself stays a plain socket's, relayed).
Result<std::unique_ptr<WsStream>> connect_ws(boost::asio::io_context& ioc, const std::string& host,
                                             const std::string& port, const std::string& target,
                                             const std::vector<std::string>& protocols,
                                             std::string* chosen,
                                             UpgradeRefused* refused = nullptr,
                                             const auth::TlsClientConfig* tls = nullptr);
// A connected socket on ioc to host:port, through TLS when tls is not null
// (as connect_ws). kUnavailable when it cannot be reached.
Result<boost::asio::ip::tcp::socket> dial(boost::asio::io_context& ioc, const std::string& host,
                                          const std::string& port, const auth::TlsClientConfig* tls,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Rewrites a message in place, or drops it (returns false).
using MessageFilter = std::function<bool(std::string&)>;

// Relays messages between two open WebSocket streams of the same io_context
// until both directions end: a close or error on one side closes the other,
// and a peer that does not finish the close handshake within 5 s is cut off.
// A null filter passes every message. Runs the streams' io_context.
void relay(WsStream& a, WsStream& b, MessageFilter a_to_b, MessageFilter b_to_a);

}  // namespace minik8s::stream
