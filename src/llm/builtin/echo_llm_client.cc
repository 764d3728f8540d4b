#include "llm/builtin/echo_llm_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentd::llm::builtin {
namespace {

constexpr int64_t kMaxSleepMs = 3'600'000;

enum class StepKind { kText, kSleep, kFail, kTool };

struct Step {
  StepKind kind = StepKind::kText;
  std::string text;  // kText: the line; kFail: the message
  int64_t sleep_ms = 0;
  ToolCall call;
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Splits `s` after its first word: {word, trimmed rest}.
std::pair<std::string_view, std::string_view> FirstWord(std::string_view s) {
  size_t end = 0;
  while (end < s.size() && !IsSpace(s[end])) ++end;
  return {s.substr(0, end), Trim(s.substr(end))};
}

int64_t CountWords(std::string_view s) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : s) {
    if (IsSpace(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

// The whitespace before each word plus the word; a trailing whitespace run is its own chunk.
std::vector<std::string_view> WordDeltas(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    while (i < s.size() && IsSpace(s[i])) ++i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> SplitLines(std::string_view s) {
  std::vector<std::string_view> lines;
  while (true) {
    const size_t nl = s.find('\n');
    std::string_view line = s.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return lines;
}

// The request's system message, or "" when it has none.
std::string SystemPrompt(const LlmRequest& request) {
  for (const auto& m : request.messages) {
    if (m.role == "system") return m.content;
  }
  return "";
}

// The offered tools' names, comma-separated, in request order.
std::string ToolNames(const LlmRequest& request) {
  std::string names;
  for (const auto& tool : request.tools) {
    if (!names.empty()) names += ",";
    names += tool.name;
  }
  return names;
}

// Classifies one line; `tool_id` names the call if the line is a /tool directive.
Result<Step> ParseLine(const LlmRequest& request, std::string_view line, std::string tool_id) {
  const auto [word, rest] = FirstWord(Trim(line));
  Step step;
  if (word == "/system" && rest.empty()) {
    step.text = SystemPrompt(request);
  } else if (word == "/tools" && rest.empty()) {
    step.text = "tools: " + ToolNames(request);
  } else if (word == "/sleep") {
    int64_t ms = -1;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ms);
    if (ec != std::errc() || end != rest.data() + rest.size() || ms < 0 || ms > kMaxSleepMs) {
      return InvalidArgument("builtin/echo: /sleep needs milliseconds between 0 and " +
                             std::to_string(kMaxSleepMs));
    }
    step.kind = StepKind::kSleep;
    step.sleep_ms = ms;
  } else if (word == "/fail") {
    step.kind = StepKind::kFail;
    step.text = rest.empty() ? "echo failure" : std::string(rest);
  } else if (word == "/tool") {
    const auto [name, args] = FirstWord(rest);
    if (name.empty()) return InvalidArgument("builtin/echo: /tool needs a tool name");
    step.kind = StepKind::kTool;
    step.call = ToolCall{std::move(tool_id), std::string(name),
                         args.empty() ? std::string("{}") : std::string(args)};
  } else {
    step.text = std::string(line);
  }
  return step;
}

// The steps of this call: the segment of the latest user message selected by how many
// /tool boundaries the conversation has already passed.
Result<std::vector<Step>> PlanCall(const LlmRequest& request) {
  const auto& messages = request.messages;
  size_t latest_user = messages.size();
  int user_count = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") {
      latest_user = i;
      ++user_count;
    }
  }
  if (latest_user == messages.size()) {
    return InvalidArgument("builtin/echo: the request has no user message");
  }
  int boundaries_passed = 0;
  for (size_t i = latest_user + 1; i < messages.size(); ++i) {
    if (messages[i].role == "assistant") ++boundaries_passed;
  }
  std::vector<Step> steps;
  int tool_index = 0;
  for (std::string_view line : SplitLines(messages[latest_user].content)) {
    std::string id = "call_" + std::to_string(user_count) + "_" + std::to_string(tool_index);
    Result<Step> step = ParseLine(request, line, std::move(id));
    if (!step.ok()) return step.status();
    const bool is_tool = step->kind == StepKind::kTool;
    if (tool_index == boundaries_passed) {
      steps.push_back(std::move(step).value());
      if (is_tool) break;
    }
    if (is_tool) ++tool_index;
  }
  return steps;
}

int64_t PromptTokens(const LlmRequest& request) {
  int64_t n = 0;
  for (const auto& m : request.messages) n += CountWords(m.content);
  return n;
}

Status CancelledStatus() { return Status(StatusCode::kCancelled, "The model call was cancelled"); }

}  // namespace

boost::asio::awaitable<Result<LlmResponse>> EchoLlmClient::Stream(const LlmRequest& request,
                                                                  LlmStreamSink& sink) {
  Result<std::vector<Step>> plan = PlanCall(request);
  if (!plan.ok()) co_return plan.status();

  LlmResponse response;
  response.finish_reason = "stop";
  response.usage.prompt_tokens = PromptTokens(request);
  bool first_text_line = true;
  for (const Step& step : *plan) {
    switch (step.kind) {
      case StepKind::kText: {
        const size_t start = response.text.size();
        if (!first_text_line) response.text += '\n';
        first_text_line = false;
        response.text += step.text;
        for (std::string_view delta : WordDeltas(std::string_view(response.text).substr(start))) {
          sink.OnTextDelta(delta);
        }
        break;
      }
      case StepKind::kSleep: {
        auto cancel_state = co_await boost::asio::this_coro::cancellation_state;
        if (cancel_state.cancelled() != boost::asio::cancellation_type::none) {
          co_return CancelledStatus();
        }
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                        std::chrono::milliseconds(step.sleep_ms));
        auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        if (ec) co_return CancelledStatus();
        break;
      }
      case StepKind::kFail:
        co_return Status(StatusCode::kUnavailable, step.text);
      case StepKind::kTool:
        response.tool_calls.push_back(step.call);
        response.finish_reason = "tool_calls";
        break;
    }
  }
  response.usage.completion_tokens =
      CountWords(response.text) + static_cast<int64_t>(response.tool_calls.size());
  co_return response;
}

std::unique_ptr<LlmClient> NewEchoLlmClient() { return std::make_unique<EchoLlmClient>(); }

}  // namespace agentd::llm::builtin
