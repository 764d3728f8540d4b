// Accounts and credits in the SQLite store: the ledger (the only way a balance changes), the
// billing gate of a start and account administration. Internal to store/sqlite; every function
// runs on the connection it is given (the writer's, inside a job's savepoint, for writes).
#pragma once

#include <optional>
#include <string>

#include "core/status.h"
#include "store/sqlite/sqlite_db.h"
#include "store/store.h"

namespace agentd::store::sqlite {

// nullopt when the account was never seen.
Result<std::optional<Account>> FindAccount(Db& db, const std::string& account_id);

// Changes the balance by `amount` together with its ledger row of `kind` ('grant', 'debit',
// 'set', 'add'); `run_id` empty = none. NotFound when the account does not exist.
Status ApplyLedger(Db& db, const std::string& account_id, int64_t amount, const char* kind,
                   const std::string& run_id, const std::string& note, int64_t now_ms);

// The account, created when absent with `tier`, a 'grant' of `starting_credits` and its default
// agent made from `default_agent` (see InsertDefaultAgent).
Result<Account> EnsureAccount(Db& db, const std::string& account_id, const std::string& tier,
                              int64_t starting_credits, int64_t now_ms, const Agent& default_agent);

// The billing gate of a start (Store::CreateRun): credits, then for a new thread the thread
// and (when `new_project`) project limits, then concurrency. Writes nothing.
Status CheckGate(Db& db, const NewRun& r, const Account& account, bool new_project);

Result<Account> ApplyUpdateAccount(Db& db, const AccountUpdate& u);
Result<AccountUsage> ReadAccountUsage(Db& db, const std::string& account_id);
Result<int64_t> ReadLedgerSum(Db& db, const std::string& account_id);

}  // namespace agentd::store::sqlite
