// OpenAiLlmClient: an LlmClient for any OpenAI-compatible Chat Completions endpoint (OpenAI,
// OpenRouter, vLLM, Ollama, llama.cpp, LiteLLM) with streaming, native tool calls and usage.
// Built by app/serve.cc, one per configured provider, all sharing one CurlMultiLoop.
// Retries 429, 5xx, connection errors and timeouts with exponential backoff, but only before
// the first text or tool-call fragment reached the caller. The API key is sent only in the
// Authorization header and is redacted from every message this client produces.
// Thread safety: Stream may be called concurrently from any executor.
// Lifetime: the loop must outlive the client; the client must outlive its Stream calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "llm/llm_client.h"
#include "llm/openai/curl_multi_loop.h"

namespace agentd::llm::openai {

struct OpenAiOptions {
  std::string name;      // provider name used in messages, e.g. "openai"
  std::string base_url;  // e.g. "https://api.openai.com/v1"; "/chat/completions" is appended
  std::string api_key;   // the key itself; "" = no Authorization header
  int64_t connect_timeout_ms = 10000;
  int64_t idle_timeout_ms = 120000;  // no byte for this long aborts the call (Unavailable)
  int max_retries = 3;               // extra attempts after the first
  int64_t retry_base_ms = 500;       // backoff: base * 2^attempt, capped by retry_max_ms
  int64_t retry_max_ms = 8000;       // also caps a provider's Retry-After
};

class OpenAiLlmClient final : public LlmClient {
 public:
  // REQUIRES: `loop` outlives the client.
  OpenAiLlmClient(OpenAiOptions options, CurlMultiLoop& loop);

  // Failures: Unavailable (HTTP 429/5xx, unreachable, timed out, the stream broke or carried an
  // error), InvalidArgument (other HTTP 4xx), Cancelled (Asio cancellation; the transfer is
  // aborted at once). Messages name the provider and never contain the API key.
  boost::asio::awaitable<Result<LlmResponse>> Stream(const LlmRequest& request,
                                                     LlmStreamSink& sink) override;

 private:
  struct Attempt;
  boost::asio::awaitable<Attempt> TryOnce(const std::string& body, LlmStreamSink& sink);
  Status Error(StatusCode code, const std::string& message) const;

  const OpenAiOptions options_;
  const std::string url_;
  CurlMultiLoop& loop_;
};

std::unique_ptr<LlmClient> NewOpenAiLlmClient(OpenAiOptions options, CurlMultiLoop& loop);

// Replaces every occurrence of `secret` (when not empty) by "[redacted]".
std::string Redact(std::string text, const std::string& secret);

}  // namespace agentd::llm::openai
