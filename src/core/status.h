// Status and Result<T>: the error values that cross every module boundary.
// A Status carries a canonical code (abseil/google.rpc semantics), a message that is safe to
// show to clients, a stable machine-readable `reason` (e.g. "THREAD_BUSY") and optional JSON
// details. http/error_mapping.cc is the one place that turns a Status into an HTTP answer.
// Thread safety: values; copy freely.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace agentd {

enum class StatusCode {
  kOk = 0,
  kCancelled,           // caller gave up; do not retry
  kUnknown,             // unexpected; treat as internal
  kInvalidArgument,     // bad input; do not retry without changing it
  kDeadlineExceeded,    // timed out; retry may succeed
  kNotFound,            // object absent or not visible to the caller
  kAlreadyExists,       // create collided with an existing object
  kPermissionDenied,    // authenticated but not allowed
  kResourceExhausted,   // a limit or quota is reached; retry later
  kFailedPrecondition,  // system not in the required state; fix state first
  kAborted,             // concurrency conflict; retry the whole operation
  kOutOfRange,
  kUnimplemented,
  kInternal,     // broken invariant; never show internals to clients
  kUnavailable,  // backend down; retry with backoff
  kDataLoss,
  kUnauthenticated,       // missing or invalid credentials
  kUnsupportedMediaType,  // body type not accepted (HTTP 415)
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string reason = {},
         nlohmann::json details = nullptr)
      : code_(code),
        message_(std::move(message)),
        reason_(std::move(reason)),
        details_(std::move(details)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& reason() const { return reason_; }
  const nlohmann::json& details() const { return details_; }

  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
  nlohmann::json details_;
};

inline Status InvalidArgument(std::string msg) {
  return Status(StatusCode::kInvalidArgument, std::move(msg));
}
inline Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
inline Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }
inline Status Unauthenticated(std::string msg) {
  return Status(StatusCode::kUnauthenticated, std::move(msg));
}
inline Status Unavailable(std::string msg) {
  return Status(StatusCode::kUnavailable, std::move(msg));
}

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace agentd

#define AGENTD_CONCAT_INNER_(a, b) a##b
#define AGENTD_CONCAT_(a, b) AGENTD_CONCAT_INNER_(a, b)

#define AGENTD_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::agentd::Status agentd_status_ = (expr);        \
    if (!agentd_status_.ok()) return agentd_status_; \
  } while (0)

#define AGENTD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#define AGENTD_ASSIGN_OR_RETURN(lhs, expr) \
  AGENTD_ASSIGN_OR_RETURN_IMPL_(AGENTD_CONCAT_(agentd_result_, __LINE__), lhs, expr)

// For broken invariants only (bugs), never for expected failures.
#define AGENTD_CHECK(cond)                                                   \
  do {                                                                       \
    if (!(cond)) ::agentd::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace agentd::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}
