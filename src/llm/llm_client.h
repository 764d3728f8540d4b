// LlmClient: one streamed chat-completion call to a model, with native tool calls.
// Implementations: llm/builtin (the offline deterministic `builtin/echo`), later llm/openai.
// Called by the agent loop from a coroutine on the server's io_context. Cancellation: the
// caller cancels the awaitable through Asio per-operation cancellation (e.g. the `||`
// awaitable operator); an implementation must only wait in cancellable Asio operations (or
// poll the cancellation state) so a stop interrupts it promptly.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace agentd::llm {

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text, as the model produced it
};

// Tool calls in the OpenAI wire shape, [{"id","type":"function","function":{"name",
// "arguments"}}], as providers take them and as the thread's messages store them.
nlohmann::json ToolCallsToJson(const std::vector<ToolCall>& calls);
// The inverse; entries that are not objects are skipped, missing fields are "".
std::vector<ToolCall> ToolCallsFromJson(const nlohmann::json& calls);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  std::vector<ToolCall> tool_calls;  // role == "assistant"
  std::string tool_call_id;          // role == "tool"
  std::string name;                  // role == "tool": the tool's name
};

struct ToolSchema {
  std::string name;
  std::string description;
  nlohmann::json parameters = nlohmann::json::object();  // JSON Schema
};

struct LlmRequest {
  std::string model;  // the provider's model name (upstream)
  std::vector<ChatMessage> messages;
  std::vector<ToolSchema> tools;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct LlmResponse {
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // "stop", "tool_calls", "length"
  Usage usage;
};

// Receives the response while it streams. Called on the caller's executor.
class LlmStreamSink {
 public:
  virtual ~LlmStreamSink() = default;
  virtual void OnTextDelta(std::string_view delta) = 0;
};

class LlmClient {
 public:
  virtual ~LlmClient() = default;
  LlmClient(const LlmClient&) = delete;
  LlmClient& operator=(const LlmClient&) = delete;

  // Streams one completion. Text deltas go to `sink` as they arrive; the full response is
  // returned at the end. Failures: Unavailable (provider unreachable or 5xx), InvalidArgument
  // (provider refused the request), each with a message safe to show to users.
  virtual boost::asio::awaitable<Result<LlmResponse>> Stream(const LlmRequest& request,
                                                             LlmStreamSink& sink) = 0;

 protected:
  LlmClient() = default;
};

}  // namespace agentd::llm
