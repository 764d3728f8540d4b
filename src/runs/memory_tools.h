// Long-term memory for the agent: the `remember` tool (stores a memory of the run's account)
// and the system-prompt section that shows an account's memories to the model. The run
// service offers `remember` and reads memories only when memory is on for the run.
// Thread safety: the provider is shared by all runs and safe from any thread; each tool it
// makes belongs to one run. Lifetime: the store must outlive the provider and its tools.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/tool.h"
#include "store/store.h"

namespace agentd::runs {

inline constexpr size_t kMaxMemoryChars = 4000;  // Unicode code points

// Makes `remember {content}`: 1..kMaxMemoryChars characters (surrounding white space is
// dropped), stored for context.account_id with source_thread_id = context.thread_id; the
// tool waits for the commit without blocking a thread. Output "Remembered: <first 80
// characters>", details {"memory_id"}. Bad content or a failed write is a failed ToolResult.
std::unique_ptr<agent::ToolProvider> NewMemoryToolProvider(store::Store& store);

// The memories as a system-prompt section: a heading, then one "- <memory>" line each, in the
// given order (best first); memories past the first 20, or past ~8000 characters in all, are
// left out, and each is flattened to one line of at most 500 characters. "" for no memories.
std::string MemoryPromptSection(const std::vector<store::Memory>& memories);

}  // namespace agentd::runs
