#include "agent/agent_loop.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/ids.h"
#include "llm/builtin/echo_llm_client.h"

namespace agentd::agent {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

struct SavedMessage {
  std::string type;
  json content;
  json metadata;
};

class RecordingRunIo final : public RunIo {
 public:
  void Emit(json event) override { events.push_back(std::move(event)); }
  std::string SaveMessage(const std::string& type, json content, json metadata) override {
    saved.push_back({type, std::move(content), std::move(metadata)});
    return "msg-" + std::to_string(saved.size());
  }
  asio::awaitable<Status> BeforeStep() override {
    ++steps_checked;
    if (steps_allowed >= 0 && steps_checked > steps_allowed) {
      co_return Status(StatusCode::kResourceExhausted, "Insufficient credits",
                       "INSUFFICIENT_CREDITS");
    }
    co_return Status::Ok();
  }
  std::vector<std::string> Types() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.at("type").get<std::string>());
    return out;
  }
  std::vector<json> events;
  std::vector<SavedMessage> saved;
  int steps_checked = 0;
  int steps_allowed = -1;  // -1 = every step
};

// Always answers with one tool call "loop"; records every request.
class AlwaysToolLlmClient final : public llm::LlmClient {
 public:
  asio::awaitable<Result<llm::LlmResponse>> Stream(const llm::LlmRequest& request,
                                                   llm::LlmStreamSink& sink) override {
    requests.push_back(request);
    sink.OnTextDelta("again");
    llm::LlmResponse response;
    response.text = "again";
    response.tool_calls = {{"call_" + std::to_string(requests.size()), "loop", "{}"}};
    response.finish_reason = "tool_calls";
    response.usage = {3, 2};
    co_return response;
  }
  std::vector<llm::LlmRequest> requests;
};

// One tool "search" that succeeds with "42".
class SearchToolRegistry final : public ToolRegistry {
 public:
  std::vector<llm::ToolSchema> Schemas() const override {
    return {{"search", "Searches.", {{"type", "object"}}}};
  }
  asio::awaitable<ToolResult> Execute(const llm::ToolCall& call) override {
    calls.push_back(call);
    co_return ToolResult{true, "42", "", {}};
  }
  std::vector<llm::ToolCall> calls;
};

std::vector<llm::ChatMessage> UserHistory(std::string content) {
  llm::ChatMessage user;
  user.role = "user";
  user.content = std::move(content);
  return {user};
}

AgentConfig TestConfig() {
  AgentConfig config;
  config.model_name = "builtin/echo";
  config.upstream_model = "echo";
  return config;
}

Result<AgentOutcome> RunToEnd(llm::LlmClient& model, ToolRegistry& tools, RunIo& io,
                              const AgentConfig& config, std::vector<llm::ChatMessage> history) {
  asio::io_context ctx;
  std::optional<Result<AgentOutcome>> out;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        out.emplace(co_await RunAgent(model, tools, io, config, std::move(history)));
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ctx.run();
  return std::move(*out);
}

TEST(RunAgent, PlainPromptEmitsStartChunksCompleteAndEnd) {
  auto echo = llm::builtin::NewEchoLlmClient();
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  auto outcome = RunToEnd(*echo, *tools, io, TestConfig(), UserHistory("hello big world"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->reason, "completed");
  EXPECT_EQ(outcome->usage.prompt_tokens, 3);
  EXPECT_EQ(outcome->usage.completion_tokens, 3);

  ASSERT_EQ(io.Types(), (std::vector<std::string>{"llm_response_start", "assistant", "assistant",
                                                  "assistant", "assistant", "llm_response_end"}));
  const json& start = io.events[0];
  EXPECT_TRUE(IsUuid(start.at("llm_response_id").get<std::string>()));
  EXPECT_EQ(start.at("model"), "builtin/echo");
  EXPECT_EQ(start.at("step"), 1);
  EXPECT_EQ(io.events[1], json({{"type", "assistant"},
                                {"content", {{"role", "assistant"}, {"content", "hello"}}},
                                {"metadata", {{"stream_status", "chunk"}}}}));
  EXPECT_EQ(io.events[2].at("content").at("content"), " big");
  EXPECT_EQ(io.events[3].at("content").at("content"), " world");
  EXPECT_EQ(io.events[4],
            json({{"type", "assistant"},
                  {"message_id", "msg-1"},
                  {"content", {{"role", "assistant"}, {"content", "hello big world"}}},
                  {"metadata", {{"stream_status", "complete"}}}}));
  EXPECT_EQ(
      io.events[5],
      json({{"type", "llm_response_end"},
            {"llm_response_id", start.at("llm_response_id")},
            {"model", "builtin/echo"},
            {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 3}, {"total_tokens", 6}}}}));

  ASSERT_EQ(io.saved.size(), 1u);
  EXPECT_EQ(io.saved[0].type, "assistant");
  EXPECT_EQ(io.saved[0].content, json({{"role", "assistant"}, {"content", "hello big world"}}));
  EXPECT_EQ(io.saved[0].metadata, json({{"model", "builtin/echo"}}));
}

TEST(RunAgent, UnknownToolFailsThenSecondStepContinues) {
  auto echo = llm::builtin::NewEchoLlmClient();
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  auto outcome = RunToEnd(*echo, *tools, io, TestConfig(),
                          UserHistory("/tool search {\"q\":\"x\"}\nfound it"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->reason, "completed");

  ASSERT_EQ(io.Types(),
            (std::vector<std::string>{"llm_response_start", "assistant", "llm_response_end",
                                      "tool_started", "tool", "tool_failed", "llm_response_start",
                                      "assistant", "assistant", "assistant", "llm_response_end"}));
  const json expected_call = {{"id", "call_1_0"},
                              {"type", "function"},
                              {"function", {{"name", "search"}, {"arguments", "{\"q\":\"x\"}"}}}};
  EXPECT_EQ(io.events[1].at("content"),
            json({{"role", "assistant"}, {"content", ""}, {"tool_calls", {expected_call}}}));
  EXPECT_EQ(io.events[3], json({{"type", "tool_started"},
                                {"tool_call_id", "call_1_0"},
                                {"function_name", "search"},
                                {"arguments", {{"q", "x"}}}}));
  EXPECT_EQ(io.events[4],
            json({{"type", "tool"},
                  {"message_id", "msg-2"},
                  {"content",
                   {{"role", "tool"},
                    {"name", "search"},
                    {"content", "Error: Unknown tool: search"},
                    {"tool_call_id", "call_1_0"}}},
                  {"metadata",
                   {{"result",
                     {{"success", false}, {"output", ""}, {"error", "Unknown tool: search"}}}}}}));
  EXPECT_EQ(
      io.events[5],
      json({{"type", "tool_failed"}, {"tool_call_id", "call_1_0"}, {"function_name", "search"}}));
  EXPECT_EQ(io.events[6].at("step"), 2);
  EXPECT_NE(io.events[6].at("llm_response_id"), io.events[0].at("llm_response_id"));
  EXPECT_EQ(io.events[9].at("content").at("content"), "found it");

  ASSERT_EQ(io.saved.size(), 3u);
  EXPECT_EQ(io.saved[0].type, "assistant");
  EXPECT_EQ(io.saved[1].type, "tool");
  EXPECT_EQ(io.saved[2].type, "assistant");
  EXPECT_EQ(io.saved[2].content.at("content"), "found it");
}

TEST(RunAgent, RefusedBeforeStepEndsTheLoopBeforeTheNextModelCall) {
  AlwaysToolLlmClient model;
  SearchToolRegistry tools;
  RecordingRunIo io;
  io.steps_allowed = 2;
  AgentConfig config = TestConfig();
  config.max_steps = 10;
  auto outcome = RunToEnd(model, tools, io, config, UserHistory("go"));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(outcome.status().reason(), "INSUFFICIENT_CREDITS");
  EXPECT_EQ(model.requests.size(), 2u) << "the third step is refused before the model is called";
  EXPECT_EQ(io.steps_checked, 3);
  EXPECT_EQ(io.Types().back(), "tool_completed");
}

TEST(RunAgent, SuccessfulToolOutputGoesBackToTheModel) {
  AlwaysToolLlmClient model;
  SearchToolRegistry tools;
  RecordingRunIo io;
  AgentConfig config = TestConfig();
  config.system_prompt = "You are a test.";
  config.max_steps = 2;
  auto outcome = RunToEnd(model, tools, io, config, UserHistory("go"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  // start, chunk, complete, end, tool_started, tool, tool_completed
  EXPECT_EQ(io.events[5].at("content").at("content"), "42");
  EXPECT_EQ(io.events[5].at("metadata").at("result"),
            json({{"success", true}, {"output", "42"}, {"error", ""}}));
  EXPECT_EQ(io.events[6].at("type"), "tool_completed");
  ASSERT_EQ(tools.calls.size(), 2u);
  EXPECT_EQ(tools.calls[0].name, "loop");

  ASSERT_EQ(model.requests.size(), 2u);
  const llm::LlmRequest& second = model.requests[1];
  EXPECT_EQ(second.model, "echo");
  ASSERT_EQ(second.tools.size(), 3u);
  EXPECT_EQ(second.tools[0].name, "search");
  EXPECT_EQ(second.tools[1].name, "complete");
  EXPECT_EQ(second.tools[2].name, "ask");
  ASSERT_EQ(second.messages.size(), 4u);
  EXPECT_EQ(second.messages[0].role, "system");
  EXPECT_EQ(second.messages[0].content, "You are a test.");
  EXPECT_EQ(second.messages[1].role, "user");
  EXPECT_EQ(second.messages[2].role, "assistant");
  EXPECT_EQ(second.messages[2].content, "again");
  ASSERT_EQ(second.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(second.messages[2].tool_calls[0].id, "call_1");
  EXPECT_EQ(second.messages[3].role, "tool");
  EXPECT_EQ(second.messages[3].content, "42");
  EXPECT_EQ(second.messages[3].tool_call_id, "call_1");
  EXPECT_EQ(second.messages[3].name, "loop");
}

TEST(RunAgent, ProviderFailureReturnsItsStatus) {
  auto echo = llm::builtin::NewEchoLlmClient();
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  auto outcome = RunToEnd(*echo, *tools, io, TestConfig(), UserHistory("/fail upstream is down"));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(outcome.status().message(), "upstream is down");
  EXPECT_EQ(io.Types(), (std::vector<std::string>{"llm_response_start"}));
  EXPECT_TRUE(io.saved.empty());
}

TEST(RunAgent, ModelThatAlwaysCallsToolsExceedsMaxStepsAndSumsUsage) {
  AlwaysToolLlmClient model;
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  AgentConfig config = TestConfig();
  config.max_steps = 2;
  auto outcome = RunToEnd(model, *tools, io, config, UserHistory("go"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->reason, "max_steps_exceeded");
  EXPECT_EQ(outcome->usage.prompt_tokens, 6);
  EXPECT_EQ(outcome->usage.completion_tokens, 4);
  EXPECT_EQ(model.requests.size(), 2u);
  EXPECT_EQ(model.requests[1].messages.back().content, "Error: Unknown tool: loop");
  EXPECT_EQ(io.saved.size(), 4u);  // two assistant and two tool messages
}

TEST(RunAgent, UsageIsSummedOverEchoSteps) {
  auto echo = llm::builtin::NewEchoLlmClient();
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  auto outcome = RunToEnd(*echo, *tools, io, TestConfig(), UserHistory("/tool t {}\nbye now"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  // Step 1: prompt 5 words, completion 1 (the call). Step 2: the prompt also holds the tool
  // message "Error: Unknown tool: t" (4 words); completion 2.
  EXPECT_EQ(outcome->usage.prompt_tokens, 5 + 9);
  EXPECT_EQ(outcome->usage.completion_tokens, 1 + 2);
}

// Answers with the scripted responses in order, then with plain text "done".
class ScriptedLlmClient final : public llm::LlmClient {
 public:
  asio::awaitable<Result<llm::LlmResponse>> Stream(const llm::LlmRequest& request,
                                                   llm::LlmStreamSink&) override {
    requests.push_back(request);
    llm::LlmResponse response;
    if (script.empty()) {
      response.text = "done";
      response.finish_reason = "stop";
    } else {
      response = script.front();
      script.pop_front();
    }
    co_return response;
  }
  static llm::LlmResponse Calls(std::vector<llm::ToolCall> calls) {
    llm::LlmResponse response;
    response.tool_calls = std::move(calls);
    response.finish_reason = "tool_calls";
    return response;
  }
  std::deque<llm::LlmResponse> script;
  std::vector<llm::LlmRequest> requests;
};

// "wait {ms}" waits on a timer and records how many calls were in flight at once.
class WaitToolRegistry final : public ToolRegistry {
 public:
  std::vector<llm::ToolSchema> Schemas() const override {
    return {{"wait", "Waits.", {{"type", "object"}}}};
  }
  asio::awaitable<ToolResult> Execute(const llm::ToolCall& call) override {
    const int ms = json::parse(call.arguments).at("ms").get<int>();
    ++in_flight;
    max_in_flight = std::max(max_in_flight, in_flight);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(ms));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    --in_flight;
    if (ec) ++cancelled;
    co_return ToolResult{!ec, "waited " + std::to_string(ms), ec ? "cancelled" : "", {}};
  }
  int in_flight = 0;
  int max_in_flight = 0;
  int cancelled = 0;
};

TEST(RunAgent, ParallelToolCallsRunConcurrentlyAndResultsKeepCallOrder) {
  ScriptedLlmClient model;
  model.script.push_back(ScriptedLlmClient::Calls(
      {{"slow", "wait", R"({"ms":60})"}, {"fast", "wait", R"({"ms":1})"}}));
  WaitToolRegistry tools;
  RecordingRunIo io;
  auto outcome = RunToEnd(model, tools, io, TestConfig(), UserHistory("go"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(tools.max_in_flight, 2);
  // Both tool_started events come first; the fast call's result is recorded first.
  std::vector<std::string> tool_events;
  for (const auto& e : io.events) {
    if (e.at("type") == "tool_started" || e.at("type") == "tool") {
      tool_events.push_back(
          e.at("type").get<std::string>() + ":" +
          (e.at("type") == "tool" ? e.at("content").at("tool_call_id") : e.at("tool_call_id"))
              .get<std::string>());
    }
  }
  EXPECT_EQ(tool_events, (std::vector<std::string>{"tool_started:slow", "tool_started:fast",
                                                   "tool:fast", "tool:slow"}));
  // The next request has the results in call order, right after the assistant message.
  ASSERT_EQ(model.requests.size(), 2u);
  const auto& messages = model.requests[1].messages;
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[2].tool_call_id, "slow");
  EXPECT_EQ(messages[3].tool_call_id, "fast");
}

TEST(RunAgent, CancellationEndsEveryParallelToolCall) {
  ScriptedLlmClient model;
  model.script.push_back(ScriptedLlmClient::Calls(
      {{"a", "wait", R"({"ms":3600000})"}, {"b", "wait", R"({"ms":3600000})"}}));
  WaitToolRegistry tools;
  RecordingRunIo io;
  asio::io_context ctx;
  bool stopped = false;
  asio::co_spawn(
      ctx,
      [&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer stop(co_await asio::this_coro::executor);
        stop.expires_after(std::chrono::milliseconds(20));
        auto result = co_await (RunAgent(model, tools, io, TestConfig(), UserHistory("go")) ||
                                stop.async_wait(asio::use_awaitable));
        stopped = result.index() == 1;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  const auto began = std::chrono::steady_clock::now();
  ctx.run();
  EXPECT_TRUE(stopped);
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5));
  EXPECT_EQ(tools.in_flight, 0);
}

TEST(RunAgent, CompleteToolEndsTheRunAfterRecordingItsResult) {
  ScriptedLlmClient model;
  model.script.push_back(
      ScriptedLlmClient::Calls({{"c1", "complete", R"({"summary":"all done"})"}}));
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  auto outcome = RunToEnd(model, *tools, io, TestConfig(), UserHistory("go"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->reason, "completed");
  EXPECT_EQ(model.requests.size(), 1u);
  const auto types = io.Types();
  EXPECT_EQ(types.back(), "tool_completed");
  const json& tool = io.events[io.events.size() - 2];
  EXPECT_EQ(tool.at("metadata").at("result").at("summary"), "all done");
}

TEST(RunAgent, AskToolEndsTheRunWaitingForTheUser) {
  ScriptedLlmClient model;
  model.script.push_back(
      ScriptedLlmClient::Calls({{"q1", "ask", R"({"question":"Which file?"})"}}));
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  auto outcome = RunToEnd(model, *tools, io, TestConfig(), UserHistory("go"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->reason, "ask");
  EXPECT_EQ(model.requests.size(), 1u);
}

TEST(RunAgent, TerminatingToolsAreOnlyOfferedWhenConfigured) {
  ScriptedLlmClient model;
  model.script.push_back(ScriptedLlmClient::Calls({{"c1", "complete", "{}"}}));
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  AgentConfig config = TestConfig();
  config.offer_complete = false;
  config.offer_ask = false;
  auto outcome = RunToEnd(model, *tools, io, config, UserHistory("go"));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_TRUE(model.requests[0].tools.empty());
  // `complete` is then an unknown tool and the loop goes on.
  EXPECT_EQ(model.requests.size(), 2u);
  EXPECT_EQ(model.requests[1].messages.back().content, "Error: Unknown tool: complete");
}

// A thread of `turns` tool round trips with 4 KB outputs, after a system prompt and a first
// user message, ending with a new user message.
llm::LlmRequest LongThread(int turns) {
  llm::LlmRequest request;
  request.messages.push_back({"system", "You are a test.", {}, "", ""});
  request.messages.push_back({"user", "first question", {}, "", ""});
  for (int i = 0; i < turns; ++i) {
    const std::string id = "call_" + std::to_string(i);
    request.messages.push_back({"assistant", "looking", {{id, "read", "{}"}}, "", ""});
    request.messages.push_back({"tool", std::string(4000, 'x'), {}, id, "read"});
  }
  request.messages.push_back({"user", "latest question", {}, "", ""});
  return request;
}

void ExpectEveryToolResultFollowsItsCall(const std::vector<llm::ChatMessage>& messages) {
  std::set<std::string> open_calls;
  for (const auto& m : messages) {
    if (m.role == "assistant") {
      open_calls.clear();
      for (const auto& c : m.tool_calls) open_calls.insert(c.id);
    } else if (m.role == "tool") {
      EXPECT_TRUE(open_calls.count(m.tool_call_id)) << "orphan tool result " << m.tool_call_id;
    }
  }
}

TEST(FitToContext, RequestWithinBudgetIsUntouched) {
  llm::LlmRequest request = LongThread(3);
  const auto before = request.messages.size();
  const ContextTrim trim = FitToContext(request, 1'000'000);
  EXPECT_FALSE(trim.any());
  EXPECT_EQ(request.messages.size(), before);
}

TEST(FitToContext, OldToolOutputsAreTrimmedFirst) {
  llm::LlmRequest request = LongThread(10);  // ~10k tokens
  const ContextTrim trim = FitToContext(request, 5000);
  EXPECT_GT(trim.tool_outputs_trimmed, 0);
  EXPECT_EQ(trim.messages_dropped, 0);
  EXPECT_LE(EstimateTokens(request), 5000);
  // The newest two outputs stay whole.
  EXPECT_EQ(request.messages[request.messages.size() - 2].content.size(), 4000u);
}

TEST(FitToContext, LongThreadDropsMiddleTurnsKeepingPairsAndEnds) {
  llm::LlmRequest request = LongThread(200);  // ~200k tokens
  const ContextTrim trim = FitToContext(request, 3000);
  EXPECT_GT(trim.messages_dropped, 0);
  EXPECT_LE(EstimateTokens(request), 3000);
  ASSERT_GE(request.messages.size(), 3u);
  EXPECT_EQ(request.messages[0].role, "system");
  EXPECT_EQ(request.messages[1].content, "first question");
  EXPECT_EQ(request.messages.back().content, "latest question");
  ExpectEveryToolResultFollowsItsCall(request.messages);
}

TEST(FitToContext, HugeLatestMessageIsCut) {
  llm::LlmRequest request;
  request.messages.push_back({"user", std::string(100000, 'y'), {}, "", ""});
  const ContextTrim trim = FitToContext(request, 2000);
  EXPECT_EQ(trim.messages_cut, 1);
  EXPECT_LE(EstimateTokens(request), 2000);
  EXPECT_NE(request.messages[0].content.find("omitted to fit the context window"),
            std::string::npos);
}

TEST(RunAgent, LongThreadIsFittedAndTheTrimIsReported) {
  ScriptedLlmClient model;
  auto tools = NewEmptyToolRegistry();
  RecordingRunIo io;
  AgentConfig config = TestConfig();
  config.context_window = 8000;
  config.reserved_output_tokens = 1000;
  llm::LlmRequest thread = LongThread(300);
  thread.messages.erase(thread.messages.begin());  // the loop adds the system prompt
  auto outcome = RunToEnd(model, *tools, io, config, thread.messages);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  ASSERT_EQ(model.requests.size(), 1u);
  EXPECT_LE(EstimateTokens(model.requests[0]), 7000);
  EXPECT_EQ(model.requests[0].messages.back().content, "latest question");
  ASSERT_TRUE(io.events[0].contains("context_trimmed"));
  EXPECT_GT(io.events[0]["context_trimmed"]["messages_dropped"].get<int>(), 0);
}

}  // namespace
}  // namespace agentd::agent
