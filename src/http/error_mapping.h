// The one Status -> HTTP table (STYLE.md "Errors"), and the FastAPI-shaped error bodies that
// Kortix clients parse: {"detail": "..."} or {"detail": {"message", "error_code", ...}}.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "http/http_types.h"

namespace agentd::http {

int HttpStatusFor(const Status& status);
nlohmann::json ErrorBody(const Status& status);
// The full response, with `WWW-Authenticate: Bearer` on 401. Never shows internal text.
HttpResponse ErrorResponse(const Status& status);

}  // namespace agentd::http
