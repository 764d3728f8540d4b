#include "llm/builtin/echo_llm_client.h"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace agentd::llm::builtin {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asio::experimental::awaitable_operators::operator||;

class RecordingSink final : public LlmStreamSink {
 public:
  void OnTextDelta(std::string_view delta) override { deltas.emplace_back(delta); }
  std::string Joined() const {
    std::string out;
    for (const auto& d : deltas) out += d;
    return out;
  }
  std::vector<std::string> deltas;
};

void Rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

ChatMessage Msg(std::string role, std::string content) {
  ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

LlmRequest UserRequest(std::string content) {
  LlmRequest request;
  request.model = "echo";
  request.messages.push_back(Msg("user", std::move(content)));
  return request;
}

// Runs one Stream call to completion on a fresh io_context.
Result<LlmResponse> RunStream(LlmClient& client, const LlmRequest& request, LlmStreamSink& sink) {
  asio::io_context ctx;
  std::optional<Result<LlmResponse>> out;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { out.emplace(co_await client.Stream(request, sink)); },
      Rethrow);
  ctx.run();
  return std::move(*out);
}

// Appends what the agent loop would append after a tool-calling response.
void AppendToolRound(LlmRequest& request, const LlmResponse& response) {
  ChatMessage assistant = Msg("assistant", response.text);
  assistant.tool_calls = response.tool_calls;
  request.messages.push_back(assistant);
  for (const auto& call : response.tool_calls) {
    ChatMessage tool = Msg("tool", "tool output");
    tool.tool_call_id = call.id;
    tool.name = call.name;
    request.messages.push_back(tool);
  }
}

TEST(EchoLlmClient, TextIsStreamedWordByWordAndConcatenatesExactly) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  const std::string text = "Hello,  brave new\tworld\n\n second line ";
  auto r = RunStream(*client, UserRequest(text), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, text);
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_TRUE(r->tool_calls.empty());
  EXPECT_EQ(sink.deltas, (std::vector<std::string>{"Hello,", "  brave", " new", "\tworld", "\n",
                                                   "\n second", " line", " "}));
  EXPECT_EQ(sink.Joined(), text);
}

TEST(EchoLlmClient, EchoesOnlyTheLatestUserMessage) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  LlmRequest request;
  request.messages = {Msg("system", "be nice"), Msg("user", "old question"),
                      Msg("assistant", "old answer"), Msg("user", "new question")};
  auto r = RunStream(*client, request, sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "new question");
}

TEST(EchoLlmClient, SystemAndToolsDirectivesShowWhatTheRequestOffers) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  LlmRequest request;
  request.messages = {Msg("system", "be nice"), Msg("user", "/system\n/tools")};
  request.tools = {{"read_file", "", {}}, {"complete", "", {}}};
  auto r = RunStream(*client, request, sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "be nice\ntools: read_file,complete");
}

TEST(EchoLlmClient, EmptyMessageGivesEmptyTextAndStop) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  auto r = RunStream(*client, UserRequest(""), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_TRUE(sink.deltas.empty());
}

TEST(EchoLlmClient, FailReturnsUnavailableWithTheMessageAfterEarlierText) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  auto r = RunStream(*client, UserRequest("partial answer\n/fail Provider exploded badly"), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Provider exploded badly");
  EXPECT_EQ(sink.Joined(), "partial answer");
}

TEST(EchoLlmClient, MalformedDirectiveIsInvalidArgument) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  EXPECT_EQ(RunStream(*client, UserRequest("/sleep soon"), sink).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RunStream(*client, UserRequest("/tool"), sink).status().code(),
            StatusCode::kInvalidArgument);
  LlmRequest no_user;
  no_user.messages = {Msg("system", "hi")};
  EXPECT_EQ(RunStream(*client, no_user, sink).status().code(), StatusCode::kInvalidArgument);
}

TEST(EchoLlmClient, UnknownSlashLineIsText) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  auto r = RunStream(*client, UserRequest("/usr/bin is a path\n/sleepy"), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "/usr/bin is a path\n/sleepy");
}

TEST(EchoLlmClient, ToolCallThenContinuesAfterToolResults) {
  auto client = NewEchoLlmClient();
  LlmRequest request;
  request.messages = {Msg("user", "earlier turn"), Msg("assistant", "earlier answer"),
                      Msg("user",
                          "looking\n/tool search {\"q\": \"x\"}\nfound one\n/tool fetch\r\ndone "
                          "now")};

  RecordingSink sink1;
  auto r1 = RunStream(*client, request, sink1);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->text, "looking");
  EXPECT_EQ(r1->finish_reason, "tool_calls");
  ASSERT_EQ(r1->tool_calls.size(), 1u);
  EXPECT_EQ(r1->tool_calls[0].id, "call_2_0");
  EXPECT_EQ(r1->tool_calls[0].name, "search");
  EXPECT_EQ(r1->tool_calls[0].arguments, "{\"q\": \"x\"}");

  AppendToolRound(request, *r1);
  RecordingSink sink2;
  auto r2 = RunStream(*client, request, sink2);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->text, "found one");
  EXPECT_EQ(sink2.deltas, (std::vector<std::string>{"found", " one"}));
  ASSERT_EQ(r2->tool_calls.size(), 1u);
  EXPECT_EQ(r2->tool_calls[0].id, "call_2_1");
  EXPECT_EQ(r2->tool_calls[0].name, "fetch");
  EXPECT_EQ(r2->tool_calls[0].arguments, "{}");

  AppendToolRound(request, *r2);
  RecordingSink sink3;
  auto r3 = RunStream(*client, request, sink3);
  ASSERT_TRUE(r3.ok()) << r3.status().ToString();
  EXPECT_EQ(r3->text, "done now");
  EXPECT_EQ(r3->finish_reason, "stop");
  EXPECT_TRUE(r3->tool_calls.empty());

  AppendToolRound(request, *r3);
  request.messages.push_back(Msg("assistant", "beyond the end"));
  RecordingSink sink4;
  auto r4 = RunStream(*client, request, sink4);
  ASSERT_TRUE(r4.ok()) << r4.status().ToString();
  EXPECT_EQ(r4->text, "");
  EXPECT_EQ(r4->finish_reason, "stop");
}

TEST(EchoLlmClient, UsageCountsPromptWordsAndCompletionWords) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  LlmRequest request;
  request.messages = {Msg("system", "You are helpful"), Msg("user", "one two\n/tool t {}")};
  auto r = RunStream(*client, request, sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->usage.prompt_tokens, 3 + 5);      // "/tool", "t" and "{}" are words too
  EXPECT_EQ(r->usage.completion_tokens, 2 + 1);  // two words, one tool call
}

TEST(EchoLlmClient, SleepWaitsAtLeastTheGivenTime) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  const auto start = std::chrono::steady_clock::now();
  auto r = RunStream(*client, UserRequest("before\n/sleep 50\nafter"), sink);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(elapsed, 50ms);
  EXPECT_EQ(r->text, "before\nafter");
}

TEST(EchoLlmClient, SleepIsInterruptedByTheOrOperator) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  const LlmRequest request = UserRequest("started\n/sleep 10000\nnever");
  asio::io_context ctx;
  std::optional<size_t> winner;
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer stop(co_await asio::this_coro::executor, 20ms);
        auto r = co_await (client->Stream(request, sink) || stop.async_wait(asio::use_awaitable));
        winner = r.index();
      },
      Rethrow);
  ctx.run();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(winner.has_value());
  EXPECT_EQ(*winner, 1u);
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(sink.Joined(), "started");
}

TEST(EchoLlmClient, CancelledSleepReturnsCancelledStatus) {
  auto client = NewEchoLlmClient();
  RecordingSink sink;
  const LlmRequest request = UserRequest("/sleep 10000");
  asio::io_context ctx;
  asio::cancellation_signal signal;
  std::optional<Result<LlmResponse>> out;
  asio::co_spawn(
      ctx, [&]() -> asio::awaitable<void> { out.emplace(co_await client->Stream(request, sink)); },
      asio::bind_cancellation_slot(signal.slot(), Rethrow));
  asio::steady_timer stop(ctx, 20ms);
  stop.async_wait(
      [&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  const auto start = std::chrono::steady_clock::now();
  ctx.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->status().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace agentd::llm::builtin
