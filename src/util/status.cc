#include "minik8s/util/status.h"

namespace minik8s {

int Status::http_code() const {
  switch (code_) {
    case Code::kOk: return 200;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kConflict: return 409;
    case Code::kInvalid: return 422;
    case Code::kBadRequest: return 400;
    case Code::kGone: return 410;
    case Code::kTooLarge: return 413;
    case Code::kUnsupported: return 415;
    case Code::kMethodNotAllowed: return 405;
    case Code::kForbidden: return 403;
    case Code::kUnauthorized: return 401;
    case Code::kTimeout: return 504;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
  }
  return 500;
}

const char* Status::reason() const {
  switch (code_) {
    case Code::kOk: return "";
    case Code::kNotFound: return "NotFound";
    case Code::kAlreadyExists: return "AlreadyExists";
    case Code::kConflict: return "Conflict";
    case Code::kInvalid: return "Invalid";
    case Code::kBadRequest: return "BadRequest";
    case Code::kGone: return "Expired";
    case Code::kTooLarge: return "RequestEntityTooLarge";
    case Code::kUnsupported: return "UnsupportedMediaType";
    case Code::kMethodNotAllowed: return "MethodNotAllowed";
    case Code::kForbidden: return "Forbidden";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kTimeout: return "Timeout";
    case Code::kUnavailable: return "ServiceUnavailable";
    case Code::kInternal: return "InternalError";
  }
  return "InternalError";
}

std::string Status::to_string() const {
  if (is_ok()) return "OK";
  return std::string(reason()) + ": " + message_;
}

}  // namespace minik8s
