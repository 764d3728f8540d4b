#include "agent/agent_loop.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"

namespace agentd::agent {
namespace {

using nlohmann::json;

// Forwards each streamed text delta as an assistant "chunk" event.
class ChunkEmitter final : public llm::LlmStreamSink {
 public:
  explicit ChunkEmitter(RunIo& io) : io_(io) {}
  void OnTextDelta(std::string_view delta) override {
    io_.Emit({{"type", "assistant"},
              {"content", {{"role", "assistant"}, {"content", delta}}},
              {"metadata", {{"stream_status", "chunk"}}}});
  }

 private:
  RunIo& io_;
};

// The arguments as a JSON value when they parse, else the raw text.
json ArgumentsJson(const std::string& arguments) {
  json parsed = json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(arguments) : parsed;
}

// The assistant message in OpenAI shape; "tool_calls" only when there are some.
json AssistantContent(const llm::LlmResponse& response) {
  json content = {{"role", "assistant"}, {"content", response.text}};
  if (!response.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& call : response.tool_calls) {
      calls.push_back({{"id", call.id},
                       {"type", "function"},
                       {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    }
    content["tool_calls"] = std::move(calls);
  }
  return content;
}

json UsageJson(const llm::Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

llm::LlmRequest BuildRequest(const AgentConfig& config, const ToolRegistry& tools,
                             const std::vector<llm::ChatMessage>& history) {
  llm::LlmRequest request;
  request.model = config.upstream_model;
  if (!config.system_prompt.empty()) {
    llm::ChatMessage system;
    system.role = "system";
    system.content = config.system_prompt;
    request.messages.push_back(std::move(system));
  }
  request.messages.insert(request.messages.end(), history.begin(), history.end());
  request.tools = tools.Schemas();
  return request;
}

// One model call with its events: start, chunks, the complete message (saved), end.
boost::asio::awaitable<Result<llm::LlmResponse>> CallModel(llm::LlmClient& model, RunIo& io,
                                                           const AgentConfig& config,
                                                           const llm::LlmRequest& request,
                                                           int step) {
  const std::string llm_response_id = NewUuid();
  io.Emit({{"type", "llm_response_start"},
           {"llm_response_id", llm_response_id},
           {"model", config.model_name},
           {"step", step}});
  ChunkEmitter emitter(io);
  Result<llm::LlmResponse> response = co_await model.Stream(request, emitter);
  if (!response.ok()) co_return response.status();

  json content = AssistantContent(*response);
  const std::string message_id =
      io.SaveMessage("assistant", content, {{"model", config.model_name}});
  io.Emit({{"type", "assistant"},
           {"message_id", message_id},
           {"content", std::move(content)},
           {"metadata", {{"stream_status", "complete"}}}});
  io.Emit({{"type", "llm_response_end"},
           {"llm_response_id", llm_response_id},
           {"model", config.model_name},
           {"usage", UsageJson(response->usage)}});
  co_return response;
}

// Runs one tool call with its events and returns the "tool" message for the model.
boost::asio::awaitable<llm::ChatMessage> RunToolCall(ToolRegistry& tools, RunIo& io,
                                                     const llm::ToolCall& call) {
  io.Emit({{"type", "tool_started"},
           {"tool_call_id", call.id},
           {"function_name", call.name},
           {"arguments", ArgumentsJson(call.arguments)}});
  const ToolResult result = co_await tools.Execute(call);

  llm::ChatMessage message;
  message.role = "tool";
  message.name = call.name;
  message.tool_call_id = call.id;
  message.content = result.success ? result.output : "Error: " + result.error;
  const json content = {{"role", "tool"},
                        {"name", message.name},
                        {"content", message.content},
                        {"tool_call_id", message.tool_call_id}};
  const json metadata = {
      {"result",
       {{"success", result.success}, {"output", result.output}, {"error", result.error}}}};
  const std::string message_id = io.SaveMessage("tool", content, metadata);
  io.Emit(
      {{"type", "tool"}, {"message_id", message_id}, {"content", content}, {"metadata", metadata}});
  io.Emit({{"type", result.success ? "tool_completed" : "tool_failed"},
           {"tool_call_id", call.id},
           {"function_name", call.name}});
  co_return message;
}

}  // namespace

boost::asio::awaitable<Result<AgentOutcome>> RunAgent(llm::LlmClient& model, ToolRegistry& tools,
                                                      RunIo& io, const AgentConfig& config,
                                                      std::vector<llm::ChatMessage> history) {
  AgentOutcome outcome;
  for (int step = 1; step <= config.max_steps; ++step) {
    if (Status s = co_await io.BeforeStep(); !s.ok()) co_return s;
    const llm::LlmRequest request = BuildRequest(config, tools, history);
    Result<llm::LlmResponse> response = co_await CallModel(model, io, config, request, step);
    if (!response.ok()) co_return response.status();
    outcome.usage.prompt_tokens += response->usage.prompt_tokens;
    outcome.usage.completion_tokens += response->usage.completion_tokens;
    if (response->tool_calls.empty()) {
      outcome.reason = "completed";
      co_return outcome;
    }

    llm::ChatMessage assistant;
    assistant.role = "assistant";
    assistant.content = response->text;
    assistant.tool_calls = response->tool_calls;
    history.push_back(std::move(assistant));
    for (const llm::ToolCall& call : response->tool_calls) {
      history.push_back(co_await RunToolCall(tools, io, call));
    }
  }
  outcome.reason = "max_steps_exceeded";
  co_return outcome;
}

}  // namespace agentd::agent
