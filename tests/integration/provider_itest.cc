// A real OpenAI-compatible provider (FakeOpenAiServer on loopback) behind the real server:
// streamed text and usage, a provider 500, a stop that aborts a slow stream, and an API key
// that reaches the provider but nothing else.
#include <gtest/gtest.h>

#include <algorithm>

#include "support/fake_openai_server.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

using std::chrono::milliseconds;
namespace fo = fake_openai;

constexpr char kApiKey[] = "sk-itest-9f8e7d6c5b4a39281706-SECRET";
constexpr char kModel[] = "fake/gpt";

class ProviderItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    fake_ = std::make_unique<FakeOpenAiServer>();
    AgentdProcess::Options options;
    options.env = {std::string("FAKE_PROVIDER_KEY=") + kApiKey};
    options.extra_config = "[providers.fake]\nbase_url = \"" + fake_->base_url() +
                           "\"\napi_key_env = \"FAKE_PROVIDER_KEY\"\nidle_timeout_ms = 10000\n"
                           "max_retries = 2\nretry_base_ms = 1\nretry_max_ms = 10\n\n"
                           "[models.\"fake/gpt\"]\nprovider = \"fake\"\n"
                           "upstream = \"gpt-fake-upstream\"\ncontext_window = 100000\n\n"
                           "[models.\"fake/small\"]\nprovider = \"fake\"\n"
                           "upstream = \"gpt-fake-small\"\ncontext_window = 3000\n";
    StartSharedServer(options);
  }
  static void TearDownTestSuite() {
    StopSharedServer();
    fake_.reset();
  }

  static size_t RequestCount() { return fake_->Snapshot().requests.size(); }

  static std::unique_ptr<FakeOpenAiServer> fake_;
};
std::unique_ptr<FakeOpenAiServer> ProviderItest::fake_;

TEST_F(ProviderItest, RunStreamsTheProviderTextAndCompletesWithItsUsage) {
  Api a = NewUser();
  fake_->Push(fo::TextReply({"Hello", " from", " upstream", "!"}, 21, 4));
  const size_t before = RequestCount();
  auto start = a.StartOk({{"prompt", "say hello"}, {"model_name", kModel}});
  const StreamResult r = a.Finish(Str(start["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(r, "completed")) << Describe(r.events);
  EXPECT_EQ(ChunkText(r.events), "Hello from upstream!");
  auto ends = OfType(r.events, "llm_response_end");
  ASSERT_EQ(ends.size(), 1u) << Describe(r.events);
  EXPECT_EQ(At(ends[0].json, {"usage", "prompt_tokens"}), 21) << ends[0].data;
  EXPECT_EQ(At(ends[0].json, {"usage", "completion_tokens"}), 4) << ends[0].data;
  EXPECT_EQ(StrAt(ends[0].json, {"model"}), kModel);

  auto requests = fake_->requests();
  ASSERT_EQ(requests.size(), before + 1);
  const RecordedRequest& got = requests.back();
  EXPECT_EQ(got.path, "/v1/chat/completions");
  EXPECT_EQ(got.json["model"], "gpt-fake-upstream");
  EXPECT_EQ(got.json["stream"], true);
  ASSERT_TRUE(got.json["messages"].is_array());
  EXPECT_EQ(got.json["messages"].back()["role"], "user");
  EXPECT_EQ(got.json["messages"].back()["content"], "say hello");
}

TEST_F(ProviderItest, ProviderErrorsPastTheRetriesFailTheRunNamingTheStatus) {
  Api a = NewUser();
  for (int i = 0; i < 3; ++i) fake_->Push(fo::ErrorReply(500, "The upstream model crashed"));
  const size_t before = RequestCount();
  auto start = a.StartOk({{"prompt", "hi"}, {"model_name", kModel}});
  const StreamResult r = a.Finish(Str(start["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(r, "failed")) << Describe(r.events);
  auto errors = OfType(r.events, "error");
  ASSERT_EQ(errors.size(), 1u) << Describe(r.events);
  EXPECT_EQ(StrAt(errors[0].json, {"error"}),
            "Provider fake returned HTTP 500: The upstream model crashed")
      << errors[0].data;
  EXPECT_EQ(RequestCount(), before + 3) << "1 attempt + max_retries 2";
}

TEST_F(ProviderItest, StopAbortsASlowStreamPromptlyAndTheProviderSeesTheDisconnect) {
  Api a = NewUser();
  FakeReply slow;
  slow.chunks = {{fo::RoleChunk()}, {fo::TextChunk("thinking slowly")}};
  slow.hang = true;
  fake_->Push(slow);
  const int disconnects_before = fake_->Snapshot().disconnects;
  auto start = a.StartOk({{"prompt", "take your time"}, {"model_name", kModel}});
  const std::string run = Str(start["agent_run_id"]);
  auto stream = a.OpenStream(run);
  // Wait for the streamed chunk: the transfer is then open and hanging.
  bool saw_chunk = false;
  while (!saw_chunk) {
    auto e = stream->NextNonPing(milliseconds(10000));
    ASSERT_TRUE(e.has_value()) << "no assistant chunk arrived";
    saw_chunk = e->type() == "assistant";
  }
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(a.Stop(run).status, 200);
  const StreamResult rest = ReadToEnd(*stream, milliseconds(5000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1500));
  ASSERT_TRUE(EndsWithTerminal(rest, "stopped")) << Describe(rest.events);
  EXPECT_TRUE(fake_->WaitFor(
      [&](const FakeOpenAiServer::State& s) { return s.disconnects > disconnects_before; },
      milliseconds(5000)))
      << "the provider connection was not closed";
}

TEST_F(ProviderItest, ApiKeyReachesTheProviderButNoLogEventOrErrorBody) {
  Api a = NewUser();
  fake_->Push(fo::ErrorReply(401, std::string("Incorrect API key provided: ") + kApiKey));
  const size_t before = RequestCount();
  auto start = a.StartOk({{"prompt", "hi"}, {"model_name", kModel}});
  const std::string run = Str(start["agent_run_id"]);
  const StreamResult r = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(r, "failed")) << Describe(r.events);
  auto requests = fake_->requests();
  ASSERT_EQ(requests.size(), before + 1) << "a 401 is not retried";
  EXPECT_EQ(requests.back().headers["authorization"], std::string("Bearer ") + kApiKey);

  auto errors = OfType(r.events, "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(StrAt(errors[0].json, {"error"}),
            "Provider fake returned HTTP 401: Incorrect API key provided: [redacted]");
  for (const SseEvent& e : r.events) {
    EXPECT_EQ(e.data.find(kApiKey), std::string::npos) << e.data;
  }
  Response got = a.Get("/agent-run/" + run);
  EXPECT_EQ(got.body.find(kApiKey), std::string::npos) << got.body;
  Response thread = a.Get("/thread/" + Str(start["thread_id"]) + "/messages");
  EXPECT_EQ(thread.body.find(kApiKey), std::string::npos) << thread.body;
  EXPECT_EQ(server()->Stdout().find(kApiKey), std::string::npos);
  EXPECT_EQ(server()->Stderr().find(kApiKey), std::string::npos);
  EXPECT_NE(server()->Stdout().find("provider fake:"), std::string::npos) << server()->Stdout();
}

// Two parallel tool calls arrive in fragments; both run in the sandbox and their results go
// back to the provider in the next request, each with its call id.
TEST_F(ProviderItest, ParallelToolCallsRunAndTheirResultsGoBackToTheProvider) {
  Api a = NewUser();
  FakeReply calls;
  calls.chunks = {{fo::RoleChunk()},
                  {fo::ToolCallChunk(0, "call_w", "write_file", "{\"path\":\"a.txt\",")},
                  {fo::ToolCallChunk(1, "call_l", "list_files", "{")},
                  {fo::ToolCallChunk(0, "", "", "\"content\":\"hello\"}")},
                  {fo::ToolCallChunk(1, "", "", "}")},
                  {fo::FinishChunk("tool_calls")},
                  {fo::UsageChunk(30, 12)},
                  {fo::kDone}};
  fake_->Push(calls);
  fake_->Push(fo::TextReply({"Done."}));
  const size_t before = RequestCount();
  auto start = a.StartOk({{"prompt", "write a file"}, {"model_name", kModel}});
  const StreamResult r = a.Finish(Str(start["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(r, "completed")) << Describe(r.events);
  EXPECT_EQ(OfType(r.events, "tool_started").size(), 2u) << Describe(r.events);
  EXPECT_EQ(OfType(r.events, "tool_completed").size(), 2u) << Describe(r.events);

  auto requests = fake_->requests();
  ASSERT_EQ(requests.size(), before + 2);
  const nlohmann::json& first = requests[before].json;
  std::vector<std::string> offered;
  for (const auto& tool : first["tools"]) offered.push_back(tool["function"]["name"]);
  EXPECT_NE(std::find(offered.begin(), offered.end(), "execute_command"), offered.end());
  EXPECT_NE(std::find(offered.begin(), offered.end(), "complete"), offered.end());
  const nlohmann::json& messages = requests[before + 1].json["messages"];
  ASSERT_GE(messages.size(), 4u) << messages.dump();
  const nlohmann::json& assistant = messages[messages.size() - 3];
  ASSERT_EQ(assistant["tool_calls"].size(), 2u) << assistant.dump();
  EXPECT_EQ(assistant["tool_calls"][0]["function"]["arguments"],
            "{\"path\":\"a.txt\",\"content\":\"hello\"}");
  EXPECT_EQ(messages[messages.size() - 2]["tool_call_id"], "call_w");
  EXPECT_EQ(messages[messages.size() - 1]["tool_call_id"], "call_l");
  EXPECT_EQ(messages[messages.size() - 1]["role"], "tool");
}

// A thread longer than the model's window: the request the provider gets is fitted into it,
// keeps the newest message, and the run says it trimmed.
TEST_F(ProviderItest, LongThreadIsFittedIntoTheModelsContextWindow) {
  Api a = NewUser();
  std::string big;
  for (int i = 0; i < 4000; ++i) big += "word" + std::to_string(i) + " ";
  fake_->Push(fo::TextReply({"ok"}));
  auto first = a.StartOk({{"prompt", big}, {"model_name", "fake/small"}});
  ASSERT_TRUE(EndsWithTerminal(a.Finish(Str(first["agent_run_id"])), "completed"));
  fake_->Push(fo::TextReply({"ok"}));
  const size_t before = RequestCount();
  auto second = a.StartOk({{"prompt", "latest question"},
                           {"thread_id", Str(first["thread_id"])},
                           {"model_name", "fake/small"}});
  const StreamResult r = a.Finish(Str(second["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(r, "completed")) << Describe(r.events);
  auto starts = OfType(r.events, "llm_response_start");
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_TRUE(starts[0].json.contains("context_trimmed")) << starts[0].data;

  auto requests = fake_->requests();
  ASSERT_EQ(requests.size(), before + 1);
  const nlohmann::json& messages = requests.back().json["messages"];
  size_t bytes = 0;
  for (const auto& m : messages) {
    if (m["content"].is_string()) bytes += m["content"].get<std::string>().size();
  }
  EXPECT_LT(bytes, 3000u * 4) << "about 4 bytes per token of a 3000-token window";
  EXPECT_EQ(messages.back()["content"], "latest question");
}

}  // namespace
}  // namespace agentd::testing
