// Store: all durable state of agentd (accounts, projects, threads, messages, agent runs and
// their events). The embedded default is store/sqlite; PostgreSQL plugs in behind the same
// interface later.
//
// Writes are asynchronous and group-committed: each write is queued, a single writer runs
// everything queued in one transaction, commits, and then calls each write's `done` callback
// (on the writer thread, in submission order). A `done` callback must be quick and must not
// call back into the Store synchronously. Reads are synchronous and see every write whose
// `done` has been called. All methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace agentd::store {

enum class RunStatus { kRunning, kCompleted, kFailed, kStopped };
const char* RunStatusName(RunStatus s);  // "running", "completed", ...
std::optional<RunStatus> ParseRunStatus(std::string_view s);

struct Message {
  std::string message_id;
  std::string thread_id;
  std::string type;  // "user", "assistant", "tool", ...
  bool is_llm_message = true;
  nlohmann::json content = nlohmann::json::object();
  nlohmann::json metadata = nlohmann::json::object();
  std::string agent_id;          // empty = none
  std::string agent_version_id;  // empty = none
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct Thread {
  std::string thread_id;
  std::string project_id;
  std::string account_id;
  int64_t created_at_ms = 0;
  bool memory_enabled = true;  // chosen when the thread was made; a run may override it
};

struct Run {
  std::string run_id;
  std::string thread_id;
  std::string project_id;
  std::string account_id;
  RunStatus status = RunStatus::kRunning;
  std::string model_name;                           // catalogue name used
  std::string error;                                // empty = none
  nlohmann::json usage = nlohmann::json::object();  // {"prompt_tokens":..,"completion_tokens":..}
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  std::optional<int64_t> completed_at_ms;
  std::string owner_instance;
  int64_t lease_expires_at_ms = 0;
  int64_t creation_order = 0;  // strictly increasing across all runs; paging cursor
};

// One SSE event of a run. `data` is the complete JSON object text as sent to clients.
struct Event {
  std::string run_id;
  int64_t seq = 0;  // 1..N per run, no gaps
  std::string data;
};

struct Account {
  std::string account_id;
  std::string tier;
  std::string role;           // "user" or "super_admin"
  int64_t balance_micro = 0;  // 1e-6 USD; always equals the sum of the account's ledger
  int64_t created_at_ms = 0;
};

struct AccountUsage {
  int64_t running_runs = 0;
  int64_t threads = 0;
  int64_t projects = 0;
};

// The limits CreateRun enforces inside its transaction (the caller's tier). -1 = unlimited.
struct RunLimits {
  int64_t max_concurrent_runs = -1;
  int64_t max_threads = -1;
  int64_t max_projects = -1;
};

// An administrative change of one account (the `agentd account set` command). Unset fields are
// left alone. An absent account is created first (tier `default_tier`, a 'grant' ledger row of
// `starting_credits_micro`).
struct AccountUpdate {
  std::string account_id;
  std::optional<std::string> tier;
  std::optional<std::string> role;
  std::optional<int64_t> set_credits_micro;  // ledger row 'set' of the difference
  std::optional<int64_t> add_credits_micro;  // ledger row 'add' (may be negative)
  std::string default_tier = "free";
  int64_t starting_credits_micro = 3'000'000;
  int64_t now_ms = 0;
};

// The name of the default agent an account gets on first sight.
inline constexpr char kDefaultAgentName[] = "Default Agent";

// An agent configuration of an account (POST /agents). Each account has exactly one default
// agent, made on first sight of the account (every other field unset).
struct Agent {
  std::string agent_id;
  std::string account_id;
  std::string name;
  std::string description;
  std::string system_prompt;  // empty = the mode's prompt only
  std::string model;          // catalogue name; empty = the tier's default
  std::string mode;           // empty = the server's default mode
  // Tools enabled for this agent; nullopt = every tool of the run's mode.
  std::optional<std::vector<std::string>> tools;
  bool is_default = false;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// A partial update of an agent: only the set fields change.
struct AgentPatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> system_prompt;
  std::optional<std::string> model;
  std::optional<std::string> mode;
  std::optional<std::optional<std::vector<std::string>>> tools;  // set to nullopt = all tools
  std::optional<bool> is_default;  // true moves the default to this agent
};

// One long-term memory of an account (the `remember` tool).
struct Memory {
  std::string memory_id;
  std::string account_id;
  std::string content;
  std::string source_thread_id;  // empty = none
  int64_t created_at_ms = 0;
};

// Everything /agent/start commits in one transaction.
struct NewRun {
  std::string account_id;                      // the caller (JWT sub)
  std::string default_tier;                    // tier of the account if it is created now
  int64_t starting_credits_micro = 3'000'000;  // granted to an account created now
  RunLimits limits;
  // Thread: either continue `thread_id` (existing) or create one. For a new thread,
  // `thread_id`/`project_id` may be client-supplied (optimistic mode) or empty (server makes them).
  bool new_thread = true;
  bool optimistic = false;
  std::string thread_id;
  std::string project_id;
  std::string run_id;  // made by the server
  std::string model_name;
  Message user_message;        // thread_id filled in by the store when the thread is new
  bool memory_enabled = true;  // stored on a new thread; ignored for an existing one
  std::string owner_instance;
  int64_t lease_expires_at_ms = 0;
  int64_t now_ms = 0;
};

struct CreatedRun {
  std::string run_id;
  std::string thread_id;
  std::string project_id;
};

// The terminal update of a run, applied only while the run is still `running`.
struct RunFinish {
  RunStatus status = RunStatus::kCompleted;
  std::string error;
  nlohmann::json usage = nlohmann::json::object();
  int64_t completed_at_ms = 0;
};

// A charge to an account: balance -= amount and a 'debit' ledger row naming the run.
struct Debit {
  std::string account_id;
  int64_t amount_micro = 0;
  std::string note;
};

// Writes of a running run, committed atomically (all or nothing).
struct RunWrite {
  std::string run_id;
  std::vector<Event> events;
  std::vector<Message> messages;
  std::optional<Debit> debit;
  std::optional<RunFinish> finish;
};

struct ReapedRun {
  std::string run_id;
  Event terminal_event;
};

class Store {
 public:
  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Creates account (on first sight, with a 'grant' ledger row of its starting credits),
  // project and thread (when new), the user message and the run row, in one transaction. The
  // running run row is the account's concurrency slot; its terminal update releases it.
  // Failures, checked in this order (nothing at all is written):
  //   NotFound "Thread not found"  - existing thread absent or owned by another account;
  //   NotFound "Project not found" - optimistic project_id owned by another account;
  //   AlreadyExists reason THREAD_ALREADY_EXISTS - optimistic thread_id already exists;
  //   Aborted reason THREAD_BUSY, details {"running_agent_run_id": id} - thread has a running run;
  //   ResourceExhausted INSUFFICIENT_CREDITS {"balance": dollars} - balance <= 0;
  //   ResourceExhausted THREAD_LIMIT_EXCEEDED / PROJECT_LIMIT_EXCEEDED {"limit",
  //     "current_count"} - a new thread / project would exceed `limits`;
  //   ResourceExhausted AGENT_RUN_LIMIT_EXCEEDED {"limit", "running_count",
  //     "running_thread_ids"} - the account already runs max_concurrent_runs runs.
  virtual void CreateRun(NewRun run, std::function<void(Result<CreatedRun>)> done) = 0;

  // Applies an account change (see AccountUpdate) in one transaction; returns the account after
  // it. InvalidArgument for an empty account_id.
  virtual void UpdateAccount(AccountUpdate update, std::function<void(Result<Account>)> done) = 0;

  // Appends events and messages of a run, applies its debit and, with `finish`, makes it
  // terminal, all in one transaction. With `finish`
  // set and the run no longer running, nothing is written and FailedPrecondition is returned.
  virtual void CommitRunWrite(RunWrite write, std::function<void(Status)> done) = 0;

  // Extends the lease of every running run owned by `owner_instance`.
  virtual void RenewLeases(std::string owner_instance, int64_t lease_expires_at_ms,
                           std::function<void(Status)> done) = 0;

  // Deletes the events of up to `max_runs` runs that finished before `completed_before_ms`
  // (event retention); returns how many runs were purged. Their rows and messages stay.
  virtual void PurgeEvents(int64_t completed_before_ms, int max_runs,
                           std::function<void(Result<int64_t>)> done) = 0;

  // Makes failed every running run whose owner is not `live_instance` or whose lease expired
  // before `now_ms` (pass an empty live_instance to reap all), appending a terminal
  // {"type":"status","status":"failed","message":error} event with the next seq. Blocking.
  virtual Result<std::vector<ReapedRun>> ReapRuns(const std::string& live_instance, int64_t now_ms,
                                                  const std::string& error) = 0;

  // Reads. nullopt when the account was never seen.
  virtual Result<std::optional<Account>> GetAccount(const std::string& account_id) = 0;
  virtual Result<AccountUsage> GetAccountUsage(const std::string& account_id) = 0;
  // Sum of the account's ledger rows (for checks: it always equals the balance).
  virtual Result<int64_t> LedgerSum(const std::string& account_id) = 0;

  // Reads. NotFound when absent; ownership is checked by the caller.
  virtual Result<Run> GetRun(const std::string& run_id) = 0;
  virtual Result<Thread> GetThread(const std::string& thread_id) = 0;
  // The account owning the project; nullopt when there is no such project.
  virtual Result<std::optional<std::string>> GetProjectOwner(const std::string& project_id) = 0;
  // Newest first by creation order; `before_creation_order` (0 = none) pages backwards.
  virtual Result<std::vector<Run>> ListThreadRuns(const std::string& thread_id, int limit,
                                                  int64_t before_creation_order) = 0;
  virtual Result<std::vector<Run>> ListRunningRuns(const std::string& account_id) = 0;
  // Oldest first.
  virtual Result<std::vector<Message>> ListMessages(const std::string& thread_id) = 0;

  // Agents; each write is one transaction.
  // CreateAgent fills agent_id (a new UUID when empty) and zero timestamps (now), and with
  //   is_default moves the account's default to the new agent. InvalidArgument for an empty
  //   account_id or name; NotFound "Account not found" for an account never seen;
  //   AlreadyExists "Agent already exists" for a taken agent_id.
  // UpdateAgent applies `patch` (updated_at = now_ms, 0 = now) and returns the agent after it.
  //   is_default=true moves the account's default to it; InvalidArgument for an empty name.
  // UpdateAgent and DeleteAgent: NotFound "Agent not found" when the agent is absent or not
  //   `account_id`'s. An account always keeps one default agent: deleting it, or setting
  //   is_default=false on it, is FailedPrecondition reason DEFAULT_AGENT_REQUIRED ("The default
  //   agent cannot be deleted" / "... cannot be unset; make another agent the default").
  // EnsureDefaultAgent returns the account's default agent. When there is none it creates the
  //   account (as CreateRun would: `default_tier`, a grant of `starting_credits_micro`) if
  //   absent and a default agent from `defaults` (its agent_id, account_id, is_default and
  //   zero timestamps are filled in). Concurrent calls create one default.
  // An account created by CreateRun or UpdateAccount gets its default agent (named
  // kDefaultAgentName, everything else unset) in the same transaction.
  virtual void CreateAgent(Agent agent, std::function<void(Result<Agent>)> done) = 0;
  virtual void UpdateAgent(std::string account_id, std::string agent_id, AgentPatch patch,
                           int64_t now_ms, std::function<void(Result<Agent>)> done) = 0;
  virtual void DeleteAgent(std::string account_id, std::string agent_id,
                           std::function<void(Status)> done) = 0;
  virtual void EnsureDefaultAgent(std::string account_id, std::string default_tier,
                                  int64_t starting_credits_micro, Agent defaults,
                                  std::function<void(Result<Agent>)> done) = 0;
  // NotFound "Agent not found" when absent (ownership is checked by the caller).
  virtual Result<Agent> GetAgent(const std::string& agent_id) = 0;
  // nullopt when the account has no default agent yet (it was never seen).
  virtual Result<std::optional<Agent>> GetDefaultAgent(const std::string& account_id) = 0;
  // Oldest first; empty for an account never seen.
  virtual Result<std::vector<Agent>> ListAgents(const std::string& account_id) = 0;

  // Long-term memory (full-text search over the account's memories).
  // AddMemory fills memory_id (a new UUID when empty) and a zero created_at (now) and returns
  // the stored memory. InvalidArgument for an empty account_id or content; NotFound "Account
  // not found" for an account never seen.
  virtual void AddMemory(Memory memory, std::function<void(Result<Memory>)> done) = 0;
  // The account's memories most relevant to `query` (best first, at most `limit`), never
  // another account's. Any text is a valid query: its words are matched, OR-ed (punctuation,
  // quotes and search operators in it are plain text). An empty or punctuation-only query
  // gives the newest ones. InvalidArgument when `limit` < 1.
  virtual Result<std::vector<Memory>> SearchMemories(const std::string& account_id,
                                                     const std::string& query, int limit) = 0;
  // Events with seq > after_seq, ascending, at most `limit`.
  virtual Result<std::vector<Event>> ReadEvents(const std::string& run_id, int64_t after_seq,
                                                int limit) = 0;

 protected:
  Store() = default;
};

}  // namespace agentd::store
