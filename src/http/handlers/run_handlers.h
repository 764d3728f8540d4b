// Handlers of the run endpoints (API.md sections 4, 6, 7) and /health. Each parses the HTTP
// request, makes one RunApi call and maps the result through http/error_mapping.
#pragma once

#include <chrono>

#include "api/run_api.h"
#include "auth/verifier.h"
#include "http/form_parser.h"
#include "http/router.h"

namespace agentd::http {

struct RunHandlerOptions {
  std::chrono::milliseconds heartbeat{10000};  // ping after this much stream silence
  FormLimits form_limits;
};

// REQUIRES: api and verifier outlive the router.
void AddRunRoutes(Router& router, api::RunApi& api, const auth::TokenVerifier& verifier,
                  RunHandlerOptions options);

}  // namespace agentd::http
