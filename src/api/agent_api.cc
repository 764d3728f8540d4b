#include "api/agent_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "api/dto.h"
#include "core/ids.h"
#include "runs/await_callback.h"

namespace agentd::api {
namespace {

constexpr char kInvalidUuid[] = "Invalid UUID format";
constexpr size_t kMaxEchoedFieldName = 64;

size_t CodePoints(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// A string field of at most `max_chars` characters; null reads as "" when `nullable`.
Result<std::string> Text(const nlohmann::json& v, std::string_view field, size_t max_chars,
                         bool nullable) {
  if (v.is_null() && nullable) return std::string();
  if (!v.is_string()) {
    return InvalidArgument(fmt::format("{} must be a string{}", field, nullable ? " or null" : ""));
  }
  std::string s = v.get<std::string>();
  if (CodePoints(s) > max_chars) {
    return InvalidArgument(fmt::format("{} must be at most {} characters", field, max_chars));
  }
  return s;
}

std::string Trimmed(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "";
  return std::string(s.substr(begin, s.find_last_not_of(kSpace) - begin + 1));
}

Status CheckPathId(const std::string& id) {
  if (!IsUuid(id)) return InvalidArgument(kInvalidUuid);
  return Status::Ok();
}

}  // namespace

AgentApi::AgentApi(store::Store& store, const llm::ModelCatalog& catalog, AgentApiOptions options)
    : store_(store), catalog_(catalog), options_(std::move(options)) {}

Result<store::AgentPatch> AgentApi::ParseBody(const std::string& body, bool create) const {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return InvalidArgument("Request body must be a JSON object");
  }
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("Request body is not valid JSON");
  if (!j.is_object()) return InvalidArgument("Request body must be a JSON object");
  store::AgentPatch p;
  for (const auto& [key, value] : j.items()) {
    if (key == "name") {
      AGENTD_ASSIGN_OR_RETURN(std::string name, Text(value, key, kMaxAgentNameChars, false));
      name = Trimmed(name);
      if (name.empty()) return InvalidArgument("name must not be empty");
      p.name = std::move(name);
    } else if (key == "description") {
      AGENTD_ASSIGN_OR_RETURN(p.description, Text(value, key, kMaxAgentDescriptionChars, true));
    } else if (key == "system_prompt") {
      AGENTD_ASSIGN_OR_RETURN(p.system_prompt, Text(value, key, kMaxAgentSystemPromptChars, true));
    } else if (key == "model") {
      AGENTD_ASSIGN_OR_RETURN(std::string model, Text(value, key, kMaxAgentNameChars, true));
      if (!model.empty()) {
        AGENTD_ASSIGN_OR_RETURN(const llm::ModelEntry* entry, catalog_.Resolve(model));
        model = entry->name;
      }
      p.model = std::move(model);
    } else if (key == "mode") {
      AGENTD_ASSIGN_OR_RETURN(std::string mode, Text(value, key, kMaxAgentNameChars, true));
      if (!mode.empty() && !Contains(options_.modes, mode)) {
        return InvalidArgument("Unknown mode: " + mode);
      }
      p.mode = std::move(mode);
    } else if (key == "tools") {
      if (value.is_null()) {
        p.tools = std::optional<std::vector<std::string>>();
        continue;
      }
      if (!value.is_array()) return InvalidArgument("tools must be an array of tool names or null");
      std::vector<std::string> tools;
      for (const auto& t : value) {
        if (!t.is_string()) return InvalidArgument("tools must be an array of tool names or null");
        const std::string& name = t.get_ref<const std::string&>();
        if (!Contains(options_.tool_names, name)) return InvalidArgument("Unknown tool: " + name);
        if (Contains(tools, name)) return InvalidArgument("Duplicate tool: " + name);
        tools.push_back(name);
      }
      p.tools = std::optional<std::vector<std::string>>(std::move(tools));
    } else if (key == "is_default") {
      if (!value.is_boolean()) return InvalidArgument("is_default must be a boolean");
      p.is_default = value.get<bool>();
    } else {
      return InvalidArgument(
          fmt::format("Unknown field: {}", std::string_view(key).substr(0, kMaxEchoedFieldName)));
    }
  }
  if (create && !p.name) return InvalidArgument("name required");
  return p;
}

boost::asio::awaitable<Result<store::Agent>> AgentApi::EnsureDefaultAgent(
    const std::string& account_id) {
  co_return co_await runs::AwaitCallback<Result<store::Agent>>(
      [&](std::function<void(Result<store::Agent>)> done) {
        store::Agent defaults;
        defaults.name = store::kDefaultAgentName;
        store_.EnsureDefaultAgent(account_id, options_.default_tier,
                                  options_.starting_credits_micro, std::move(defaults),
                                  std::move(done));
      });
}

boost::asio::awaitable<Result<nlohmann::json>> AgentApi::CreateAgent(const auth::Principal& caller,
                                                                     std::string body) {
  auto patch = ParseBody(body, /*create=*/true);
  if (!patch.ok()) co_return patch.status();
  // The account (and its default agent) must exist before a second agent can.
  auto ensured = co_await EnsureDefaultAgent(caller.user_id);
  if (!ensured.ok()) co_return ensured.status();
  store::Agent agent;
  agent.account_id = caller.user_id;
  agent.name = std::move(*patch->name);
  agent.description = std::move(patch->description).value_or("");
  agent.system_prompt = std::move(patch->system_prompt).value_or("");
  agent.model = std::move(patch->model).value_or("");
  agent.mode = std::move(patch->mode).value_or("");
  if (patch->tools) agent.tools = std::move(*patch->tools);
  agent.is_default = patch->is_default.value_or(false);
  auto created = co_await runs::AwaitCallback<Result<store::Agent>>(
      [&](std::function<void(Result<store::Agent>)> done) {
        store_.CreateAgent(std::move(agent), std::move(done));
      });
  if (!created.ok()) co_return created.status();
  co_return AgentToJson(*created);
}

boost::asio::awaitable<Result<nlohmann::json>> AgentApi::ListAgents(const auth::Principal& caller) {
  auto ensured = co_await EnsureDefaultAgent(caller.user_id);
  if (!ensured.ok()) co_return ensured.status();
  auto agents = store_.ListAgents(caller.user_id);
  if (!agents.ok()) co_return agents.status();
  nlohmann::json list = nlohmann::json::array();
  for (const store::Agent& a : *agents) list.push_back(AgentToJson(a));
  co_return nlohmann::json{{"agents", std::move(list)}};
}

Result<nlohmann::json> AgentApi::GetAgent(const auth::Principal& caller,
                                          const std::string& agent_id) {
  AGENTD_RETURN_IF_ERROR(CheckPathId(agent_id));
  AGENTD_ASSIGN_OR_RETURN(store::Agent agent, store_.GetAgent(CanonicalUuid(agent_id)));
  if (agent.account_id != caller.user_id) return NotFound("Agent not found");
  return AgentToJson(agent);
}

boost::asio::awaitable<Result<nlohmann::json>> AgentApi::UpdateAgent(const auth::Principal& caller,
                                                                     std::string agent_id,
                                                                     std::string body) {
  if (!IsUuid(agent_id)) co_return InvalidArgument(kInvalidUuid);
  auto patch = ParseBody(body, /*create=*/false);
  if (!patch.ok()) co_return patch.status();
  auto updated = co_await runs::AwaitCallback<Result<store::Agent>>(
      [&](std::function<void(Result<store::Agent>)> done) {
        store_.UpdateAgent(caller.user_id, CanonicalUuid(agent_id), std::move(*patch), 0,
                           std::move(done));
      });
  if (!updated.ok()) co_return updated.status();
  co_return AgentToJson(*updated);
}

boost::asio::awaitable<Result<nlohmann::json>> AgentApi::DeleteAgent(const auth::Principal& caller,
                                                                     std::string agent_id) {
  if (!IsUuid(agent_id)) co_return InvalidArgument(kInvalidUuid);
  const std::string id = CanonicalUuid(agent_id);
  Status deleted = co_await runs::AwaitCallback<Status>([&](std::function<void(Status)> done) {
    store_.DeleteAgent(caller.user_id, id, std::move(done));
  });
  if (!deleted.ok()) co_return deleted;
  co_return nlohmann::json{{"deleted", true}, {"agent_id", id}};
}

}  // namespace agentd::api
