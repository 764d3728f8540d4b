// OpenAiLlmClient against FakeOpenAiServer over real loopback sockets.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <optional>

#include "llm/openai/openai_llm_client.h"
#include "support/fake_openai_server.h"

namespace agentd::llm::openai {
namespace {

namespace asio = boost::asio;
using testing::FakeChunk;
using testing::FakeOpenAiServer;
using testing::FakeReply;
using testing::RecordedRequest;
namespace fo = testing::fake_openai;

constexpr char kKey[] = "sk-test-SECRET-0123456789abcdef";

class RecordingSink : public LlmStreamSink {
 public:
  void OnTextDelta(std::string_view delta) override {
    deltas.emplace_back(delta);
    if (on_delta) on_delta();
  }
  std::vector<std::string> deltas;
  std::function<void()> on_delta;
};

LlmRequest SimpleRequest() {
  LlmRequest r;
  r.model = "gpt-fake";
  r.messages = {{.role = "system", .content = "Be brief."}, {.role = "user", .content = "Hi"}};
  return r;
}

class OpenAiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = CurlMultiLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    loop_ = std::move(loop).value();
  }

  OpenAiOptions Options() const {
    OpenAiOptions o;
    o.name = "fakeai";
    o.base_url = fake_.base_url();
    o.api_key = kKey;
    o.connect_timeout_ms = 2000;
    o.idle_timeout_ms = 5000;
    o.max_retries = 3;
    o.retry_base_ms = 1;
    o.retry_max_ms = 20;
    return o;
  }

  // Runs one Stream call to completion on io_. `cancel`, when set, is the signal bound to it.
  Result<LlmResponse> Run(const OpenAiOptions& options, const LlmRequest& request,
                          RecordingSink& sink, asio::cancellation_signal* cancel = nullptr) {
    OpenAiLlmClient client(options, *loop_);
    std::optional<Result<LlmResponse>> out;
    auto task = [&]() -> asio::awaitable<void> { out = co_await client.Stream(request, sink); };
    if (cancel != nullptr) {
      asio::co_spawn(io_, task(), asio::bind_cancellation_slot(cancel->slot(), asio::detached));
    } else {
      asio::co_spawn(io_, task(), asio::detached);
    }
    io_.restart();
    io_.run();
    if (!out) return Internal("the stream never finished");
    return *std::move(out);
  }
  Result<LlmResponse> Run(const LlmRequest& request, RecordingSink& sink) {
    return Run(Options(), request, sink);
  }

  // Declared first: destroyed after the loop, whose transfers signal its executors.
  asio::io_context io_;
  FakeOpenAiServer fake_;
  std::unique_ptr<CurlMultiLoop> loop_;
};

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x;
  return s;
}

TEST_F(OpenAiClientTest, StreamsTextDeltasInOrderAndReturnsTheFullText) {
  fake_.Push(fo::TextReply({"Hel", "lo, ", "wor", "ld", "!"}, 11, 5));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(sink.deltas, (std::vector<std::string>{"Hel", "lo, ", "wor", "ld", "!"}));
  EXPECT_EQ(r->text, "Hello, world!");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_TRUE(r->tool_calls.empty());
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(OpenAiClientTest, ReassemblesTwoParallelToolCallsInterleavedByIndex) {
  FakeReply reply;
  reply.chunks = {
      {fo::RoleChunk()},
      {fo::ToolCallChunk(0, "call_A", "read_file", "")},
      {fo::ToolCallChunk(0, "", "", "{\"pa")},
      {fo::ToolCallChunk(1, "call_B", "list_dir", "")},
      {fo::ToolCallChunk(0, "", "", "th\": \"a.")},
      {fo::ToolCallChunk(1, "", "", "{\"dir\"")},
      {fo::ToolCallChunk(1, "", "", ": \"/tmp\"}")},
      {fo::ToolCallChunk(0, "", "", "txt\"}")},
      {fo::FinishChunk("tool_calls")},
      {fo::UsageChunk(40, 30)},
      {fo::kDone},
  };
  fake_.Push(reply);
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].id, "call_A");
  EXPECT_EQ(r->tool_calls[0].name, "read_file");
  EXPECT_EQ(r->tool_calls[0].arguments, "{\"path\": \"a.txt\"}");
  EXPECT_EQ(r->tool_calls[1].id, "call_B");
  EXPECT_EQ(r->tool_calls[1].name, "list_dir");
  EXPECT_EQ(r->tool_calls[1].arguments, "{\"dir\": \"/tmp\"}");
  EXPECT_EQ(r->finish_reason, "tool_calls");
  EXPECT_TRUE(sink.deltas.empty());
  EXPECT_EQ(r->usage.prompt_tokens, 40);
  EXPECT_EQ(r->usage.completion_tokens, 30);
}

TEST_F(OpenAiClientTest, ReadsUsageFromTheFinalChunkWithEmptyChoices) {
  fake_.Push(fo::TextReply({"ok"}, 1234, 56));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->usage.prompt_tokens, 1234);
  EXPECT_EQ(r->usage.completion_tokens, 56);
}

TEST_F(OpenAiClientTest, EventsCutAtAnyByteWithCrLfAndCommentsAreParsed) {
  const std::string stream =
      ": keep-alive comment\r\nevent: message\r\ndata: " + fo::TextChunk("alpha") +
      "\r\n\r\ndata: " + fo::TextChunk(" beta") + "\n\ndata: " + fo::FinishChunk("stop") +
      "\n\ndata: [DONE]\n\n";
  FakeReply reply;
  for (size_t i = 0; i < stream.size(); i += 7) {
    reply.chunks.push_back({stream.substr(i, 7), std::chrono::milliseconds(0), /*raw=*/true});
  }
  fake_.Push(reply);
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "alpha beta");
  EXPECT_EQ(Joined(sink.deltas), "alpha beta");
}

TEST_F(OpenAiClientTest, SendsTheChatCompletionsRequestShape) {
  LlmRequest req;
  req.model = "gpt-5-nano-2025-08-07";
  req.messages = {
      {.role = "system", .content = "sys"},
      {.role = "user", .content = "list files"},
      {.role = "assistant",
       .content = "",
       .tool_calls = {{"call_1", "ls", "{\"path\":\".\"}"}, {"call_2", "pwd", "{}"}}},
      {.role = "tool", .content = "a.txt", .tool_call_id = "call_1", .name = "ls"},
      {.role = "tool", .content = "/w", .tool_call_id = "call_2", .name = "pwd"},
  };
  req.tools = {
      {"ls", "List a directory",
       nlohmann::json{{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}}}};
  RecordingSink sink;
  auto r = Run(req, sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const RecordedRequest& got = reqs[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.path, "/v1/chat/completions");
  EXPECT_EQ(got.headers.at("authorization"), std::string("Bearer ") + kKey);
  EXPECT_EQ(got.headers.at("content-type"), "application/json");
  const nlohmann::json& b = got.json;
  EXPECT_EQ(b["model"], "gpt-5-nano-2025-08-07");
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"], (nlohmann::json{{"include_usage", true}}));
  EXPECT_EQ(b["tool_choice"], "auto");
  ASSERT_EQ(b["tools"].size(), 1u);
  EXPECT_EQ(b["tools"][0]["type"], "function");
  EXPECT_EQ(b["tools"][0]["function"]["name"], "ls");
  EXPECT_EQ(b["tools"][0]["function"]["description"], "List a directory");
  EXPECT_EQ(b["tools"][0]["function"]["parameters"]["type"], "object");
  ASSERT_EQ(b["messages"].size(), 5u);
  EXPECT_EQ(b["messages"][0], (nlohmann::json{{"role", "system"}, {"content", "sys"}}));
  EXPECT_EQ(b["messages"][1], (nlohmann::json{{"role", "user"}, {"content", "list files"}}));
  const nlohmann::json& asst = b["messages"][2];
  EXPECT_EQ(asst["role"], "assistant");
  EXPECT_TRUE(asst["content"].is_null());
  ASSERT_EQ(asst["tool_calls"].size(), 2u);
  EXPECT_EQ(asst["tool_calls"][0],
            (nlohmann::json{{"id", "call_1"},
                            {"type", "function"},
                            {"function", {{"name", "ls"}, {"arguments", "{\"path\":\".\"}"}}}}));
  EXPECT_EQ(asst["tool_calls"][1]["id"], "call_2");
  EXPECT_EQ(b["messages"][3],
            (nlohmann::json{{"role", "tool"}, {"content", "a.txt"}, {"tool_call_id", "call_1"}}));
  EXPECT_EQ(b["messages"][4]["tool_call_id"], "call_2");
}

TEST_F(OpenAiClientTest, NoToolsMeansNoToolFieldsAndNoKeyMeansNoAuthorization) {
  OpenAiOptions o = Options();
  o.api_key.clear();
  RecordingSink sink;
  auto r = Run(o, SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers.count("authorization"), 0u);
  EXPECT_FALSE(reqs[0].json.contains("tools"));
  EXPECT_FALSE(reqs[0].json.contains("tool_choice"));
  EXPECT_EQ(r->text, "Hello from the fake");
}

TEST_F(OpenAiClientTest, Http429WithRetryAfterIsRetriedOnceThenSucceeds) {
  fake_.Push(fo::ErrorReply(429, "Rate limit reached", {{"Retry-After", "0"}}));
  fake_.Push(fo::TextReply({"after", " retry"}));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "after retry");
  EXPECT_EQ(Joined(sink.deltas), "after retry");
  EXPECT_EQ(fake_.requests().size(), 2u);
}

TEST_F(OpenAiClientTest, Http500BeforeAnyTokenIsRetried) {
  fake_.Push(fo::ErrorReply(500, "The server had an error"));
  fake_.Push(fo::ErrorReply(503, "Overloaded"));
  fake_.Push(fo::TextReply({"fine"}));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "fine");
  EXPECT_EQ(fake_.requests().size(), 3u);
}

TEST_F(OpenAiClientTest, PersistentHttp500FailsUnavailableAfterMaxRetries) {
  for (int i = 0; i < 4; ++i) fake_.Push(fo::ErrorReply(500, "The server had an error"));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Provider fakeai returned HTTP 500: The server had an error");
  EXPECT_EQ(fake_.requests().size(), 4u);  // 1 + max_retries
}

TEST_F(OpenAiClientTest, ConnectionDropAfterFirstTokenFailsWithoutRetry) {
  FakeReply reply;
  reply.chunks = {{fo::RoleChunk()}, {fo::TextChunk("partial")}};
  reply.drop = true;
  fake_.Push(reply);
  fake_.Push(fo::TextReply({"must not be used"}));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("Provider fakeai"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(sink.deltas, std::vector<std::string>{"partial"});
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(OpenAiClientTest, ErrorObjectInTheStreamAfterTokensFailsWithoutRetry) {
  FakeReply reply;
  reply.chunks = {{fo::RoleChunk()},
                  {fo::TextChunk("so far")},
                  {R"({"error":{"message":"Internal error mid-stream","type":"server_error"}})"}};
  fake_.Push(reply);
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Provider fakeai reported an error: Internal error mid-stream");
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(OpenAiClientTest, DropBeforeAnyTokenIsRetried) {
  FakeReply reply;
  reply.chunks = {{fo::RoleChunk()}};
  reply.drop = true;
  fake_.Push(reply);
  fake_.Push(fo::TextReply({"second"}));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->text, "second");
  EXPECT_EQ(fake_.requests().size(), 2u);
}

TEST_F(OpenAiClientTest, Http401IsInvalidArgumentWithTheProviderMessageAndNotRetried) {
  fake_.Push(fo::ErrorReply(401, "Incorrect API key provided"));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Provider fakeai returned HTTP 401: Incorrect API key provided");
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(OpenAiClientTest, ApiKeyEchoedByTheProviderNeverAppearsInTheError) {
  fake_.Push(fo::ErrorReply(401, std::string("Incorrect API key provided: ") + kKey +
                                     ". You can find your API key at https://example"));
  fake_.Push(fo::ErrorReply(400, std::string(400, 'x') + kKey));
  RecordingSink sink;
  auto r = Run(SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find(kKey), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[redacted]"), std::string::npos) << r.status().message();
  auto r2 = Run(SimpleRequest(), sink);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().message().find(kKey), std::string::npos);
  EXPECT_EQ(r2.status().message().find("sk-test"), std::string::npos) << "no fragment either";
  EXPECT_LT(r2.status().message().size(), 400u);  // truncated
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers.at("authorization"), std::string("Bearer ") + kKey);
}

TEST_F(OpenAiClientTest, CancellationAbortsAHangingStreamPromptly) {
  FakeReply reply;
  reply.chunks = {{fo::RoleChunk()}, {fo::TextChunk("thinking")}};
  reply.hang = true;
  fake_.Push(reply);
  asio::cancellation_signal cancel;
  RecordingSink sink;
  std::chrono::steady_clock::time_point cancelled_at;
  sink.on_delta = [&] {
    asio::post(io_, [&] {
      cancelled_at = std::chrono::steady_clock::now();
      cancel.emit(asio::cancellation_type::terminal);
    });
  };
  auto r = Run(Options(), SimpleRequest(), sink, &cancel);
  const auto took = std::chrono::steady_clock::now() - cancelled_at;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_LT(took, std::chrono::milliseconds(500));
  EXPECT_TRUE(fake_.WaitFor([](const FakeOpenAiServer::State& s) { return s.disconnects == 1; }))
      << "the fake never saw the client leave";
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(OpenAiClientTest, IdleTimeoutAbortsASilentStreamAsUnavailable) {
  OpenAiOptions o = Options();
  o.idle_timeout_ms = 100;
  o.max_retries = 0;
  FakeReply reply;
  reply.chunks = {{fo::RoleChunk()}, {fo::TextChunk("then silence")}};
  reply.hang = true;
  fake_.Push(reply);
  RecordingSink sink;
  const auto start = std::chrono::steady_clock::now();
  auto r = Run(o, SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Provider fakeai timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(fake_.WaitFor([](const FakeOpenAiServer::State& s) { return s.disconnects == 1; }));
}

TEST_F(OpenAiClientTest, UnreachableProviderIsUnavailable) {
  OpenAiOptions o = Options();
  o.max_retries = 1;
  {
    FakeOpenAiServer gone;
    o.base_url = gone.base_url();
  }
  RecordingSink sink;
  auto r = Run(o, SimpleRequest(), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("Provider fakeai could not be reached"), std::string::npos)
      << r.status().message();
}

TEST(Redact, ReplacesEveryOccurrence) {
  EXPECT_EQ(Redact("a KEY b KEY", "KEY"), "a [redacted] b [redacted]");
  EXPECT_EQ(Redact("nothing", ""), "nothing");
}

}  // namespace
}  // namespace agentd::llm::openai
