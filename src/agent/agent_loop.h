// The agent loop: the conversation between a model and tools for one run.
// Calls the model, reports each streamed chunk as an event, runs the model's tool calls
// through a ToolRegistry, feeds the results back, and repeats until the model stops or
// `max_steps` is reached. Persisting and publishing is the RunIo's job (runs module).
// Runs as a coroutine on the caller's executor; cancelled through Asio cancellation.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/tool.h"
#include "core/status.h"
#include "llm/llm_client.h"

namespace agentd::agent {

// Where the loop's output goes. Implemented by the runs module over the store and bus.
class RunIo {
 public:
  virtual ~RunIo() = default;
  // Emits one SSE event (a JSON object with a "type"). Never blocks.
  virtual void Emit(nlohmann::json event) = 0;
  // Persists one conversation message of the thread; returns its message_id. Never blocks.
  virtual std::string SaveMessage(const std::string& type, nlohmann::json content,
                                  nlohmann::json metadata) = 0;
  // Awaited before each model call; a non-OK Status ends the loop with it (the runs module
  // answers ResourceExhausted INSUFFICIENT_CREDITS when the account's balance is used up, after
  // the previous step's debit has committed).
  virtual boost::asio::awaitable<Status> BeforeStep() = 0;
};

struct AgentConfig {
  std::string model_name;      // catalogue name, shown in events
  std::string upstream_model;  // what the provider is asked for
  std::string system_prompt;   // empty = none
  int max_steps = 25;
};

struct AgentOutcome {
  std::string reason;  // "completed" or "max_steps_exceeded"
  llm::Usage usage;    // summed over all model calls
};

// Runs the loop over `history` (the thread's messages so far, oldest first, ending with the
// new user message). Before each model call it awaits io.BeforeStep() and returns its error,
// if any. Returns the outcome, or the provider's error (the run then fails with
// that message). Events emitted per step, in order:
//   {"type":"llm_response_start","llm_response_id","model","step"}
//   {"type":"assistant","content":{"role":"assistant","content":<delta>},
//    "metadata":{"stream_status":"chunk"}}                                  (per text delta)
//   {"type":"assistant","message_id","content":{"role":"assistant","content":<full>,
//    "tool_calls":[OpenAI-style]},"metadata":{"stream_status":"complete"}}
//   {"type":"llm_response_end","llm_response_id","model","usage":{"prompt_tokens",
//    "completion_tokens","total_tokens"}}
//   per tool call: {"type":"tool_started","tool_call_id","function_name","arguments"},
//   {"type":"tool","message_id","content":{"role":"tool","name","content","tool_call_id"},
//    "metadata":{"result":{"success","output","error"}}},
//   {"type":"tool_completed"|"tool_failed","tool_call_id","function_name"}
boost::asio::awaitable<Result<AgentOutcome>> RunAgent(llm::LlmClient& model, ToolRegistry& tools,
                                                      RunIo& io, const AgentConfig& config,
                                                      std::vector<llm::ChatMessage> history);

}  // namespace agentd::agent
