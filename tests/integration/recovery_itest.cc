// Crash recovery and shutdown against the real server: a fresh agentd per test, killed or
// stopped and restarted on the same data dir.
#include <gtest/gtest.h>

#include "core/ids.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

using std::chrono::milliseconds;

class RecoveryItest : public ::testing::Test {
 protected:
  std::unique_ptr<AgentdProcess> StartOn(const std::string& data_dir) {
    AgentdProcess::Options options;
    options.data_dir = data_dir;
    std::string error;
    auto p = AgentdProcess::Start(options, &error);
    EXPECT_NE(p, nullptr) << error;
    return p;
  }

  std::string Lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s;
  }

  TempDir data_dir_{"agentd-itest-recovery"};
};

TEST_F(RecoveryItest, RunOfAKilledServerIsFailedAfterRestartAndThreadIsFree) {
  auto server = StartOn(data_dir_.path());
  ASSERT_NE(server, nullptr);
  const std::string user = UniqueUser("crash");
  const std::string token = server->MintToken(user);
  std::string run;
  std::string thread;
  {
    Api a(*server, user, token);
    auto start = a.StartOk({{"prompt", "/sleep 60000"}});
    run = Str(start["agent_run_id"]);
    thread = Str(start["thread_id"]);
    ASSERT_FALSE(run.empty());
    auto stream = a.OpenStream(run);
    auto ack = stream->NextNonPing(milliseconds(5000));
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(ack->type(), "ack");
    server->Kill9();
    // The open stream ends when its server dies.
    EXPECT_TRUE(stream->WaitEnded(milliseconds(5000)));
  }
  auto restarted = StartOn(data_dir_.path());
  ASSERT_NE(restarted, nullptr);
  Api a(*restarted, user, token);  // same secret: the old token still works
  Response got = a.Get("/agent-run/" + run);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json()["status"], "failed") << got.body;
  const std::string error = got.Json().value("error", "");
  EXPECT_NE(Lower(error).find("worker"), std::string::npos) << error;
  EXPECT_NE(Lower(error).find("lost"), std::string::npos) << error;
  EXPECT_FALSE(got.Json()["completedAt"].is_null()) << got.body;
  Response status = a.Get("/agent-runs/" + run + "/status");
  EXPECT_EQ(status.Json()["status"], "failed") << status.body;

  const StreamResult replay = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(replay, "failed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(replay.events, 1));
  EXPECT_EQ(replay.events.front().type(), "ack");
  EXPECT_EQ(replay.events.back().json.value("message", ""), error)
      << "a failed run's terminal message is its error";
  Response active = a.Get("/agent-runs/active");
  EXPECT_TRUE(active.Json()["active_runs"].empty()) << active.body;

  // The thread is not busy and the user's concurrency slot is free.
  Response next = a.Start({{"thread_id", thread}, {"prompt", "after the crash"}});
  ASSERT_EQ(next.status, 200) << next.body;
  const StreamResult s = a.Finish(Str(next.Json()["agent_run_id"]));
  EXPECT_TRUE(EndsWithTerminal(s, "completed"));
  Response fresh = a.Start({{"prompt", "a new thread too"}});
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(fresh.Json()["agent_run_id"])), "completed"));
}

TEST_F(RecoveryItest, FinishedRunsReplayIdenticallyAfterRestart) {
  auto server = StartOn(data_dir_.path());
  ASSERT_NE(server, nullptr);
  const std::string user = UniqueUser("durable");
  const std::string token = server->MintToken(user);
  std::string run;
  StreamResult before;
  {
    Api a(*server, user, token);
    run = Str(a.StartOk({{"prompt", "remember every word"}})["agent_run_id"]);
    before = a.Finish(run);
    ASSERT_TRUE(EndsWithTerminal(before, "completed"));
  }
  server->Kill9();
  auto restarted = StartOn(data_dir_.path());
  ASSERT_NE(restarted, nullptr);
  Api a(*restarted, user, token);
  const StreamResult after = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(after, "completed"));
  ASSERT_EQ(after.events.size(), before.events.size()) << Describe(after.events);
  for (size_t i = 0; i < after.events.size(); ++i) {
    EXPECT_EQ(after.events[i].id, before.events[i].id);
    EXPECT_EQ(after.events[i].json, before.events[i].json);
  }
  Response got = a.Get("/agent-run/" + run);
  EXPECT_EQ(got.Json()["status"], "completed") << got.body;
}

TEST_F(RecoveryItest, GracefulShutdownLeavesNoRunRunning) {
  auto server = StartOn(data_dir_.path());
  ASSERT_NE(server, nullptr);
  const std::string user = UniqueUser("sigterm");
  const std::string token = server->MintToken(user);
  std::string run;
  {
    Api a(*server, user, token);
    run = Str(a.StartOk({{"prompt", "/sleep 60000"}})["agent_run_id"]);
    auto stream = a.OpenStream(run);
    ASSERT_TRUE(stream->NextNonPing(milliseconds(5000)).has_value());
    const auto exit_code = server->Terminate(std::chrono::seconds(10));
    EXPECT_EQ(exit_code, std::optional<int>(0)) << server->Stderr();
    const StreamResult rest = ReadToEnd(*stream, milliseconds(2000));
    EXPECT_TRUE(rest.ended);
    // A run ended by shutdown gets its terminal event before the server closes the stream.
    ASSERT_FALSE(rest.events.empty()) << "no terminal event on shutdown";
    EXPECT_TRUE(IsTerminal(rest.events.back())) << Describe(rest.events);
  }
  auto restarted = StartOn(data_dir_.path());
  ASSERT_NE(restarted, nullptr);
  Api a(*restarted, user, token);
  Response got = a.Get("/agent-run/" + run);
  ASSERT_EQ(got.status, 200) << got.body;
  const std::string status = got.Json().value("status", "");
  EXPECT_TRUE(status == "failed" || status == "stopped") << got.body;
  const StreamResult replay = a.Finish(run);
  EXPECT_TRUE(EndsWithTerminal(replay, status));
  EXPECT_TRUE(SeqsConsecutiveFrom(replay.events, 1));
}

TEST_F(RecoveryItest, SecondServerOnTheSameDataDirRefusesToStart) {
  auto server = StartOn(data_dir_.path());
  ASSERT_NE(server, nullptr);
  AgentdProcess::Options options;
  options.data_dir = data_dir_.path();
  options.start_deadline = std::chrono::seconds(10);
  std::string error;
  auto second = AgentdProcess::Start(options, &error);
  EXPECT_EQ(second, nullptr) << "the data dir lock must keep a second server out";
  // The first one is unharmed.
  HttpClient http(server->base_url());
  EXPECT_EQ(http.Request("GET", "/health", {}).status, 200);
}

}  // namespace
}  // namespace agentd::testing
