// builtin/echo: an offline, deterministic LlmClient for tests, demos and load runs.
// It echoes the latest user message back word by word and obeys directive lines in it
// (/sleep MS, /fail MESSAGE, /tool NAME JSON, /system, /tools). Stateless: everything it does
// follows from the request, so one instance serves any number of concurrent calls from any thread.
#pragma once

#include <memory>

#include "llm/llm_client.h"

namespace agentd::llm::builtin {

// Behaviour, per line of the latest "user" message (a trailing '\r' is ignored):
//   /sleep MS       waits MS milliseconds (0..3600000) on a steady_timer of the calling
//                   coroutine's executor; Asio cancellation ends the call with kCancelled.
//   /fail MESSAGE   ends the call with Status(kUnavailable, MESSAGE) (default "echo failure").
//   /tool NAME JSON ends the response with one native tool call: name NAME, arguments JSON
//                   taken verbatim (empty = "{}"), id "call_<u>_<k>" (u = number of user
//                   messages in the request, k = 0-based /tool index), finish_reason
//                   "tool_calls".
//   /system         the request's system message as text ("" without one).
//   /tools          "tools: " and the offered tools' names, comma-separated, as text.
//   anything else   text, streamed one OnTextDelta per word: lines are joined by "\n" and
//                   each line (with its leading "\n") is cut into "whitespace + word" deltas,
//                   a trailing whitespace run being its own delta, so the deltas concatenate
//                   to the text exactly.
// Lines run in order, so text before a /sleep or /fail is streamed first. A malformed
// /sleep or /tool line fails the call with kInvalidArgument; other lines starting with '/' are
// text. The k-th call of a turn (k = number of assistant messages after the latest user
// message, i.e. /tool boundaries already passed) runs the lines after the k-th /tool line up
// to and including the next /tool line; past the last one it answers "" with "stop".
// Usage: prompt_tokens = whitespace-separated words in all request messages' content;
// completion_tokens = words streamed + 1 per tool call.
// A request without a "user" message fails with kInvalidArgument.
class EchoLlmClient final : public LlmClient {
 public:
  EchoLlmClient() = default;
  boost::asio::awaitable<Result<LlmResponse>> Stream(const LlmRequest& request,
                                                     LlmStreamSink& sink) override;
};

std::unique_ptr<LlmClient> NewEchoLlmClient();

}  // namespace agentd::llm::builtin
