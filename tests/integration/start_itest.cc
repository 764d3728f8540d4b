// POST /agent/start against the real server: new, existing and optimistic threads, validation
// errors, body types, busy threads and model resolution.
#include <gtest/gtest.h>

#include <thread>

#include "core/ids.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

class StartItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() { StartSharedServer(); }
  static void TearDownTestSuite() { StopSharedServer(); }
};

std::string Detail(const Response& r) {
  auto j = r.Json();
  if (j.is_object() && j.contains("detail") && j["detail"].is_string()) return j["detail"];
  return "<no string detail in: " + r.body + ">";
}

nlohmann::json DetailObject(const Response& r) {
  auto j = r.Json();
  if (j.is_object() && j.contains("detail") && j["detail"].is_object()) return j["detail"];
  return nlohmann::json::object();
}

TEST_F(StartItest, NewThreadReturnsIdsRunningStatusAndContentLocation) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "hello there"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.Header("Content-Type").value_or("").find("application/json"), std::string::npos);
  auto j = r.Json();
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_TRUE(LooksLikeUuid(j["thread_id"])) << r.body;
  EXPECT_TRUE(LooksLikeUuid(j["agent_run_id"])) << r.body;
  EXPECT_TRUE(LooksLikeUuid(j["project_id"])) << r.body;
  ASSERT_TRUE(j.contains("sandbox_id")) << r.body;
  EXPECT_TRUE(j["sandbox_id"].is_null()) << r.body;
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["model_name"], "kortix/minimax") << "free tier default model";
  EXPECT_FALSE(j.contains("timing")) << "timing only with X-Emit-Timing as super_admin";
  EXPECT_EQ(r.Header("Content-Location").value_or("<none>"),
            "/agent-run/" + j["agent_run_id"].get<std::string>() + "/stream");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(j["agent_run_id"]), "completed"));
}

TEST_F(StartItest, ContentLocationIsTheStreamOfTheRun) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "follow the header"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string location = r.Header("Content-Location").value_or("");
  ASSERT_FALSE(location.empty());
  SseStream stream(a.http().base_url() + location, a.Auth());
  const StreamResult s = ReadToEnd(stream, kStreamTimeout);
  EXPECT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(s.events, 1));
}

TEST_F(StartItest, EmitTimingIsIgnoredForOrdinaryUsers) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "timing"}}, {{"X-Emit-Timing", "true"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Json().contains("timing")) << "timing is for super_admin only: " << r.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(r.Json()["agent_run_id"]), "completed"));
}

TEST_F(StartItest, BurstOfStartsNeverExceedsTheFreeConcurrencyLimit) {
  Api a = NewUser();
  constexpr int kStarts = 5;
  std::vector<Response> replies = a.StartInParallel(kStarts, {{"prompt", "/sleep 60000"}});
  std::vector<std::string> admitted;
  std::string admitted_thread;
  for (const Response& r : replies) {
    if (r.status == 200) {
      admitted.push_back(Str(r.Json()["agent_run_id"]));
      admitted_thread = Str(r.Json()["thread_id"]);
      continue;
    }
    EXPECT_EQ(r.status, 402) << r.body;
    auto d = DetailObject(r);
    EXPECT_EQ(d.value("error_code", ""), "AGENT_RUN_LIMIT_EXCEEDED") << r.body;
    EXPECT_EQ(d.value("limit", -1), 1) << r.body;
    EXPECT_EQ(d.value("running_count", -1), 1) << r.body;
  }
  ASSERT_EQ(admitted.size(), 1u) << "free tier runs one at a time";
  for (const Response& r : replies) {
    if (r.status != 402) continue;
    EXPECT_EQ(DetailObject(r).value("running_thread_ids", nlohmann::json()),
              nlohmann::json::array({admitted_thread}))
        << r.body;
  }
  Response active = a.Get("/agent-runs/active");
  EXPECT_EQ(active.Json()["active_runs"].size(), 1u) << active.body;
  for (const std::string& run : admitted) {
    ASSERT_EQ(a.Stop(run).status, 200);
    EXPECT_TRUE(EndsWithTerminal(a.Finish(run), "stopped"));
  }
  // The slot is free again the moment the terminal event was read.
  Response next = a.Start({{"prompt", "after the burst"}});
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(next.Json()["agent_run_id"]), "completed"));
}

TEST_F(StartItest, RunIsVisibleToOtherEndpointsImmediatelyAfterTheReply) {
  Api a = NewUser();
  auto j = a.StartOk({{"prompt", "/sleep 300\nvisible"}});
  const std::string run = j["agent_run_id"];
  const std::string thread = j["thread_id"];
  Response got = a.Get("/agent-run/" + run);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json()["id"], run);
  EXPECT_EQ(got.Json()["threadId"], thread);
  EXPECT_EQ(got.Json()["status"], "running");
  Response status = a.Get("/agent-runs/" + run + "/status");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.Json()["status"], "running");
  Response list = a.Get("/thread/" + thread + "/agent-runs");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.Json()["agent_runs"].size(), 1u) << list.body;
  EXPECT_EQ(list.Json()["agent_runs"][0]["id"], run);
  Response messages = a.Get("/threads/" + thread + "/messages");
  ASSERT_EQ(messages.status, 200) << messages.body;
  ASSERT_GE(messages.Json()["messages"].size(), 1u) << "user message committed before reply";
  EXPECT_EQ(messages.Json()["messages"][0]["type"], "user");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(run), "completed"));
}

TEST_F(StartItest, ExistingThreadKeepsThreadAndProjectWithANewRun) {
  Api a = NewUser();
  auto first = a.StartOk({{"prompt", "one"}});
  ASSERT_TRUE(EndsWithTerminal(a.Finish(first["agent_run_id"]), "completed"));
  Response r = a.Start({{"thread_id", Str(first["thread_id"])}, {"prompt", "two"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto second = r.Json();
  EXPECT_EQ(second["thread_id"], first["thread_id"]);
  EXPECT_EQ(second["project_id"], first["project_id"]);
  EXPECT_NE(second["agent_run_id"], first["agent_run_id"]);
  EXPECT_TRUE(EndsWithTerminal(a.Finish(second["agent_run_id"]), "completed"));
}

TEST_F(StartItest, ExistingThreadWithoutPromptIsAccepted) {
  Api a = NewUser();
  auto first = a.StartOk({{"prompt", "one"}});
  ASSERT_TRUE(EndsWithTerminal(a.Finish(first["agent_run_id"]), "completed"));
  Response r = a.Start({{"thread_id", Str(first["thread_id"])}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(r.Json()["agent_run_id"]), "completed"));
}

TEST_F(StartItest, OptimisticCreatesThreadAndProjectWithClientIds) {
  Api a = NewUser();
  const std::string thread = NewUuid();
  const std::string project = NewUuid();
  Response r = a.Start(
      {{"thread_id", thread}, {"project_id", project}, {"optimistic", "true"}, {"prompt", "hi"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["thread_id"], thread);
  EXPECT_EQ(r.Json()["project_id"], project);
  EXPECT_TRUE(LooksLikeUuid(r.Json()["agent_run_id"]));
  EXPECT_NE(r.Json()["agent_run_id"], thread);
  EXPECT_TRUE(EndsWithTerminal(a.Finish(r.Json()["agent_run_id"]), "completed"));
  Response list = a.Get("/thread/" + thread + "/agent-runs");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.Json()["agent_runs"].size(), 1u);
}

TEST_F(StartItest, OptimisticWithExistingThreadIs409AndChangesNothing) {
  Api a = NewUser();
  const std::string thread = NewUuid();
  const std::string project = NewUuid();
  auto first = a.StartOk(
      {{"thread_id", thread}, {"project_id", project}, {"optimistic", "true"}, {"prompt", "hi"}});
  ASSERT_TRUE(EndsWithTerminal(a.Finish(first["agent_run_id"]), "completed"));
  Response r = a.Start({{"thread_id", thread},
                        {"project_id", project},
                        {"optimistic", "true"},
                        {"prompt", "again"}});
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(DetailObject(r).value("error_code", ""), "THREAD_ALREADY_EXISTS") << r.body;
  Response list = a.Get("/thread/" + thread + "/agent-runs");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.Json()["agent_runs"].size(), 1u) << "a refused start creates no run";
}

TEST_F(StartItest, OptimisticWithoutIdsIs400) {
  Api a = NewUser();
  Response r = a.Start({{"optimistic", "true"}, {"prompt", "hi"}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Detail(r), "thread_id and project_id required for optimistic mode");
  Response only_thread =
      a.Start({{"optimistic", "true"}, {"thread_id", NewUuid()}, {"prompt", "x"}});
  ASSERT_EQ(only_thread.status, 400) << only_thread.body;
  EXPECT_EQ(Detail(only_thread), "thread_id and project_id required for optimistic mode");
}

TEST_F(StartItest, OptimisticWithoutPromptIs400) {
  Api a = NewUser();
  Response r =
      a.Start({{"optimistic", "true"}, {"thread_id", NewUuid()}, {"project_id", NewUuid()}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Detail(r), "prompt required for optimistic mode");
}

TEST_F(StartItest, NewThreadWithoutPromptIs400) {
  Api a = NewUser();
  Response r = a.Start({{"model_name", "kortix/minimax"}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Detail(r), "prompt required when creating new thread");
  Response empty = a.Start({{"prompt", ""}});
  ASSERT_EQ(empty.status, 400) << empty.body;
  Response active = a.Get("/agent-runs/active");
  ASSERT_EQ(active.status, 200) << active.body;
  EXPECT_TRUE(active.Json()["active_runs"].empty()) << active.body;
}

TEST_F(StartItest, MalformedUuidIs400InvalidUuidFormat) {
  Api a = NewUser();
  Response r = a.Start({{"thread_id", "not-a-uuid"}, {"prompt", "hi"}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Detail(r), "Invalid UUID format");
  Response optimistic = a.Start(
      {{"optimistic", "true"}, {"thread_id", NewUuid()}, {"project_id", "zzz"}, {"prompt", "x"}});
  ASSERT_EQ(optimistic.status, 400) << optimistic.body;
  EXPECT_EQ(Detail(optimistic), "Invalid UUID format");
}

TEST_F(StartItest, UnknownThreadIs404ThreadNotFound) {
  Api a = NewUser();
  Response r = a.Start({{"thread_id", NewUuid()}, {"prompt", "hi"}});
  ASSERT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Detail(r), "Thread not found");
}

TEST_F(StartItest, UnknownModelIs400) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "hi"}, {"model_name", "nope/not-a-model"}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Detail(r), "Unknown model: nope/not-a-model");
}

TEST_F(StartItest, EchoModelIsUsableOnFreeTier) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "hi"}, {"model_name", "builtin/echo"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["model_name"], "builtin/echo");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(r.Json()["agent_run_id"]), "completed"));
}

TEST_F(StartItest, FreeTierAskingBasicIsDowngradedToMinimax) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "hi"}, {"model_name", "kortix/basic"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["model_name"], "kortix/minimax");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(r.Json()["agent_run_id"]), "completed"));
}

TEST_F(StartItest, FreeTierAskingProModelIs402ModelAccessDenied) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "hi"}, {"model_name", "openai/gpt-5-nano"}});
  ASSERT_EQ(r.status, 402) << r.body;
  auto d = DetailObject(r);
  EXPECT_EQ(d.value("error_code", ""), "MODEL_ACCESS_DENIED") << r.body;
  EXPECT_EQ(d.value("tier_name", ""), "free") << r.body;
  EXPECT_TRUE(d.contains("allowed_models")) << r.body;
}

TEST_F(StartItest, UrlencodedStartWorks) {
  Api a = NewUser();
  Response r = a.StartUrlencoded({{"prompt", "url encoded & fine"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const StreamResult s = a.Finish(r.Json()["agent_run_id"]);
  EXPECT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_NE(ChunkText(s.events).find("encoded"), std::string::npos) << Describe(s.events);
}

TEST_F(StartItest, JsonBodyIs415) {
  Api a = NewUser();
  Response r = a.Post("/agent/start", R"({"prompt":"hi"})", "application/json");
  ASSERT_EQ(r.status, 415) << r.body;
  EXPECT_TRUE(r.Json().is_object() && r.Json()["detail"].is_string()) << r.body;
  Response active = a.Get("/agent-runs/active");
  EXPECT_TRUE(active.Json()["active_runs"].empty()) << active.body;
}

TEST_F(StartItest, EmptyBodyIsAcceptedWhateverItsContentType) {
  Api a = NewUser();
  // Empty body: no fields, so the refusal is about the prompt, not the body type.
  Response r = a.Post("/agent/start", "", "application/json");
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Detail(r), "prompt required when creating new thread");
}

TEST_F(StartItest, OtherNonFormBodyIs415) {
  Api a = NewUser();
  Response r = a.Post("/agent/start", "prompt=hi", "text/plain");
  EXPECT_EQ(r.status, 415) << r.body;
}

TEST_F(StartItest, ModeIsCheckedAgainstTheConfiguredModes) {
  Api a = NewUser();
  Response bad = a.Start({{"prompt", "hi"}, {"mode", "no-such-mode"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  Response chat = a.Start({{"prompt", "hi"}, {"mode", "chat"}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(chat.Json()["agent_run_id"]), "completed"));
}

TEST_F(StartItest, MalformedMultipartIs400) {
  Api a = NewUser();
  Response r =
      a.Post("/agent/start", "--xyz\r\nnot a part\r\n", "multipart/form-data; boundary=abc");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(r.Json().is_object() && r.Json().contains("detail")) << r.body;
}

TEST_F(StartItest, ThreadWithRunningRunIs409ThreadBusy) {
  Api a = NewUser();
  auto first = a.StartOk({{"prompt", "/sleep 5000"}});
  const std::string run = first["agent_run_id"];
  Response r = a.Start({{"thread_id", Str(first["thread_id"])}, {"prompt", "second"}});
  ASSERT_EQ(r.status, 409) << r.body;
  auto d = DetailObject(r);
  EXPECT_EQ(d.value("error_code", ""), "THREAD_BUSY") << r.body;
  EXPECT_EQ(d.value("running_agent_run_id", ""), run) << r.body;
  Response list = a.Get("/thread/" + first["thread_id"].get<std::string>() + "/agent-runs");
  EXPECT_EQ(list.Json()["agent_runs"].size(), 1u) << list.body;
  ASSERT_EQ(a.Stop(run).status, 200);
  EXPECT_TRUE(EndsWithTerminal(a.Finish(run), "stopped"));
}

TEST_F(StartItest, UnauthenticatedStartIs401) {
  HttpClient http(server()->base_url());
  Response r = http.PostMultipart("/agent/start", {}, {{"prompt", "hi", "", ""}});
  ASSERT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(r.Header("WWW-Authenticate").value_or("").substr(0, 6), "Bearer");
}

// Accounts created on the pro tier ([accounts] default_tier), for models free cannot use.
class ProTierStartItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    AgentdProcess::Options options;
    options.extra_config = "[accounts]\ndefault_tier = \"pro\"\n";
    StartSharedServer(options);
  }
  static void TearDownTestSuite() { StopSharedServer(); }
};

TEST_F(ProTierStartItest, ModelAliasResolvesToCatalogueName) {
  Api a = NewUser("pro");
  Response r = a.Start({{"prompt", "hi"}, {"model_name", "openai/gpt-5-nano"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["model_name"], "openai/gpt-5-nano-2025-08-07");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(r.Json()["agent_run_id"]), "completed"));
}

TEST_F(ProTierStartItest, ProDefaultModelAndNoDowngrade) {
  Api a = NewUser("pro");
  Response def = a.Start({{"prompt", "hi"}});
  ASSERT_EQ(def.status, 200) << def.body;
  EXPECT_EQ(def.Json()["model_name"], "kortix/basic") << "pro tier default model";
  EXPECT_TRUE(EndsWithTerminal(a.Finish(def.Json()["agent_run_id"]), "completed"));
  Response sonnet = a.Start({{"prompt", "hi"}, {"model_name", "anthropic/claude-3.5-sonnet"}});
  ASSERT_EQ(sonnet.status, 200) << sonnet.body;
  EXPECT_EQ(sonnet.Json()["model_name"], "anthropic/claude-3.5-sonnet");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(sonnet.Json()["agent_run_id"]), "completed"));
}

}  // namespace
}  // namespace agentd::testing
