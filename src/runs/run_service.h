// RunService: the lifecycle of agent runs on this instance: start (one store transaction,
// then background execution as a coroutine on the server's executor; no thread per run),
// stop, reads with ownership checks, event feeds for streaming, leases and crash recovery.
// Every run reaches exactly one terminal status; the terminal status and terminal event are
// committed in one transaction before the event is published.
// Thread safety: all methods are safe from any thread. Owned by the composition root; must
// outlive the io_context's work (call Shutdown() first).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/agent_loop.h"
#include "agent/modes.h"
#include "bus/event_bus.h"
#include "core/status.h"
#include "files/upload.h"
#include "llm/llm_client.h"
#include "runs/event_feed.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

namespace agentd::runs {

struct RunServiceOptions {
  std::string instance_id;                        // default: a new UUID per process
  std::chrono::milliseconds lease{30000};         // lease of a running run
  std::chrono::milliseconds lease_renew{10000};   // how often the owner renews
  std::chrono::milliseconds run_timeout{600000};  // a run longer than this fails
  std::chrono::milliseconds store_poll{500};      // feed polling when no live channel
  std::chrono::seconds event_retention{86400};    // events of finished runs kept this long
  std::chrono::milliseconds retention_sweep{60000};
  int max_steps = 25;
  size_t subscriber_queue_bytes = 1 << 20;
  std::string default_tier = "free";           // tier of an account created by a start
  int64_t starting_credits_micro = 3'000'000;  // its starting credits
};

// What runs' tools are made from; the mode of a run picks tools by name from the providers.
struct RunTools {
  std::vector<agent::ToolProvider*> providers;   // every tool family of the server
  sandbox::SandboxManager* sandboxes = nullptr;  // nullptr = no sandboxes (some tests)
  files::Uploader* uploads = nullptr;            // nullptr = starts with files are refused
};

struct StartRunInput {
  std::string account_id;
  std::string prompt;
  std::string thread_id;   // empty: new thread
  std::string project_id;  // optimistic mode only
  bool optimistic = false;
  std::string model_name;  // catalogue name, already resolved
  std::string provider;    // key into the LLM clients
  std::string upstream_model;
  // Billing (the caller's tier and the model's price). Each model response debits
  // billing::CostMicro(usage, prices, multiplier) with its llm_response_end event.
  store::RunLimits limits;                   // checked in the start transaction
  std::chrono::milliseconds run_timeout{0};  // 0 = options.run_timeout; capped by it
  int64_t input_micro_usd_per_mtok = 0;
  int64_t output_micro_usd_per_mtok = 0;
  int64_t price_multiplier_ppm = 1'000'000;
  int64_t context_window = 128000;  // the model's, in tokens
  // Agent and mode, resolved by the caller. The run offers the mode's tools that the agent
  // enables (all of them when agent_tools is nullopt), without `remember` when memory is off.
  std::string agent_id;  // stamped on the thread's new messages; empty = none
  std::string agent_system_prompt;
  std::optional<std::vector<std::string>> agent_tools;
  agent::Mode mode;
  // Memory in this run: relevant memories of the account go into the system prompt and the
  // `remember` tool is offered. Stored on a new thread as its default.
  bool memory_enabled = true;
};

struct StartedRun {
  std::string run_id;
  std::string thread_id;
  std::string project_id;
  std::string model_name;
  std::optional<std::string> sandbox_id;  // the project's sandbox, when it has one
  nlohmann::json files;                   // [{name, path, size, sha256, mime_type}] or null
};

class RunService {
 public:
  // REQUIRES: every borrowed object outlives the service. `llm_clients` maps provider names.
  RunService(store::Store& store, bus::EventBus& bus,
             std::unordered_map<std::string, llm::LlmClient*> llm_clients, RunTools tools,
             boost::asio::any_io_executor executor, RunServiceOptions options);
  ~RunService();
  RunService(const RunService&) = delete;
  RunService& operator=(const RunService&) = delete;

  // Makes failed every run left running by a dead server (blocking; call before serving).
  Result<int> RecoverLostRuns();
  // Starts the periodic lease renewal and event-retention sweep on the executor.
  void StartBackgroundTasks();

  // Commits the run (see Store::CreateRun for the refusals) and hands it to the executor.
  // With `uploads`, first places them in the project's sandbox (created when absent) and
  // attaches them to the user message (runs/run_uploads.h); a refused start removes them
  // again. Unimplemented when the service has no uploader.
  boost::asio::awaitable<Result<StartedRun>> Start(StartRunInput input,
                                                   std::vector<files::SpooledFile> uploads = {});
  // Stops a running run and waits for its terminal commit; returns the run's final status
  // (unchanged for a finished run). NotFound "Agent run not found" for others' runs.
  boost::asio::awaitable<Result<store::RunStatus>> Stop(std::string account_id, std::string run_id);

  Result<store::Run> GetRun(const std::string& account_id, const std::string& run_id);
  // The caller's thread; NotFound "Thread not found" when absent or someone else's.
  Result<store::Thread> GetThread(const std::string& account_id, const std::string& thread_id);
  // nullopt for an account never seen.
  Result<std::optional<store::Account>> GetAccount(const std::string& account_id);
  Result<store::AccountUsage> GetAccountUsage(const std::string& account_id);
  Result<std::vector<store::Run>> ListThreadRuns(const std::string& account_id,
                                                 const std::string& thread_id, int limit,
                                                 const std::string& before_run_id);
  Result<std::vector<store::Run>> ListActiveRuns(const std::string& account_id);
  Result<std::vector<store::Message>> ListMessages(const std::string& account_id,
                                                   const std::string& thread_id);
  // The caller's agent; NotFound "Agent not found" when absent or someone else's.
  Result<store::Agent> GetAgent(const std::string& account_id, const std::string& agent_id);
  // nullopt until the account's default agent exists (it is made with the account).
  Result<std::optional<store::Agent>> GetDefaultAgent(const std::string& account_id);

  // A feed of the run's events after `after_seq`, or nullptr when the run is finished and
  // nothing is left after `after_seq` (HTTP 204). NotFound for others' runs.
  Result<std::shared_ptr<RunEventFeed>> OpenFeed(const std::string& account_id,
                                                 const std::string& run_id, int64_t after_seq,
                                                 boost::asio::any_io_executor executor);

  // Stops accepting runs, ends every running run (failed, "server shutting down") and waits
  // for their terminal commits.
  boost::asio::awaitable<void> Shutdown();

  const std::string& instance_id() const { return options_.instance_id; }

 private:
  class ActiveRun;
  boost::asio::awaitable<void> Execute(std::shared_ptr<ActiveRun> run);
  // Calls `tick` every `interval` until shutdown.
  boost::asio::awaitable<void> Periodically(std::chrono::milliseconds interval,
                                            std::function<void()> tick);
  // The registry of `names` for one run (complete/ask are the loop's own; a name no provider
  // makes is left out).
  std::unique_ptr<agent::ToolRegistry> MakeTools(const std::vector<std::string>& names,
                                                 const agent::ToolContext& context);
  Result<store::Thread> OwnedThread(const std::string& account_id, const std::string& thread_id);
  void Forget(const std::string& run_id);

  store::Store& store_;
  bus::EventBus& bus_;
  const std::unordered_map<std::string, llm::LlmClient*> llm_clients_;
  const RunTools tools_;
  const boost::asio::any_io_executor executor_;
  const RunServiceOptions options_;

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<ActiveRun>> active_;  // GUARDED_BY(mu_)
  bool shutting_down_ = false;                                          // GUARDED_BY(mu_)
};

}  // namespace agentd::runs
