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
  // The terminating tools the loop itself offers (see RunAgent).
  bool offer_complete = true;
  bool offer_ask = true;
  // The model's context window and what to keep free in it for the answer; every request is
  // fitted into context_window - reserved_output_tokens (see FitToContext).
  int64_t context_window = 128000;
  int64_t reserved_output_tokens = 4096;
};

struct AgentOutcome {
  // "completed" (the model answered without tools or called `complete`), "ask" (it called
  // `ask`: the thread waits for the user) or "max_steps_exceeded".
  std::string reason;
  llm::Usage usage;  // summed over all model calls
};

// What FitToContext changed.
struct ContextTrim {
  int tool_outputs_trimmed = 0;
  int messages_dropped = 0;
  int messages_cut = 0;
  bool any() const { return tool_outputs_trimmed + messages_dropped + messages_cut > 0; }
};

// Rough token count of a request (about 4 bytes of UTF-8 per token plus a few per message):
// an over-estimate for English and code, so a fitted request stays within the real window.
int64_t EstimateTokens(const llm::LlmRequest& request);

// Fits `request` into `budget_tokens` (by EstimateTokens), least useful first: shortens the
// oldest tool outputs (all but the newest two), then drops the oldest turns after the first
// user message (an assistant message with tool calls goes together with its tool results, so
// the provider never sees a result without its call), then cuts the longest remaining
// messages. The system message, the first user message and the newest message are kept.
ContextTrim FitToContext(llm::LlmRequest& request, int64_t budget_tokens);

// Runs the loop over `history` (the thread's messages so far, oldest first, ending with the
// new user message). Before each model call it awaits io.BeforeStep() and returns its error,
// if any. Returns the outcome, or the provider's error (the run then fails with
// that message). The model is offered the registry's tools plus `complete {summary?}` and
// `ask {question}` (per config): the tool calls of one response run in parallel; a call of
// `complete` or `ask` ends the loop after that step's results are recorded. Every request
// is fitted into the context window first. Events emitted per step, in order:
//   {"type":"llm_response_start","llm_response_id","model","step"[,"context_trimmed":
//    {"tool_outputs_trimmed","messages_dropped","messages_cut"}]}
//   {"type":"assistant","content":{"role":"assistant","content":<delta>},
//    "metadata":{"stream_status":"chunk"}}                                  (per text delta)
//   {"type":"assistant","message_id","content":{"role":"assistant","content":<full>,
//    "tool_calls":[OpenAI-style]},"metadata":{"stream_status":"complete"}}
//   {"type":"llm_response_end","llm_response_id","model","usage":{"prompt_tokens",
//    "completion_tokens","total_tokens"}}
//   per tool call, in call order: {"type":"tool_started","tool_call_id","function_name",
//    "arguments"}; then per call as it finishes:
//   {"type":"tool","message_id","content":{"role":"tool","name","content","tool_call_id"},
//    "metadata":{"result":{"success","output","error",...ToolResult::details}}},
//   {"type":"tool_completed"|"tool_failed","tool_call_id","function_name"}
boost::asio::awaitable<Result<AgentOutcome>> RunAgent(llm::LlmClient& model, ToolRegistry& tools,
                                                      RunIo& io, const AgentConfig& config,
                                                      std::vector<llm::ChatMessage> history);

}  // namespace agentd::agent
