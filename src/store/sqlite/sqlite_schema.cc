#include "store/sqlite/sqlite_schema.h"

#include <spdlog/spdlog.h>

#include <iterator>
#include <string>

namespace agentd::store::sqlite {
namespace {

// Times are Unix milliseconds. JSON columns hold JSON text. Ordering columns are rowid aliases:
// `messages.ord` (oldest first) and `agent_runs.creation_order` (AUTOINCREMENT, so never reused
// even after deletes: it is the paging cursor of the API).
constexpr char kMigration1[] = R"sql(
CREATE TABLE accounts (
  account_id TEXT PRIMARY KEY,
  tier       TEXT NOT NULL,
  role       TEXT NOT NULL DEFAULT 'user',
  created_at INTEGER NOT NULL
);

CREATE TABLE projects (
  project_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(account_id),
  name       TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE INDEX projects_by_account ON projects(account_id);

CREATE TABLE threads (
  thread_id  TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES projects(project_id),
  account_id TEXT NOT NULL REFERENCES accounts(account_id),
  created_at INTEGER NOT NULL
);
CREATE INDEX threads_by_project ON threads(project_id);
CREATE INDEX threads_by_account ON threads(account_id);

CREATE TABLE messages (
  ord              INTEGER PRIMARY KEY,
  message_id       TEXT NOT NULL UNIQUE,
  thread_id        TEXT NOT NULL REFERENCES threads(thread_id),
  type             TEXT NOT NULL,
  is_llm_message   INTEGER NOT NULL,
  content          TEXT NOT NULL DEFAULT '{}',
  metadata         TEXT NOT NULL DEFAULT '{}',
  agent_id         TEXT,
  agent_version_id TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX messages_by_thread ON messages(thread_id, ord);

CREATE TABLE agent_runs (
  creation_order   INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id           TEXT NOT NULL UNIQUE,
  thread_id        TEXT NOT NULL REFERENCES threads(thread_id),
  project_id       TEXT NOT NULL,
  account_id       TEXT NOT NULL,
  status           TEXT NOT NULL
                   CHECK (status IN ('running', 'completed', 'failed', 'stopped')),
  model_name       TEXT NOT NULL DEFAULT '',
  error            TEXT,
  usage            TEXT NOT NULL DEFAULT '{}',
  created_at       INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  completed_at     INTEGER,
  owner_instance   TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER NOT NULL DEFAULT 0,
  last_seq         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agent_runs_by_thread ON agent_runs(thread_id, creation_order DESC);
CREATE INDEX agent_runs_running_by_account ON agent_runs(account_id) WHERE status = 'running';
CREATE INDEX agent_runs_running_by_thread ON agent_runs(thread_id) WHERE status = 'running';
CREATE INDEX agent_runs_running_by_owner ON agent_runs(owner_instance) WHERE status = 'running';

-- Keyed by the run's integer creation order, not its UUID: new events then land at the right
-- edge of the B-tree (a few hot pages per commit) instead of on a random page each.
CREATE TABLE run_events (
  run_key    INTEGER NOT NULL REFERENCES agent_runs(creation_order),
  seq        INTEGER NOT NULL,
  data       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_key, seq)
) WITHOUT ROWID;
)sql";

// Event retention: finished runs whose events were deleted are marked, so the sweep reads
// only runs it has not handled yet.
constexpr char kMigration2[] = R"sql(
ALTER TABLE agent_runs ADD COLUMN events_purged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX agent_runs_unpurged_by_completion ON agent_runs(completed_at)
  WHERE status <> 'running' AND events_purged = 0;
)sql";

// Billing: each account's balance in 1e-6 USD and the append-only ledger it is derived from.
// The balance changes only together with a ledger row, in one transaction. Accounts that
// existed before billing get the default starting credits ($3.00) as a 'grant'.
constexpr char kMigration3[] = R"sql(
ALTER TABLE accounts ADD COLUMN balance_micro INTEGER NOT NULL DEFAULT 0;
CREATE TABLE credit_ledger (
  entry_id     INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id   TEXT NOT NULL REFERENCES accounts(account_id),
  amount_micro INTEGER NOT NULL,
  kind         TEXT NOT NULL CHECK (kind IN ('grant', 'debit', 'set', 'add')),
  run_id       TEXT,
  note         TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL
);
CREATE INDEX credit_ledger_by_account ON credit_ledger(account_id, entry_id);
INSERT INTO credit_ledger(account_id, amount_micro, kind, note, created_at)
  SELECT account_id, 3000000, 'grant', 'starting credits (migration 3)', created_at FROM accounts;
UPDATE accounts SET balance_micro = 3000000;
)sql";

// Agents, long-term memory and the per-thread memory switch. At most one default agent per
// account (a partial unique index); accounts that existed before get their default agent here
// (a random v4 UUID made in SQL). `agents.tools` is a JSON array of tool names, NULL = every
// tool of the run's mode. Memories are searched through an external-content FTS5 index kept
// in step by triggers; its rowid is `memories.memory_key`.
constexpr char kMigration4[] = R"sql(
ALTER TABLE threads ADD COLUMN memory_enabled INTEGER NOT NULL DEFAULT 1;

CREATE TABLE agents (
  agent_id      TEXT PRIMARY KEY,
  account_id    TEXT NOT NULL REFERENCES accounts(account_id),
  name          TEXT NOT NULL,
  description   TEXT NOT NULL DEFAULT '',
  system_prompt TEXT NOT NULL DEFAULT '',
  model         TEXT,
  mode          TEXT,
  tools         TEXT,
  is_default    INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX agents_by_account ON agents(account_id, created_at);
CREATE UNIQUE INDEX agents_one_default_per_account ON agents(account_id) WHERE is_default = 1;
INSERT INTO agents(agent_id, account_id, name, is_default, created_at, updated_at)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
               substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) ||
               substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         account_id, 'Default Agent', 1, created_at, created_at
  FROM accounts;

CREATE TABLE memories (
  memory_key       INTEGER PRIMARY KEY,
  memory_id        TEXT NOT NULL UNIQUE,
  account_id       TEXT NOT NULL REFERENCES accounts(account_id),
  content          TEXT NOT NULL,
  source_thread_id TEXT,
  created_at       INTEGER NOT NULL
);
CREATE INDEX memories_by_account ON memories(account_id, memory_key);
CREATE VIRTUAL TABLE memories_fts USING fts5(
  content, content='memories', content_rowid='memory_key',
  tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
  INSERT INTO memories_fts(rowid, content) VALUES (new.memory_key, new.content);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, content)
    VALUES ('delete', old.memory_key, old.content);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
  INSERT INTO memories_fts(memories_fts, rowid, content)
    VALUES ('delete', old.memory_key, old.content);
  INSERT INTO memories_fts(rowid, content) VALUES (new.memory_key, new.content);
END;
)sql";

struct Migration {
  int64_t version;
  const char* sql;
};

// Append only; never edit a migration that has shipped.
constexpr Migration kMigrations[] = {
    {1, kMigration1},
    {2, kMigration2},
    {3, kMigration3},
    {4, kMigration4},
};

constexpr char kCreateMigrationsTable[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  applied_at INTEGER NOT NULL
))sql";
constexpr char kSelectSchemaVersion[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
constexpr char kInsertMigration[] =
    "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)";
constexpr char kBeginImmediate[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";

Result<int64_t> CurrentVersion(Db& db) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kSelectSchemaVersion));
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  AGENTD_CHECK(row);
  return stmt.ColumnInt(0);
}

// Runs inside BEGIN IMMEDIATE, so a second process migrating the same file waits, then sees
// the new version and skips.
Status ApplyIfNeeded(Db& db, const Migration& m, int64_t now_ms) {
  AGENTD_ASSIGN_OR_RETURN(int64_t current, CurrentVersion(db));
  if (current >= m.version) return Status::Ok();
  AGENTD_RETURN_IF_ERROR(db.ExecScript(m.sql));
  AGENTD_ASSIGN_OR_RETURN(Stmt insert, db.Prepare(kInsertMigration));
  insert.BindInt(1, m.version).BindInt(2, now_ms);
  AGENTD_RETURN_IF_ERROR(insert.Run());
  spdlog::info("store: applied schema migration {}", m.version);
  return Status::Ok();
}

}  // namespace

int64_t LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Status MigrateSchema(Db& db, int64_t now_ms) {
  AGENTD_RETURN_IF_ERROR(db.ExecScript(kCreateMigrationsTable));
  AGENTD_ASSIGN_OR_RETURN(int64_t current, CurrentVersion(db));
  if (current > LatestSchemaVersion()) {
    return Status(
        StatusCode::kFailedPrecondition,
        "Database schema is newer than this server (version " + std::to_string(current) + ")");
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= current) continue;
    AGENTD_RETURN_IF_ERROR(db.Run(kBeginImmediate));
    Status s = ApplyIfNeeded(db, m, now_ms);
    if (s.ok()) s = db.Run(kCommit);
    if (!s.ok()) {
      if (db.InTransaction()) {
        if (Status rb = db.Run(kRollback); !rb.ok()) {
          spdlog::error("store: rollback of migration {} failed: {}", m.version, rb.ToString());
        }
      }
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace agentd::store::sqlite
