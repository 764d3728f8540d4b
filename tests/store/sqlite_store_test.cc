#include "store/sqlite/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "store/sqlite/sqlite_schema.h"

namespace agentd::store::sqlite {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr char kAlice[] = "alice";
constexpr char kBob[] = "bob";

#define EXPECT_OK(expr)                                    \
  do {                                                     \
    const ::agentd::Status expect_ok_ = (expr);            \
    EXPECT_TRUE(expect_ok_.ok()) << expect_ok_.ToString(); \
  } while (0)

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const ::agentd::Status assert_ok_ = (expr);            \
    ASSERT_TRUE(assert_ok_.ok()) << assert_ok_.ToString(); \
  } while (0)

void ExpectStatus(const Status& s, StatusCode code, const std::string& message,
                  const std::string& reason = "") {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_EQ(s.message(), message);
  EXPECT_EQ(s.reason(), reason);
}

Message UserMessage(const std::string& text) {
  Message m;
  m.message_id = NewUuid();
  m.type = "user";
  m.is_llm_message = true;
  m.content = {{"role", "user"}, {"content", text}};
  return m;
}

NewRun NewThreadRun(const std::string& account) {
  NewRun r;
  r.account_id = account;
  r.default_tier = "free";
  r.new_thread = true;
  r.run_id = NewUuid();
  r.model_name = "kortix/basic";
  r.user_message = UserMessage("hello");
  r.owner_instance = "instance-1";
  r.lease_expires_at_ms = kNow + 30'000;
  r.now_ms = kNow;
  return r;
}

NewRun OptimisticRun(const std::string& account, const std::string& thread_id,
                     const std::string& project_id) {
  NewRun r = NewThreadRun(account);
  r.optimistic = true;
  r.thread_id = thread_id;
  r.project_id = project_id;
  return r;
}

NewRun ContinueRun(const std::string& account, const std::string& thread_id) {
  NewRun r = NewThreadRun(account);
  r.new_thread = false;
  r.thread_id = thread_id;
  r.user_message = UserMessage("again");
  return r;
}

Event MakeEvent(const std::string& run_id, int64_t seq) {
  return Event{run_id, seq,
               R"({"type":"assistant","n":)" + std::to_string(seq) + R"(,"_event_id":")" +
                   std::to_string(seq) + R"("})"};
}

RunWrite Events(const std::string& run_id, int64_t from_seq, int64_t to_seq) {
  RunWrite w;
  w.run_id = run_id;
  for (int64_t seq = from_seq; seq <= to_seq; ++seq) w.events.push_back(MakeEvent(run_id, seq));
  return w;
}

RunWrite Finish(const std::string& run_id, int64_t terminal_seq, RunStatus status) {
  RunWrite w;
  w.run_id = run_id;
  w.events.push_back(
      Event{run_id, terminal_seq,
            R"({"type":"status","status":")" + std::string(RunStatusName(status)) + R"("})"});
  w.finish = RunFinish{status,
                       status == RunStatus::kFailed ? "boom" : "",
                       {{"prompt_tokens", 10}, {"completion_tokens", 5}},
                       kNow + 1000};
  return w;
}

std::vector<int64_t> Seqs(const std::vector<Event>& events) {
  std::vector<int64_t> out;
  for (const Event& e : events) out.push_back(e.seq);
  return out;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("agentd_store_test_" + NewUuid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "agentd.db").string();
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> Open() {
    Result<std::unique_ptr<Store>> store = NewSqliteStore(SqliteOptions{path_});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Parks the writer thread inside a `done` callback until the returned promise is set, so
  // that jobs submitted meanwhile queue up and are taken as one batch.
  std::promise<void> HoldWriter() {
    std::promise<void> release;
    auto released = std::make_shared<std::shared_future<void>>(release.get_future().share());
    auto held = std::make_shared<std::promise<void>>();
    std::future<void> held_future = held->get_future();
    store_->RenewLeases("nobody", 0, [released, held](Status) {
      held->set_value();
      released->wait();
    });
    held_future.wait();
    return release;
  }

  SqliteStore& Sqlite() { return dynamic_cast<SqliteStore&>(*store_); }

  Result<CreatedRun> Create(NewRun run) {
    std::promise<Result<CreatedRun>> promise;
    auto future = promise.get_future();
    store_->CreateRun(std::move(run),
                      [&](Result<CreatedRun> r) { promise.set_value(std::move(r)); });
    return future.get();
  }

  CreatedRun MustCreate(NewRun run) {
    Result<CreatedRun> created = Create(std::move(run));
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? *created : CreatedRun{};
  }

  Status Commit(RunWrite write) {
    std::promise<Status> promise;
    auto future = promise.get_future();
    store_->CommitRunWrite(std::move(write), [&](Status s) { promise.set_value(std::move(s)); });
    return future.get();
  }

  Status Renew(const std::string& owner, int64_t lease) {
    std::promise<Status> promise;
    auto future = promise.get_future();
    store_->RenewLeases(owner, lease, [&](Status s) { promise.set_value(std::move(s)); });
    return future.get();
  }

  // Inspects the file through a separate connection, as another process would.
  std::vector<std::string> QueryRow(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::vector<std::string> row;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
      }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return row;
  }

  int64_t Count(const std::string& table) {
    std::vector<std::string> row = QueryRow("SELECT count(*) FROM " + table);
    return row.empty() ? -1 : std::stoll(row[0]);
  }

  // Row counts of every table, to show that a refused write left nothing behind.
  std::vector<int64_t> AllCounts() {
    return {Count("accounts"), Count("projects"),   Count("threads"),
            Count("messages"), Count("agent_runs"), Count("run_events")};
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, CreateRunOnNewThreadWritesAccountProjectThreadMessageAndRun) {
  NewRun in = NewThreadRun(kAlice);
  in.user_message.metadata = {{"files", nlohmann::json::array({"a.txt"})}};
  in.user_message.agent_id = "agent-1";
  const std::string message_id = in.user_message.message_id;
  const CreatedRun created = MustCreate(in);

  EXPECT_EQ(created.run_id, in.run_id);
  EXPECT_TRUE(IsUuid(created.thread_id));
  EXPECT_TRUE(IsUuid(created.project_id));
  EXPECT_THAT(QueryRow("SELECT tier, role FROM accounts WHERE account_id = 'alice'"),
              ElementsAre("free", "user"));

  Result<Thread> thread = store_->GetThread(created.thread_id);
  ASSERT_TRUE(thread.ok()) << thread.status().ToString();
  EXPECT_EQ(thread->project_id, created.project_id);
  EXPECT_EQ(thread->account_id, kAlice);
  EXPECT_EQ(thread->created_at_ms, kNow);

  Result<store::Run> run = store_->GetRun(created.run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->status, RunStatus::kRunning);
  EXPECT_EQ(run->thread_id, created.thread_id);
  EXPECT_EQ(run->project_id, created.project_id);
  EXPECT_EQ(run->account_id, kAlice);
  EXPECT_EQ(run->model_name, "kortix/basic");
  EXPECT_EQ(run->created_at_ms, kNow);
  EXPECT_EQ(run->started_at_ms, kNow);
  EXPECT_FALSE(run->completed_at_ms.has_value());
  EXPECT_EQ(run->owner_instance, "instance-1");
  EXPECT_EQ(run->lease_expires_at_ms, kNow + 30'000);
  EXPECT_EQ(run->usage, nlohmann::json::object());
  EXPECT_TRUE(run->error.empty());
  EXPECT_GT(run->creation_order, 0);

  Result<std::vector<Message>> messages = store_->ListMessages(created.thread_id);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 1u);
  const Message& m = (*messages)[0];
  EXPECT_EQ(m.message_id, message_id);
  EXPECT_EQ(m.thread_id, created.thread_id);
  EXPECT_EQ(m.type, "user");
  EXPECT_TRUE(m.is_llm_message);
  EXPECT_EQ(m.content, in.user_message.content);
  EXPECT_EQ(m.metadata, in.user_message.metadata);
  EXPECT_EQ(m.agent_id, "agent-1");
  EXPECT_EQ(m.agent_version_id, "");
  EXPECT_EQ(m.created_at_ms, kNow);
  EXPECT_EQ(m.updated_at_ms, kNow);
}

TEST_F(SqliteStoreTest, CreateRunKeepsTierOfExistingAccount) {
  MustCreate(NewThreadRun(kAlice));
  NewRun second = NewThreadRun(kAlice);
  second.default_tier = "pro";
  MustCreate(second);
  EXPECT_THAT(QueryRow("SELECT tier FROM accounts WHERE account_id = 'alice'"),
              ElementsAre("free"));
  EXPECT_EQ(Count("accounts"), 1);
  EXPECT_EQ(Count("projects"), 2);
}

TEST_F(SqliteStoreTest, CreateRunOnExistingThreadTakesProjectFromThread) {
  const CreatedRun first = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Finish(first.run_id, 1, RunStatus::kCompleted)));

  NewRun again = ContinueRun(kAlice, first.thread_id);
  again.project_id = NewUuid();  // ignored: the thread's project wins
  const CreatedRun second = MustCreate(again);
  EXPECT_EQ(second.thread_id, first.thread_id);
  EXPECT_EQ(second.project_id, first.project_id);
  EXPECT_EQ(Count("projects"), 1);

  Result<std::vector<Message>> messages = store_->ListMessages(first.thread_id);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0].content["content"], "hello");  // oldest first
  EXPECT_EQ((*messages)[1].content["content"], "again");
  EXPECT_EQ((*messages)[1].thread_id, first.thread_id);
}

TEST_F(SqliteStoreTest, OptimisticCreateUsesClientIdsAndSecondOneIsThreadAlreadyExists) {
  const std::string thread_id = NewUuid();
  const std::string project_id = NewUuid();
  const CreatedRun created = MustCreate(OptimisticRun(kAlice, thread_id, project_id));
  EXPECT_EQ(created.thread_id, thread_id);
  EXPECT_EQ(created.project_id, project_id);

  const std::vector<int64_t> before = AllCounts();
  Result<CreatedRun> again = Create(OptimisticRun(kAlice, thread_id, project_id));
  ExpectStatus(again.status(), StatusCode::kAlreadyExists, "Thread already exists",
               "THREAD_ALREADY_EXISTS");
  // Another account colliding with the thread id gets the same answer.
  Result<CreatedRun> other = Create(OptimisticRun(kBob, thread_id, NewUuid()));
  ExpectStatus(other.status(), StatusCode::kAlreadyExists, "Thread already exists",
               "THREAD_ALREADY_EXISTS");
  EXPECT_EQ(AllCounts(), before);
}

TEST_F(SqliteStoreTest, OptimisticCreateReusesOwnProject) {
  const std::string project_id = NewUuid();
  MustCreate(OptimisticRun(kAlice, NewUuid(), project_id));
  const CreatedRun second = MustCreate(OptimisticRun(kAlice, NewUuid(), project_id));
  EXPECT_EQ(second.project_id, project_id);
  EXPECT_EQ(Count("projects"), 1);
  EXPECT_EQ(Count("threads"), 2);
}

TEST_F(SqliteStoreTest, OptimisticProjectOfAnotherAccountIsNotFoundAndWritesNothing) {
  const CreatedRun alices = MustCreate(NewThreadRun(kAlice));
  const std::vector<int64_t> before = AllCounts();

  const std::string thread_id = NewUuid();
  Result<CreatedRun> r = Create(OptimisticRun(kBob, thread_id, alices.project_id));
  ExpectStatus(r.status(), StatusCode::kNotFound, "Project not found");
  // Nothing at all: not even Bob's account, which this request would have created.
  EXPECT_EQ(AllCounts(), before);
  EXPECT_THAT(QueryRow("SELECT 1 FROM accounts WHERE account_id = 'bob'"), IsEmpty());
  ExpectStatus(store_->GetThread(thread_id).status(), StatusCode::kNotFound, "Thread not found");
}

TEST_F(SqliteStoreTest, ExistingThreadOfAnotherAccountOrAbsentIsThreadNotFound) {
  const CreatedRun alices = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Finish(alices.run_id, 1, RunStatus::kCompleted)));
  const std::vector<int64_t> before = AllCounts();

  ExpectStatus(Create(ContinueRun(kBob, alices.thread_id)).status(), StatusCode::kNotFound,
               "Thread not found");
  ExpectStatus(Create(ContinueRun(kAlice, NewUuid())).status(), StatusCode::kNotFound,
               "Thread not found");
  EXPECT_EQ(AllCounts(), before);
}

TEST_F(SqliteStoreTest, ThreadWithRunningRunIsThreadBusyAndWritesNothing) {
  const CreatedRun first = MustCreate(NewThreadRun(kAlice));
  const std::vector<int64_t> before = AllCounts();

  Result<CreatedRun> busy = Create(ContinueRun(kAlice, first.thread_id));
  ExpectStatus(busy.status(), StatusCode::kAborted, "Thread already has a running agent run",
               "THREAD_BUSY");
  EXPECT_EQ(busy.status().details(), nlohmann::json({{"running_agent_run_id", first.run_id}}));
  EXPECT_EQ(AllCounts(), before);

  ASSERT_OK(Commit(Finish(first.run_id, 1, RunStatus::kStopped)));
  EXPECT_TRUE(Create(ContinueRun(kAlice, first.thread_id)).ok());
}

TEST_F(SqliteStoreTest, SecondFinishIsFailedPreconditionAndItsEventIsNotStored) {
  const CreatedRun created = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Events(created.run_id, 1, 2)));
  ASSERT_OK(Commit(Finish(created.run_id, 3, RunStatus::kFailed)));

  Result<store::Run> run = store_->GetRun(created.run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_EQ(run->error, "boom");
  EXPECT_EQ(run->completed_at_ms, kNow + 1000);
  EXPECT_EQ(run->usage, nlohmann::json({{"prompt_tokens", 10}, {"completion_tokens", 5}}));

  RunWrite second = Finish(created.run_id, 4, RunStatus::kStopped);
  second.messages.push_back(UserMessage("late"));
  ExpectStatus(Commit(second), StatusCode::kFailedPrecondition, "Run is not running",
               "RUN_NOT_RUNNING");
  // Nothing may follow the terminal event, with or without a finish.
  ExpectStatus(Commit(Events(created.run_id, 4, 4)), StatusCode::kFailedPrecondition,
               "Run is not running", "RUN_NOT_RUNNING");

  Result<std::vector<Event>> events = store_->ReadEvents(created.run_id, 0, 100);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Seqs(*events), ElementsAre(1, 2, 3));
  EXPECT_EQ(store_->GetRun(created.run_id)->status, RunStatus::kFailed);
  EXPECT_EQ(store_->ListMessages(created.thread_id)->size(), 1u);
}

TEST_F(SqliteStoreTest, EventsReadBackInOrderAfterSeq) {
  const CreatedRun created = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Events(created.run_id, 1, 3)));
  ASSERT_OK(Commit(Events(created.run_id, 4, 10)));

  Result<std::vector<Event>> all = store_->ReadEvents(created.run_id, 0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Seqs(*all), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  EXPECT_EQ((*all)[4].data, MakeEvent(created.run_id, 5).data);
  EXPECT_EQ((*all)[4].run_id, created.run_id);

  EXPECT_THAT(Seqs(*store_->ReadEvents(created.run_id, 3, 4)), ElementsAre(4, 5, 6, 7));
  EXPECT_THAT(Seqs(*store_->ReadEvents(created.run_id, 10, 4)), IsEmpty());
  EXPECT_THAT(Seqs(*store_->ReadEvents(NewUuid(), 0, 4)), IsEmpty());
  ExpectStatus(store_->ReadEvents(created.run_id, 0, 0).status(), StatusCode::kInvalidArgument,
               "limit must be positive");
}

TEST_F(SqliteStoreTest, EventSeqNotAboveLastSeqIsRejectedWithTheWholeWrite) {
  const CreatedRun created = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Events(created.run_id, 1, 3)));

  RunWrite stale = Events(created.run_id, 4, 5);
  stale.events.push_back(MakeEvent(created.run_id, 5));  // duplicate within the write
  ExpectStatus(Commit(stale), StatusCode::kInvalidArgument, "Event seq must increase");
  ExpectStatus(Commit(Events(created.run_id, 3, 3)), StatusCode::kInvalidArgument,
               "Event seq must increase");
  EXPECT_THAT(Seqs(*store_->ReadEvents(created.run_id, 0, 100)), ElementsAre(1, 2, 3));
  ExpectStatus(Commit(Events(NewUuid(), 1, 1)), StatusCode::kNotFound, "Agent run not found");
}

TEST_F(SqliteStoreTest, CommitRunWriteStoresMessagesInRunThread) {
  const CreatedRun created = MustCreate(NewThreadRun(kAlice));
  RunWrite w = Events(created.run_id, 1, 1);
  Message reply;
  reply.type = "assistant";
  reply.is_llm_message = false;
  reply.content = {{"text", "hi \xff"}};  // invalid UTF-8 is replaced, never thrown
  w.messages.push_back(reply);
  ASSERT_OK(Commit(w));

  Result<std::vector<Message>> messages = store_->ListMessages(created.thread_id);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[1].type, "assistant");
  EXPECT_FALSE((*messages)[1].is_llm_message);
  EXPECT_EQ((*messages)[1].thread_id, created.thread_id);
  EXPECT_TRUE(IsUuid((*messages)[1].message_id));
  EXPECT_EQ((*messages)[1].content["text"], "hi \xEF\xBF\xBD");
}

TEST_F(SqliteStoreTest, ListThreadRunsIsNewestFirstAndPagesByCreationOrder) {
  // Every run has the same timestamp: order comes from creation_order alone.
  const CreatedRun first = MustCreate(NewThreadRun(kAlice));
  std::vector<std::string> run_ids = {first.run_id};
  ASSERT_OK(Commit(Finish(first.run_id, 1, RunStatus::kCompleted)));
  for (int i = 0; i < 4; ++i) {
    const CreatedRun next = MustCreate(ContinueRun(kAlice, first.thread_id));
    run_ids.push_back(next.run_id);
    if (i < 3) ASSERT_OK(Commit(Finish(next.run_id, 1, RunStatus::kCompleted)));
  }
  MustCreate(NewThreadRun(kAlice));  // another thread's run is not listed

  auto ids = [](const std::vector<store::Run>& runs) {
    std::vector<std::string> out;
    for (const store::Run& r : runs) out.push_back(r.run_id);
    return out;
  };
  Result<std::vector<store::Run>> page1 = store_->ListThreadRuns(first.thread_id, 2, 0);
  ASSERT_TRUE(page1.ok());
  EXPECT_THAT(ids(*page1), ElementsAre(run_ids[4], run_ids[3]));
  EXPECT_EQ((*page1)[0].status, RunStatus::kRunning);
  EXPECT_GT((*page1)[0].creation_order, (*page1)[1].creation_order);

  Result<std::vector<store::Run>> page2 =
      store_->ListThreadRuns(first.thread_id, 2, page1->back().creation_order);
  ASSERT_TRUE(page2.ok());
  EXPECT_THAT(ids(*page2), ElementsAre(run_ids[2], run_ids[1]));
  Result<std::vector<store::Run>> page3 =
      store_->ListThreadRuns(first.thread_id, 2, page2->back().creation_order);
  ASSERT_TRUE(page3.ok());
  EXPECT_THAT(ids(*page3), ElementsAre(run_ids[0]));
  EXPECT_THAT(*store_->ListThreadRuns(first.thread_id, 2, page3->back().creation_order), IsEmpty());
  EXPECT_THAT(*store_->ListThreadRuns(NewUuid(), 2, 0), IsEmpty());
}

TEST_F(SqliteStoreTest, ListRunningRunsReturnsOnlyTheAccountsRunningRuns) {
  const CreatedRun a1 = MustCreate(NewThreadRun(kAlice));
  const CreatedRun a2 = MustCreate(NewThreadRun(kAlice));
  const CreatedRun a3 = MustCreate(NewThreadRun(kAlice));
  MustCreate(NewThreadRun(kBob));
  ASSERT_OK(Commit(Finish(a2.run_id, 1, RunStatus::kCompleted)));

  Result<std::vector<store::Run>> running = store_->ListRunningRuns(kAlice);
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 2u);
  EXPECT_EQ((*running)[0].run_id, a1.run_id);
  EXPECT_EQ((*running)[1].run_id, a3.run_id);
  EXPECT_THAT(*store_->ListRunningRuns("nobody"), IsEmpty());
}

TEST_F(SqliteStoreTest, RenewLeasesExtendsOnlyTheOwnersRunningRuns) {
  const CreatedRun mine = MustCreate(NewThreadRun(kAlice));
  const CreatedRun finished = MustCreate(NewThreadRun(kAlice));
  NewRun other_owner = NewThreadRun(kAlice);
  other_owner.owner_instance = "instance-2";
  const CreatedRun theirs = MustCreate(other_owner);
  ASSERT_OK(Commit(Finish(finished.run_id, 1, RunStatus::kCompleted)));

  ASSERT_OK(Renew("instance-1", kNow + 90'000));
  EXPECT_EQ(store_->GetRun(mine.run_id)->lease_expires_at_ms, kNow + 90'000);
  EXPECT_EQ(store_->GetRun(finished.run_id)->lease_expires_at_ms, kNow + 30'000);
  EXPECT_EQ(store_->GetRun(theirs.run_id)->lease_expires_at_ms, kNow + 30'000);
}

TEST_F(SqliteStoreTest, ReapRunsFailsLostRunsWithTerminalEventAndLeavesOthersAlone) {
  NewRun dead = NewThreadRun(kAlice);
  dead.owner_instance = "dead";
  const CreatedRun dead_run = MustCreate(dead);
  ASSERT_OK(Commit(Events(dead_run.run_id, 1, 2)));
  NewRun expired = NewThreadRun(kAlice);
  expired.owner_instance = "live";
  expired.lease_expires_at_ms = kNow + 5'000;
  const CreatedRun expired_run = MustCreate(expired);
  NewRun healthy = NewThreadRun(kAlice);
  healthy.owner_instance = "live";
  healthy.lease_expires_at_ms = kNow + 60'000;
  const CreatedRun healthy_run = MustCreate(healthy);
  NewRun finished = NewThreadRun(kAlice);
  finished.owner_instance = "dead";  // same owner, but finished
  const CreatedRun done_run = MustCreate(finished);
  ASSERT_OK(Commit(Finish(done_run.run_id, 1, RunStatus::kCompleted)));

  const int64_t now = kNow + 10'000;
  Result<std::vector<ReapedRun>> reaped = store_->ReapRuns("live", now, "Worker lost");
  ASSERT_TRUE(reaped.ok()) << reaped.status().ToString();
  ASSERT_EQ(reaped->size(), 2u);
  EXPECT_EQ((*reaped)[0].run_id, dead_run.run_id);
  EXPECT_EQ((*reaped)[0].terminal_event.seq, 3);
  EXPECT_EQ((*reaped)[0].terminal_event.run_id, dead_run.run_id);
  EXPECT_EQ(nlohmann::json::parse((*reaped)[0].terminal_event.data),
            nlohmann::json({{"type", "status"},
                            {"status", "failed"},
                            {"message", "Worker lost"},
                            {"_event_id", "3"}}));
  EXPECT_EQ((*reaped)[1].run_id, expired_run.run_id);
  EXPECT_EQ((*reaped)[1].terminal_event.seq, 1);

  Result<store::Run> run = store_->GetRun(dead_run.run_id);
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_EQ(run->error, "Worker lost");
  EXPECT_EQ(run->completed_at_ms, now);
  Result<std::vector<Event>> events = store_->ReadEvents(dead_run.run_id, 2, 10);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].data, (*reaped)[0].terminal_event.data);
  EXPECT_EQ(store_->GetRun(expired_run.run_id)->status, RunStatus::kFailed);
  EXPECT_EQ(store_->GetRun(healthy_run.run_id)->status, RunStatus::kRunning);
  Result<store::Run> done = store_->GetRun(done_run.run_id);
  EXPECT_EQ(done->status, RunStatus::kCompleted);
  EXPECT_THAT(Seqs(*store_->ReadEvents(done_run.run_id, 0, 10)), ElementsAre(1));

  // A reaped run takes no more writes; an empty live instance reaps everything left.
  ExpectStatus(Commit(Events(dead_run.run_id, 4, 4)), StatusCode::kFailedPrecondition,
               "Run is not running", "RUN_NOT_RUNNING");
  Result<std::vector<ReapedRun>> rest = store_->ReapRuns("", now, "Server restarted");
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].run_id, healthy_run.run_id);
  EXPECT_THAT(*store_->ReapRuns("", now, "again"), IsEmpty());
}

TEST_F(SqliteStoreTest, ThousandConcurrentCommitsFromFourThreadsAllSucceed) {
  constexpr int kProducers = 4;
  constexpr int kWritesEach = 250;
  std::vector<std::string> runs;
  for (int i = 0; i < kProducers; ++i) runs.push_back(MustCreate(NewThreadRun(kAlice)).run_id);

  std::latch all_done(kProducers * kWritesEach);
  std::atomic<int> failures{0};
  std::atomic<bool> reader_saw_gap{false};
  std::atomic<bool> writing{true};
  std::thread reader([&] {
    // Reads run alongside the writer and always see a gap-free prefix of each run.
    while (writing.load()) {
      for (const std::string& run_id : runs) {
        Result<std::vector<Event>> events = store_->ReadEvents(run_id, 0, kWritesEach);
        if (!events.ok()) continue;
        for (size_t i = 0; i < events->size(); ++i) {
          if ((*events)[i].seq != static_cast<int64_t>(i) + 1) reader_saw_gap = true;
        }
      }
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int seq = 1; seq <= kWritesEach; ++seq) {
        store_->CommitRunWrite(Events(runs[p], seq, seq), [&](Status s) {
          if (!s.ok()) ++failures;
          all_done.count_down();
        });
      }
    });
  }
  for (std::thread& t : producers) t.join();
  all_done.wait();
  writing = false;
  reader.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_FALSE(reader_saw_gap.load());
  for (const std::string& run_id : runs) {
    Result<std::vector<Event>> events = store_->ReadEvents(run_id, 0, 1000);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), static_cast<size_t>(kWritesEach));
    EXPECT_EQ(events->back().seq, kWritesEach);
  }
  const SqliteStore::WriterStats stats = Sqlite().WriterStatsForTesting();
  EXPECT_EQ(stats.jobs, static_cast<uint64_t>(kProducers * (kWritesEach + 1)));
  EXPECT_LE(stats.transactions, stats.jobs);
}

TEST_F(SqliteStoreTest, FailingJobsInABatchDoNotRollBackTheOthers) {
  const CreatedRun a = MustCreate(NewThreadRun(kAlice));
  const CreatedRun b = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Finish(b.run_id, 1, RunStatus::kCompleted)));

  // Hold the writer so that the next jobs queue up as one batch.
  std::promise<void> release = HoldWriter();
  const SqliteStore::WriterStats before = Sqlite().WriterStatsForTesting();

  std::mutex mu;
  std::vector<std::pair<int, Status>> completed;
  std::latch all_done(5);
  auto record = [&](int index) {
    return [&, index](Status s) {
      {
        std::lock_guard lock(mu);
        completed.emplace_back(index, std::move(s));
      }
      all_done.count_down();
    };
  };
  auto record_created = [&](int index) {
    return [&, index](Result<CreatedRun> r) { record(index)(r.status()); };
  };
  store_->CommitRunWrite(Events(a.run_id, 1, 1), record(0));
  store_->CommitRunWrite(Finish(b.run_id, 2, RunStatus::kFailed), record(1));  // not running
  store_->CreateRun(ContinueRun(kAlice, a.thread_id), record_created(2));      // thread busy
  store_->CommitRunWrite(Events(a.run_id, 2, 2), record(3));
  NewRun fresh = NewThreadRun(kBob);
  const std::string fresh_run = fresh.run_id;
  store_->CreateRun(fresh, record_created(4));
  release.set_value();
  all_done.wait();

  const SqliteStore::WriterStats after = Sqlite().WriterStatsForTesting();
  EXPECT_EQ(after.transactions - before.transactions, 1u);
  EXPECT_EQ(after.jobs - before.jobs, 5u);
  ASSERT_EQ(completed.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(completed[i].first, i);  // submission order
  EXPECT_OK(completed[0].second);
  EXPECT_EQ(completed[1].second.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(completed[2].second.reason(), "THREAD_BUSY");
  EXPECT_OK(completed[3].second);
  EXPECT_OK(completed[4].second);

  EXPECT_THAT(Seqs(*store_->ReadEvents(a.run_id, 0, 10)), ElementsAre(1, 2));
  EXPECT_THAT(Seqs(*store_->ReadEvents(b.run_id, 0, 10)), ElementsAre(1));
  EXPECT_EQ(store_->GetRun(b.run_id)->status, RunStatus::kCompleted);
  EXPECT_EQ(store_->ListMessages(a.thread_id)->size(), 1u);
  EXPECT_EQ(store_->GetRun(fresh_run)->status, RunStatus::kRunning);
}

TEST_F(SqliteStoreTest, LongBacklogIsCommittedInChunksInSubmissionOrder) {
  constexpr int kWrites = 2500;
  const CreatedRun created = MustCreate(NewThreadRun(kAlice));
  std::promise<void> release = HoldWriter();
  const SqliteStore::WriterStats before = Sqlite().WriterStatsForTesting();

  std::vector<int> order;  // appended on the writer thread only
  std::latch all_done(kWrites);
  for (int seq = 1; seq <= kWrites; ++seq) {
    store_->CommitRunWrite(Events(created.run_id, seq, seq), [&, seq](Status s) {
      EXPECT_OK(s);
      order.push_back(seq);
      all_done.count_down();
    });
  }
  release.set_value();
  all_done.wait();

  const SqliteStore::WriterStats after = Sqlite().WriterStatsForTesting();
  EXPECT_EQ(after.transactions - before.transactions, 3u);  // 1000 + 1000 + 500
  EXPECT_EQ(after.jobs - before.jobs, static_cast<uint64_t>(kWrites));
  ASSERT_EQ(order.size(), static_cast<size_t>(kWrites));
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  Result<std::vector<Event>> events = store_->ReadEvents(created.run_id, 0, 10'000);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), static_cast<size_t>(kWrites));
}

TEST_F(SqliteStoreTest, JobFailingAfterPartialWritesRollsBackOnlyItself) {
  const CreatedRun first = MustCreate(NewThreadRun(kAlice));
  Result<std::vector<Message>> messages = store_->ListMessages(first.thread_id);
  ASSERT_TRUE(messages.ok());
  const std::vector<int64_t> before = AllCounts();

  // The account, project and thread rows are written before the duplicate message id fails.
  NewRun dup = NewThreadRun(kBob);
  dup.user_message.message_id = (*messages)[0].message_id;
  EXPECT_EQ(Create(dup).status().code(), StatusCode::kInternal);
  EXPECT_EQ(AllCounts(), before);
  EXPECT_EQ(store_->GetRun(first.run_id)->status, RunStatus::kRunning);
}

TEST_F(SqliteStoreTest, ReopenedStoreSeesDataAndDoesNotMigrateAgain) {
  const CreatedRun created = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Events(created.run_id, 1, 5)));
  const int64_t order = store_->GetRun(created.run_id)->creation_order;
  store_.reset();

  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->GetRun(created.run_id)->status, RunStatus::kRunning);
  EXPECT_THAT(Seqs(*store_->ReadEvents(created.run_id, 0, 10)), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(store_->ListMessages(created.thread_id)->size(), 1u);
  EXPECT_EQ(Count("schema_migrations"), LatestSchemaVersion());
  EXPECT_THAT(QueryRow("PRAGMA journal_mode"), ElementsAre("wal"));

  ASSERT_OK(Commit(Events(created.run_id, 6, 6)));
  const CreatedRun later = MustCreate(NewThreadRun(kAlice));
  EXPECT_GT(store_->GetRun(later.run_id)->creation_order, order);
}

TEST(SqliteStoreOptions, BadOptionsAreInvalidArgumentAndMissingDirIsUnavailable) {
  EXPECT_EQ(NewSqliteStore(SqliteOptions{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NewSqliteStore(SqliteOptions{":memory:"}).status().code(),
            StatusCode::kInvalidArgument);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("agentd_missing_" + NewUuid()) / "x.db").string();
  SqliteOptions bad_sync{path};
  bad_sync.synchronous = "NORMAL; DROP TABLE accounts";
  EXPECT_EQ(NewSqliteStore(bad_sync).status().code(), StatusCode::kInvalidArgument);
  SqliteOptions no_readers{path};
  no_readers.read_connections = 0;
  EXPECT_EQ(NewSqliteStore(no_readers).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NewSqliteStore(SqliteOptions{path}).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace agentd::store::sqlite

namespace agentd::store::sqlite {
namespace {

class SqliteStorePurgeTest : public SqliteStoreTest {
 protected:
  Result<int64_t> Purge(int64_t completed_before_ms) {
    std::promise<Result<int64_t>> promise;
    auto future = promise.get_future();
    store_->PurgeEvents(completed_before_ms, 100,
                        [&](Result<int64_t> r) { promise.set_value(std::move(r)); });
    return future.get();
  }
};

TEST_F(SqliteStorePurgeTest, PurgeDeletesOnlyEventsOfRunsFinishedBeforeTheCutoff) {
  const CreatedRun finished = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Events(finished.run_id, 1, 2)));
  ASSERT_OK(Commit(Finish(finished.run_id, 3, RunStatus::kCompleted)));  // completed kNow+1000
  const CreatedRun running = MustCreate(NewThreadRun(kAlice));
  ASSERT_OK(Commit(Events(running.run_id, 1, 2)));

  auto none = Purge(kNow + 1000);  // not strictly before: kept
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(store_->ReadEvents(finished.run_id, 0, 10)->size(), 3u);

  auto purged = Purge(kNow + 1001);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1);
  EXPECT_TRUE(store_->ReadEvents(finished.run_id, 0, 10)->empty());
  EXPECT_EQ(store_->ReadEvents(running.run_id, 0, 10)->size(), 2u);
  EXPECT_EQ(store_->GetRun(finished.run_id)->status, RunStatus::kCompleted);
  EXPECT_EQ(store_->ListMessages(finished.thread_id)->size(), 1u);
  // A second sweep has nothing left to do.
  EXPECT_EQ(*Purge(kNow + 1001), 0);
}

}  // namespace
}  // namespace agentd::store::sqlite
