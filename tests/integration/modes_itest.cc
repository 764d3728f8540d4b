// Modes, agents and memory as a run sees them, against the real server: which tools a run is
// offered, what its system prompt says, and memory on and off. The builtin echo model answers
// "/tools" with the offered tool names and "/system" with its system prompt.
#include <gtest/gtest.h>

#include "support/itest_api.h"

namespace agentd::testing {
namespace {

class ModesItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() { StartSharedServer(); }
  static void TearDownTestSuite() { StopSharedServer(); }

  // Starts a run with `fields`, waits for its end and returns the text of its first complete
  // assistant message.
  static std::string FirstAnswer(const Api& a, const Fields& fields,
                                 const std::string& expected_status = "completed") {
    auto start = a.StartOk(fields);
    const StreamResult s = a.Finish(Str(start["agent_run_id"]));
    EXPECT_TRUE(EndsWithTerminal(s, expected_status)) << Describe(s.events);
    for (const auto& e : OfType(s.events, "assistant")) {
      if (StrAt(e.json, {"metadata", "stream_status"}) == "complete") {
        return StrAt(e.json, {"content", "content"});
      }
    }
    ADD_FAILURE() << "no complete assistant message:\n" << Describe(s.events);
    return "";
  }

  static nlohmann::json CreateAgent(const Api& a, const nlohmann::json& body) {
    Response r = a.Post("/agents", body.dump(), "application/json");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json();
  }
};

TEST_F(ModesItest, ChatModeOffersNoSandboxTools) {
  Api a = NewUser();
  EXPECT_EQ(FirstAnswer(a, {{"prompt", "/tools"}, {"mode", "chat"}}),
            "tools: remember,complete,ask");
}

TEST_F(ModesItest, CodeIsTheDefaultModeAndOffersTheSandboxTools) {
  Api a = NewUser();
  EXPECT_EQ(FirstAnswer(a, {{"prompt", "/tools"}}),
            "tools: remember,execute_command,list_files,read_file,write_file,str_replace,"
            "delete_file,complete,ask");
}

TEST_F(ModesItest, KortixModesRunOnCodesTools) {
  Api a = NewUser();
  const std::string tools = FirstAnswer(a, {{"prompt", "/tools"}, {"mode", "slides"}});
  EXPECT_NE(tools.find("execute_command"), std::string::npos) << tools;
}

TEST_F(ModesItest, UnknownModeIs400AndStartsNothing) {
  Api a = NewUser();
  Response r = a.Start({{"prompt", "hi"}, {"mode", "juggling"}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("Unknown mode: juggling"), std::string::npos) << r.body;
  Response active = a.Get("/agent-runs/active");
  EXPECT_EQ(active.Json().value("agent_runs", nlohmann::json::array()).size(), 0u) << active.body;
}

TEST_F(ModesItest, SystemPromptCarriesTheModesPart) {
  Api a = NewUser();
  const std::string chat = FirstAnswer(a, {{"prompt", "/system"}, {"mode", "chat"}});
  EXPECT_NE(chat.find("no sandbox"), std::string::npos) << chat;
  const std::string code = FirstAnswer(a, {{"prompt", "/system"}, {"mode", "code"}});
  EXPECT_NE(code.find("/workspace"), std::string::npos) << code;
}

TEST_F(ModesItest, AgentPromptModeAndToolsApplyAndRequestModeWins) {
  Api a = NewUser();
  const nlohmann::json agent = CreateAgent(a, {{"name", "Pirate"},
                                               {"system_prompt", "Speak like a pirate."},
                                               {"mode", "chat"},
                                               {"tools", {"complete"}}});
  const std::string id = Str(agent["agent_id"]);
  ASSERT_FALSE(id.empty());
  const std::string answer = FirstAnswer(a, {{"prompt", "/system\n/tools"}, {"agent_id", id}});
  EXPECT_NE(answer.find("Speak like a pirate."), std::string::npos) << answer;
  EXPECT_NE(answer.find("no sandbox"), std::string::npos) << "the agent's mode: " << answer;
  EXPECT_NE(answer.find("tools: complete"), std::string::npos) << answer;
  // The request's mode wins over the agent's; the agent's tool list still narrows it.
  const std::string code =
      FirstAnswer(a, {{"prompt", "/system\n/tools"}, {"agent_id", id}, {"mode", "code"}});
  EXPECT_NE(code.find("/workspace"), std::string::npos) << code;
  EXPECT_NE(code.find("tools: complete"), std::string::npos) << code;
}

TEST_F(ModesItest, AnotherUsersAgentIs404) {
  Api owner = NewUser("owner");
  Api other = NewUser("other");
  const nlohmann::json agent = CreateAgent(owner, {{"name", "Mine"}});
  Response r = other.Start({{"prompt", "hi"}, {"agent_id", Str(agent["agent_id"])}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("Agent not found"), std::string::npos) << r.body;
}

TEST_F(ModesItest, RememberedFactReachesALaterRunOnlyWithMemoryOn) {
  Api a = NewUser();
  auto start = a.StartOk(
      {{"prompt", "/tool remember {\"content\":\"The user's cat is called Miso\"}\nnoted"},
       {"mode", "chat"}});
  const StreamResult s = a.Finish(Str(start["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(s, "completed")) << Describe(s.events);
  ASSERT_EQ(OfType(s.events, "tool_completed").size(), 1u) << Describe(s.events);

  const std::string on = FirstAnswer(a, {{"prompt", "/system\nWhat is my cat called?"}});
  EXPECT_NE(on.find("- The user's cat is called Miso"), std::string::npos) << on;
  const std::string off =
      FirstAnswer(a, {{"prompt", "/system\nWhat is my cat called?"}, {"memory_enabled", "false"}});
  EXPECT_EQ(off.find("Miso"), std::string::npos) << off;
  // Another user never sees it.
  Api b = NewUser();
  const std::string theirs = FirstAnswer(b, {{"prompt", "/system\nWhat is my cat called?"}});
  EXPECT_EQ(theirs.find("Miso"), std::string::npos) << theirs;
}

TEST_F(ModesItest, MemoryOffWritesNothingAndIsKeptByTheThread) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/tool remember {\"content\":\"favourite colour teal\"}\nok"},
                          {"memory_enabled", "false"},
                          {"mode", "chat"}});
  const StreamResult s = a.Finish(Str(start["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(s, "completed")) << Describe(s.events);
  ASSERT_EQ(OfType(s.events, "tool_failed").size(), 1u) << Describe(s.events);
  // The thread keeps memory off for its next run.
  const std::string next = FirstAnswer(
      a, {{"prompt", "/tools"}, {"thread_id", Str(start["thread_id"])}, {"mode", "chat"}});
  EXPECT_EQ(next, "tools: complete,ask");
  const std::string later = FirstAnswer(a, {{"prompt", "/system\nfavourite colour"}});
  EXPECT_EQ(later.find("teal"), std::string::npos) << later;
}

TEST_F(ModesItest, StopEndsASleepingCommandWithinASecond) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/tool execute_command {\"command\":\"sleep 120\"}"}});
  const std::string run_id = Str(start["agent_run_id"]);
  auto stream = a.OpenStream(run_id);
  bool started = false;
  while (!started) {
    std::optional<SseEvent> e = stream->NextNonPing(kStreamTimeout);
    ASSERT_TRUE(e.has_value()) << "no tool_started event";
    started = e->type() == "tool_started";
  }
  const auto asked = std::chrono::steady_clock::now();
  Response r = a.Stop(run_id);
  const auto took = std::chrono::steady_clock::now() - asked;
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("status", ""), "stopped") << r.body;
  EXPECT_LT(took, std::chrono::seconds(1));
}

}  // namespace
}  // namespace agentd::testing
