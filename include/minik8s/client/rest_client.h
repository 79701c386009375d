// RestClient: the HTTP seam between minik8s clients and the API server.
//
// request() sends one HTTP/1.1 request and returns the whole response
// (any status code: 4xx/5xx are a response, not an error — callers turn
// them into a Status with check_response()). A transport failure (connect
// refused, reset, timeout, malformed response) is an error Status
// (kUnavailable or kTimeout).
// watch() opens a streaming GET (chunked body) and hands back the body line
// by line; a non-2xx answer is returned as the error Status parsed from the
// server's `Status` object (e.g. kGone for 410 Expired).
//
// Thread safety: a RestClient may be used from any number of threads at once.
// A LineStream is used by one reader thread; close() may be called from any
// thread and makes a blocked next() return promptly.
// Ownership: make_http_rest_client returns an owned client; a LineStream does
// not borrow the client (it owns its connection).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minik8s/auth/tls.h"
#include "minik8s/util/status.h"

namespace minik8s::client {

struct HttpResponse {
  int status = 0;            // 200, 201, 404, ...
  std::string content_type;  // the Content-Type header, "" when absent
  std::string body;
};

// One line of a streaming body at a time (without the trailing newline).
class LineStream {
 public:
  virtual ~LineStream() = default;
  // The next line; std::nullopt when timeout passed (status() stays ok) or
  // the stream ended (status() says why; ok status + ended() for a clean end).
  virtual std::optional<std::string> next(std::chrono::milliseconds timeout) = 0;
  // True once the stream is over (server ended it, error, or close()).
  virtual bool ended() const = 0;
  virtual Status status() const = 0;
  // Idempotent; safe from any thread.
  virtual void close() = 0;
};

class RestClient {
 public:
  virtual ~RestClient() = default;
  // path_with_query: "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb".
  // content_type applies to a non-empty body; accept "" sends no Accept header.
  virtual Result<HttpResponse> request(const std::string& method,
                                       const std::string& path_with_query,
                                       const std::string& body = "",
                                       const std::string& content_type = "application/json",
                                       const std::string& accept = "application/json") = 0;
  virtual Result<std::unique_ptr<LineStream>> watch(
      const std::string& path_with_query, const std::string& accept = "application/json") = 0;
};

struct HttpRestClientOptions {
  // "http://127.0.0.1:6443" (an optional path prefix is kept: "http://h:1/prefix"),
  // or several servers of one cluster separated by commas (docs/ha.md):
  // "http://10.0.0.1:6443,http://10.0.0.2:6443". The client sticks to the
  // server that last answered and moves to the next one only when a request
  // surely did not reach the server it tried: the connection could not be
  // made (refused, unreachable, connect timeout) — for any method — or, for
  // GET (and watches), the connection broke before any byte of the answer.
  // A POST/PUT/PATCH/DELETE that was sent is never sent again elsewhere (the
  // server may have applied it): its error is returned.
  std::string server;
  // Per request: connect + write + whole response, over every server tried.
  // Watches use it only to connect and read the response header.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // With several servers: the most one connect attempt may take before the
  // next server is tried (a machine that is off answers nothing).
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  // Idle keep-alive connections kept for reuse.
  size_t max_idle_connections = 8;
  // Sent as "Authorization: Bearer <token>" on every request (empty: none).
  std::string bearer_token{};
  // https:// servers: the CA that verifies the server (none: the system's
  // roots), an optional client certificate, insecure_skip_verify.
  auth::TlsClientConfig tls{};
};

// The servers of a comma-separated list, trimmed, empty entries dropped.
std::vector<std::string> split_servers(const std::string& servers);

// The real client over Boost.Beast: http://, or https:// with TLS (the
// server's certificate checked against options.tls and the host dialed).
// kInvalid for a bad server URL or TLS files that cannot be loaded.
Result<std::unique_ptr<RestClient>> make_http_rest_client(const HttpRestClientOptions& options);

// Maps an HTTP error answer to a Status: the `Status` object's reason decides
// the code (NotFound, AlreadyExists, Conflict, Invalid, Expired/Gone, ...),
// else the HTTP status code; the message is the server's message (or the
// body / "the server responded with status N").
Status status_from_response(int http_status, std::string_view body);
// ok for 2xx, else status_from_response.
Status check_response(const HttpResponse& response);

}  // namespace minik8s::client
