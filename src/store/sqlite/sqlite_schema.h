// The SQLite schema of the store as numbered migrations. Called once by NewSqliteStore on the
// write connection before any other use. Thread safety: none needed (single caller).
#pragma once

#include <cstdint>

#include "core/status.h"
#include "store/sqlite/sqlite_db.h"

namespace agentd::store::sqlite {

// Applies every migration newer than the database's recorded version, each in its own
// transaction, and records it in `schema_migrations`. Idempotent. FailedPrecondition when the
// database was migrated by a newer binary; other codes from Db::Error.
Status MigrateSchema(Db& db, int64_t now_ms);

// The newest migration this binary knows.
int64_t LatestSchemaVersion();

}  // namespace agentd::store::sqlite
