// Status and Result<T>: how every Lathe module reports failure across its boundary.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lathe {

// The kinds of failure a caller can act on. The http module maps each to an HTTP status and to
// MLflow's `error_code` string in exactly one place (http/error_mapping.cc).
enum class ErrorCode {
  kOk,
  kInvalidParameterValue,  // the request is well-formed but a value breaks a rule
  kBadRequest,             // the request itself is malformed (JSON, content type)
  kResourceDoesNotExist,
  kResourceAlreadyExists,
  kInvalidState,           // the object exists but is not in a state that allows the operation
  kPermissionDenied,
  kRequestLimitExceeded,   // body or batch over a configured limit
  kEndpointNotFound,
  kMethodNotAllowed,
  kUnavailable,            // shutting down or overloaded; the client may retry
  kInternalError,          // a bug or an I/O failure on our side
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidParameter(std::string message) {
    return {ErrorCode::kInvalidParameterValue, std::move(message)};
  }
  static Status BadRequest(std::string message) { return {ErrorCode::kBadRequest, std::move(message)}; }
  static Status NotFound(std::string message) {
    return {ErrorCode::kResourceDoesNotExist, std::move(message)};
  }
  static Status AlreadyExists(std::string message) {
    return {ErrorCode::kResourceAlreadyExists, std::move(message)};
  }
  static Status InvalidState(std::string message) { return {ErrorCode::kInvalidState, std::move(message)}; }
  static Status LimitExceeded(std::string message) {
    return {ErrorCode::kRequestLimitExceeded, std::move(message)};
  }
  static Status Internal(std::string message) { return {ErrorCode::kInternalError, std::move(message)}; }
  static Status Unavailable(std::string message) { return {ErrorCode::kUnavailable, std::move(message)}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit on purpose, like absl::StatusOr
  Result(Status status) : data_(std::move(status)) { assert(!std::get<Status>(data_).ok()); }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace lathe

#define LATHE_CONCAT_INNER(a, b) a##b
#define LATHE_CONCAT(a, b) LATHE_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not ok.
#define LATHE_RETURN_IF_ERROR(expr)               \
  do {                                            \
    ::lathe::Status lathe_status_ = (expr);       \
    if (!lathe_status_.ok()) return lathe_status_; \
  } while (0)

// `LATHE_ASSIGN_OR_RETURN(auto x, F());` declares x from F()'s value or returns F()'s Status.
#define LATHE_ASSIGN_OR_RETURN(lhs, expr) \
  LATHE_ASSIGN_OR_RETURN_IMPL(LATHE_CONCAT(lathe_result_, __LINE__), lhs, expr)
#define LATHE_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                                \
  if (!result.ok()) return result.status();            \
  lhs = std::move(result).value()
