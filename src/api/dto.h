// The JSON shapes of the API (API.md sections 4 and 7): one ToJson per DTO, so every
// endpoint renders a run, a message or a start result the same way.
#pragma once

#include <nlohmann/json.hpp>

#include "billing/billing.h"
#include "runs/run_service.h"
#include "store/store.h"

namespace agentd::api {

// POST /agent/start 200 body.
nlohmann::json StartedRunToJson(const runs::StartedRun& run);
// GET /agent-run/{id}: Kortix names plus usage and timing.
nlohmann::json RunDetailToJson(const store::Run& run);
// One entry of GET /thread/{thread_id}/agent-runs.
nlohmann::json RunListItemToJson(const store::Run& run);
// One entry of GET /agent-runs/active.
nlohmann::json ActiveRunToJson(const store::Run& run);
nlohmann::json MessageToJson(const store::Message& message);
// An agent of /agents: model and mode null when unset, tools null = every tool of the mode.
nlohmann::json AgentToJson(const store::Agent& agent);
// GET /limits.
nlohmann::json LimitsToJson(const store::Account& account, const billing::TierConfig& tier,
                            const store::AccountUsage& usage,
                            const std::vector<std::string>& allowed_models);

}  // namespace agentd::api
