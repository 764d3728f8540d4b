#include "llm/openai/openai_llm_client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <utility>

#include "llm/openai/chat_wire.h"

namespace agentd::llm::openai {
namespace {

namespace asio = boost::asio;

constexpr size_t kMaxProviderMessage = 300;
constexpr size_t kMaxErrorBody = 64 * 1024;

// Cuts at a UTF-8 character boundary so the message stays valid JSON text.
std::string Truncate(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

std::string TrimTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

bool IsRetryableHttp(long status) { return status == 408 || status == 429 || status >= 500; }

Status CancelledStatus() { return Status(StatusCode::kCancelled, "The model call was cancelled"); }

// Aborts the transfer when the attempt ends early (error, cancellation, frame destruction).
struct AbortOnExit {
  std::shared_ptr<HttpTransfer> transfer;
  ~AbortOnExit() { transfer->Cancel(); }
};

}  // namespace

struct OpenAiLlmClient::Attempt {
  std::optional<LlmResponse> response;
  Status status;
  bool retryable = false;
  bool delivered = false;  // a fragment reached the sink: never retry
  std::optional<int64_t> retry_after_s;
};

std::string Redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  static constexpr std::string_view kMask = "[redacted]";
  for (size_t pos = text.find(secret); pos != std::string::npos;
       pos = text.find(secret, pos + kMask.size())) {
    text.replace(pos, secret.size(), kMask);
  }
  return text;
}

OpenAiLlmClient::OpenAiLlmClient(OpenAiOptions options, CurlMultiLoop& loop)
    : options_(std::move(options)),
      url_(TrimTrailingSlash(options_.base_url) + "/chat/completions"),
      loop_(loop) {}

Status OpenAiLlmClient::Error(StatusCode code, const std::string& message) const {
  return Status(code, Redact(message, options_.api_key));
}

asio::awaitable<Result<LlmResponse>> OpenAiLlmClient::Stream(const LlmRequest& request,
                                                             LlmStreamSink& sink) {
  asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  // Replace, not throw, on invalid UTF-8 from a tool's output.
  const std::string body =
      BuildChatRequest(request).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (int attempt = 0;; ++attempt) {
    if (cancel_state.cancelled() != asio::cancellation_type::none) co_return CancelledStatus();
    Attempt a = co_await TryOnce(body, sink);
    if (a.response) co_return std::move(*a.response);
    if (!a.retryable || a.delivered || attempt >= options_.max_retries) co_return a.status;
    const int64_t backoff = a.retry_after_s
                                ? *a.retry_after_s * 1000
                                : options_.retry_base_ms * (int64_t{1} << std::min(attempt, 30));
    const int64_t delay_ms = std::clamp<int64_t>(backoff, 0, options_.retry_max_ms);
    spdlog::warn("{}; retry {} of {} in {} ms", a.status.message(), attempt + 1,
                 options_.max_retries, delay_ms);
    asio::any_io_executor executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, std::chrono::milliseconds(delay_ms));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return CancelledStatus();
  }
}

asio::awaitable<OpenAiLlmClient::Attempt> OpenAiLlmClient::TryOnce(const std::string& body,
                                                                   LlmStreamSink& sink) {
  HttpRequest http;
  http.url = url_;
  http.body = body;
  http.headers = {"Content-Type: application/json", "Accept: text/event-stream"};
  if (!options_.api_key.empty())
    http.headers.push_back("Authorization: Bearer " + options_.api_key);
  http.connect_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
  http.idle_timeout = std::chrono::milliseconds(options_.idle_timeout_ms);
  // Not folded into the initializer below: GCC 12 mis-destroys temporaries around a co_await
  // inside a braced initializer.
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  AbortOnExit transfer{loop_.Start(std::move(http), executor)};

  const std::string& name = options_.name;
  Attempt out;
  SseParser sse;
  ChatStreamAccumulator acc;
  std::string error_body;
  bool saw_done = false;
  while (true) {
    HttpProgress p = transfer.transfer->Take();
    const bool success_status = p.status >= 200 && p.status < 300;
    if (!p.body.empty() && success_status) {
      for (const std::string& payload : sse.Feed(p.body)) {
        if (saw_done) continue;
        if (payload == "[DONE]") {
          saw_done = true;
          continue;
        }
        Result<ChatStreamAccumulator::Step> step = acc.Add(payload);
        if (!step.ok()) {
          out.status = Error(StatusCode::kUnavailable,
                             fmt::format("Provider {} sent a malformed stream chunk", name));
          co_return out;
        }
        if (step->error) {
          out.status = Error(
              StatusCode::kUnavailable,
              fmt::format("Provider {} reported an error: {}", name,
                          Truncate(Redact(*step->error, options_.api_key), kMaxProviderMessage)));
          co_return out;
        }
        if (!step->text_delta.empty()) sink.OnTextDelta(step->text_delta);
        out.delivered = out.delivered || step->delivered;
      }
    } else if (!p.body.empty() && error_body.size() < kMaxErrorBody) {
      error_body += p.body;
    }
    if (p.done) {
      if (p.status != 0 && !success_status) {
        std::string message = fmt::format("Provider {} returned HTTP {}", name, p.status);
        if (std::optional<std::string> detail = ErrorMessageOf(error_body)) {
          message += ": " + Truncate(Redact(*detail, options_.api_key), kMaxProviderMessage);
        }
        const bool retryable = IsRetryableHttp(p.status);
        const bool client_error = p.status >= 400 && p.status < 500 && !retryable;
        out.status =
            Error(client_error ? StatusCode::kInvalidArgument : StatusCode::kUnavailable, message);
        out.retryable = retryable;
        out.retry_after_s = p.retry_after_s;
      } else if (p.timed_out) {
        out.status = Error(StatusCode::kUnavailable, fmt::format("Provider {} timed out", name));
        out.retryable = true;
      } else if (p.failed) {
        out.status = Error(StatusCode::kUnavailable,
                           fmt::format("Provider {} could not be reached or the connection "
                                       "broke: {}",
                                       name, p.error));
        out.retryable = true;
      } else if (!saw_done && !acc.saw_finish_reason()) {
        out.status = Error(StatusCode::kUnavailable,
                           fmt::format("Provider {} ended the stream early", name));
        out.retryable = true;
      } else {
        out.response = std::move(acc).Finish();
      }
      co_return out;
    }
    // Asio throws from a co_await started after cancellation, so look first: the signal may
    // have come while this coroutine was runnable rather than waiting.
    auto cancel_state = co_await asio::this_coro::cancellation_state;
    if (cancel_state.cancelled() != asio::cancellation_type::none) {
      out.status = CancelledStatus();
      co_return out;
    }
    auto [ec] =
        co_await transfer.transfer->signal().async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      out.status = CancelledStatus();
      co_return out;
    }
  }
}

std::unique_ptr<LlmClient> NewOpenAiLlmClient(OpenAiOptions options, CurlMultiLoop& loop) {
  return std::make_unique<OpenAiLlmClient>(std::move(options), loop);
}

}  // namespace agentd::llm::openai
