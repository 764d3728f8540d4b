// AgentApi: the use cases behind /agents (an account's agent configurations: name, system
// prompt, model, mode, enabled tools). A handler passes the caller and the raw JSON body; the
// api validates it (400 with a clear message), checks ownership (another user's agent is
// "Agent not found", never 403) and makes one store write. Every account has exactly one
// default agent; listing creates it (and the account) on first use.
// Thread safety: safe from any thread (state lives in the store).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth/verifier.h"
#include "core/status.h"
#include "llm/model_catalog.h"
#include "store/store.h"

namespace agentd::api {

struct AgentApiOptions {
  std::vector<std::string> modes;       // mode names an agent may name
  std::vector<std::string> tool_names;  // tool names an agent may enable
  std::string default_tier = "free";    // tier of an account created here
  int64_t starting_credits_micro = 3'000'000;
};

// Limits of the text fields, in Unicode characters.
inline constexpr size_t kMaxAgentNameChars = 200;
inline constexpr size_t kMaxAgentDescriptionChars = 2000;
inline constexpr size_t kMaxAgentSystemPromptChars = 100000;

class AgentApi {
 public:
  // REQUIRES: store and catalog outlive the api.
  AgentApi(store::Store& store, const llm::ModelCatalog& catalog, AgentApiOptions options);

  // Each body is the JSON text of the request. Results are the 200 bodies; an agent renders
  // as AgentToJson (api/dto.h). Failures: InvalidArgument (bad JSON, not an object, "Unknown
  // field: x", field types and lengths, "Unknown model: X", "Unknown mode: X", "Unknown tool:
  // X", "Duplicate tool: X", "Invalid UUID format"); NotFound "Agent not found";
  // FailedPrecondition reason DEFAULT_AGENT_REQUIRED (HTTP 409) for deleting or un-defaulting
  // the default agent.

  // POST /agents: {"name" (required), "description", "system_prompt", "model", "mode",
  // "tools", "is_default"}; is_default true moves the default to the new agent.
  boost::asio::awaitable<Result<nlohmann::json>> CreateAgent(const auth::Principal& caller,
                                                             std::string body);
  // GET /agents: {"agents": [...]} oldest first; creates the default agent when absent.
  boost::asio::awaitable<Result<nlohmann::json>> ListAgents(const auth::Principal& caller);
  // GET /agents/{id}
  Result<nlohmann::json> GetAgent(const auth::Principal& caller, const std::string& agent_id);
  // PATCH /agents/{id}: the fields of POST, each optional; null clears model, mode and tools
  // (tools null = every tool of the mode). is_default true moves the default here.
  boost::asio::awaitable<Result<nlohmann::json>> UpdateAgent(const auth::Principal& caller,
                                                             std::string agent_id,
                                                             std::string body);
  // DELETE /agents/{id}: {"deleted": true, "agent_id": id}.
  boost::asio::awaitable<Result<nlohmann::json>> DeleteAgent(const auth::Principal& caller,
                                                             std::string agent_id);

 private:
  // The fields of a body as a patch (on create, name is required).
  Result<store::AgentPatch> ParseBody(const std::string& body, bool create) const;
  // The caller's default agent, made (with the account) on first use.
  boost::asio::awaitable<Result<store::Agent>> EnsureDefaultAgent(const std::string& account_id);

  store::Store& store_;
  const llm::ModelCatalog& catalog_;
  const AgentApiOptions options_;
};

}  // namespace agentd::api
