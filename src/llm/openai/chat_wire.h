// The Chat Completions wire format, free of any transport: the streaming request body, an
// incremental Server-Sent Events parser, the accumulator that rebuilds a response from the
// streamed chunks, and the provider's error bodies. Used by OpenAiLlmClient.
// Thread safety: plain values; one instance per call.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/llm_client.h"

namespace agentd::llm::openai {

// {model, messages, stream: true, stream_options: {include_usage: true}} plus tools and
// tool_choice "auto" when the request has tools.
nlohmann::json BuildChatRequest(const LlmRequest& request);

// Splits a byte stream into SSE events and returns each event's data (the `data:` lines of
// one event joined by "\n"). Input may be cut anywhere; lines end in "\n" or "\r\n";
// comments and other fields are ignored.
class SseParser {
 public:
  std::vector<std::string> Feed(std::string_view bytes);

 private:
  std::string line_;  // the incomplete current line
  std::string data_;  // data of the current event so far
  bool has_data_ = false;
};

// Rebuilds one LlmResponse from the JSON payloads of the stream.
class ChatStreamAccumulator {
 public:
  struct Step {
    std::string text_delta;            // may be empty
    bool delivered = false;            // a text or tool-call fragment was in this chunk
    std::optional<std::string> error;  // an {"error": {...}} object: the provider's message
  };

  // One `data:` payload other than "[DONE]". Failure: InvalidArgument when it is not JSON.
  Result<Step> Add(std::string_view payload);

  // The response so far; tool calls in index order.
  LlmResponse Finish() &&;

  bool saw_finish_reason() const { return !response_.finish_reason.empty(); }

 private:
  LlmResponse response_;
  std::map<int64_t, ToolCall> calls_;
};

// error.message (or a plain string `error`, or `message`) of an error body; nullopt when the
// body is not JSON or carries none.
std::optional<std::string> ErrorMessageOf(std::string_view body);

}  // namespace agentd::llm::openai
