// Agents, long-term memory and the thread memory switch in the SQLite store.
#include "store/sqlite/sqlite_agents.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::store::sqlite {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;
constexpr char kAlice[] = "alice";
constexpr char kBob[] = "bob";

void ExpectStatus(const Status& s, StatusCode code, const std::string& message,
                  const std::string& reason = "") {
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_EQ(s.message(), message);
  EXPECT_EQ(s.reason(), reason);
}

std::vector<std::string> Names(const std::vector<Agent>& agents) {
  std::vector<std::string> out;
  for (const Agent& a : agents) out.push_back(a.name);
  return out;
}

std::vector<std::string> Contents(const std::vector<Memory>& memories) {
  std::vector<std::string> out;
  for (const Memory& m : memories) out.push_back(m.content);
  return out;
}

Agent NamedAgent(const std::string& account, const std::string& name) {
  Agent a;
  a.account_id = account;
  a.name = name;
  return a;
}

class SqliteAgentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("agentd_agents_test_" + NewUuid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "agentd.db").string();
    Reopen();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen() {
    store_.reset();
    Result<std::unique_ptr<Store>> store = NewSqliteStore(SqliteOptions{path_});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // Calls `start(callback)` and waits for the callback's value.
  template <typename T, typename Start>
  T Wait(Start start) {
    std::promise<T> promise;
    auto future = promise.get_future();
    start([&](T value) { promise.set_value(std::move(value)); });
    return future.get();
  }

  Result<Agent> Ensure(const std::string& account) {
    return Wait<Result<Agent>>([&](auto cb) {
      store_->EnsureDefaultAgent(account, "pro", 5'000'000, StandardDefaultAgent(), cb);
    });
  }
  Result<Agent> Create(Agent agent) {
    return Wait<Result<Agent>>([&](auto cb) { store_->CreateAgent(std::move(agent), cb); });
  }
  Agent MustCreate(Agent agent) {
    Result<Agent> created = Create(std::move(agent));
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? *created : Agent{};
  }
  Result<Agent> Update(const std::string& account, const std::string& id, AgentPatch patch,
                       int64_t now_ms = 0) {
    return Wait<Result<Agent>>(
        [&](auto cb) { store_->UpdateAgent(account, id, std::move(patch), now_ms, cb); });
  }
  Status Delete(const std::string& account, const std::string& id) {
    return Wait<Status>([&](auto cb) { store_->DeleteAgent(account, id, cb); });
  }
  Result<Memory> Remember(const std::string& account, const std::string& content) {
    Memory m;
    m.account_id = account;
    m.content = content;
    m.source_thread_id = "thread-1";
    return Wait<Result<Memory>>([&](auto cb) { store_->AddMemory(std::move(m), cb); });
  }
  Result<CreatedRun> CreateRun(NewRun run) {
    return Wait<Result<CreatedRun>>([&](auto cb) { store_->CreateRun(std::move(run), cb); });
  }

  NewRun NewThreadRun(const std::string& account) {
    NewRun r;
    r.account_id = account;
    r.default_tier = "free";
    r.run_id = NewUuid();
    r.model_name = "kortix/basic";
    r.user_message.type = "user";
    r.user_message.content = {{"role", "user"}, {"content", "hi"}};
    r.owner_instance = "instance-1";
    r.lease_expires_at_ms = kNow + 30'000;
    r.now_ms = kNow;
    return r;
  }

  // Runs `sql` through a separate connection, as another process would.
  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  int DefaultCount(const std::string& account) {
    Result<std::vector<Agent>> agents = store_->ListAgents(account);
    EXPECT_TRUE(agents.ok()) << agents.status().ToString();
    if (!agents.ok()) return -1;
    return static_cast<int>(
        std::count_if(agents->begin(), agents->end(), [](const Agent& a) { return a.is_default; }));
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

// ---- Agents ----

TEST_F(SqliteAgentsTest, CreateGetListUpdateDeleteRoundTrip) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  Agent in = NamedAgent(kAlice, "Researcher");
  in.description = "digs";
  in.system_prompt = "You research.";
  in.model = "kortix/basic";
  in.mode = "research";
  in.tools = std::vector<std::string>{"ask", "complete"};
  Agent created = MustCreate(in);
  EXPECT_TRUE(IsUuid(created.agent_id)) << created.agent_id;
  EXPECT_GT(created.created_at_ms, 0);
  EXPECT_EQ(created.updated_at_ms, created.created_at_ms);
  EXPECT_FALSE(created.is_default);

  Result<Agent> got = store_->GetAgent(created.agent_id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->account_id, kAlice);
  EXPECT_EQ(got->name, "Researcher");
  EXPECT_EQ(got->description, "digs");
  EXPECT_EQ(got->system_prompt, "You research.");
  EXPECT_EQ(got->model, "kortix/basic");
  EXPECT_EQ(got->mode, "research");
  EXPECT_EQ(got->tools, (std::vector<std::string>{"ask", "complete"}));

  Result<std::vector<Agent>> listed = store_->ListAgents(kAlice);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(Names(*listed), (std::vector<std::string>{kDefaultAgentName, "Researcher"}));

  AgentPatch patch;
  patch.name = "Writer";
  patch.model = "";
  patch.tools = std::optional<std::vector<std::string>>();
  Result<Agent> updated = Update(kAlice, created.agent_id, patch, created.created_at_ms + 5);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->name, "Writer");
  EXPECT_EQ(updated->description, "digs");  // untouched
  EXPECT_EQ(updated->updated_at_ms, created.created_at_ms + 5);
  got = store_->GetAgent(created.agent_id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "Writer");
  EXPECT_EQ(got->model, "");
  EXPECT_EQ(got->mode, "research");
  EXPECT_FALSE(got->tools.has_value());

  EXPECT_TRUE(Delete(kAlice, created.agent_id).ok());
  ExpectStatus(store_->GetAgent(created.agent_id).status(), StatusCode::kNotFound,
               "Agent not found");
  ExpectStatus(Delete(kAlice, created.agent_id), StatusCode::kNotFound, "Agent not found");
}

TEST_F(SqliteAgentsTest, EmptyToolListIsKeptApartFromAllTools) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  Agent in = NamedAgent(kAlice, "No tools");
  in.tools = std::vector<std::string>{};
  Agent created = MustCreate(in);
  Result<Agent> got = store_->GetAgent(created.agent_id);
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->tools.has_value());
  EXPECT_TRUE(got->tools->empty());
}

TEST_F(SqliteAgentsTest, CreateForUnknownAccountOrWithoutNameIsRefused) {
  ExpectStatus(Create(NamedAgent("nobody", "x")).status(), StatusCode::kNotFound,
               "Account not found");
  ASSERT_TRUE(Ensure(kAlice).ok());
  EXPECT_EQ(Create(NamedAgent(kAlice, "")).status().code(), StatusCode::kInvalidArgument);
  Agent taken = MustCreate(NamedAgent(kAlice, "one"));
  Agent again = NamedAgent(kAlice, "two");
  again.agent_id = taken.agent_id;
  ExpectStatus(Create(again).status(), StatusCode::kAlreadyExists, "Agent already exists");
}

TEST_F(SqliteAgentsTest, AnotherAccountsAgentIsNotFoundForUpdateAndDelete) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  ASSERT_TRUE(Ensure(kBob).ok());
  Agent alices = MustCreate(NamedAgent(kAlice, "mine"));
  AgentPatch patch;
  patch.name = "stolen";
  ExpectStatus(Update(kBob, alices.agent_id, patch).status(), StatusCode::kNotFound,
               "Agent not found");
  ExpectStatus(Delete(kBob, alices.agent_id), StatusCode::kNotFound, "Agent not found");
  ExpectStatus(Update(kBob, NewUuid(), patch).status(), StatusCode::kNotFound, "Agent not found");
  Result<Agent> got = store_->GetAgent(alices.agent_id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "mine");
  Result<std::vector<Agent>> bobs = store_->ListAgents(kBob);
  ASSERT_TRUE(bobs.ok());
  EXPECT_EQ(Names(*bobs), std::vector<std::string>{kDefaultAgentName});
}

TEST_F(SqliteAgentsTest, DefaultMovesOnCreateAndOnUpdateAndStaysUnique) {
  Result<Agent> first = Ensure(kAlice);
  ASSERT_TRUE(first.ok());
  Agent second_in = NamedAgent(kAlice, "second");
  second_in.is_default = true;
  Agent second = MustCreate(second_in);
  EXPECT_TRUE(second.is_default);
  EXPECT_EQ(DefaultCount(kAlice), 1);
  Result<std::optional<Agent>> def = store_->GetDefaultAgent(kAlice);
  ASSERT_TRUE(def.ok() && def->has_value());
  EXPECT_EQ((*def)->agent_id, second.agent_id);
  Result<Agent> old = store_->GetAgent(first->agent_id);
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->is_default);

  AgentPatch back;
  back.is_default = true;
  Result<Agent> moved = Update(kAlice, first->agent_id, back);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_TRUE(moved->is_default);
  EXPECT_EQ(DefaultCount(kAlice), 1);
  def = store_->GetDefaultAgent(kAlice);
  ASSERT_TRUE(def.ok() && def->has_value());
  EXPECT_EQ((*def)->agent_id, first->agent_id);

  // Setting it again, or clearing it on a non-default agent, changes nothing.
  EXPECT_TRUE(Update(kAlice, first->agent_id, back).ok());
  AgentPatch clear;
  clear.is_default = false;
  EXPECT_TRUE(Update(kAlice, second.agent_id, clear).ok());
  EXPECT_EQ(DefaultCount(kAlice), 1);
}

TEST_F(SqliteAgentsTest, DefaultAgentCannotBeDeletedOrUnset) {
  Result<Agent> def = Ensure(kAlice);
  ASSERT_TRUE(def.ok());
  ExpectStatus(Delete(kAlice, def->agent_id), StatusCode::kFailedPrecondition,
               "The default agent cannot be deleted", "DEFAULT_AGENT_REQUIRED");
  AgentPatch clear;
  clear.is_default = false;
  clear.name = "renamed";
  Status unset = Update(kAlice, def->agent_id, clear).status();
  EXPECT_EQ(unset.code(), StatusCode::kFailedPrecondition) << unset.ToString();
  EXPECT_EQ(unset.reason(), "DEFAULT_AGENT_REQUIRED");
  Result<Agent> after = store_->GetAgent(def->agent_id);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->is_default);
  EXPECT_EQ(after->name, kDefaultAgentName);  // nothing of the refused patch was written
}

TEST_F(SqliteAgentsTest, EnsureDefaultAgentCreatesAccountOnceAndIsIdempotent) {
  Result<Agent> first = Ensure(kAlice);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->is_default);
  EXPECT_EQ(first->name, kDefaultAgentName);
  EXPECT_EQ(first->account_id, kAlice);
  EXPECT_TRUE(first->model.empty());
  EXPECT_TRUE(first->mode.empty());
  EXPECT_FALSE(first->tools.has_value());
  Result<std::optional<Account>> account = store_->GetAccount(kAlice);
  ASSERT_TRUE(account.ok() && account->has_value());
  EXPECT_EQ((*account)->tier, "pro");
  EXPECT_EQ((*account)->balance_micro, 5'000'000);

  Result<Agent> second = Ensure(kAlice);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->agent_id, first->agent_id);
  Result<std::vector<Agent>> agents = store_->ListAgents(kAlice);
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->size(), 1u);
  Result<int64_t> ledger = store_->LedgerSum(kAlice);
  ASSERT_TRUE(ledger.ok());
  EXPECT_EQ(*ledger, 5'000'000);  // one grant only
}

TEST_F(SqliteAgentsTest, ConcurrentEnsureDefaultAgentCallsMakeOneDefault) {
  constexpr int kThreads = 8;
  std::vector<std::future<Result<Agent>>> results;
  for (int i = 0; i < kThreads; ++i) {
    results.push_back(std::async(std::launch::async, [this] { return Ensure(kAlice); }));
  }
  std::set<std::string> ids;
  for (auto& f : results) {
    Result<Agent> r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.insert(r->agent_id);
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(DefaultCount(kAlice), 1);
  Result<std::vector<Agent>> agents = store_->ListAgents(kAlice);
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->size(), 1u);
}

TEST_F(SqliteAgentsTest, AccountFirstSeenByCreateRunOrUpdateAccountHasDefaultAgent) {
  ASSERT_TRUE(CreateRun(NewThreadRun(kAlice)).ok());
  Result<std::optional<Agent>> def = store_->GetDefaultAgent(kAlice);
  ASSERT_TRUE(def.ok() && def->has_value());
  EXPECT_EQ((*def)->name, kDefaultAgentName);
  EXPECT_EQ((*def)->created_at_ms, kNow);
  // A second start on the same account makes no second agent.
  ASSERT_TRUE(CreateRun(NewThreadRun(kAlice)).ok());
  Result<std::vector<Agent>> agents = store_->ListAgents(kAlice);
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->size(), 1u);

  AccountUpdate update;
  update.account_id = kBob;
  update.tier = "pro";
  update.now_ms = kNow;
  ASSERT_TRUE(Wait<Result<Account>>([&](auto cb) { store_->UpdateAccount(update, cb); }).ok());
  def = store_->GetDefaultAgent(kBob);
  ASSERT_TRUE(def.ok() && def->has_value());
  EXPECT_EQ((*def)->account_id, kBob);
}

TEST_F(SqliteAgentsTest, RefusedCreateRunOfNewAccountLeavesNoAgent) {
  NewRun r = NewThreadRun(kAlice);
  r.limits.max_concurrent_runs = 0;
  EXPECT_EQ(CreateRun(r).status().reason(), "AGENT_RUN_LIMIT_EXCEEDED");
  Result<std::optional<Agent>> def = store_->GetDefaultAgent(kAlice);
  ASSERT_TRUE(def.ok());
  EXPECT_FALSE(def->has_value());
}

TEST_F(SqliteAgentsTest, MigrationGivesExistingAccountsADefaultAgent) {
  ASSERT_TRUE(CreateRun(NewThreadRun(kAlice)).ok());
  store_.reset();
  // Back to schema version 3: as if the account was made by an older server.
  Exec(
      "DROP TABLE agents; DROP TABLE memories_fts; DROP TABLE memories; "
      "ALTER TABLE threads DROP COLUMN memory_enabled; "
      "DELETE FROM schema_migrations WHERE version = 4;");
  Reopen();
  Result<std::optional<Agent>> def = store_->GetDefaultAgent(kAlice);
  ASSERT_TRUE(def.ok() && def->has_value()) << def.status().ToString();
  EXPECT_TRUE(IsUuid((*def)->agent_id)) << (*def)->agent_id;
  EXPECT_EQ((*def)->agent_id[14], '4');
  EXPECT_EQ((*def)->name, kDefaultAgentName);
}

// ---- Threads ----

TEST_F(SqliteAgentsTest, ThreadMemoryEnabledIsStoredAndReadBack) {
  NewRun off = NewThreadRun(kAlice);
  off.memory_enabled = false;
  Result<CreatedRun> created_off = CreateRun(off);
  ASSERT_TRUE(created_off.ok()) << created_off.status().ToString();
  Result<Thread> thread_off = store_->GetThread(created_off->thread_id);
  ASSERT_TRUE(thread_off.ok());
  EXPECT_FALSE(thread_off->memory_enabled);

  NewRun on = NewThreadRun(kBob);
  Result<CreatedRun> created_on = CreateRun(on);
  ASSERT_TRUE(created_on.ok());
  Result<Thread> thread_on = store_->GetThread(created_on->thread_id);
  ASSERT_TRUE(thread_on.ok());
  EXPECT_TRUE(thread_on->memory_enabled);
}

// ---- Memory ----

TEST_F(SqliteAgentsTest, AddMemoryFillsIdsAndRefusesBadInput) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  Result<Memory> m = Remember(kAlice, "Alice prefers tea");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(IsUuid(m->memory_id));
  EXPECT_GT(m->created_at_ms, 0);
  EXPECT_EQ(m->source_thread_id, "thread-1");
  ExpectStatus(Remember("nobody", "x").status(), StatusCode::kNotFound, "Account not found");
  EXPECT_EQ(Remember(kAlice, "").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteAgentsTest, SearchReturnsRelevantMemoriesFirstAndOnlyTheAccounts) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  ASSERT_TRUE(Ensure(kBob).ok());
  for (const char* text : {"The project deadline is Friday", "Alice's dog is called Rex",
                           "Alice prefers tea over coffee", "The dog likes long walks"}) {
    ASSERT_TRUE(Remember(kAlice, text).ok());
  }
  ASSERT_TRUE(Remember(kBob, "Bob's dog is a poodle").ok());

  Result<std::vector<Memory>> found = store_->SearchMemories(kAlice, "What is my dog called?", 10);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_GE(found->size(), 2u);
  EXPECT_EQ(found->front().content, "Alice's dog is called Rex");
  for (const Memory& m : *found) {
    EXPECT_EQ(m.account_id, kAlice);
    EXPECT_EQ(m.content.find("poodle"), std::string::npos);
  }
  std::vector<std::string> contents = Contents(*found);
  EXPECT_EQ(std::count(contents.begin(), contents.end(), "Alice prefers tea over coffee"), 0);

  Result<std::vector<Memory>> one = store_->SearchMemories(kAlice, "dog", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  Result<std::vector<Memory>> none = store_->SearchMemories(kAlice, "submarine", 5);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  Result<std::vector<Memory>> diacritics = store_->SearchMemories(kAlice, "Coffée", 5);
  ASSERT_TRUE(diacritics.ok());
  EXPECT_EQ(Contents(*diacritics), std::vector<std::string>{"Alice prefers tea over coffee"});
}

TEST_F(SqliteAgentsTest, SearchTreatsQuotesOperatorsAndPunctuationAsPlainText) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  ASSERT_TRUE(Remember(kAlice, "foo is a placeholder").ok());
  ASSERT_TRUE(Remember(kAlice, "bar serves drinks").ok());
  ASSERT_TRUE(Remember(kAlice, "unrelated").ok());
  for (const std::string query :
       {R"("foo" AND (bar OR)", R"(foo* NEAR(bar, 2) ^bar content:foo)", "foo\" OR \" bar",
        "-foo +bar", "{foo} [bar]", "foo\xff\xfe bar", "NOT foo AND bar OR"}) {
    Result<std::vector<Memory>> found = store_->SearchMemories(kAlice, query, 10);
    ASSERT_TRUE(found.ok()) << query << ": " << found.status().ToString();
    std::vector<std::string> contents = Contents(*found);
    std::sort(contents.begin(), contents.end());
    EXPECT_EQ(contents, (std::vector<std::string>{"bar serves drinks", "foo is a placeholder"}))
        << query;
  }
}

TEST_F(SqliteAgentsTest, EmptyOrPunctuationOnlyQueryGivesNewestMemories) {
  ASSERT_TRUE(Ensure(kAlice).ok());
  ASSERT_TRUE(Ensure(kBob).ok());
  for (const char* text : {"first", "second", "third"}) ASSERT_TRUE(Remember(kAlice, text).ok());
  ASSERT_TRUE(Remember(kBob, "bob's newest").ok());
  for (const std::string query : {"", "   ", "?!\"()*:^", "\xe2\x80\x94 \xc2\xab\xc2\xbb"}) {
    Result<std::vector<Memory>> newest = store_->SearchMemories(kAlice, query, 2);
    ASSERT_TRUE(newest.ok()) << newest.status().ToString();
    EXPECT_EQ(Contents(*newest), (std::vector<std::string>{"third", "second"})) << query;
  }
  EXPECT_EQ(store_->SearchMemories(kAlice, "", 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(MemoryMatchQuery, QuotesEachWordAndOrsThem) {
  EXPECT_EQ(MemoryMatchQuery(R"("foo" AND (bar OR)"), R"("foo" OR "AND" OR "bar" OR "OR")");
  EXPECT_EQ(MemoryMatchQuery("café, naïve!"), R"("café" OR "naïve")");
  EXPECT_EQ(MemoryMatchQuery("dog dog DOG"), R"("dog" OR "DOG")");
  EXPECT_EQ(MemoryMatchQuery(" ?! "), "");
  std::string many;
  for (int i = 0; i < 100; ++i) many += "w" + std::to_string(i) + " ";
  const std::string q = MemoryMatchQuery(many);
  EXPECT_EQ(std::count(q.begin(), q.end(), '"'), 64);  // 32 words
}

}  // namespace
}  // namespace agentd::store::sqlite
