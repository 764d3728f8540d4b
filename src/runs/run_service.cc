#include "runs/run_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "billing/billing.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/json.h"
#include "runs/await_callback.h"
#include "runs/run_events.h"
#include "runs/run_setup.h"
#include "runs/run_uploads.h"

namespace agentd::runs {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using store::RunStatus;

namespace {

constexpr char kRunNotFound[] = "Agent run not found";
constexpr char kThreadNotFound[] = "Thread not found";
constexpr char kWorkerLost[] =
    "Worker lost: the server running this run stopped before the run finished";

enum class StopReason { kNone, kUser, kShutdown };

// The thread's stored messages as the model's conversation.
std::vector<llm::ChatMessage> ToChatHistory(const std::vector<store::Message>& messages) {
  std::vector<llm::ChatMessage> out;
  for (const auto& m : messages) {
    if (m.type != "user" && m.type != "assistant" && m.type != "tool") continue;
    llm::ChatMessage c;
    c.role = m.type;
    if (m.content.is_object()) {
      const auto& text = m.content.value("content", nlohmann::json());
      c.content = text.is_string() ? text.get<std::string>() : ToJsonText(text);
      c.tool_call_id = m.content.value("tool_call_id", "");
      c.name = m.content.value("name", "");
      if (auto it = m.content.find("tool_calls"); it != m.content.end()) {
        c.tool_calls = llm::ToolCallsFromJson(*it);
      }
    } else if (m.content.is_string()) {
      c.content = m.content.get<std::string>();
    }
    if (m.type == "user") c.content += RenderAttachments(m.metadata);
    out.push_back(std::move(c));
  }
  return out;
}

// The run's time limit: its tier's (when given), capped by the server's.
std::chrono::milliseconds RunTimeout(const StartRunInput& input, std::chrono::milliseconds cap) {
  return input.run_timeout.count() > 0 ? std::min(input.run_timeout, cap) : cap;
}

}  // namespace

// One run executing on this instance: the agent loop's RunIo (seq numbering, persistence,
// publication) plus its stop signal and completion waiters.
class RunService::ActiveRun final : public agent::RunIo,
                                    public std::enable_shared_from_this<ActiveRun> {
 public:
  ActiveRun(store::Store& store, bus::EventBus& bus, StartedRun ids, StartRunInput input,
            asio::any_io_executor executor)
      : store_(store),
        bus_(bus),
        ids_(std::move(ids)),
        input_(std::move(input)),
        strand_(asio::make_strand(executor)),
        stop_timer_(strand_) {}

  const StartedRun& ids() const { return ids_; }
  const StartRunInput& input() const { return input_; }
  asio::strand<asio::any_io_executor>& strand() { return strand_; }
  asio::steady_timer& stop_timer() { return stop_timer_; }
  StopReason stop_reason() const { return stop_reason_.load(); }
  const llm::Usage& usage() const { return usage_; }
  int64_t cost_micro() const { return cost_micro_; }

  void Emit(nlohmann::json event) override {
    std::optional<store::Debit> debit;
    if (event.value("type", "") == "llm_response_end") {
      const llm::Usage step = AddUsage(event);
      const int64_t cost =
          billing::CostMicro(step, input_.input_micro_usd_per_mtok,
                             input_.output_micro_usd_per_mtok, input_.price_multiplier_ppm);
      cost_micro_ += cost;
      event["cost"] = billing::UsdNumber(cost);
      if (cost != 0) {
        debit = store::Debit{input_.account_id, cost, "model response " + input_.model_name};
        ++debits_;
      }
    }
    Submit({std::move(event)}, std::nullopt, nullptr, std::move(debit));
  }

  // Refuses the next model step once the account's balance is used up. After a debit of this
  // run, an empty write first waits for it: the writer commits in submission order.
  asio::awaitable<Status> BeforeStep() override {
    if (debits_ != checked_debits_) {
      checked_debits_ = debits_;
      store::RunWrite barrier;
      barrier.run_id = ids_.run_id;
      (void)co_await AwaitCallback<Status>([&](std::function<void(Status)> cb) {
        store_.CommitRunWrite(std::move(barrier), std::move(cb));
      });
    }
    auto account = store_.GetAccount(input_.account_id);
    if (!account.ok()) co_return account.status();
    if (*account && (*account)->balance_micro <= 0) {
      co_return Status(StatusCode::kResourceExhausted, "Insufficient credits",
                       "INSUFFICIENT_CREDITS");
    }
    co_return Status::Ok();
  }

  std::string SaveMessage(const std::string& type, nlohmann::json content,
                          nlohmann::json metadata) override {
    store::Message m;
    m.message_id = NewUuid();
    m.thread_id = ids_.thread_id;
    m.type = type;
    m.is_llm_message = true;
    m.agent_id = input_.agent_id;
    m.content = std::move(content);
    m.metadata = std::move(metadata);
    m.created_at_ms = m.updated_at_ms = NowMillis();
    store::RunWrite w;
    w.run_id = ids_.run_id;
    w.messages.push_back(std::move(m));
    std::string id = w.messages.back().message_id;
    store_.CommitRunWrite(std::move(w), [run_id = ids_.run_id](const Status& s) {
      if (!s.ok()) spdlog::error("run {}: saving a message failed: {}", run_id, s.ToString());
    });
    return id;
  }

  // Commits `events` (and the terminal update) atomically; publishes them after the commit.
  void Submit(std::vector<nlohmann::json> events, std::optional<store::RunFinish> finish,
              std::function<void(Status)> done, std::optional<store::Debit> debit = {}) {
    store::RunWrite w;
    w.run_id = ids_.run_id;
    w.finish = std::move(finish);
    w.debit = std::move(debit);
    std::vector<bus::EventPtr> published;
    const std::string now = IsoTime(NowMillis());
    for (auto& e : events) {
      if (!e.contains("timestamp")) e["timestamp"] = now;
      const int64_t seq = ++last_seq_;
      e["_event_id"] = std::to_string(seq);
      auto ev = std::make_shared<bus::Event>();
      ev->run_id = ids_.run_id;
      ev->seq = seq;
      ev->data = ToJsonText(e);
      ev->terminal = w.finish.has_value() && &e == &events.back();
      w.events.push_back({ids_.run_id, seq, ev->data});
      published.push_back(std::move(ev));
    }
    store_.CommitRunWrite(
        std::move(w), [bus = &bus_, published = std::move(published), done = std::move(done),
                       run_id = ids_.run_id](const Status& s) {
          if (s.ok()) {
            for (const auto& ev : published) bus->Publish(ev);
          } else {
            spdlog::error("run {}: writing events failed: {}", run_id, s.ToString());
          }
          if (done) done(s);
        });
  }

  void RequestStop(StopReason reason) {
    StopReason expected = StopReason::kNone;
    if (!stop_reason_.compare_exchange_strong(expected, reason)) return;
    asio::post(strand_, [self = shared_from_this()] { self->stop_timer_.cancel(); });
  }

  // Calls `cb` once the terminal status is committed (at once if it already is).
  void OnDone(std::function<void(RunStatus)> cb) {
    std::unique_lock lock(mu_);
    if (final_status_) {
      RunStatus s = *final_status_;
      lock.unlock();
      cb(s);
      return;
    }
    waiters_.push_back(std::move(cb));
  }

  void MarkDone(RunStatus status) {
    std::vector<std::function<void(RunStatus)>> waiters;
    {
      std::lock_guard lock(mu_);
      final_status_ = status;
      waiters.swap(waiters_);
    }
    for (auto& w : waiters) w(status);
  }

 private:
  // Adds the event's usage to the run's; returns the event's.
  llm::Usage AddUsage(const nlohmann::json& event) {
    const auto& u = event.value("usage", nlohmann::json::object());
    llm::Usage step{u.value("prompt_tokens", int64_t{0}), u.value("completion_tokens", int64_t{0})};
    usage_.prompt_tokens += step.prompt_tokens;
    usage_.completion_tokens += step.completion_tokens;
    return step;
  }

  store::Store& store_;
  bus::EventBus& bus_;
  const StartedRun ids_;
  const StartRunInput input_;
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer stop_timer_;  // used on strand_ only
  std::atomic<StopReason> stop_reason_{StopReason::kNone};

  // Touched only by the run's coroutine (single producer of events).
  int64_t last_seq_ = 0;
  llm::Usage usage_;
  int64_t cost_micro_ = 0;
  int64_t debits_ = 0;          // debits submitted
  int64_t checked_debits_ = 0;  // debits submitted when BeforeStep last waited

  std::mutex mu_;
  std::optional<RunStatus> final_status_;                // GUARDED_BY(mu_)
  std::vector<std::function<void(RunStatus)>> waiters_;  // GUARDED_BY(mu_)
};

RunService::RunService(store::Store& store, bus::EventBus& bus,
                       std::unordered_map<std::string, llm::LlmClient*> llm_clients, RunTools tools,
                       asio::any_io_executor executor, RunServiceOptions options)
    : store_(store),
      bus_(bus),
      llm_clients_(std::move(llm_clients)),
      tools_(std::move(tools)),
      executor_(std::move(executor)),
      options_([&] {
        if (options.instance_id.empty()) options.instance_id = NewUuid();
        return std::move(options);
      }()) {}

RunService::~RunService() = default;

Result<int> RunService::RecoverLostRuns() {
  AGENTD_ASSIGN_OR_RETURN(auto reaped, store_.ReapRuns("", NowMillis(), kWorkerLost));
  return static_cast<int>(reaped.size());
}

void RunService::StartBackgroundTasks() {
  asio::co_spawn(executor_,
                 Periodically(options_.lease_renew,
                              [this] {
                                store_.RenewLeases(
                                    options_.instance_id, NowMillis() + options_.lease.count(),
                                    [](const Status& s) {
                                      if (!s.ok()) {
                                        spdlog::warn("lease renewal failed: {}", s.ToString());
                                      }
                                    });
                              }),
                 asio::detached);
  asio::co_spawn(
      executor_,
      Periodically(
          options_.retention_sweep,
          [this] {
            constexpr int kRunsPerSweep = 500;
            const int64_t cutoff =
                NowMillis() -
                std::chrono::duration_cast<std::chrono::milliseconds>(options_.event_retention)
                    .count();
            store_.PurgeEvents(cutoff, kRunsPerSweep, [](Result<int64_t> purged) {
              if (!purged.ok()) {
                spdlog::warn("event retention sweep failed: {}", purged.status().ToString());
              }
            });
          }),
      asio::detached);
}

asio::awaitable<void> RunService::Periodically(std::chrono::milliseconds interval,
                                               std::function<void()> tick) {
  asio::steady_timer timer(executor_);
  for (;;) {
    timer.expires_after(interval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    {
      std::lock_guard lock(mu_);
      if (shutting_down_) co_return;
    }
    tick();
  }
}

asio::awaitable<Result<StartedRun>> RunService::Start(StartRunInput input,
                                                      std::vector<files::SpooledFile> uploads) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) co_return Unavailable("Server is shutting down");
  }
  if (!llm_clients_.contains(input.provider)) {
    co_return Internal("No client for provider " + input.provider);
  }
  const int64_t now = NowMillis();
  store::NewRun row;
  row.account_id = input.account_id;
  row.default_tier = options_.default_tier;
  row.starting_credits_micro = options_.starting_credits_micro;
  row.limits = input.limits;
  row.new_thread = input.thread_id.empty() || input.optimistic;
  row.memory_enabled = input.memory_enabled;
  row.optimistic = input.optimistic;
  row.thread_id = input.thread_id;
  row.project_id = input.project_id;
  row.run_id = NewUuid();
  row.model_name = input.model_name;
  if (!input.prompt.empty() || !uploads.empty()) {
    row.user_message.message_id = NewUuid();
    row.user_message.type = "user";
    row.user_message.content = {{"role", "user"}, {"content", input.prompt}};
    row.user_message.agent_id = input.agent_id;
    row.user_message.created_at_ms = row.user_message.updated_at_ms = now;
  }
  row.owner_instance = options_.instance_id;
  row.lease_expires_at_ms = now + options_.lease.count();
  row.now_ms = now;

  std::optional<PlacedUploads> placed;
  if (!uploads.empty()) {
    if (tools_.uploads == nullptr) {
      co_return Status(StatusCode::kUnimplemented, "File uploads are not enabled on this server");
    }
    auto stored = co_await PlaceUploads(store_, *tools_.uploads, row, std::move(uploads));
    if (!stored.ok()) co_return stored.status();
    placed = std::move(*stored);
    AttachUploads(*placed, row.user_message);
  }

  const std::string run_id = row.run_id;
  bus_.OpenRun(run_id);
  auto created = co_await AwaitCallback<Result<store::CreatedRun>>(
      [&](std::function<void(Result<store::CreatedRun>)> cb) {
        store_.CreateRun(std::move(row), std::move(cb));
      });
  if (!created.ok()) {
    bus_.CloseRun(run_id);
    if (placed) RemoveUploads(*tools_.uploads, *placed);
    co_return created.status();
  }
  StartedRun started{created->run_id, created->thread_id, created->project_id, input.model_name};
  if (placed) {
    started.sandbox_id = placed->sandbox.sandbox_id;
    started.files = UploadsResponse(*placed);
  } else if (tools_.sandboxes != nullptr) {
    auto sandbox = tools_.sandboxes->Find(started.project_id);
    if (sandbox.ok() && *sandbox) started.sandbox_id = (*sandbox)->sandbox_id;
  }
  auto active = std::make_shared<ActiveRun>(store_, bus_, started, std::move(input), executor_);
  {
    std::lock_guard lock(mu_);
    active_[run_id] = active;
  }
  asio::co_spawn(active->strand(), Execute(active), asio::detached);
  co_return started;
}

asio::awaitable<void> RunService::Execute(std::shared_ptr<ActiveRun> run) {
  RunStatus status = RunStatus::kFailed;
  std::string message;
  std::optional<nlohmann::json> error_event;
  try {
    run->Emit(AckEvent(run->ids().run_id, run->ids().thread_id));
    auto messages = store_.ListMessages(run->ids().thread_id);
    if (!messages.ok()) throw std::runtime_error(messages.status().ToString());
    const StartRunInput& in = run->input();
    agent::AgentConfig config;
    config.model_name = in.model_name;
    config.upstream_model = in.upstream_model;
    config.max_steps = options_.max_steps;
    config.context_window = in.context_window;
    llm::LlmClient& model = *llm_clients_.at(in.provider);
    const std::vector<std::string> tool_names =
        RunToolNames(in.mode, in.agent_tools, in.memory_enabled);
    auto offers = [&](std::string_view name) {
      return std::find(tool_names.begin(), tool_names.end(), name) != tool_names.end();
    };
    config.offer_complete = offers(agent::kCompleteToolName);
    config.offer_ask = offers(agent::kAskToolName);
    std::unique_ptr<agent::ToolRegistry> tools =
        MakeTools(tool_names,
                  {in.account_id, run->ids().project_id, run->ids().thread_id, run->ids().run_id});
    std::vector<store::Memory> memories;
    if (in.memory_enabled) {
      constexpr int kMemoriesInPrompt = 8;
      auto found = store_.SearchMemories(in.account_id, in.prompt, kMemoriesInPrompt);
      if (found.ok()) {
        memories = std::move(*found);
      } else {
        spdlog::warn("run {}: reading memories failed: {}", run->ids().run_id,
                     found.status().ToString());
      }
    }
    config.system_prompt = ComposeSystemPrompt(in.mode, in.agent_system_prompt, memories,
                                               in.memory_enabled, NowMillis());

    run->stop_timer().expires_after(RunTimeout(run->input(), options_.run_timeout));
    std::variant<Result<agent::AgentOutcome>, std::tuple<boost::system::error_code>> result =
        std::tuple<boost::system::error_code>{};
    if (run->stop_reason() == StopReason::kNone) {
      result = co_await (agent::RunAgent(model, *tools, *run, config, ToChatHistory(*messages)) ||
                         run->stop_timer().async_wait(asio::as_tuple(asio::use_awaitable)));
    }
    if (result.index() == 0) {
      auto& outcome = std::get<0>(result);
      if (outcome.ok()) {
        status = RunStatus::kCompleted;
        message = outcome->reason;
      } else if (outcome.status().reason() == "INSUFFICIENT_CREDITS") {
        status = RunStatus::kStopped;
        message = "insufficient_credits";
        error_event =
            ErrorEvent("Insufficient credits: add credits to continue", "INSUFFICIENT_CREDITS");
      } else {
        message = outcome.status().message();
        error_event = ErrorEvent(message, "LLM_PROVIDER_ERROR");
      }
    } else if (run->stop_reason() == StopReason::kUser) {
      status = RunStatus::kStopped;
      message = "stopped";
    } else if (run->stop_reason() == StopReason::kShutdown) {
      message = "Server shut down during the run";
      error_event = ErrorEvent(message, "SHUTDOWN");
    } else {
      const auto limit = RunTimeout(run->input(), options_.run_timeout);
      message = fmt::format("Run exceeded its time limit of {} s", limit.count() / 1000.0);
      error_event = ErrorEvent(message, "RUN_TIMEOUT");
    }
  } catch (const std::exception& e) {
    spdlog::error("run {}: internal error: {}", run->ids().run_id, e.what());
    status = RunStatus::kFailed;
    message = "Internal error while running the agent";
    error_event = ErrorEvent(message, "PIPELINE_ERROR");
  }

  store::RunFinish finish;
  finish.status = status;
  finish.error = status == RunStatus::kFailed ? message : "";
  finish.usage = {{"prompt_tokens", run->usage().prompt_tokens},
                  {"completion_tokens", run->usage().completion_tokens},
                  {"cost", billing::UsdNumber(run->cost_micro())}};
  finish.completed_at_ms = NowMillis();
  std::vector<nlohmann::json> events;
  if (error_event) events.push_back(std::move(*error_event));
  events.push_back(TerminalStatusEvent(status, message));
  Status committed = co_await AwaitCallback<Status>([&](std::function<void(Status)> cb) {
    run->Submit(std::move(events), std::move(finish), std::move(cb));
  });
  if (!committed.ok()) {
    // Without its terminal commit the run stays `running` in the store until the next
    // start's recovery reaps it; live readers poll the store meanwhile.
    bus_.CloseRun(run->ids().run_id);
  }
  Forget(run->ids().run_id);
  run->MarkDone(status);
}

std::unique_ptr<agent::ToolRegistry> RunService::MakeTools(const std::vector<std::string>& names,
                                                           const agent::ToolContext& context) {
  std::vector<std::unique_ptr<agent::Tool>> made;
  for (const std::string& name : names) {
    if (name == agent::kCompleteToolName || name == agent::kAskToolName) continue;
    for (agent::ToolProvider* provider : tools_.providers) {
      if (auto tool = provider->Make(name, context)) {
        made.push_back(std::move(tool));
        break;
      }
    }
  }
  return agent::NewToolRegistry(std::move(made));
}

Result<store::Agent> RunService::GetAgent(const std::string& account_id,
                                          const std::string& agent_id) {
  auto agent = store_.GetAgent(agent_id);
  if (!agent.ok()) return agent.status();
  if (agent->account_id != account_id) return NotFound("Agent not found");
  return agent;
}

Result<std::optional<store::Agent>> RunService::GetDefaultAgent(const std::string& account_id) {
  return store_.GetDefaultAgent(account_id);
}

void RunService::Forget(const std::string& run_id) {
  std::lock_guard lock(mu_);
  active_.erase(run_id);
}

asio::awaitable<Result<RunStatus>> RunService::Stop(std::string account_id, std::string run_id) {
  auto row = GetRun(account_id, run_id);
  if (!row.ok()) co_return row.status();
  if (row->status != RunStatus::kRunning) co_return row->status;
  std::shared_ptr<ActiveRun> active;
  {
    std::lock_guard lock(mu_);
    if (auto it = active_.find(run_id); it != active_.end()) active = it->second;
  }
  if (!active) {
    // Finished between the read and the lookup.
    row = GetRun(account_id, run_id);
    if (!row.ok()) co_return row.status();
    co_return row->status;
  }
  active->RequestStop(StopReason::kUser);
  co_return co_await AwaitCallback<RunStatus>(
      [&](std::function<void(RunStatus)> cb) { active->OnDone(std::move(cb)); });
}

Result<store::Run> RunService::GetRun(const std::string& account_id, const std::string& run_id) {
  auto run = store_.GetRun(run_id);
  if (!run.ok()) {
    if (run.status().code() == StatusCode::kNotFound) return NotFound(kRunNotFound);
    return run.status();
  }
  if (run->account_id != account_id) return NotFound(kRunNotFound);
  return run;
}

Result<store::Thread> RunService::GetThread(const std::string& account_id,
                                            const std::string& thread_id) {
  return OwnedThread(account_id, thread_id);
}

Result<std::optional<store::Account>> RunService::GetAccount(const std::string& account_id) {
  return store_.GetAccount(account_id);
}

Result<store::AccountUsage> RunService::GetAccountUsage(const std::string& account_id) {
  return store_.GetAccountUsage(account_id);
}

Result<store::Thread> RunService::OwnedThread(const std::string& account_id,
                                              const std::string& thread_id) {
  auto thread = store_.GetThread(thread_id);
  if (!thread.ok()) {
    if (thread.status().code() == StatusCode::kNotFound) return NotFound(kThreadNotFound);
    return thread.status();
  }
  if (thread->account_id != account_id) return NotFound(kThreadNotFound);
  return thread;
}

Result<std::vector<store::Run>> RunService::ListThreadRuns(const std::string& account_id,
                                                           const std::string& thread_id, int limit,
                                                           const std::string& before_run_id) {
  AGENTD_RETURN_IF_ERROR(OwnedThread(account_id, thread_id).status());
  int64_t before = 0;
  if (!before_run_id.empty()) {
    auto cursor = GetRun(account_id, before_run_id);
    if (!cursor.ok() || cursor->thread_id != thread_id) {
      return InvalidArgument("before must be a run of this thread");
    }
    before = cursor->creation_order;
  }
  return store_.ListThreadRuns(thread_id, limit, before);
}

Result<std::vector<store::Run>> RunService::ListActiveRuns(const std::string& account_id) {
  return store_.ListRunningRuns(account_id);
}

Result<std::vector<store::Message>> RunService::ListMessages(const std::string& account_id,
                                                             const std::string& thread_id) {
  AGENTD_RETURN_IF_ERROR(OwnedThread(account_id, thread_id).status());
  return store_.ListMessages(thread_id);
}

Result<std::shared_ptr<RunEventFeed>> RunService::OpenFeed(const std::string& account_id,
                                                           const std::string& run_id,
                                                           int64_t after_seq,
                                                           asio::any_io_executor executor) {
  AGENTD_ASSIGN_OR_RETURN(store::Run row, GetRun(account_id, run_id));
  if (row.status != RunStatus::kRunning) {
    AGENTD_ASSIGN_OR_RETURN(auto rest, store_.ReadEvents(run_id, after_seq, 1));
    if (rest.empty()) return std::shared_ptr<RunEventFeed>();
  }
  return std::make_shared<RunEventFeed>(store_, bus_, std::move(executor), run_id, after_seq,
                                        options_.subscriber_queue_bytes, options_.store_poll);
}

asio::awaitable<void> RunService::Shutdown() {
  std::vector<std::shared_ptr<ActiveRun>> runs;
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    for (auto& [id, run] : active_) runs.push_back(run);
  }
  for (auto& run : runs) run->RequestStop(StopReason::kShutdown);
  for (auto& run : runs) {
    co_await AwaitCallback<RunStatus>(
        [&](std::function<void(RunStatus)> cb) { run->OnDone(std::move(cb)); });
  }
}

}  // namespace agentd::runs
