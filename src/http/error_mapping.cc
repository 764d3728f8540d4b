#include "http/error_mapping.h"

#include <string_view>

namespace agentd::http {
namespace {

bool IsBillingReason(std::string_view r) {
  return r == "INSUFFICIENT_CREDITS" || r == "MODEL_ACCESS_DENIED" ||
         r == "AGENT_RUN_LIMIT_EXCEEDED" || r == "THREAD_LIMIT_EXCEEDED" ||
         r == "PROJECT_LIMIT_EXCEEDED";
}

bool IsInternal(StatusCode c) {
  return c == StatusCode::kInternal || c == StatusCode::kUnknown || c == StatusCode::kDataLoss;
}

}  // namespace

int HttpStatusFor(const Status& s) {
  if (IsBillingReason(s.reason())) return 402;
  if (s.reason() == "FILE_TOO_LARGE" || s.reason() == "TOO_MANY_FILES") return 413;
  // A conflict with the state of the resource, not a bad request: the account's one default
  // agent cannot be deleted or un-defaulted.
  if (s.reason() == "DEFAULT_AGENT_REQUIRED") return 409;
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kUnsupportedMediaType:
      return 415;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kCancelled:
      return 499;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
      return 500;
  }
  return 500;
}

nlohmann::json ErrorBody(const Status& s) {
  if (IsInternal(s.code())) return {{"detail", "Internal server error"}};
  if (s.reason().empty()) return {{"detail", s.message()}};
  nlohmann::json detail = {{"message", s.message()}, {"error_code", s.reason()}};
  if (s.details().is_object()) {
    for (const auto& [k, v] : s.details().items()) detail[k] = v;
  }
  return {{"detail", detail}};
}

HttpResponse ErrorResponse(const Status& s) {
  HttpResponse r = HttpResponse::Json(HttpStatusFor(s), ErrorBody(s));
  if (s.code() == StatusCode::kUnauthenticated)
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace agentd::http
