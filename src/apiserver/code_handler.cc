// RestHandler: the code store's endpoints (docs/serverless.md "The code
// store"; the store itself is minik8s/apiserver/code_store.h).
#include <spdlog/spdlog.h>

#include "handler.h"

namespace minik8s::apiserver {

bool RestHandler::is_code_path(std::string_view path) {
  std::string_view base = kCodePath;
  if (path.substr(0, base.size()) != base) return false;
  return path.size() == base.size() || path[base.size()] == '/';
}

bool RestHandler::is_code_upload(std::string_view method, std::string_view path) {
  return method == "POST" && (path == kCodePath || path == std::string(kCodePath) + "/");
}

HttpResponse RestHandler::handle_code(const HttpRequest& req, std::string* verb) {
  if (!code_) return not_served_response();
  const std::string base = kCodePath;
  std::string rest = req.path.size() > base.size() ? req.path.substr(base.size() + 1) : "";
  if (rest.empty()) {  // the collection: uploads only
    if (req.method != "POST") return method_not_allowed_response();
    *verb = "create";
    if (req.body.size() > kMaxCodeBytes) {
      return error_response(Status(Code::kTooLarge, code_too_large_message(req.body.size())));
    }
    auto put = code_->put(req.body);
    if (!put) {
      spdlog::error("apiserver: code upload failed: {}", put.status().message());
      return error_response(put.status());
    }
    HttpResponse r;
    r.code = put->created ? 201 : 200;
    r.body = json{{"hash", put->hash}, {"size", put->size}}.dump();
    return r;
  }
  if (req.method != "GET") return method_not_allowed_response();
  *verb = "get";
  auto data = code_->get(rest);  // kInvalid-style 400 for a malformed hash, 404 when absent
  if (!data) {
    if (data.status().code() == Code::kInternal) {
      spdlog::error("apiserver: code download failed: {}", data.status().message());
    }
    return error_response(data.status());
  }
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body = std::move(*data);
  return r;
}

}  // namespace minik8s::apiserver
