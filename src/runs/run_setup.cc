#include "runs/run_setup.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "runs/memory_tools.h"

namespace agentd::runs {

std::vector<std::string> RunToolNames(const agent::Mode& mode,
                                      const std::optional<std::vector<std::string>>& agent_tools,
                                      bool memory_enabled) {
  std::vector<std::string> names;
  for (const std::string& tool : mode.tools) {
    if (agent_tools &&
        std::find(agent_tools->begin(), agent_tools->end(), tool) == agent_tools->end()) {
      continue;
    }
    if (!memory_enabled && tool == agent::kRememberToolName) continue;
    names.push_back(tool);
  }
  return names;
}

std::string ComposeSystemPrompt(const agent::Mode& mode, const std::string& agent_prompt,
                                const std::vector<store::Memory>& memories, bool memory_enabled,
                                int64_t now_ms) {
  const std::time_t now = static_cast<std::time_t>(now_ms / 1000);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char date[16];
  std::strftime(date, sizeof(date), "%Y-%m-%d", &utc);
  std::string prompt = fmt::format(
      "You are a capable AI agent working for the user. Today is {} (UTC). Be accurate and "
      "concise, and say so when you are unsure.",
      date);
  if (!mode.system_prompt.empty()) prompt += "\n\n" + mode.system_prompt;
  if (!agent_prompt.empty()) prompt += "\n\n" + agent_prompt;
  if (!memory_enabled) return prompt;
  if (std::string section = MemoryPromptSection(memories); !section.empty()) {
    prompt += "\n\n" + section;
  }
  if (std::find(mode.tools.begin(), mode.tools.end(), agent::kRememberToolName) !=
      mode.tools.end()) {
    prompt +=
        "\n\nWhen the user tells you something lasting about themselves or their work that "
        "would help later, store it with `remember`.";
  }
  return prompt;
}

}  // namespace agentd::runs
