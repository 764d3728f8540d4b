// Authentication of a request for the handlers: the Bearer token of the Authorization header
// (or, where allowed, ?token= for EventSource) verified by the server's TokenVerifier.
// Thread safety: a pure function of its arguments.
#pragma once

#include "auth/verifier.h"
#include "core/status.h"
#include "http/http_types.h"

namespace agentd::http {

// The caller, or Unauthenticated "No valid authentication credentials found" without a token
// (else the verifier's refusal).
Result<auth::Principal> AuthenticateRequest(const HttpRequest& req,
                                            const auth::TokenVerifier& verifier,
                                            bool allow_query_token);

}  // namespace agentd::http
