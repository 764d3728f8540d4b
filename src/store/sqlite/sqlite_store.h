// SqliteStore: the embedded Store, one SQLite file in WAL mode. Only app/ creates it.
// One writer thread owns the write connection and group-commits every queued write (see
// store.h; a backlog of more than 1000 writes is committed 1000 at a time). Reads use a small
// pool of read-only connections, so they run while the writer writes.
// Thread safety: all methods, from any thread. Lifetime: the destructor completes every queued
// write (calling its `done`), then joins the writer; no read may be in progress then.
// Durability: with synchronous=NORMAL (default) a process crash loses nothing committed; a
// power loss may lose the last commits. Use "FULL" to survive that too, at some write cost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace agentd::store::sqlite {

struct SqliteOptions {
  std::string path;                    // database file; created if absent. Required.
  std::string synchronous = "NORMAL";  // PRAGMA synchronous: OFF, NORMAL, FULL or EXTRA
  int read_connections = 4;            // size of the read pool, >= 1
  // WAL checkpoints run on a background connection this often, so the writer never stalls on
  // a checkpoint's fsync. 0 = SQLite's automatic checkpoint on the writer instead.
  int checkpoint_interval_ms = 1000;
};

// Opens (creating and migrating as needed) the database and starts the writer thread.
// InvalidArgument for bad options; Unavailable when the file cannot be opened; FailedPrecondition
// when the file was migrated by a newer server.
Result<std::unique_ptr<Store>> NewSqliteStore(const SqliteOptions& options);

class Db;
class WriteJob;

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override;

  void CreateRun(NewRun run, std::function<void(Result<CreatedRun>)> done) override;
  // Also refuses (FailedPrecondition reason RUN_NOT_RUNNING, nothing written) events or messages
  // for a run that is no longer running, so nothing ever follows a terminal event. NotFound
  // for an unknown run; InvalidArgument when an event's seq is not above the run's last seq.
  void CommitRunWrite(RunWrite write, std::function<void(Status)> done) override;
  void UpdateAccount(AccountUpdate update, std::function<void(Result<Account>)> done) override;
  void PurgeEvents(int64_t completed_before_ms, int max_runs,
                   std::function<void(Result<int64_t>)> done) override;
  void RenewLeases(std::string owner_instance, int64_t lease_expires_at_ms,
                   std::function<void(Status)> done) override;
  // REQUIRES: not called on the writer thread (i.e. not from a `done` callback).
  Result<std::vector<ReapedRun>> ReapRuns(const std::string& live_instance, int64_t now_ms,
                                          const std::string& error) override;

  Result<std::optional<Account>> GetAccount(const std::string& account_id) override;
  Result<AccountUsage> GetAccountUsage(const std::string& account_id) override;
  Result<int64_t> LedgerSum(const std::string& account_id) override;
  Result<Run> GetRun(const std::string& run_id) override;
  Result<Thread> GetThread(const std::string& thread_id) override;
  Result<std::optional<std::string>> GetProjectOwner(const std::string& project_id) override;
  // An unknown thread or run has no runs / messages / events: empty lists, not NotFound.
  // InvalidArgument when `limit` < 1. ListRunningRuns is oldest first.
  Result<std::vector<Run>> ListThreadRuns(const std::string& thread_id, int limit,
                                          int64_t before_creation_order) override;
  Result<std::vector<Run>> ListRunningRuns(const std::string& account_id) override;
  Result<std::vector<Message>> ListMessages(const std::string& thread_id) override;

  void CreateAgent(Agent agent, std::function<void(Result<Agent>)> done) override;
  void UpdateAgent(std::string account_id, std::string agent_id, AgentPatch patch, int64_t now_ms,
                   std::function<void(Result<Agent>)> done) override;
  void DeleteAgent(std::string account_id, std::string agent_id,
                   std::function<void(Status)> done) override;
  void EnsureDefaultAgent(std::string account_id, std::string default_tier,
                          int64_t starting_credits_micro, Agent defaults,
                          std::function<void(Result<Agent>)> done) override;
  Result<Agent> GetAgent(const std::string& agent_id) override;
  Result<std::optional<Agent>> GetDefaultAgent(const std::string& account_id) override;
  Result<std::vector<Agent>> ListAgents(const std::string& account_id) override;
  void AddMemory(Memory memory, std::function<void(Result<Memory>)> done) override;
  Result<std::vector<Memory>> SearchMemories(const std::string& account_id,
                                             const std::string& query, int limit) override;
  Result<std::vector<Event>> ReadEvents(const std::string& run_id, int64_t after_seq,
                                        int limit) override;

  struct WriterStats {
    uint64_t transactions = 0;  // committed or failed
    uint64_t jobs = 0;
  };
  WriterStats WriterStatsForTesting() const;

 private:
  friend Result<std::unique_ptr<Store>> NewSqliteStore(const SqliteOptions& options);
  SqliteStore(std::unique_ptr<Db> write_db, std::vector<std::unique_ptr<Db>> read_dbs,
              std::unique_ptr<Db> checkpoint_db, int checkpoint_interval_ms);
  void CheckpointLoop();

  void Enqueue(std::unique_ptr<WriteJob> job);
  void WriterLoop();
  // Runs jobs from `begin` (at most kMaxJobsPerTransaction) in one transaction, completes them
  // and returns the index of the first job it did not run (a broken transaction ends early).
  size_t RunTransaction(std::vector<std::unique_ptr<WriteJob>>& batch, size_t begin);

  class ReadLease;
  std::unique_ptr<Db> AcquireReader();
  void ReleaseReader(std::unique_ptr<Db> db);

  // Used only by writer_ (and by the factory before writer_ starts).
  const std::unique_ptr<Db> write_db_;
  std::vector<Status> job_results_;  // per job of the current batch

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable stop_cv_;               // wakes the checkpointer on shutdown
  std::vector<std::unique_ptr<WriteJob>> queue_;  // guarded by mu_
  bool stopping_ = false;                         // guarded by mu_
  bool writer_done_ = false;                      // guarded by mu_

  const size_t read_pool_size_;
  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::vector<std::unique_ptr<Db>> idle_readers_;  // guarded by read_mu_

  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> jobs_{0};

  const std::unique_ptr<Db> checkpoint_db_;  // used only by checkpointer_; null = none
  const int checkpoint_interval_ms_;

  std::thread writer_;        // started once everything above exists
  std::thread checkpointer_;  // runs while !stopping_
};

}  // namespace agentd::store::sqlite
