// Thin RAII layer over the sqlite3 C API, private to store/sqlite: a connection (Db) that keeps
// its prepared statements (one per SQL text, prepared on first use), and a borrowed statement
// handle (Stmt) that resets the statement and clears its bindings when it goes out of scope.
// Thread safety: a Db and the Stmts it hands out are used by one thread at a time.
// Lifetime: a Stmt must not outlive its Db; a Db finalizes its statements when destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace agentd::store::sqlite {

class Db;

// A cached prepared statement checked out of its Db. Binding errors are bugs (AGENTD_CHECK).
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Parameter indexes are 1-based, as in the SQL text (?1, ?2, ...).
  Stmt& BindInt(int index, int64_t value);
  Stmt& BindText(int index, std::string_view value);
  Stmt& BindTextOrNull(int index, std::string_view value);  // empty -> NULL

  // True when a row is ready, false when the statement is done; a Status on SQLite errors.
  Result<bool> Step();
  // Steps to completion; for statements that return no rows.
  Status Run();

  // Column indexes are 0-based. NULL reads as 0 / "".
  int64_t ColumnInt(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class Db;
  Stmt(const Db* db, sqlite3_stmt* stmt, bool* in_use) : db_(db), stmt_(stmt), in_use_(in_use) {}

  const Db* db_;
  sqlite3_stmt* stmt_;  // null once moved from
  bool* in_use_;        // the cache entry's flag, cleared on destruction
};

class Db {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (kReadWrite: creates if absent) the database file at `path`. Unavailable when the
  // file cannot be opened.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, Mode mode);

  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Runs one or more SQL statements without results (DDL, pragmas); nothing is cached.
  Status ExecScript(const char* sql);
  // Returns the cached statement for `sql` (prepared on first use). REQUIRES: the same SQL is
  // not checked out twice at once.
  Result<Stmt> Prepare(const char* sql);
  // Prepare(sql) then Run().
  Status Run(const char* sql);

  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  // True inside an explicit transaction (false after SQLite rolled one back on its own).
  bool InTransaction() const;

  // The Status for SQLite result code `rc` of operation `what`; logs SQLite's detail.
  Status Error(int rc, std::string_view what) const;

 private:
  explicit Db(sqlite3* db) : db_(db) {}

  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  sqlite3* db_;
  // Node-based: a Cached entry never moves, so a Stmt may point at its `in_use`.
  std::unordered_map<std::string, Cached, Hash, std::equal_to<>> cache_;
};

}  // namespace agentd::store::sqlite
