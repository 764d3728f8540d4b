#include "agent/agent_loop.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"

namespace agentd::agent {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

constexpr char kCompleteTool[] = "complete";
constexpr char kAskTool[] = "ask";

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
  if (!response.tool_calls.empty())
    content["tool_calls"] = llm::ToolCallsToJson(response.tool_calls);
  return content;
}

json UsageJson(const llm::Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

std::vector<llm::ToolSchema> TerminatingToolSchemas(const AgentConfig& config) {
  std::vector<llm::ToolSchema> schemas;
  if (config.offer_complete) {
    schemas.push_back(
        {kCompleteTool,
         "Call when the task is fully done, to end your turn. Put a short summary of what was "
         "done in `summary`.",
         {{"type", "object"},
          {"properties", {{"summary", {{"type", "string"}, {"description", "What was done"}}}}}}});
  }
  if (config.offer_ask) {
    schemas.push_back(
        {kAskTool,
         "Ask the user a question and end your turn until they answer. Use it only when you "
         "cannot go on without their input.",
         {{"type", "object"},
          {"properties", {{"question", {{"type", "string"}, {"description", "The question"}}}}},
          {"required", {"question"}}}});
  }
  return schemas;
}

bool IsTerminatingCall(const AgentConfig& config, const llm::ToolCall& call) {
  return (config.offer_complete && call.name == kCompleteTool) ||
         (config.offer_ask && call.name == kAskTool);
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
  for (auto& schema : TerminatingToolSchemas(config)) request.tools.push_back(std::move(schema));
  return request;
}

// One model call with its events: start, chunks, the complete message (saved), end.
asio::awaitable<Result<llm::LlmResponse>> CallModel(llm::LlmClient& model, RunIo& io,
                                                    const AgentConfig& config,
                                                    const llm::LlmRequest& request, int step,
                                                    const ContextTrim& trim) {
  const std::string llm_response_id = NewUuid();
  json start = {{"type", "llm_response_start"},
                {"llm_response_id", llm_response_id},
                {"model", config.model_name},
                {"step", step}};
  if (trim.any()) {
    start["context_trimmed"] = {{"tool_outputs_trimmed", trim.tool_outputs_trimmed},
                                {"messages_dropped", trim.messages_dropped},
                                {"messages_cut", trim.messages_cut}};
  }
  io.Emit(std::move(start));
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

// The result of `complete` / `ask`: recorded like any tool so the thread stays well-formed.
ToolResult TerminatingResult(const llm::ToolCall& call) {
  const json arguments = ArgumentsJson(call.arguments);
  ToolResult result;
  result.success = true;
  if (call.name == kAskTool) {
    result.output = "Question sent to the user; waiting for their answer.";
    if (arguments.is_object() && arguments.contains("question")) {
      result.details["question"] = arguments["question"];
    }
  } else {
    result.output = "Task marked complete.";
    if (arguments.is_object() && arguments.contains("summary")) {
      result.details["summary"] = arguments["summary"];
    }
  }
  return result;
}

// Runs one tool call, records its result (message + events) and returns the "tool" message
// for the model. tool_started was emitted by the caller.
asio::awaitable<llm::ChatMessage> RunToolCall(ToolRegistry& tools, RunIo& io,
                                              const AgentConfig& config,
                                              const llm::ToolCall& call) {
  ToolResult result;
  if (IsTerminatingCall(config, call)) {
    result = TerminatingResult(call);
  } else {
    result = co_await tools.Execute(call);
  }

  llm::ChatMessage message;
  message.role = "tool";
  message.name = call.name;
  message.tool_call_id = call.id;
  message.content = result.success ? result.output : "Error: " + result.error;
  const json content = {{"role", "tool"},
                        {"name", message.name},
                        {"content", message.content},
                        {"tool_call_id", message.tool_call_id}};
  json result_json = result.details.is_object() ? result.details : json::object();
  result_json["success"] = result.success;
  result_json["output"] = result.output;
  result_json["error"] = result.error;
  const json metadata = {{"result", std::move(result_json)}};
  const std::string message_id = io.SaveMessage("tool", content, metadata);
  io.Emit(
      {{"type", "tool"}, {"message_id", message_id}, {"content", content}, {"metadata", metadata}});
  io.Emit({{"type", result.success ? "tool_completed" : "tool_failed"},
           {"tool_call_id", call.id},
           {"function_name", call.name}});
  co_return message;
}

// Runs a response's tool calls concurrently (on the caller's executor, so io is used from one
// strand) and returns their messages in call order. A stop cancels every call.
asio::awaitable<std::vector<llm::ChatMessage>> RunToolCalls(
    ToolRegistry& tools, RunIo& io, const AgentConfig& config,
    const std::vector<llm::ToolCall>& calls) {
  for (const llm::ToolCall& call : calls) {
    io.Emit({{"type", "tool_started"},
             {"tool_call_id", call.id},
             {"function_name", call.name},
             {"arguments", ArgumentsJson(call.arguments)}});
  }
  std::vector<llm::ChatMessage> messages;
  if (calls.size() == 1) {
    messages.push_back(co_await RunToolCall(tools, io, config, calls.front()));
    co_return messages;
  }
  auto executor = co_await asio::this_coro::executor;
  using Op = decltype(asio::co_spawn(executor, RunToolCall(tools, io, config, calls.front()),
                                     asio::deferred));
  std::vector<Op> ops;
  ops.reserve(calls.size());
  for (const llm::ToolCall& call : calls) {
    ops.push_back(asio::co_spawn(executor, RunToolCall(tools, io, config, call), asio::deferred));
  }
  auto [order, exceptions, results] =
      co_await asio::experimental::make_parallel_group(std::move(ops))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  (void)order;
  for (const std::exception_ptr& e : exceptions) {
    if (e) std::rethrow_exception(e);
  }
  co_return std::move(results);
}

int64_t MessageTokens(const llm::ChatMessage& m) {
  int64_t bytes = static_cast<int64_t>(m.content.size() + m.name.size() + m.tool_call_id.size());
  for (const auto& call : m.tool_calls) {
    bytes += static_cast<int64_t>(call.id.size() + call.name.size() + call.arguments.size() + 16);
  }
  return bytes / 4 + 8;
}

int64_t MessagesTokens(const std::vector<llm::ChatMessage>& messages) {
  int64_t total = 0;
  for (const auto& m : messages) total += MessageTokens(m);
  return total;
}

// Cuts `text` to about `max_bytes` on a UTF-8 boundary, saying how much was left out.
void CutText(std::string& text, size_t max_bytes, std::string_view what) {
  if (text.size() <= max_bytes) return;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  const size_t dropped = text.size() - cut;
  text.resize(cut);
  text += "\n[" + std::to_string(dropped) + " bytes of this " + std::string(what) +
          " omitted to fit the context window]";
}

}  // namespace

int64_t EstimateTokens(const llm::LlmRequest& request) {
  int64_t total = MessagesTokens(request.messages);
  for (const auto& tool : request.tools) {
    total += static_cast<int64_t>(tool.name.size() + tool.description.size() +
                                  tool.parameters.dump().size()) /
                 4 +
             8;
  }
  return total;
}

ContextTrim FitToContext(llm::LlmRequest& request, int64_t budget_tokens) {
  ContextTrim trim;
  auto& messages = request.messages;
  const int64_t fixed = EstimateTokens(request) - MessagesTokens(messages);
  auto over = [&] { return fixed + MessagesTokens(messages) > budget_tokens; };
  if (!over()) return trim;

  // 1. Old tool outputs: usually the bulk of a long thread and the least needed again.
  constexpr size_t kTrimmedToolOutputBytes = 200;
  std::vector<size_t> tool_indexes;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "tool") tool_indexes.push_back(i);
  }
  const size_t keep_newest = 2;
  for (size_t k = 0; k + keep_newest < tool_indexes.size() && over(); ++k) {
    std::string& content = messages[tool_indexes[k]].content;
    if (content.size() <= kTrimmedToolOutputBytes + 100) continue;
    CutText(content, kTrimmedToolOutputBytes, "tool output");
    ++trim.tool_outputs_trimmed;
  }

  // 2. Middle turns, oldest first, keeping the system message, the first user message and the
  // newest message. A turn starts at a user or assistant message and takes the tool results
  // that follow it, so no tool result is left without its call.
  size_t first_droppable = 0;
  while (first_droppable < messages.size() && messages[first_droppable].role == "system") {
    ++first_droppable;
  }
  if (first_droppable < messages.size() && messages[first_droppable].role == "user") {
    ++first_droppable;
  }
  while (over() && first_droppable + 1 < messages.size()) {
    size_t end = first_droppable + 1;
    while (end < messages.size() && messages[end].role == "tool") ++end;
    if (end >= messages.size()) break;  // would drop the newest message
    trim.messages_dropped += static_cast<int>(end - first_droppable);
    messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first_droppable),
                   messages.begin() + static_cast<std::ptrdiff_t>(end));
  }

  // 3. Still too long (a huge prompt or system prompt): cut the longest messages.
  while (over()) {
    auto longest = std::max_element(
        messages.begin(), messages.end(),
        [](const auto& a, const auto& b) { return a.content.size() < b.content.size(); });
    if (longest == messages.end() || longest->content.size() < 512) break;
    const int64_t excess_bytes = (fixed + MessagesTokens(messages) - budget_tokens) * 4;
    const size_t target = longest->content.size() > static_cast<size_t>(excess_bytes) + 256
                              ? longest->content.size() - static_cast<size_t>(excess_bytes) - 256
                              : longest->content.size() / 2;
    CutText(longest->content, target, "message");
    ++trim.messages_cut;
  }
  return trim;
}

boost::asio::awaitable<Result<AgentOutcome>> RunAgent(llm::LlmClient& model, ToolRegistry& tools,
                                                      RunIo& io, const AgentConfig& config,
                                                      std::vector<llm::ChatMessage> history) {
  AgentOutcome outcome;
  const int64_t budget = std::max<int64_t>(config.context_window - config.reserved_output_tokens,
                                           config.context_window / 2);
  for (int step = 1; step <= config.max_steps; ++step) {
    if (Status s = co_await io.BeforeStep(); !s.ok()) co_return s;
    llm::LlmRequest request = BuildRequest(config, tools, history);
    const ContextTrim trim = FitToContext(request, budget);
    Result<llm::LlmResponse> response = co_await CallModel(model, io, config, request, step, trim);
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
    for (auto& message : co_await RunToolCalls(tools, io, config, response->tool_calls)) {
      history.push_back(std::move(message));
    }
    for (const llm::ToolCall& call : response->tool_calls) {
      if (!IsTerminatingCall(config, call)) continue;
      outcome.reason = call.name == kAskTool ? "ask" : "completed";
      co_return outcome;
    }
  }
  outcome.reason = "max_steps_exceeded";
  co_return outcome;
}

}  // namespace agentd::agent
