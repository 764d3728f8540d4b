// The billing gate and the credit ledger of the SQLite store: refusals in API.md order that
// write nothing, slots released on every terminal path, balance == SUM(ledger), exact admission
// under a burst of parallel starts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <future>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::store::sqlite {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

NewRun StartFor(const std::string& account, RunLimits limits = {}) {
  NewRun r;
  r.account_id = account;
  r.default_tier = "free";
  r.starting_credits_micro = 3'000'000;
  r.limits = limits;
  r.new_thread = true;
  r.run_id = NewUuid();
  r.model_name = "kortix/minimax";
  r.user_message.message_id = NewUuid();
  r.user_message.type = "user";
  r.user_message.content = {{"role", "user"}, {"content", "hi"}};
  r.owner_instance = "instance-1";
  r.lease_expires_at_ms = kNow + 30'000;
  r.now_ms = kNow;
  return r;
}

NewRun ContinueFor(const std::string& account, const std::string& thread_id,
                   RunLimits limits = {}) {
  NewRun r = StartFor(account, limits);
  r.new_thread = false;
  r.thread_id = thread_id;
  return r;
}

class SqliteBillingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("agentd_billing_test_" + NewUuid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "agentd.db").string();
    auto store = NewSqliteStore(SqliteOptions{path_});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result<CreatedRun> Create(NewRun run) {
    std::promise<Result<CreatedRun>> promise;
    store_->CreateRun(std::move(run),
                      [&](Result<CreatedRun> r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  }
  CreatedRun MustCreate(NewRun run) {
    auto r = Create(std::move(run));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CreatedRun{};
  }
  Status Commit(RunWrite w) {
    std::promise<Status> promise;
    store_->CommitRunWrite(std::move(w), [&](Status s) { promise.set_value(std::move(s)); });
    return promise.get_future().get();
  }
  Result<Account> Update(AccountUpdate u) {
    std::promise<Result<Account>> promise;
    store_->UpdateAccount(std::move(u),
                          [&](Result<Account> r) { promise.set_value(std::move(r)); });
    return promise.get_future().get();
  }
  Status FinishRun(const std::string& run_id, RunStatus status) {
    RunWrite w;
    w.run_id = run_id;
    w.events.push_back({run_id, 1, R"({"type":"status","status":"x"})"});
    w.finish = RunFinish{status, status == RunStatus::kFailed ? "boom" : "", {}, kNow + 1};
    return Commit(std::move(w));
  }
  int64_t Count(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    int64_t n = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
  }
  std::vector<int64_t> AllCounts() {
    std::vector<int64_t> out;
    for (const char* t : {"accounts", "projects", "threads", "messages", "agent_runs", "run_events",
                          "credit_ledger"}) {
      out.push_back(Count(std::string("SELECT count(*) FROM ") + t));
    }
    return out;
  }
  int64_t Balance(const std::string& account) {
    auto a = store_->GetAccount(account);
    EXPECT_TRUE(a.ok() && a->has_value());
    return a.ok() && a->has_value() ? (*a)->balance_micro : -1;
  }
  void ExpectLedgerMatches(const std::string& account) {
    auto sum = store_->LedgerSum(account);
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(*sum, Balance(account)) << account;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteBillingTest, FirstStartCreatesAccountWithGrantOfStartingCredits) {
  NewRun r = StartFor("alice");
  r.starting_credits_micro = 1'250'000;
  r.default_tier = "pro";
  MustCreate(r);
  auto account = store_->GetAccount("alice");
  ASSERT_TRUE(account.ok() && account->has_value());
  EXPECT_EQ((*account)->tier, "pro");
  EXPECT_EQ((*account)->role, "user");
  EXPECT_EQ((*account)->balance_micro, 1'250'000);
  EXPECT_EQ(Count("SELECT count(*) FROM credit_ledger WHERE kind = 'grant'"), 1);
  ExpectLedgerMatches("alice");
  EXPECT_FALSE(store_->GetAccount("nobody")->has_value());
}

TEST_F(SqliteBillingTest, ZeroBalanceIsInsufficientCreditsAndWritesNothing) {
  ASSERT_TRUE(Update({.account_id = "alice", .set_credits_micro = 0}).ok());
  const auto before = AllCounts();
  auto r = Create(StartFor("alice"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "INSUFFICIENT_CREDITS");
  EXPECT_EQ(r.status().details()["balance"], 0.0);
  EXPECT_EQ(AllCounts(), before);
}

TEST_F(SqliteBillingTest, RefusedFirstStartLeavesNoAccountBehind) {
  NewRun r = StartFor("carol", {.max_concurrent_runs = 0});
  auto refused = Create(r);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().reason(), "AGENT_RUN_LIMIT_EXCEEDED");
  EXPECT_EQ(AllCounts(), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0}));
}

TEST_F(SqliteBillingTest, GateOrderIsCreditsThenThreadsThenProjectsThenConcurrency) {
  const RunLimits one{1, 1, 1};
  const CreatedRun first = MustCreate(StartFor("alice", one));
  // Everything exceeded at once, with no credits: credits come first.
  ASSERT_TRUE(Update({.account_id = "alice", .set_credits_micro = 0}).ok());
  auto r = Create(StartFor("alice", one));
  EXPECT_EQ(r.status().reason(), "INSUFFICIENT_CREDITS");
  ASSERT_TRUE(Update({.account_id = "alice", .set_credits_micro = 1}).ok());
  const auto before = AllCounts();
  r = Create(StartFor("alice", one));
  EXPECT_EQ(r.status().reason(), "THREAD_LIMIT_EXCEEDED");
  EXPECT_EQ(r.status().details(), nlohmann::json({{"limit", 1}, {"current_count", 1}}));
  r = Create(StartFor("alice", {1, 2, 1}));
  EXPECT_EQ(r.status().reason(), "PROJECT_LIMIT_EXCEEDED");
  EXPECT_EQ(r.status().details(), nlohmann::json({{"limit", 1}, {"current_count", 1}}));
  r = Create(StartFor("alice", {1, 2, 2}));
  EXPECT_EQ(r.status().reason(), "AGENT_RUN_LIMIT_EXCEEDED");
  EXPECT_EQ(r.status().details(),
            nlohmann::json({{"limit", 1},
                            {"running_count", 1},
                            {"running_thread_ids", nlohmann::json::array({first.thread_id})}}));
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(AllCounts(), before) << "refusals write nothing";
  // An existing thread skips the thread and project limits, not concurrency.
  ASSERT_TRUE(FinishRun(first.run_id, RunStatus::kCompleted).ok());
  EXPECT_TRUE(Create(ContinueFor("alice", first.thread_id, one)).ok());
}

TEST_F(SqliteBillingTest, ThreadBusyComesBeforeBilling) {
  const CreatedRun first = MustCreate(StartFor("alice"));
  ASSERT_TRUE(Update({.account_id = "alice", .set_credits_micro = 0}).ok());
  auto r = Create(ContinueFor("alice", first.thread_id));
  EXPECT_EQ(r.status().reason(), "THREAD_BUSY");
}

TEST_F(SqliteBillingTest, SlotIsReleasedOnEveryTerminalPath) {
  const RunLimits one{1, -1, -1};
  for (RunStatus status : {RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kStopped}) {
    const CreatedRun run = MustCreate(StartFor("alice", one));
    EXPECT_EQ(Create(StartFor("alice", one)).status().reason(), "AGENT_RUN_LIMIT_EXCEEDED");
    ASSERT_TRUE(FinishRun(run.run_id, status).ok());
    EXPECT_EQ(store_->GetAccountUsage("alice")->running_runs, 0) << RunStatusName(status);
  }
  // Reaped (lost worker, kill -9 and restart).
  const CreatedRun lost = MustCreate(StartFor("alice", one));
  auto reaped = store_->ReapRuns("", kNow, "Worker lost");
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(reaped->size(), 1u);
  EXPECT_EQ(store_->GetAccountUsage("alice")->running_runs, 0);
  EXPECT_TRUE(Create(StartFor("alice", one)).ok());
}

TEST_F(SqliteBillingTest, DebitIsAppliedWithTheEventsAndBalanceEqualsLedgerSum) {
  const CreatedRun run = MustCreate(StartFor("alice"));
  int64_t spent = 0;
  for (int i = 1; i <= 200; ++i) {
    RunWrite w;
    w.run_id = run.run_id;
    w.events.push_back({run.run_id, i, R"({"type":"llm_response_end"})"});
    w.debit = Debit{"alice", 7 + i % 13, "model response"};
    spent += 7 + i % 13;
    ASSERT_TRUE(Commit(std::move(w)).ok());
    if (i % 50 == 0) {
      ASSERT_TRUE(Update({.account_id = "alice", .add_credits_micro = 1'000}).ok());
      spent -= 1'000;
    }
  }
  ASSERT_TRUE(Update({.account_id = "alice", .add_credits_micro = -500}).ok());
  spent += 500;
  EXPECT_EQ(Balance("alice"), 3'000'000 - spent);
  ExpectLedgerMatches("alice");
  EXPECT_EQ(Count("SELECT count(*) FROM credit_ledger WHERE kind = 'debit' AND run_id IS NOT NULL"),
            200);
  ASSERT_TRUE(Update({.account_id = "alice", .set_credits_micro = 2'500'000}).ok());
  EXPECT_EQ(Balance("alice"), 2'500'000);
  ExpectLedgerMatches("alice");
}

TEST_F(SqliteBillingTest, DebitOfARefusedWriteIsNotApplied) {
  const CreatedRun run = MustCreate(StartFor("alice"));
  ASSERT_TRUE(FinishRun(run.run_id, RunStatus::kCompleted).ok());
  RunWrite late;
  late.run_id = run.run_id;
  late.events.push_back({run.run_id, 2, R"({"type":"llm_response_end"})"});
  late.debit = Debit{"alice", 100, "late"};
  EXPECT_EQ(Commit(std::move(late)).reason(), "RUN_NOT_RUNNING");
  EXPECT_EQ(Balance("alice"), 3'000'000);
  ExpectLedgerMatches("alice");
}

TEST_F(SqliteBillingTest, UpdateAccountCreatesAndChangesTierAndRole) {
  auto a = Update({.account_id = "dave",
                   .tier = "pro",
                   .role = "super_admin",
                   .set_credits_micro = 2'500'000,
                   .default_tier = "free",
                   .starting_credits_micro = 3'000'000});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->tier, "pro");
  EXPECT_EQ(a->role, "super_admin");
  EXPECT_EQ(a->balance_micro, 2'500'000);
  EXPECT_EQ(Count("SELECT count(*) FROM credit_ledger WHERE account_id = 'dave'"), 2)
      << "the grant of a new account and the 'set' row";
  ExpectLedgerMatches("dave");
  EXPECT_EQ(Update({.account_id = ""}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteBillingTest, TwentyParallelStartsOfAProAccountAdmitExactlyThree) {
  constexpr int kStarts = 20;
  const RunLimits pro{3, 1000, 2000};
  std::vector<std::promise<Result<CreatedRun>>> results(kStarts);
  std::latch go(kStarts);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarts; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      store_->CreateRun(StartFor("erin", pro), [&results, i](Result<CreatedRun> r) {
        results[i].set_value(std::move(r));
      });
    });
  }
  for (auto& t : threads) t.join();
  int admitted = 0;
  for (auto& p : results) {
    Result<CreatedRun> r = p.get_future().get();
    if (r.ok()) {
      ++admitted;
    } else {
      EXPECT_EQ(r.status().reason(), "AGENT_RUN_LIMIT_EXCEEDED");
      EXPECT_EQ(r.status().details()["running_count"], 3);
    }
  }
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(store_->GetAccountUsage("erin")->running_runs, 3);
  EXPECT_EQ(store_->GetAccountUsage("erin")->threads, 3);
  EXPECT_EQ(Count("SELECT count(*) FROM accounts WHERE account_id = 'erin'"), 1);
  ExpectLedgerMatches("erin");
}

TEST_F(SqliteBillingTest, UsageCountsThreadsProjectsAndRunningRuns) {
  const CreatedRun a = MustCreate(StartFor("alice"));
  MustCreate(StartFor("alice"));
  ASSERT_TRUE(FinishRun(a.run_id, RunStatus::kCompleted).ok());
  auto usage = store_->GetAccountUsage("alice");
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->running_runs, 1);
  EXPECT_EQ(usage->threads, 2);
  EXPECT_EQ(usage->projects, 2);
  auto none = store_->GetAccountUsage("nobody");
  EXPECT_EQ(none->threads, 0);
}

}  // namespace
}  // namespace agentd::store::sqlite
