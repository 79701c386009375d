// Status and Result<T>: errors as values.
//
// Expected failures (not found, conflict, invalid input, I/O, a runtime that
// said no) travel as a Status with a Code and a message a user can act on.
// Codes map one-to-one onto the Kubernetes `Status.reason` values the API
// server returns (see http_code()/reason()). Thread-compatible value types.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace minik8s {

enum class Code {
  kOk,
  kNotFound,         // 404 NotFound
  kAlreadyExists,    // 409 AlreadyExists
  kConflict,         // 409 Conflict (stale resourceVersion, lost CAS)
  kInvalid,          // 422 Invalid (a field failed validation)
  kBadRequest,       // 400 BadRequest (malformed body, bad selector)
  kGone,             // 410 Expired (revision compacted)
  kTooLarge,         // 413 RequestEntityTooLarge
  kUnsupported,      // 415 UnsupportedMediaType
  kMethodNotAllowed, // 405 MethodNotAllowed
  kForbidden,        // 403 Forbidden
  kUnauthorized,     // 401 Unauthorized (no or bad credentials)
  kTimeout,          // 504 Timeout
  kUnavailable,      // 503 ServiceUnavailable
  kInternal,         // 500 InternalError
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // HTTP status code and Kubernetes reason string for this code.
  int http_code() const;
  const char* reason() const;
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status already_exists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
inline Status bad_request(std::string m) { return {Code::kBadRequest, std::move(m)}; }
inline Status internal_error(std::string m) { return {Code::kInternal, std::move(m)}; }

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(implicit)
  Result(Status status) : status_(std::move(status)) {}  // NOLINT(implicit)

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace minik8s
