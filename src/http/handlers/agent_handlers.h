// Handlers of the agent endpoints: POST /agents, GET /agents, GET|PATCH|DELETE
// /agents/{agent_id}. Each authenticates, makes one AgentApi call with the raw JSON body and
// maps the result through http/error_mapping.
#pragma once

#include "api/agent_api.h"
#include "auth/verifier.h"
#include "http/router.h"

namespace agentd::http {

// REQUIRES: api and verifier outlive the router.
void AddAgentRoutes(Router& router, api::AgentApi& api, const auth::TokenVerifier& verifier);

}  // namespace agentd::http
