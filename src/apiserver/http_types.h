// The REST handler's view of one HTTP exchange, independent of the transport:
// the HTTP layer (http_server.h) parses bytes into an HttpRequest and writes
// the HttpResponse or a watch stream (StreamWriter) back. Plain data.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "minik8s/auth/authenticator.h"
#include "minik8s/auth/user.h"

namespace minik8s::apiserver {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without query
  std::map<std::string, std::string> query;
  std::string body;
  std::string content_type;
  std::string accept;
  std::string authorization;  // the Authorization header, as sent
  // The client certificate the TLS layer verified (none over plain HTTP).
  std::optional<auth::PeerCertificate> client_cert;
  // Impersonate-User and Impersonate-Group headers (empty: none).
  std::string impersonate_user;
  std::vector<std::string> impersonate_groups;
  // Who the request acts as: set by RestHandler::admit (authentication).
  auth::UserInfo user;
};

struct HttpResponse {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Where a watch stream goes. begin() sends the status line and headers
// (chunked); write() sends one chunk; both return false when the peer is gone.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool begin(int code, const std::string& content_type) = 0;
  virtual bool write(std::string_view chunk) = 0;
  virtual bool peer_closed() = 0;
};

}  // namespace minik8s::apiserver
