#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <limits>
#include <optional>
#include <utility>

#include "core/clock.h"
#include "core/ids.h"
#include "store/sqlite/sqlite_accounts.h"
#include "store/sqlite/sqlite_agents.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_jobs.h"
#include "store/sqlite/sqlite_schema.h"

namespace agentd::store::sqlite {

namespace {

constexpr int kBusyTimeoutMs = 5000;
// A backlog is committed in transactions of at most this many jobs: a transaction that outgrows
// the page cache spills and re-reads pages (measured: 100k queued 1-event writes ran ~1.5-2x
// faster in chunks of 1000 than in one transaction), and the first job of a long backlog gets
// its `done` without waiting for the whole backlog.
constexpr size_t kMaxJobsPerTransaction = 1000;

// ---- SQL: connection setup and transactions ----

constexpr char kPragmaWal[] = "PRAGMA journal_mode=WAL";
constexpr char kPragmaForeignKeys[] = "PRAGMA foreign_keys=ON";
constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";
constexpr char kSavepoint[] = "SAVEPOINT job";
constexpr char kReleaseSavepoint[] = "RELEASE job";
constexpr char kRollbackToSavepoint[] = "ROLLBACK TO job";

// ---- SQL: writes ----

constexpr char kThreadExists[] = "SELECT 1 FROM threads WHERE thread_id = ?1";
constexpr char kSelectProjectOwner[] = "SELECT account_id FROM projects WHERE project_id = ?1";
constexpr char kInsertProject[] =
    "INSERT INTO projects(project_id, account_id, created_at) VALUES (?1, ?2, ?3)";
constexpr char kInsertThread[] =
    "INSERT INTO threads(thread_id, project_id, account_id, created_at, memory_enabled) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr char kSelectRunningRunOfThread[] =
    "SELECT run_id FROM agent_runs WHERE thread_id = ?1 AND status = 'running' LIMIT 1";
constexpr char kInsertMessage[] =
    "INSERT INTO messages(message_id, thread_id, type, is_llm_message, content, metadata, "
    "agent_id, agent_version_id, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr char kInsertRun[] =
    "INSERT INTO agent_runs(run_id, thread_id, project_id, account_id, status, model_name, "
    "created_at, started_at, owner_instance, lease_expires_at, last_seq) "
    "VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, ?7, ?8, 0)";
constexpr char kSelectRunForWrite[] =
    "SELECT thread_id, status, last_seq, creation_order FROM agent_runs WHERE run_id = ?1";
constexpr char kInsertEvent[] =
    "INSERT INTO run_events(run_key, seq, data, created_at) VALUES (?1, ?2, ?3, ?4)";
constexpr char kUpdateLastSeq[] = "UPDATE agent_runs SET last_seq = ?2 WHERE run_id = ?1";
constexpr char kFinishRun[] =
    "UPDATE agent_runs SET status = ?2, error = ?3, usage = ?4, completed_at = ?5 "
    "WHERE run_id = ?1 AND status = 'running'";
constexpr char kRenewLeases[] =
    "UPDATE agent_runs SET lease_expires_at = ?2 "
    "WHERE owner_instance = ?1 AND status = 'running'";
constexpr char kSelectRunsToPurge[] =
    "SELECT run_id FROM agent_runs INDEXED BY agent_runs_unpurged_by_completion "
    "WHERE status <> 'running' AND events_purged = 0 AND completed_at < ?1 LIMIT ?2";
constexpr char kDeleteRunEvents[] =
    "DELETE FROM run_events "
    "WHERE run_key = (SELECT creation_order FROM agent_runs WHERE run_id = ?1)";
constexpr char kMarkRunPurged[] = "UPDATE agent_runs SET events_purged = 1 WHERE run_id = ?1";
// INDEXED BY: scan only the running runs (a partial index), never the whole history.
constexpr char kSelectRunsToReap[] =
    "SELECT run_id, last_seq, creation_order FROM agent_runs "
    "INDEXED BY agent_runs_running_by_owner "
    "WHERE status = 'running' AND (?1 = '' OR owner_instance <> ?1 OR lease_expires_at < ?2) "
    "ORDER BY creation_order";
constexpr char kFailReapedRun[] =
    "UPDATE agent_runs SET status = 'failed', error = ?2, completed_at = ?3, last_seq = ?4 "
    "WHERE run_id = ?1 AND status = 'running'";

// ---- SQL: reads ----

#define AGENTD_RUN_COLUMNS                                                                    \
  "run_id, thread_id, project_id, account_id, status, model_name, error, usage, created_at, " \
  "started_at, completed_at, owner_instance, lease_expires_at, creation_order"

constexpr char kSelectRun[] = "SELECT " AGENTD_RUN_COLUMNS " FROM agent_runs WHERE run_id = ?1";
constexpr char kSelectThreadRuns[] =
    "SELECT " AGENTD_RUN_COLUMNS
    " FROM agent_runs WHERE thread_id = ?1 AND creation_order < ?2 "
    "ORDER BY creation_order DESC LIMIT ?3";
constexpr char kSelectRunningRunsOfAccount[] =
    "SELECT " AGENTD_RUN_COLUMNS
    " FROM agent_runs WHERE account_id = ?1 AND status = 'running' "
    "ORDER BY creation_order";
#undef AGENTD_RUN_COLUMNS

constexpr char kSelectThread[] =
    "SELECT thread_id, project_id, account_id, created_at, memory_enabled FROM threads "
    "WHERE thread_id = ?1";
constexpr char kSelectMessages[] =
    "SELECT message_id, thread_id, type, is_llm_message, content, metadata, agent_id, "
    "agent_version_id, created_at, updated_at FROM messages WHERE thread_id = ?1 ORDER BY ord";
constexpr char kSelectEvents[] =
    "SELECT seq, data FROM run_events "
    "WHERE run_key = (SELECT creation_order FROM agent_runs WHERE run_id = ?1) AND seq > ?2 "
    "ORDER BY seq LIMIT ?3";

// ---- Helpers ----

std::string JsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<nlohmann::json> ParseJsonColumn(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status(StatusCode::kDataLoss, "Corrupt JSON column");
  return j;
}

Status NotRunning() {
  return Status(StatusCode::kFailedPrecondition, "Run is not running", "RUN_NOT_RUNNING");
}

// Runs a one-text-parameter query and returns column 0 of its first row, if any.
Result<std::optional<std::string>> FirstText(Db& db, const char* sql, const std::string& arg) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(sql));
  stmt.BindText(1, arg);
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.ColumnText(0));
}

Result<std::optional<Thread>> FindThread(Db& db, const std::string& thread_id) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kSelectThread));
  stmt.BindText(1, thread_id);
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Thread>();
  return std::optional<Thread>(Thread{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2),
                                      stmt.ColumnInt(3), stmt.ColumnInt(4) != 0});
}

Result<Run> ReadRunRow(const Stmt& s) {
  Run run;
  run.run_id = s.ColumnText(0);
  run.thread_id = s.ColumnText(1);
  run.project_id = s.ColumnText(2);
  run.account_id = s.ColumnText(3);
  std::optional<RunStatus> status = ParseRunStatus(s.ColumnText(4));
  if (!status) return Status(StatusCode::kDataLoss, "Corrupt run status");
  run.status = *status;
  run.model_name = s.ColumnText(5);
  run.error = s.ColumnText(6);
  AGENTD_ASSIGN_OR_RETURN(run.usage, ParseJsonColumn(s.ColumnText(7)));
  run.created_at_ms = s.ColumnInt(8);
  run.started_at_ms = s.ColumnInt(9);
  if (!s.ColumnIsNull(10)) run.completed_at_ms = s.ColumnInt(10);
  run.owner_instance = s.ColumnText(11);
  run.lease_expires_at_ms = s.ColumnInt(12);
  run.creation_order = s.ColumnInt(13);
  return run;
}

Result<std::vector<Run>> ReadRunRows(Stmt& stmt) {
  std::vector<Run> runs;
  for (;;) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return runs;
    AGENTD_ASSIGN_OR_RETURN(Run run, ReadRunRow(stmt));
    runs.push_back(std::move(run));
  }
}

Result<Message> ReadMessageRow(const Stmt& s) {
  Message m;
  m.message_id = s.ColumnText(0);
  m.thread_id = s.ColumnText(1);
  m.type = s.ColumnText(2);
  m.is_llm_message = s.ColumnInt(3) != 0;
  AGENTD_ASSIGN_OR_RETURN(m.content, ParseJsonColumn(s.ColumnText(4)));
  AGENTD_ASSIGN_OR_RETURN(m.metadata, ParseJsonColumn(s.ColumnText(5)));
  m.agent_id = s.ColumnText(6);
  m.agent_version_id = s.ColumnText(7);
  m.created_at_ms = s.ColumnInt(8);
  m.updated_at_ms = s.ColumnInt(9);
  return m;
}

// Inserts `m` into `thread_id`. An empty message_id gets a new UUID; zero times become now.
Status InsertMessage(Db& db, const Message& m, const std::string& thread_id, int64_t now_ms) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kInsertMessage));
  const int64_t created = m.created_at_ms != 0 ? m.created_at_ms : now_ms;
  stmt.BindText(1, m.message_id.empty() ? NewUuid() : m.message_id)
      .BindText(2, thread_id)
      .BindText(3, m.type)
      .BindInt(4, m.is_llm_message ? 1 : 0)
      .BindText(5, JsonText(m.content))
      .BindText(6, JsonText(m.metadata))
      .BindTextOrNull(7, m.agent_id)
      .BindTextOrNull(8, m.agent_version_id)
      .BindInt(9, created)
      .BindInt(10, m.updated_at_ms != 0 ? m.updated_at_ms : created);
  return stmt.Run();
}

Status InsertEvent(Db& db, int64_t run_key, int64_t seq, const std::string& data, int64_t now_ms) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kInsertEvent));
  stmt.BindInt(1, run_key).BindInt(2, seq).BindText(3, data).BindInt(4, now_ms);
  return stmt.Run();
}

// ---- Write jobs (run on the writer thread, inside a savepoint) ----

struct ResolvedThread {
  CreatedRun ids;
  bool new_project = false;  // the project must be created
};

// Resolves the thread and project of `r` without writing anything.
Result<ResolvedThread> ResolveThread(Db& db, const NewRun& r) {
  ResolvedThread resolved{CreatedRun{r.run_id, r.thread_id, r.project_id}};
  CreatedRun& out = resolved.ids;
  if (!r.new_thread) {
    AGENTD_ASSIGN_OR_RETURN(std::optional<Thread> thread, FindThread(db, r.thread_id));
    if (!thread || thread->account_id != r.account_id) return NotFound("Thread not found");
    out.project_id = thread->project_id;
    AGENTD_ASSIGN_OR_RETURN(std::optional<std::string> running,
                            FirstText(db, kSelectRunningRunOfThread, r.thread_id));
    if (running) {
      return Status(StatusCode::kAborted, "Thread already has a running agent run", "THREAD_BUSY",
                    {{"running_agent_run_id", *running}});
    }
    return resolved;
  }
  if (r.optimistic && (r.thread_id.empty() || r.project_id.empty())) {
    return InvalidArgument("thread_id and project_id required for optimistic mode");
  }
  if (out.thread_id.empty()) {
    out.thread_id = NewUuid();
  } else {
    AGENTD_ASSIGN_OR_RETURN(std::optional<std::string> exists,
                            FirstText(db, kThreadExists, out.thread_id));
    if (exists) {
      return Status(StatusCode::kAlreadyExists, "Thread already exists", "THREAD_ALREADY_EXISTS");
    }
  }
  if (out.project_id.empty()) {
    out.project_id = NewUuid();
    resolved.new_project = true;
    return resolved;
  }
  AGENTD_ASSIGN_OR_RETURN(std::optional<std::string> owner,
                          FirstText(db, kSelectProjectOwner, out.project_id));
  if (!owner) {
    resolved.new_project = true;
  } else if (*owner != r.account_id) {
    return NotFound("Project not found");
  }
  return resolved;
}

Result<CreatedRun> ApplyCreateRun(Db& db, const NewRun& r) {
  if (r.account_id.empty() || r.run_id.empty()) {
    return InvalidArgument("account_id and run_id required");
  }
  if (!r.new_thread && r.thread_id.empty()) return InvalidArgument("thread_id required");
  AGENTD_ASSIGN_OR_RETURN(ResolvedThread resolved, ResolveThread(db, r));
  const CreatedRun& out = resolved.ids;

  // A new account's rows are undone with everything else (the job's savepoint) on a refusal.
  AGENTD_ASSIGN_OR_RETURN(Account account,
                          EnsureAccount(db, r.account_id, r.default_tier, r.starting_credits_micro,
                                        r.now_ms, StandardDefaultAgent()));
  AGENTD_RETURN_IF_ERROR(CheckGate(db, r, account, resolved.new_project));
  if (resolved.new_project) {
    AGENTD_ASSIGN_OR_RETURN(Stmt project, db.Prepare(kInsertProject));
    project.BindText(1, out.project_id).BindText(2, r.account_id).BindInt(3, r.now_ms);
    AGENTD_RETURN_IF_ERROR(project.Run());
  }
  if (r.new_thread) {
    AGENTD_ASSIGN_OR_RETURN(Stmt thread, db.Prepare(kInsertThread));
    thread.BindText(1, out.thread_id)
        .BindText(2, out.project_id)
        .BindText(3, r.account_id)
        .BindInt(4, r.now_ms)
        .BindInt(5, r.memory_enabled ? 1 : 0);
    AGENTD_RETURN_IF_ERROR(thread.Run());
  }
  AGENTD_RETURN_IF_ERROR(InsertMessage(db, r.user_message, out.thread_id, r.now_ms));
  AGENTD_ASSIGN_OR_RETURN(Stmt run, db.Prepare(kInsertRun));
  run.BindText(1, r.run_id)
      .BindText(2, out.thread_id)
      .BindText(3, out.project_id)
      .BindText(4, r.account_id)
      .BindText(5, r.model_name)
      .BindInt(6, r.now_ms)
      .BindText(7, r.owner_instance)
      .BindInt(8, r.lease_expires_at_ms);
  AGENTD_RETURN_IF_ERROR(run.Run());
  return out;
}

Status ApplyRunWrite(Db& db, const RunWrite& w, int64_t now_ms) {
  if (w.finish && w.finish->status == RunStatus::kRunning) {
    return InvalidArgument("A run can only be finished with a terminal status");
  }
  std::string thread_id;
  int64_t last_seq = 0;
  int64_t run_key = 0;
  {
    AGENTD_ASSIGN_OR_RETURN(Stmt run, db.Prepare(kSelectRunForWrite));
    run.BindText(1, w.run_id);
    AGENTD_ASSIGN_OR_RETURN(bool row, run.Step());
    if (!row) return NotFound("Agent run not found");
    if (run.ColumnText(1) != RunStatusName(RunStatus::kRunning)) return NotRunning();
    thread_id = run.ColumnText(0);
    last_seq = run.ColumnInt(2);
    run_key = run.ColumnInt(3);
  }
  if (!w.events.empty()) {
    int64_t seq = last_seq;
    for (const Event& e : w.events) {
      if (e.seq <= seq) return InvalidArgument("Event seq must increase");
      seq = e.seq;
      AGENTD_RETURN_IF_ERROR(InsertEvent(db, run_key, e.seq, e.data, now_ms));
    }
    AGENTD_ASSIGN_OR_RETURN(Stmt update, db.Prepare(kUpdateLastSeq));
    update.BindText(1, w.run_id).BindInt(2, seq);
    AGENTD_RETURN_IF_ERROR(update.Run());
  }
  for (const Message& m : w.messages) {
    AGENTD_RETURN_IF_ERROR(
        InsertMessage(db, m, m.thread_id.empty() ? thread_id : m.thread_id, now_ms));
  }
  if (w.debit && w.debit->amount_micro != 0) {
    AGENTD_RETURN_IF_ERROR(ApplyLedger(db, w.debit->account_id, -w.debit->amount_micro, "debit",
                                       w.run_id, w.debit->note, now_ms));
  }
  if (w.finish) {
    AGENTD_ASSIGN_OR_RETURN(Stmt finish, db.Prepare(kFinishRun));
    finish.BindText(1, w.run_id)
        .BindText(2, RunStatusName(w.finish->status))
        .BindTextOrNull(3, w.finish->error)
        .BindText(4, JsonText(w.finish->usage))
        .BindInt(5, w.finish->completed_at_ms != 0 ? w.finish->completed_at_ms : now_ms);
    AGENTD_RETURN_IF_ERROR(finish.Run());
    if (db.Changes() == 0) return NotRunning();  // the savepoint undoes the events above
  }
  return Status::Ok();
}

Status ApplyRenewLeases(Db& db, const std::string& owner, int64_t lease_expires_at_ms) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kRenewLeases));
  stmt.BindText(1, owner).BindInt(2, lease_expires_at_ms);
  return stmt.Run();
}

Result<int64_t> ApplyPurgeEvents(Db& db, int64_t completed_before_ms, int max_runs) {
  std::vector<std::string> runs;
  {
    AGENTD_ASSIGN_OR_RETURN(Stmt select, db.Prepare(kSelectRunsToPurge));
    select.BindInt(1, completed_before_ms).BindInt(2, max_runs);
    for (;;) {
      AGENTD_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      runs.push_back(select.ColumnText(0));
    }
  }
  for (const auto& run_id : runs) {
    AGENTD_ASSIGN_OR_RETURN(Stmt del, db.Prepare(kDeleteRunEvents));
    del.BindText(1, run_id);
    AGENTD_RETURN_IF_ERROR(del.Run());
    AGENTD_ASSIGN_OR_RETURN(Stmt mark, db.Prepare(kMarkRunPurged));
    mark.BindText(1, run_id);
    AGENTD_RETURN_IF_ERROR(mark.Run());
  }
  return static_cast<int64_t>(runs.size());
}

std::string TerminalFailedEvent(int64_t seq, const std::string& error) {
  nlohmann::ordered_json event = {{"type", "status"},
                                  {"status", RunStatusName(RunStatus::kFailed)},
                                  {"message", error},
                                  {"_event_id", std::to_string(seq)}};
  return event.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<std::vector<ReapedRun>> ApplyReapRuns(Db& db, const std::string& live_instance,
                                             int64_t now_ms, const std::string& error) {
  struct Victim {
    std::string run_id;
    int64_t last_seq;
    int64_t run_key;
  };
  std::vector<Victim> victims;
  {
    AGENTD_ASSIGN_OR_RETURN(Stmt select, db.Prepare(kSelectRunsToReap));
    select.BindText(1, live_instance).BindInt(2, now_ms);
    for (;;) {
      AGENTD_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      victims.push_back({select.ColumnText(0), select.ColumnInt(1), select.ColumnInt(2)});
    }
  }
  std::vector<ReapedRun> reaped;
  reaped.reserve(victims.size());
  for (const auto& [run_id, last_seq, run_key] : victims) {
    const int64_t seq = last_seq + 1;
    std::string data = TerminalFailedEvent(seq, error);
    AGENTD_RETURN_IF_ERROR(InsertEvent(db, run_key, seq, data, now_ms));
    AGENTD_ASSIGN_OR_RETURN(Stmt fail, db.Prepare(kFailReapedRun));
    fail.BindText(1, run_id).BindTextOrNull(2, error).BindInt(3, now_ms).BindInt(4, seq);
    AGENTD_RETURN_IF_ERROR(fail.Run());
    reaped.push_back(ReapedRun{run_id, Event{run_id, seq, std::move(data)}});
  }
  return reaped;
}

// ---- Connection setup ----

Result<std::string> CheckSynchronous(const std::string& value) {
  std::string upper = value;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* allowed : {"OFF", "NORMAL", "FULL", "EXTRA"}) {
    if (upper == allowed) return upper;
  }
  return InvalidArgument("synchronous must be OFF, NORMAL, FULL or EXTRA");
}

Status SetBusyTimeout(Db& db) {
  const std::string sql = "PRAGMA busy_timeout=" + std::to_string(kBusyTimeoutMs);
  return db.ExecScript(sql.c_str());
}

Result<std::unique_ptr<Db>> OpenWriter(const std::string& path, const std::string& synchronous) {
  AGENTD_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, Db::Mode::kReadWrite));
  AGENTD_RETURN_IF_ERROR(SetBusyTimeout(*db));
  {
    AGENTD_ASSIGN_OR_RETURN(Stmt wal, db->Prepare(kPragmaWal));
    AGENTD_ASSIGN_OR_RETURN(bool row, wal.Step());
    if (!row || wal.ColumnText(0) != "wal") {
      return Unavailable("Database cannot use WAL journal mode");
    }
  }
  const std::string sync_sql = "PRAGMA synchronous=" + synchronous;
  AGENTD_RETURN_IF_ERROR(db->ExecScript(sync_sql.c_str()));
  AGENTD_RETURN_IF_ERROR(db->ExecScript(kPragmaForeignKeys));
  return db;
}

}  // namespace

// ---- Factory ----

Result<std::unique_ptr<Store>> NewSqliteStore(const SqliteOptions& options) {
  if (options.path.empty() || options.path == ":memory:") {
    return InvalidArgument("SQLite store needs a database file path");
  }
  if (options.read_connections < 1) return InvalidArgument("read_connections must be >= 1");
  AGENTD_ASSIGN_OR_RETURN(std::string synchronous, CheckSynchronous(options.synchronous));

  AGENTD_ASSIGN_OR_RETURN(std::unique_ptr<Db> writer, OpenWriter(options.path, synchronous));
  AGENTD_RETURN_IF_ERROR(MigrateSchema(*writer, NowMillis()));

  std::unique_ptr<Db> checkpointer;
  if (options.checkpoint_interval_ms > 0) {
    AGENTD_RETURN_IF_ERROR(writer->ExecScript("PRAGMA wal_autocheckpoint=0"));
    AGENTD_ASSIGN_OR_RETURN(checkpointer, Db::Open(options.path, Db::Mode::kReadWrite));
    AGENTD_RETURN_IF_ERROR(SetBusyTimeout(*checkpointer));
  }
  std::vector<std::unique_ptr<Db>> readers;
  for (int i = 0; i < options.read_connections; ++i) {
    AGENTD_ASSIGN_OR_RETURN(std::unique_ptr<Db> reader,
                            Db::Open(options.path, Db::Mode::kReadOnly));
    AGENTD_RETURN_IF_ERROR(SetBusyTimeout(*reader));
    readers.push_back(std::move(reader));
  }
  return std::unique_ptr<Store>(new SqliteStore(std::move(writer), std::move(readers),
                                                std::move(checkpointer),
                                                options.checkpoint_interval_ms));
}

// ---- Lifecycle and the writer ----

SqliteStore::SqliteStore(std::unique_ptr<Db> write_db, std::vector<std::unique_ptr<Db>> read_dbs,
                         std::unique_ptr<Db> checkpoint_db, int checkpoint_interval_ms)
    : write_db_(std::move(write_db)),
      read_pool_size_(read_dbs.size()),
      idle_readers_(std::move(read_dbs)),
      checkpoint_db_(std::move(checkpoint_db)),
      checkpoint_interval_ms_(checkpoint_interval_ms) {
  writer_ = std::thread([this] { WriterLoop(); });
  if (checkpoint_db_) checkpointer_ = std::thread([this] { CheckpointLoop(); });
}

void SqliteStore::CheckpointLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(checkpoint_interval_ms_),
                      [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    // PASSIVE never blocks the writer or readers; frames still in use are copied next time.
    if (Status s = checkpoint_db_->ExecScript("PRAGMA wal_checkpoint(PASSIVE)"); !s.ok()) {
      spdlog::warn("store: WAL checkpoint failed: {}", s.ToString());
    }
    lock.lock();
  }
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  stop_cv_.notify_all();
  writer_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  std::lock_guard lock(read_mu_);
  AGENTD_CHECK(idle_readers_.size() == read_pool_size_);  // no read may outlive the store
}

void SqliteStore::Enqueue(std::unique_ptr<WriteJob> job) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!writer_done_) {
      // The writer only waits on an empty queue, so only the first job needs to wake it.
      wake = queue_.empty();
      queue_.push_back(std::move(job));
    }
  }
  if (job) {
    job->Complete(Unavailable("Store is shut down"));
    return;
  }
  if (wake) work_cv_.notify_one();
}

void SqliteStore::WriterLoop() {
  std::vector<std::unique_ptr<WriteJob>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        writer_done_ = true;
        return;
      }
      batch.swap(queue_);  // takes everything queued; producers refill the emptied vector
    }
    job_results_.assign(batch.size(), Status());
    for (size_t begin = 0; begin < batch.size();) begin = RunTransaction(batch, begin);
    batch.clear();
  }
}

namespace {

// Rolls back the open transaction, if any, after a failure that is already being reported.
void RollbackIfOpen(Db& db) {
  if (!db.InTransaction()) return;
  if (Status s = db.Run(kRollback); !s.ok()) {
    spdlog::error("store: rollback failed: {}", s.ToString());
  }
}

struct SavepointOutcome {
  Status job;          // the job's own result; when not OK its writes were undone
  Status transaction;  // not OK when the enclosing transaction is no longer usable
};

SavepointOutcome ApplyInSavepoint(Db& db, WriteJob& job) {
  if (Status s = db.Run(kSavepoint); !s.ok()) return {s, s};
  Status result = job.Apply(db);
  if (!result.ok()) {
    if (Status s = db.Run(kRollbackToSavepoint); !s.ok()) return {result, s};
  }
  if (Status s = db.Run(kReleaseSavepoint); !s.ok()) return {result, s};
  // SQLite rolls a whole transaction back on some errors (disk full, I/O); a later SAVEPOINT
  // would then silently start a new one.
  if (!db.InTransaction()) return {result, Unavailable("Database write failed")};
  return {result, Status::Ok()};
}

}  // namespace

size_t SqliteStore::RunTransaction(std::vector<std::unique_ptr<WriteJob>>& batch, size_t begin) {
  Db& db = *write_db_;
  const size_t end = std::min(batch.size(), begin + kMaxJobsPerTransaction);
  transactions_.fetch_add(1, std::memory_order_relaxed);
  if (Status s = db.Run(kBegin); !s.ok()) {
    RollbackIfOpen(db);
    jobs_.fetch_add(end - begin, std::memory_order_relaxed);
    for (size_t i = begin; i < end; ++i) batch[i]->Complete(s);
    return end;
  }
  for (size_t i = begin; i < end; ++i) {
    SavepointOutcome outcome = ApplyInSavepoint(db, *batch[i]);
    if (!outcome.transaction.ok()) {
      // Everything this transaction did is lost; the jobs after `i` get a new one.
      RollbackIfOpen(db);
      jobs_.fetch_add(i + 1 - begin, std::memory_order_relaxed);
      for (size_t j = begin; j <= i; ++j) batch[j]->Complete(outcome.transaction);
      return i + 1;
    }
    job_results_[i] = std::move(outcome.job);
  }
  Status commit = db.Run(kCommit);
  if (!commit.ok()) RollbackIfOpen(db);
  jobs_.fetch_add(end - begin, std::memory_order_relaxed);
  for (size_t i = begin; i < end; ++i) {
    batch[i]->Complete(commit.ok() ? std::move(job_results_[i]) : commit);
  }
  return end;
}

SqliteStore::WriterStats SqliteStore::WriterStatsForTesting() const {
  return WriterStats{transactions_.load(std::memory_order_relaxed),
                     jobs_.load(std::memory_order_relaxed)};
}

// ---- Writes ----

void SqliteStore::CreateRun(NewRun run, std::function<void(Result<CreatedRun>)> done) {
  Enqueue(MakeResultJob<CreatedRun>(
      [run = std::move(run)](Db& db) { return ApplyCreateRun(db, run); }, std::move(done)));
}

void SqliteStore::CommitRunWrite(RunWrite write, std::function<void(Status)> done) {
  Enqueue(MakeStatusJob(
      [write = std::move(write)](Db& db) { return ApplyRunWrite(db, write, NowMillis()); },
      std::move(done)));
}

void SqliteStore::UpdateAccount(AccountUpdate update, std::function<void(Result<Account>)> done) {
  Enqueue(MakeResultJob<Account>(
      [update = std::move(update)](Db& db) { return ApplyUpdateAccount(db, update); },
      std::move(done)));
}

void SqliteStore::RenewLeases(std::string owner_instance, int64_t lease_expires_at_ms,
                              std::function<void(Status)> done) {
  Enqueue(MakeStatusJob([owner = std::move(owner_instance), lease_expires_at_ms](
                            Db& db) { return ApplyRenewLeases(db, owner, lease_expires_at_ms); },
                        std::move(done)));
}

void SqliteStore::PurgeEvents(int64_t completed_before_ms, int max_runs,
                              std::function<void(Result<int64_t>)> done) {
  Enqueue(MakeResultJob<int64_t>(
      [completed_before_ms, max_runs](Db& db) {
        return ApplyPurgeEvents(db, completed_before_ms, max_runs);
      },
      std::move(done)));
}

Result<std::vector<ReapedRun>> SqliteStore::ReapRuns(const std::string& live_instance,
                                                     int64_t now_ms, const std::string& error) {
  AGENTD_CHECK(std::this_thread::get_id() != writer_.get_id());
  std::promise<Result<std::vector<ReapedRun>>> promise;
  std::future<Result<std::vector<ReapedRun>>> future = promise.get_future();
  Enqueue(MakeResultJob<std::vector<ReapedRun>>(
      [&](Db& db) { return ApplyReapRuns(db, live_instance, now_ms, error); },
      [&promise](Result<std::vector<ReapedRun>> result) { promise.set_value(std::move(result)); }));
  return future.get();
}

// ---- Reads ----

std::unique_ptr<Db> SqliteStore::AcquireReader() {
  std::unique_lock lock(read_mu_);
  read_cv_.wait(lock, [this] { return !idle_readers_.empty(); });
  std::unique_ptr<Db> db = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return db;
}

void SqliteStore::ReleaseReader(std::unique_ptr<Db> db) {
  {
    std::lock_guard lock(read_mu_);
    idle_readers_.push_back(std::move(db));
  }
  read_cv_.notify_one();
}

Result<std::optional<Account>> SqliteStore::GetAccount(const std::string& account_id) {
  ReadLease reader(*this);
  return FindAccount(reader.db(), account_id);
}

Result<AccountUsage> SqliteStore::GetAccountUsage(const std::string& account_id) {
  ReadLease reader(*this);
  return ReadAccountUsage(reader.db(), account_id);
}

Result<int64_t> SqliteStore::LedgerSum(const std::string& account_id) {
  ReadLease reader(*this);
  return ReadLedgerSum(reader.db(), account_id);
}

Result<Run> SqliteStore::GetRun(const std::string& run_id) {
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSelectRun));
  stmt.BindText(1, run_id);
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFound("Agent run not found");
  return ReadRunRow(stmt);
}

Result<Thread> SqliteStore::GetThread(const std::string& thread_id) {
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(std::optional<Thread> thread, FindThread(reader.db(), thread_id));
  if (!thread) return NotFound("Thread not found");
  return std::move(*thread);
}

Result<std::optional<std::string>> SqliteStore::GetProjectOwner(const std::string& project_id) {
  ReadLease reader(*this);
  return FirstText(reader.db(), kSelectProjectOwner, project_id);
}

Result<std::vector<Run>> SqliteStore::ListThreadRuns(const std::string& thread_id, int limit,
                                                     int64_t before_creation_order) {
  if (limit < 1) return InvalidArgument("limit must be positive");
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSelectThreadRuns));
  stmt.BindText(1, thread_id)
      .BindInt(2, before_creation_order > 0 ? before_creation_order
                                            : std::numeric_limits<int64_t>::max())
      .BindInt(3, limit);
  return ReadRunRows(stmt);
}

Result<std::vector<Run>> SqliteStore::ListRunningRuns(const std::string& account_id) {
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSelectRunningRunsOfAccount));
  stmt.BindText(1, account_id);
  return ReadRunRows(stmt);
}

Result<std::vector<Message>> SqliteStore::ListMessages(const std::string& thread_id) {
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSelectMessages));
  stmt.BindText(1, thread_id);
  std::vector<Message> messages;
  for (;;) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return messages;
    AGENTD_ASSIGN_OR_RETURN(Message m, ReadMessageRow(stmt));
    messages.push_back(std::move(m));
  }
}

Result<std::vector<Event>> SqliteStore::ReadEvents(const std::string& run_id, int64_t after_seq,
                                                   int limit) {
  if (limit < 1) return InvalidArgument("limit must be positive");
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSelectEvents));
  stmt.BindText(1, run_id).BindInt(2, after_seq).BindInt(3, limit);
  std::vector<Event> events;
  for (;;) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return events;
    events.push_back(Event{run_id, stmt.ColumnInt(0), stmt.ColumnText(1)});
  }
}

}  // namespace agentd::store::sqlite
