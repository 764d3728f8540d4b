#include "llm/llm_client.h"

namespace agentd::llm {

nlohmann::json ToolCallsToJson(const std::vector<ToolCall>& calls) {
  nlohmann::json out = nlohmann::json::array();
  for (const ToolCall& c : calls) {
    out.push_back({{"id", c.id},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return out;
}

std::vector<ToolCall> ToolCallsFromJson(const nlohmann::json& calls) {
  std::vector<ToolCall> out;
  if (!calls.is_array()) return out;
  for (const auto& c : calls) {
    if (!c.is_object()) continue;
    const nlohmann::json fn = c.value("function", nlohmann::json::object());
    if (!fn.is_object()) continue;
    out.push_back({c.value("id", ""), fn.value("name", ""), fn.value("arguments", "")});
  }
  return out;
}

}  // namespace agentd::llm
