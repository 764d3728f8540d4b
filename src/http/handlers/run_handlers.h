// Handlers of the run endpoints (API.md sections 4, 6, 7) and /health. Each parses the HTTP
// request, makes one RunApi call and maps the result through http/error_mapping. POST
// /agent/start streams its body: file parts go straight to spool files, never into memory.
#pragma once

#include <chrono>
#include <filesystem>

#include "api/run_api.h"
#include "auth/verifier.h"
#include "http/form_parser.h"
#include "http/router.h"

namespace agentd::http {

struct RunHandlerOptions {
  std::chrono::milliseconds heartbeat{10000};  // ping after this much stream silence
  FormLimits form_limits;
  size_t max_body_bytes = 64u << 20;  // a non-multipart start body is read whole up to this
  // After a 413 (file too large, too many files) the rest of the body is still read (file
  // data dropped, fields kept, so the checks API.md puts first still answer first) up to this
  // many bytes; past it the 413 goes out at once and the connection closes.
  size_t upload_drain_bytes = 16u << 20;
  std::filesystem::path spool_dir;  // where uploads are spooled (<data_dir>/tmp/uploads)
};

// REQUIRES: api and verifier outlive the router.
void AddRunRoutes(Router& router, api::RunApi& api, const auth::TokenVerifier& verifier,
                  RunHandlerOptions options);

}  // namespace agentd::http
