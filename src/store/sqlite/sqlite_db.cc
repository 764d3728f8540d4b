#include "store/sqlite/sqlite_db.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <utility>

namespace agentd::store::sqlite {

// ---- Stmt ----

Stmt::Stmt(Stmt&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), in_use_(other.in_use_) {}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  // reset() repeats the last step's error code, which Step() has already reported.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *in_use_ = false;
}

Stmt& Stmt::BindInt(int index, int64_t value) {
  AGENTD_CHECK(sqlite3_bind_int64(stmt_, index, value) == SQLITE_OK);
  return *this;
}

Stmt& Stmt::BindText(int index, std::string_view value) {
  AGENTD_CHECK(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8) == SQLITE_OK);
  return *this;
}

Stmt& Stmt::BindTextOrNull(int index, std::string_view value) {
  if (!value.empty()) return BindText(index, value);
  AGENTD_CHECK(sqlite3_bind_null(stmt_, index) == SQLITE_OK);
  return *this;
}

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, sqlite3_sql(stmt_));
}

Status Stmt::Run() {
  for (;;) {
    Result<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

int64_t Stmt::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Stmt::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Stmt::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Db ----

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, Mode mode) {
  // NOMUTEX: each connection is used by one thread at a time (the writer, or a reader checked
  // out of the pool), so SQLite's per-connection mutex is not needed.
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |=
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    spdlog::error("sqlite: cannot open {}: {}", path,
                  raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    sqlite3_close_v2(raw);
    return Unavailable("Cannot open database");
  }
  return std::unique_ptr<Db>(new Db(raw));
}

Db::~Db() {
  for (auto& [sql, cached] : cache_) {
    AGENTD_CHECK(!cached.in_use);
    sqlite3_finalize(cached.stmt);
  }
  sqlite3_close_v2(db_);
}

Status Db::ExecScript(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // Error() reads the same text from sqlite3_errmsg.
  if (rc != SQLITE_OK) return Error(rc, sql);
  return Status::Ok();
}

Result<Stmt> Db::Prepare(const char* sql) {
  auto it = cache_.find(std::string_view(sql));
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error(rc, sql);
    it = cache_.emplace(sql, Cached{stmt, false}).first;
  }
  AGENTD_CHECK(!it->second.in_use);
  it->second.in_use = true;
  return Stmt(this, it->second.stmt, &it->second.in_use);
}

Status Db::Run(const char* sql) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, Prepare(sql));
  return stmt.Run();
}

int64_t Db::Changes() const { return sqlite3_changes64(db_); }

bool Db::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

Status Db::Error(int rc, std::string_view what) const {
  const std::string_view op = what.substr(0, 120);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      spdlog::warn("sqlite busy ({}): {} [{}]", rc, sqlite3_errmsg(db_), op);
      return Unavailable("Database is busy");
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      spdlog::error("sqlite I/O error ({}): {} [{}]", rc, sqlite3_errmsg(db_), op);
      return Unavailable("Database unavailable");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      spdlog::error("sqlite corruption ({}): {} [{}]", rc, sqlite3_errmsg(db_), op);
      return Status(StatusCode::kDataLoss, "Database is corrupt");
    default:
      spdlog::error("sqlite error ({}): {} [{}]", rc, sqlite3_errmsg(db_), op);
      return Internal(std::string("Database error: ") + sqlite3_errstr(rc));
  }
}

}  // namespace agentd::store::sqlite
