// RunService over the real SQLite store, the in-memory bus and the builtin echo model.
#include "runs/run_service.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <thread>

#include "billing/billing.h"
#include "bus/memory/memory_event_bus.h"
#include "core/ids.h"
#include "llm/builtin/echo_llm_client.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::runs {
namespace {

namespace asio = boost::asio;
using store::RunStatus;

class RunServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(RunServiceOptions{}); }

  void Open(RunServiceOptions options) {
    service_.reset();
    if (store_ == nullptr) {
      dir_ = std::filesystem::temp_directory_path() / ("runs_test_" + NewUuid());
      std::filesystem::create_directories(dir_);
      auto s = store::sqlite::NewSqliteStore({.path = (dir_ / "agentd.db").string()});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    }
    service_ = std::make_unique<RunService>(*store_, *bus_, ClientMap(), RunTools{},
                                            io_.get_executor(), options);
  }

  void TearDown() override {
    if (service_) Sync(service_->Shutdown());
    work_.reset();
    io_.stop();
    thread_.join();
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unordered_map<std::string, llm::LlmClient*> ClientMap() {
    return {{"builtin", echo_.get()}};
  }

  // Runs `op` on the io_context and waits for it (use_future needs a default-constructible
  // value, which Result is not, hence the optional).
  template <typename T>
  T Sync(asio::awaitable<T> op) {
    auto wrapped = [](asio::awaitable<T> inner) -> asio::awaitable<std::optional<T>> {
      co_return co_await std::move(inner);
    };
    return *asio::co_spawn(io_, wrapped(std::move(op)), asio::use_future).get();
  }
  void Sync(asio::awaitable<void> op) {
    asio::co_spawn(io_, std::move(op), asio::use_future).get();
  }

  StartedRun StartOk(const std::string& account, const std::string& prompt,
                     const std::string& thread_id = "") {
    auto r = Sync(service_->Start(Input(account, prompt, thread_id)));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : StartedRun{};
  }

  static StartRunInput Input(const std::string& account, const std::string& prompt,
                             const std::string& thread_id = "") {
    StartRunInput in;
    in.account_id = account;
    in.prompt = prompt;
    in.thread_id = thread_id;
    in.model_name = "builtin/echo";
    in.provider = "builtin";
    in.upstream_model = "echo";
    return in;
  }

  // Reads the feed until its terminal event.
  std::vector<bus::EventPtr> ReadAll(const std::string& account, const std::string& run_id,
                                     int64_t after = 0) {
    auto feed = service_->OpenFeed(account, run_id, after, io_.get_executor());
    EXPECT_TRUE(feed.ok());
    std::vector<bus::EventPtr> all;
    if (!feed.ok() || *feed == nullptr) return all;
    for (int i = 0; i < 1000 && !(*feed)->done(); ++i) {
      auto batch = Sync((*feed)->Next(std::chrono::milliseconds(5000)));
      EXPECT_TRUE(batch.ok());
      all.insert(all.end(), batch->begin(), batch->end());
    }
    (*feed)->Close();
    return all;
  }

  static nlohmann::json Json(const bus::EventPtr& e) { return nlohmann::json::parse(e->data); }

  std::filesystem::path dir_;
  asio::io_context io_{2};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      io_.get_executor()};
  std::thread thread_{[this] { io_.run(); }};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<bus::EventBus> bus_ = bus::memory::NewMemoryEventBus();
  std::unique_ptr<llm::LlmClient> echo_ = llm::builtin::NewEchoLlmClient();
  std::unique_ptr<RunService> service_;
};

TEST_F(RunServiceTest, CompletedRunFeedHasGaplessSeqEndingWithCompletedStatus) {
  auto run = StartOk("alice", "one two three");
  auto events = ReadAll("alice", run.run_id);
  ASSERT_GE(events.size(), 5u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]->seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ(Json(events[i])["_event_id"], std::to_string(i + 1));
  }
  EXPECT_EQ(Json(events.front())["type"], "ack");
  auto last = Json(events.back());
  EXPECT_EQ(last["type"], "status");
  EXPECT_EQ(last["status"], "completed");
  EXPECT_TRUE(events.back()->terminal);
  auto row = service_->GetRun("alice", run.run_id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, RunStatus::kCompleted);
  EXPECT_EQ(row->usage["completion_tokens"], 3);
}

TEST_F(RunServiceTest, FeedResumedFromTheMiddleGetsExactlyTheRest) {
  auto run = StartOk("alice", "a b c d e f");
  auto all = ReadAll("alice", run.run_id);
  auto rest = ReadAll("alice", run.run_id, 3);
  ASSERT_EQ(rest.size(), all.size() - 3);
  EXPECT_EQ(rest.front()->seq, 4);
  EXPECT_EQ(rest.back()->data, all.back()->data);
}

TEST_F(RunServiceTest, FeedAfterTheTerminalEventIsNull) {
  auto run = StartOk("alice", "hi");
  auto all = ReadAll("alice", run.run_id);
  auto feed = service_->OpenFeed("alice", run.run_id, all.back()->seq, io_.get_executor());
  ASSERT_TRUE(feed.ok());
  EXPECT_EQ(*feed, nullptr);
}

TEST_F(RunServiceTest, StopEndsSleepingRunWithStoppedTerminalEvent) {
  auto run = StartOk("alice", "/sleep 60000");
  auto status = Sync(service_->Stop("alice", run.run_id));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, RunStatus::kStopped);
  auto events = ReadAll("alice", run.run_id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(Json(events.back())["status"], "stopped");
  // A second stop answers with the same terminal status and writes nothing.
  auto again = Sync(service_->Stop("alice", run.run_id));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, RunStatus::kStopped);
  EXPECT_EQ(ReadAll("alice", run.run_id).size(), events.size());
}

TEST_F(RunServiceTest, StopOfCompletedRunReturnsCompletedUnchanged) {
  auto run = StartOk("alice", "done");
  ReadAll("alice", run.run_id);
  auto status = Sync(service_->Stop("alice", run.run_id));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, RunStatus::kCompleted);
}

TEST_F(RunServiceTest, SecondStartOnThreadWithRunningRunIsThreadBusy) {
  auto run = StartOk("alice", "/sleep 60000");
  auto second = Sync(service_->Start(Input("alice", "again", run.thread_id)));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAborted);
  EXPECT_EQ(second.status().reason(), "THREAD_BUSY");
  EXPECT_EQ(second.status().details()["running_agent_run_id"], run.run_id);
  ASSERT_TRUE(Sync(service_->Stop("alice", run.run_id)).ok());
  // Once the stop has committed, the thread accepts the next run at once.
  auto third = Sync(service_->Start(Input("alice", "again", run.thread_id)));
  EXPECT_TRUE(third.ok()) << third.status().ToString();
}

TEST_F(RunServiceTest, OtherAccountGetsNotFoundEverywhere) {
  auto run = StartOk("alice", "/sleep 60000");
  EXPECT_EQ(service_->GetRun("bob", run.run_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->ListMessages("bob", run.thread_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->ListThreadRuns("bob", run.thread_id, 10, "").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(service_->OpenFeed("bob", run.run_id, 0, io_.get_executor()).status().code(),
            StatusCode::kNotFound);
  auto stop = Sync(service_->Stop("bob", run.run_id));
  EXPECT_EQ(stop.status().code(), StatusCode::kNotFound);
  auto active = service_->ListActiveRuns("bob");
  ASSERT_TRUE(active.ok());
  EXPECT_TRUE(active->empty());
  auto start = Sync(service_->Start(Input("bob", "x", run.thread_id)));
  EXPECT_EQ(start.status().code(), StatusCode::kNotFound);
}

TEST_F(RunServiceTest, ProviderFailureEndsFailedWithErrorEventAndMessage) {
  auto run = StartOk("alice", "/fail upstream exploded");
  auto events = ReadAll("alice", run.run_id);
  ASSERT_GE(events.size(), 2u);
  auto error = Json(events[events.size() - 2]);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["error"], "upstream exploded");
  auto last = Json(events.back());
  EXPECT_EQ(last["status"], "failed");
  EXPECT_EQ(last["message"], "upstream exploded");
  EXPECT_EQ(service_->GetRun("alice", run.run_id)->error, "upstream exploded");
}

TEST_F(RunServiceTest, RunOverItsTimeoutFails) {
  RunServiceOptions options;
  options.run_timeout = std::chrono::milliseconds(50);
  Open(options);
  auto run = StartOk("alice", "/sleep 60000");
  auto events = ReadAll("alice", run.run_id);
  auto last = Json(events.back());
  EXPECT_EQ(last["status"], "failed");
  EXPECT_NE(last["message"].get<std::string>().find("time limit"), std::string::npos);
}

TEST_F(RunServiceTest, TierTimeoutOfTheInputEndsTheRunBeforeTheServerTimeout) {
  StartRunInput in = Input("alice", "/sleep 60000");
  in.run_timeout = std::chrono::milliseconds(50);
  auto r = Sync(service_->Start(in));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto events = ReadAll("alice", r->run_id);
  auto last = Json(events.back());
  EXPECT_EQ(last["status"], "failed");
  EXPECT_NE(last["message"].get<std::string>().find("time limit of 0.05 s"), std::string::npos)
      << last;
}

TEST_F(RunServiceTest, EachModelResponseDebitsItsCostWithItsEvent) {
  StartRunInput in = Input("alice", "one two three\n/tool t {}\nfour");
  in.input_micro_usd_per_mtok = 1'000'000;   // $1 per Mtok: 1 micro per token
  in.output_micro_usd_per_mtok = 3'330'000;  // 3.33 micro per token
  in.price_multiplier_ppm = 1'500'000;
  auto r = Sync(service_->Start(in));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto events = ReadAll("alice", r->run_id);
  EXPECT_EQ(Json(events.back())["status"], "completed");
  int64_t total = 0;
  int ends = 0;
  for (const auto& e : events) {
    auto j = Json(e);
    if (j["type"] != "llm_response_end") continue;
    ++ends;
    const llm::Usage u{j["usage"]["prompt_tokens"], j["usage"]["completion_tokens"]};
    const int64_t cost = billing::CostMicro(u, 1'000'000, 3'330'000, 1'500'000);
    EXPECT_DOUBLE_EQ(j["cost"].get<double>(), billing::UsdNumber(cost)) << j;
    total += cost;
  }
  EXPECT_EQ(ends, 2);
  ASSERT_GT(total, 0);
  auto account = store_->GetAccount("alice");
  ASSERT_TRUE(account.ok() && account->has_value());
  EXPECT_EQ((*account)->balance_micro, 3'000'000 - total);
  EXPECT_EQ(*store_->LedgerSum("alice"), (*account)->balance_micro);
}

TEST_F(RunServiceTest, BalanceUsedUpMidRunStopsWithInsufficientCredits) {
  StartRunInput in = Input("alice", "a b c d\n/tool t {}\nnever");
  in.input_micro_usd_per_mtok = 1'000'000'000'000;  // $1 per token: step 1 uses up $3
  auto r = Sync(service_->Start(in));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto events = ReadAll("alice", r->run_id);
  ASSERT_GE(events.size(), 2u);
  auto error = Json(events[events.size() - 2]);
  EXPECT_EQ(error["type"], "error");
  EXPECT_EQ(error["error_code"], "INSUFFICIENT_CREDITS");
  auto last = Json(events.back());
  EXPECT_EQ(last["status"], "stopped");
  EXPECT_EQ(last["message"], "insufficient_credits");
  int ends = 0;
  for (const auto& e : events) ends += Json(e)["type"] == "llm_response_end" ? 1 : 0;
  EXPECT_EQ(ends, 1);
  EXPECT_EQ(service_->GetRun("alice", r->run_id)->status, RunStatus::kStopped);
  EXPECT_LT((*store_->GetAccount("alice"))->balance_micro, 0);
}

TEST_F(RunServiceTest, SlowSubscriberWithTinyQueueStillGetsEveryEventOnce) {
  RunServiceOptions options;
  options.subscriber_queue_bytes = 64;  // smaller than one event: every burst overflows
  Open(options);
  std::string prompt;
  for (int i = 0; i < 300; ++i) prompt += "w" + std::to_string(i) + " ";
  auto run = StartOk("alice", prompt);
  auto events = ReadAll("alice", run.run_id);
  ASSERT_GT(events.size(), 300u);
  for (size_t i = 0; i < events.size(); ++i) ASSERT_EQ(events[i]->seq, static_cast<int64_t>(i + 1));
  EXPECT_EQ(Json(events.back())["status"], "completed");
}

TEST_F(RunServiceTest, ShutdownEndsRunningRunsFailed) {
  auto run = StartOk("alice", "/sleep 60000");
  Sync(service_->Shutdown());
  auto row = service_->GetRun("alice", run.run_id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->status, RunStatus::kFailed);
  auto start = Sync(service_->Start(Input("alice", "late")));
  EXPECT_EQ(start.status().code(), StatusCode::kUnavailable);
}

// Background tasks have no event to await: poll the store with a deadline.
template <typename Pred>
bool Eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

TEST_F(RunServiceTest, RetentionSweepDeletesEventsOfFinishedRunsOnly) {
  RunServiceOptions options;
  options.event_retention = std::chrono::seconds(0);
  options.retention_sweep = std::chrono::milliseconds(5);
  Open(options);
  service_->StartBackgroundTasks();
  auto sleeping = StartOk("alice", "/sleep 60000");
  auto done = StartOk("alice", "quick");
  ASSERT_FALSE(ReadAll("alice", done.run_id).empty());
  EXPECT_TRUE(Eventually([&] { return store_->ReadEvents(done.run_id, 0, 10)->empty(); }));
  EXPECT_FALSE(store_->ReadEvents(sleeping.run_id, 0, 10)->empty());
  EXPECT_EQ(service_->GetRun("alice", done.run_id)->status, RunStatus::kCompleted);
}

TEST_F(RunServiceTest, LeaseOfARunningRunIsRenewed) {
  RunServiceOptions options;
  options.lease_renew = std::chrono::milliseconds(5);
  Open(options);
  service_->StartBackgroundTasks();
  auto run = StartOk("alice", "/sleep 60000");
  const int64_t first = service_->GetRun("alice", run.run_id)->lease_expires_at_ms;
  EXPECT_TRUE(Eventually(
      [&] { return service_->GetRun("alice", run.run_id)->lease_expires_at_ms > first; }));
}

TEST_F(RunServiceTest, RecoveryReapsRunsLeftRunningByADeadServer) {
  // A run row left `running` with no executor, as after kill -9.
  store::NewRun row;
  row.account_id = "alice";
  row.default_tier = "free";
  row.run_id = NewUuid();
  row.model_name = "builtin/echo";
  row.owner_instance = "dead-instance";
  row.now_ms = 1;
  std::promise<Result<store::CreatedRun>> created;
  store_->CreateRun(row, [&](Result<store::CreatedRun> r) { created.set_value(std::move(r)); });
  ASSERT_TRUE(created.get_future().get().ok());

  auto reaped = service_->RecoverLostRuns();
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1);
  auto run = service_->GetRun("alice", row.run_id);
  EXPECT_EQ(run->status, RunStatus::kFailed);
  EXPECT_NE(run->error.find("Worker lost"), std::string::npos);
  auto events = ReadAll("alice", row.run_id);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Json(events[0])["status"], "failed");
}

}  // namespace
}  // namespace agentd::runs
