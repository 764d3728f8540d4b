// How a run is set up before its agent loop starts: which tools it is offered (the mode's,
// narrowed by the agent and by memory being off) and what its system prompt says (the mode's
// and the agent's parts and the account's memories relevant to the prompt). Pure functions,
// kept apart from RunService so they can be tested without running anything.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/modes.h"
#include "store/store.h"

namespace agentd::runs {

// The tool names a run is offered, in the mode's order: the mode's tools that the agent
// enables (every one when `agent_tools` is nullopt), without `remember` when memory is off.
std::vector<std::string> RunToolNames(const agent::Mode& mode,
                                      const std::optional<std::vector<std::string>>& agent_tools,
                                      bool memory_enabled);

// The system prompt: who the agent is and today's date (UTC, from `now_ms`), the mode's part,
// the agent's own instructions, and (when memory is on) MemoryPromptSection(memories) and a
// hint to use `remember` when the mode offers it.
std::string ComposeSystemPrompt(const agent::Mode& mode, const std::string& agent_prompt,
                                const std::vector<store::Memory>& memories, bool memory_enabled,
                                int64_t now_ms);

}  // namespace agentd::runs
