// POST /agent-run/{id}/stop (and the /agent-runs alias) against the real server.
#include <gtest/gtest.h>

#include "core/ids.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

using std::chrono::milliseconds;

class StopItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() { StartSharedServer(); }
  static void TearDownTestSuite() { StopSharedServer(); }
};

TEST_F(StopItest, StopOfARunningRunEndsItsStreamPromptly) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/sleep 60000"}});
  const std::string run = start["agent_run_id"];
  auto stream = a.OpenStream(run);
  auto ack = stream->NextNonPing(milliseconds(5000));
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->type(), "ack");
  const auto t0 = std::chrono::steady_clock::now();
  Response stop = a.Stop(run);  // Content-Type application/json, empty body
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(stop.Json(), nlohmann::json({{"status", "stopped"}}));
  const StreamResult rest = ReadToEnd(*stream, milliseconds(5000));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(EndsWithTerminal(rest, "stopped"));
  EXPECT_LT(elapsed, milliseconds(1500)) << "stop must end the run promptly";
  std::vector<SseEvent> all = {*ack};
  all.insert(all.end(), rest.events.begin(), rest.events.end());
  EXPECT_TRUE(SeqsConsecutiveFrom(all, 1));

  Response again = a.Stop(run);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.Json(), nlohmann::json({{"status", "stopped"}}));
  Response got = a.Get("/agent-run/" + run);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json()["status"], "stopped");
  EXPECT_FALSE(got.Json()["completedAt"].is_null()) << got.body;
  Response status = a.Get("/agent-runs/" + run + "/status");
  EXPECT_EQ(status.Json()["status"], "stopped") << status.body;
}

TEST_F(StopItest, StoppedRunFreesTheThreadForTheNextStart) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/sleep 60000"}});
  const std::string run = start["agent_run_id"];
  ASSERT_EQ(a.Stop(run).status, 200);
  ASSERT_TRUE(EndsWithTerminal(a.Finish(run), "stopped"));
  // Reading the terminal event means the slot is free: the next start succeeds at once.
  Response next = a.Start({{"thread_id", Str(start["thread_id"])}, {"prompt", "next"}});
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(next.Json()["agent_run_id"]), "completed"));
}

TEST_F(StopItest, StopOfACompletedRunReportsCompletedAndChangesNothing) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "finish first"}});
  const std::string run = start["agent_run_id"];
  const StreamResult before = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(before, "completed"));
  Response stop = a.Stop(run);
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(stop.Json(), nlohmann::json({{"status", "completed"}}));
  Response got = a.Get("/agent-run/" + run);
  EXPECT_EQ(got.Json()["status"], "completed") << got.body;
  const StreamResult after = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(after, "completed"));
  EXPECT_EQ(after.events.size(), before.events.size()) << "stop added events to a finished run";
}

TEST_F(StopItest, StopOfAFailedRunReportsFailed) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/fail nope"}});
  const std::string run = start["agent_run_id"];
  ASSERT_TRUE(EndsWithTerminal(a.Finish(run), "failed"));
  Response stop = a.Stop(run);
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(stop.Json()["status"], "failed") << stop.body;
}

TEST_F(StopItest, AliasPathAndBodiesAreAccepted) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/sleep 60000"}});
  const std::string run = start["agent_run_id"];
  // Alias, no Content-Type, no body.
  Response stop = a.Post("/agent-runs/" + run + "/stop");
  ASSERT_EQ(stop.status, 200) << stop.body;
  EXPECT_EQ(stop.Json(), nlohmann::json({{"status", "stopped"}}));
  EXPECT_TRUE(EndsWithTerminal(a.Finish(run), "stopped"));
  // A JSON body is ignored.
  Response with_body =
      a.Post("/agent-run/" + run + "/stop", R"({"reason":"x"})", "application/json");
  EXPECT_EQ(with_body.status, 200) << with_body.body;
  EXPECT_EQ(with_body.Json()["status"], "stopped") << with_body.body;
}

TEST_F(StopItest, StopOfAnUnknownRunIs404) {
  Api a = NewUser();
  Response missing = a.Stop(NewUuid());
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(missing.Json().value("detail", ""), "Agent run not found") << missing.body;
}

// A server with a short run timeout ([runs] run_timeout_ms).
class RunTimeoutItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    AgentdProcess::Options options;
    options.runs_extra = "run_timeout_ms = 300";
    StartSharedServer(options);
  }
  static void TearDownTestSuite() { StopSharedServer(); }
};

TEST_F(RunTimeoutItest, RunPastItsTimeoutEndsWithATerminalStatus) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/sleep 60000"}});
  const std::string run = start["agent_run_id"];
  auto stream = a.OpenStream(run);
  const StreamResult s = ReadToEnd(*stream, milliseconds(5000));
  ASSERT_TRUE(s.ended) << "run_timeout_ms = 300 did not end a 60 s run within 5 s\n"
                       << Describe(s.events);
  ASSERT_FALSE(s.events.empty());
  ASSERT_TRUE(IsTerminal(s.events.back())) << Describe(s.events);
  const std::string status = s.events.back().json.value("status", "");
  EXPECT_TRUE(status == "failed" || status == "stopped") << Describe(s.events);
  EXPECT_TRUE(SeqsConsecutiveFrom(s.events, 1));
  Response got = a.Get("/agent-run/" + run);
  EXPECT_EQ(got.Json()["status"], status) << got.body;
  // The slot was released with the terminal status.
  Response next = a.Start({{"prompt", "quick one"}});
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(next.Json()["agent_run_id"]), "completed"));
}

}  // namespace
}  // namespace agentd::testing
