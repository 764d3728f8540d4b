// The billing gate of POST /agent/start against the real server: every 402 row with its fields,
// exact concurrency under a burst, slots released on stop and kill -9, debits of a priced model,
// a balance crossing zero mid-run, `agentd account`, GET /limits and X-Emit-Timing.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "core/ids.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

using std::chrono::milliseconds;

// builtin/echo priced at $0.01 per prompt token and $0.02 per completion token; tier "tiny"
// with 3 threads and 1 project (and every model: no catalogue entry lists it).
constexpr char kBillingConfig[] = R"(
[models."builtin/echo"]
input_price_per_mtok = "10000"
output_price_per_mtok = "20000"

[tiers.tiny]
concurrent_runs = 1
threads = 3
projects = 1
models = "all"

[tiers.short]
run_timeout_s = 1
models = "all"
)";

nlohmann::json DetailObject(const Response& r) {
  auto j = r.Json();
  if (j.is_object() && j.contains("detail") && j["detail"].is_object()) return j["detail"];
  return nlohmann::json::object();
}

class BillingItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    AgentdProcess::Options options;
    options.extra_config = kBillingConfig;
    StartSharedServer(options);
    config_dir_ = std::make_unique<TempDir>("agentd-itest-billing");
    std::ofstream(config_path()) << kBillingConfig;
  }
  static void TearDownTestSuite() {
    StopSharedServer();
    config_dir_.reset();
  }
  static std::string config_path() { return config_dir_->path() + "/billing.toml"; }

  // `agentd account ARGS...` on the shared server's data dir (while it runs).
  static CommandResult Account(std::vector<std::string> args) {
    args.insert(args.begin(), "account");
    args.insert(args.end(), {"--data-dir", server()->data_dir(), "--config", config_path()});
    return RunAgentdCommand(args);
  }
  static void MustAccount(std::vector<std::string> args) {
    CommandResult r = Account(args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  static int64_t BalanceMicro(const Api& a) {
    Response r = a.Get("/limits");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("balance_micro", int64_t{-1});
  }

  static std::unique_ptr<TempDir> config_dir_;
};
std::unique_ptr<TempDir> BillingItest::config_dir_;

TEST_F(BillingItest, ZeroCreditsIs402InsufficientCreditsWithBalanceAndNothingIsCreated) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--credits", "0"});
  Response r = a.Start({{"prompt", "hi"}});
  ASSERT_EQ(r.status, 402) << r.body;
  auto d = DetailObject(r);
  EXPECT_EQ(d.value("error_code", ""), "INSUFFICIENT_CREDITS") << r.body;
  ASSERT_TRUE(d.contains("balance")) << r.body;
  EXPECT_EQ(d["balance"], 0.0) << r.body;
  Response limits = a.Get("/limits");
  EXPECT_EQ(limits.Json()["usage"]["threads"], 0) << limits.body;
  // Credits added on the CLI count at the next start of the running server.
  MustAccount({"set", a.user(), "--add-credits", "2.50"});
  Response ok = a.Start({{"prompt", "hi"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(ok.Json()["agent_run_id"]), "completed"));
}

TEST_F(BillingItest, NegativeBalanceShowsTheBalanceInDollars) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--credits", "1", "--add-credits=-3.25"});
  Response r = a.Start({{"prompt", "hi"}});
  ASSERT_EQ(r.status, 402) << r.body;
  EXPECT_EQ(DetailObject(r)["balance"], -2.25) << r.body;
}

TEST_F(BillingItest, ThreadAndProjectLimitsAre402WithLimitAndCurrentCount) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--tier", "tiny"});
  // Thread 1 makes project P.
  auto first = a.StartOk({{"prompt", "one"}});
  const std::string project = Str(first["project_id"]);
  ASSERT_TRUE(EndsWithTerminal(a.Finish(Str(first["agent_run_id"])), "completed"));
  // A new thread in a new project: projects (1) are full.
  Response p = a.Start({{"prompt", "two"}});
  ASSERT_EQ(p.status, 402) << p.body;
  EXPECT_EQ(DetailObject(p).value("error_code", ""), "PROJECT_LIMIT_EXCEEDED") << p.body;
  EXPECT_EQ(DetailObject(p).value("limit", -1), 1) << p.body;
  EXPECT_EQ(DetailObject(p).value("current_count", -1), 1) << p.body;
  // New threads in project P (optimistic mode) until threads (3) are full.
  for (int i = 0; i < 2; ++i) {
    auto r = a.StartOk({{"prompt", "more"},
                        {"optimistic", "true"},
                        {"thread_id", NewUuid()},
                        {"project_id", project}});
    ASSERT_TRUE(EndsWithTerminal(a.Finish(Str(r["agent_run_id"])), "completed"));
  }
  Response t = a.Start({{"prompt", "four"},
                        {"optimistic", "true"},
                        {"thread_id", NewUuid()},
                        {"project_id", project}});
  ASSERT_EQ(t.status, 402) << t.body;
  EXPECT_EQ(DetailObject(t).value("error_code", ""), "THREAD_LIMIT_EXCEEDED") << t.body;
  EXPECT_EQ(DetailObject(t).value("limit", -1), 3) << t.body;
  EXPECT_EQ(DetailObject(t).value("current_count", -1), 3) << t.body;
  // The thread limit comes before the project limit.
  Response both = a.Start({{"prompt", "five"}});
  EXPECT_EQ(DetailObject(both).value("error_code", ""), "THREAD_LIMIT_EXCEEDED") << both.body;
  // An existing thread is not a new thread.
  Response again = a.Start({{"thread_id", Str(first["thread_id"])}, {"prompt", "again"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(again.Json()["agent_run_id"]), "completed"));
  Response limits = a.Get("/limits");
  EXPECT_EQ(limits.Json()["usage"]["threads"], 3) << limits.body;
  EXPECT_EQ(limits.Json()["usage"]["projects"], 1) << limits.body;
}

TEST_F(BillingItest, TwentyParallelStartsOfAProUserAdmitExactlyThree) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--tier", "pro"});
  constexpr int kStarts = 20;
  std::vector<Response> replies = a.StartInParallel(kStarts, {{"prompt", "/sleep 60000"}});
  std::vector<std::string> admitted;
  for (const Response& r : replies) {
    if (r.status == 200) {
      admitted.push_back(Str(r.Json()["agent_run_id"]));
      continue;
    }
    EXPECT_EQ(r.status, 402) << r.body;
    auto d = DetailObject(r);
    EXPECT_EQ(d.value("error_code", ""), "AGENT_RUN_LIMIT_EXCEEDED") << r.body;
    EXPECT_EQ(d.value("limit", -1), 3) << r.body;
    EXPECT_EQ(d.value("running_count", -1), 3) << r.body;
    EXPECT_EQ(d.value("running_thread_ids", nlohmann::json()).size(), 3u) << r.body;
  }
  EXPECT_EQ(admitted.size(), 3u);
  EXPECT_EQ(a.Get("/agent-runs/active").Json()["active_runs"].size(), 3u);
  for (const std::string& run : admitted) ASSERT_EQ(a.Stop(run).status, 200);
  EXPECT_EQ(a.Get("/limits").Json()["usage"]["running_runs"], 0);
}

TEST_F(BillingItest, StopThenImmediateStartSucceedsOnTheFreeTier) {
  Api a = NewUser();
  for (int i = 0; i < 3; ++i) {
    auto r = a.StartOk({{"prompt", "/sleep 60000"}});
    const std::string run = Str(r["agent_run_id"]);
    ASSERT_FALSE(run.empty());
    Response stop = a.Stop(run);
    ASSERT_EQ(stop.status, 200) << stop.body;
    EXPECT_EQ(stop.Json()["status"], "stopped");
    // No stream read in between: the stop answer comes after the slot's release.
  }
  Response last = a.Start({{"prompt", "done"}});
  ASSERT_EQ(last.status, 200) << last.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(last.Json()["agent_run_id"]), "completed"));
}

TEST_F(BillingItest, PricedModelDebitsExactlyTheCostShownInLlmResponseEnd) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--credits", "100"});
  const int64_t before = BalanceMicro(a);
  ASSERT_EQ(before, 100'000'000);
  Response r = a.Start(
      {{"prompt", "one two three\n/tool lookup {}\nfour five"}, {"model_name", "builtin/echo"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const StreamResult s = a.Finish(r.Json()["agent_run_id"]);
  ASSERT_TRUE(EndsWithTerminal(s, "completed")) << Describe(s.events);
  const auto ends = OfType(s.events, "llm_response_end");
  ASSERT_EQ(ends.size(), 2u) << Describe(s.events);
  int64_t total = 0;
  for (const SseEvent& e : ends) {
    const int64_t prompt = e.json["usage"]["prompt_tokens"];
    const int64_t completion = e.json["usage"]["completion_tokens"];
    const int64_t expected = prompt * 10'000 + completion * 20'000;  // micro-dollars
    ASSERT_TRUE(e.json["cost"].is_number()) << e.data;
    EXPECT_EQ(std::llround(e.json["cost"].get<double>() * 1e6), expected) << e.data;
    EXPECT_GT(expected, 0);
    total += expected;
  }
  EXPECT_EQ(BalanceMicro(a), before - total);
  // Unpriced models cost nothing.
  auto free_run = a.StartOk({{"prompt", "free words"}});
  const StreamResult f = a.Finish(Str(free_run["agent_run_id"]));
  ASSERT_EQ(OfType(f.events, "llm_response_end").size(), 1u);
  EXPECT_EQ(OfType(f.events, "llm_response_end")[0].json["cost"], 0.0);
  EXPECT_EQ(BalanceMicro(a), before - total);
}

TEST_F(BillingItest, BalanceCrossingZeroMidRunStopsWithInsufficientCredits) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--credits", "0.05"});
  // Step 1 (about 8 words at $0.01 plus completion) takes the balance below zero; step 2 is
  // refused before the model is called.
  Response r = a.Start({{"prompt", "alpha beta gamma delta\n/tool lookup {}\nnever said"},
                        {"model_name", "builtin/echo"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string run = Str(r.Json()["agent_run_id"]);
  const StreamResult s = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(s, "stopped")) << Describe(s.events);
  EXPECT_EQ(s.events.back().json.value("message", ""), "insufficient_credits");
  EXPECT_EQ(OfType(s.events, "llm_response_end").size(), 1u) << Describe(s.events);
  const auto errors = OfType(s.events, "error");
  ASSERT_EQ(errors.size(), 1u) << Describe(s.events);
  EXPECT_EQ(errors[0].json.value("error_code", ""), "INSUFFICIENT_CREDITS");
  EXPECT_EQ(ChunkText(s.events).find("never"), std::string::npos) << Describe(s.events);
  Response got = a.Get("/agent-run/" + run);
  EXPECT_EQ(got.Json()["status"], "stopped") << got.body;
  EXPECT_LT(BalanceMicro(a), 0);
  Response next = a.Start({{"prompt", "more"}});
  EXPECT_EQ(next.status, 402) << next.body;
  EXPECT_EQ(DetailObject(next).value("error_code", ""), "INSUFFICIENT_CREDITS");
}

TEST_F(BillingItest, LimitsDescribeTierBalanceLimitsUsageAndModels) {
  Api a = NewUser();
  Response r = a.Get("/limits");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = r.Json();
  EXPECT_EQ(j["tier"], "free");
  EXPECT_EQ(j["role"], "user");
  EXPECT_EQ(j["balance"], 3.0);
  EXPECT_EQ(j["balance_micro"], 3'000'000);
  EXPECT_EQ(j["limits"], nlohmann::json({{"concurrent_runs", 1},
                                         {"threads", 10},
                                         {"projects", 20},
                                         {"max_file_bytes", 10 * 1024 * 1024},
                                         {"files_per_request", 20},
                                         {"run_timeout_s", 600},
                                         {"memory", true}}));
  EXPECT_EQ(j["usage"], nlohmann::json({{"running_runs", 0}, {"threads", 0}, {"projects", 0}}));
  EXPECT_EQ(j["allowed_models"],
            nlohmann::json::array({"kortix/minimax", "kortix/haiku", "builtin/echo"}));
  auto run = a.StartOk({{"prompt", "/sleep 60000"}});
  Response during = a.Get("/limits");
  EXPECT_EQ(during.Json()["usage"],
            nlohmann::json({{"running_runs", 1}, {"threads", 1}, {"projects", 1}}));
  ASSERT_EQ(a.Stop(Str(run["agent_run_id"])).status, 200);
  MustAccount({"set", a.user(), "--tier", "enterprise"});
  Response ent = a.Get("/limits");
  EXPECT_EQ(ent.Json()["tier"], "enterprise");
  EXPECT_EQ(ent.Json()["limits"]["threads"], -1);
  EXPECT_EQ(ent.Json()["limits"]["concurrent_runs"], 10);
}

TEST_F(BillingItest, AccountCommandShowsAndRefusesUnknownTierOrRole) {
  Api a = NewUser();
  CommandResult unknown = Account({"show", a.user()});
  EXPECT_NE(unknown.exit_code, 0);
  MustAccount({"set", a.user(), "--credits", "2.50", "--role", "super_admin"});
  CommandResult show = Account({"show", a.user()});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("tier: free"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("role: super_admin"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("balance: 2.50"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("running_runs: 0"), std::string::npos) << show.out;
  CommandResult bad_tier = Account({"set", a.user(), "--tier", "gold"});
  EXPECT_NE(bad_tier.exit_code, 0);
  EXPECT_NE(bad_tier.err.find("Unknown tier"), std::string::npos) << bad_tier.err;
  CommandResult bad_role = Account({"set", a.user(), "--role", "root"});
  EXPECT_NE(bad_role.exit_code, 0);
  CommandResult bad_amount = Account({"set", a.user(), "--credits", "1.2.3"});
  EXPECT_NE(bad_amount.exit_code, 0);
  EXPECT_NE(Account({"show", a.user()}).out.find("tier: free"), std::string::npos);
}

TEST_F(BillingItest, EmitTimingIsAnsweredForSuperAdminOnly) {
  Api admin = NewUser();
  MustAccount({"set", admin.user(), "--role", "super_admin"});
  Response r = admin.Start({{"prompt", "timing"}}, {{"X-Emit-Timing", "true"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json timing = At(r.Json(), {"timing"});
  ASSERT_TRUE(timing.is_object()) << r.body;
  for (const char* k :
       {"auth_ms", "validation_ms", "billing_ms", "database_ms", "sandbox_ms", "total_ms"}) {
    ASSERT_TRUE(timing.contains(k) && timing[k].is_number()) << k << " in " << r.body;
    EXPECT_GE(timing[k].get<double>(), 0.0) << k;
  }
  EXPECT_GE(timing["total_ms"].get<double>(), timing["database_ms"].get<double>());
  EXPECT_TRUE(EndsWithTerminal(admin.Finish(r.Json()["agent_run_id"]), "completed"));
  Response plain = admin.Start({{"prompt", "no timing"}});
  EXPECT_FALSE(plain.Json().contains("timing")) << plain.body;
  EXPECT_TRUE(EndsWithTerminal(admin.Finish(plain.Json()["agent_run_id"]), "completed"));

  Api user = NewUser();
  Response u = user.Start({{"prompt", "timing"}}, {{"X-Emit-Timing", "true"}});
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_FALSE(u.Json().contains("timing")) << u.body;
  EXPECT_TRUE(EndsWithTerminal(user.Finish(u.Json()["agent_run_id"]), "completed"));
}

TEST_F(BillingItest, UnknownModelIs400BeforeTheTierCheck) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--credits", "0"});
  Response r = a.Start({{"prompt", "hi"}, {"model_name", "no/such"}});
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.Json()["detail"], "Unknown model: no/such");
  Response denied = a.Start({{"prompt", "hi"}, {"model_name", "kortix/power"}});
  ASSERT_EQ(denied.status, 402) << denied.body;
  EXPECT_EQ(DetailObject(denied).value("error_code", ""), "MODEL_ACCESS_DENIED")
      << "model access is checked before credits";
}

TEST_F(BillingItest, OthersThreadIs404BeforeModelAccess) {
  Api owner = NewUser();
  auto r = owner.StartOk({{"prompt", "mine"}});
  ASSERT_TRUE(EndsWithTerminal(owner.Finish(Str(r["agent_run_id"])), "completed"));
  Api other = NewUser();
  Response s = other.Start(
      {{"thread_id", Str(r["thread_id"])}, {"prompt", "x"}, {"model_name", "kortix/power"}});
  EXPECT_EQ(s.status, 404) << s.body;
}

TEST_F(BillingItest, RunOverItsTiersTimeoutFailsWithAClearError) {
  Api a = NewUser();
  MustAccount({"set", a.user(), "--tier", "short"});
  auto r = a.StartOk({{"prompt", "/sleep 60000"}});
  const StreamResult s = a.Finish(Str(r["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(s, "failed")) << Describe(s.events);
  EXPECT_EQ(s.events.back().json.value("message", ""), "Run exceeded its time limit of 1 s");
  const auto errors = OfType(s.events, "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].json.value("error_code", ""), "RUN_TIMEOUT");
}

TEST_F(BillingItest, BusyThreadIs409BeforeModelAndBillingRefusals) {
  Api a = NewUser();
  auto r = a.StartOk({{"prompt", "/sleep 60000"}});
  MustAccount({"set", a.user(), "--credits", "0"});
  Response busy = a.Start(
      {{"thread_id", Str(r["thread_id"])}, {"prompt", "x"}, {"model_name", "kortix/power"}});
  ASSERT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(DetailObject(busy).value("error_code", ""), "THREAD_BUSY");
  EXPECT_EQ(DetailObject(busy).value("running_agent_run_id", ""), Str(r["agent_run_id"]));
  ASSERT_EQ(a.Stop(Str(r["agent_run_id"])).status, 200);
}

// A fresh server per test: kill -9 and restart on the same data dir.
TEST(BillingRestartItest, KillNineAndRestartReleasesTheSlot) {
  TempDir data{"agentd-itest-billing-restart"};
  AgentdProcess::Options options;
  options.data_dir = data.path();
  std::string error;
  auto server = AgentdProcess::Start(options, &error);
  ASSERT_NE(server, nullptr) << error;
  const std::string user = UniqueUser("slot");
  const std::string token = server->MintToken(user);
  {
    Api a(*server, user, token);
    a.StartOk({{"prompt", "/sleep 60000"}});
    Response busy = a.Start({{"prompt", "second"}});
    ASSERT_EQ(busy.status, 402) << busy.body;
    server->Kill9();
  }
  auto restarted = AgentdProcess::Start(options, &error);
  ASSERT_NE(restarted, nullptr) << error;
  Api a(*restarted, user, token);
  Response next = a.Start({{"prompt", "after the crash"}});
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(next.Json()["agent_run_id"]), "completed"));
}

}  // namespace
}  // namespace agentd::testing
