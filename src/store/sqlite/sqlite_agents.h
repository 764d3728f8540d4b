// Agents and long-term memory in the SQLite store (internal to store/sqlite): the helpers
// account creation needs (every new account gets its default agent in the same transaction)
// and the FTS5 query builder. Every function runs on the connection it is given.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace agentd::store::sqlite {

// The default agent of a new account: named kDefaultAgentName, everything else unset.
Agent StandardDefaultAgent();

// Inserts `agent` for `account_id` as its default agent (a new agent_id when empty; zero
// timestamps = now_ms) and returns it. REQUIRES: the account exists and has no default.
Result<Agent> InsertDefaultAgent(Db& db, const std::string& account_id, Agent agent,
                                 int64_t now_ms);

// An FTS5 MATCH expression equivalent to "any word of `text`": each word quoted, OR-ed; at
// most 32 distinct words. Empty when `text` has no words (only punctuation, symbols or spaces).
std::string MemoryMatchQuery(std::string_view text);

}  // namespace agentd::store::sqlite
