#include "store/sqlite/sqlite_accounts.h"

#include <utility>
#include <vector>

#include "store/sqlite/sqlite_agents.h"

namespace agentd::store::sqlite {
namespace {

// ---- SQL ----

constexpr char kInsertAccount[] =
    "INSERT INTO accounts(account_id, tier, role, created_at, balance_micro) "
    "VALUES (?1, ?2, 'user', ?3, 0)";
constexpr char kSelectAccount[] =
    "SELECT account_id, tier, role, balance_micro, created_at FROM accounts WHERE account_id = ?1";
constexpr char kChangeBalance[] =
    "UPDATE accounts SET balance_micro = balance_micro + ?2 WHERE account_id = ?1";
constexpr char kInsertLedger[] =
    "INSERT INTO credit_ledger(account_id, amount_micro, kind, run_id, note, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr char kSetTier[] = "UPDATE accounts SET tier = ?2 WHERE account_id = ?1";
constexpr char kSetRole[] = "UPDATE accounts SET role = ?2 WHERE account_id = ?1";
constexpr char kCountThreadsOfAccount[] = "SELECT count(*) FROM threads WHERE account_id = ?1";
constexpr char kCountProjectsOfAccount[] = "SELECT count(*) FROM projects WHERE account_id = ?1";
constexpr char kSelectRunningThreadsOfAccount[] =
    "SELECT thread_id FROM agent_runs WHERE account_id = ?1 AND status = 'running' "
    "ORDER BY creation_order";
constexpr char kLedgerSum[] =
    "SELECT coalesce(sum(amount_micro), 0) FROM credit_ledger WHERE account_id = ?1";

Result<int64_t> CountOf(Db& db, const char* sql, const std::string& account_id) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(sql));
  stmt.BindText(1, account_id);
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  AGENTD_CHECK(row);
  return stmt.ColumnInt(0);
}

Result<std::vector<std::string>> RunningThreads(Db& db, const std::string& account_id) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kSelectRunningThreadsOfAccount));
  stmt.BindText(1, account_id);
  std::vector<std::string> out;
  for (;;) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(stmt.ColumnText(0));
  }
}

Status LimitExceeded(const char* reason, const std::string& what, int64_t limit, int64_t count) {
  return Status(StatusCode::kResourceExhausted,
                what + " limit reached (" + std::to_string(limit) + ")", reason,
                {{"limit", limit}, {"current_count", count}});
}

}  // namespace

Result<std::optional<Account>> FindAccount(Db& db, const std::string& account_id) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kSelectAccount));
  stmt.BindText(1, account_id);
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Account>();
  return std::optional<Account>(Account{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2),
                                        stmt.ColumnInt(3), stmt.ColumnInt(4)});
}

// Changes the balance by `amount` with its ledger row: the only way a balance changes.
Status ApplyLedger(Db& db, const std::string& account_id, int64_t amount, const char* kind,
                   const std::string& run_id, const std::string& note, int64_t now_ms) {
  AGENTD_ASSIGN_OR_RETURN(Stmt ledger, db.Prepare(kInsertLedger));
  ledger.BindText(1, account_id)
      .BindInt(2, amount)
      .BindText(3, kind)
      .BindTextOrNull(4, run_id)
      .BindText(5, note)
      .BindInt(6, now_ms);
  AGENTD_RETURN_IF_ERROR(ledger.Run());
  AGENTD_ASSIGN_OR_RETURN(Stmt update, db.Prepare(kChangeBalance));
  update.BindText(1, account_id).BindInt(2, amount);
  AGENTD_RETURN_IF_ERROR(update.Run());
  if (db.Changes() != 1) return NotFound("Account not found");
  return Status::Ok();
}

// The account, created (with its starting credits and default agent) when absent.
Result<Account> EnsureAccount(Db& db, const std::string& account_id, const std::string& tier,
                              int64_t starting_credits, int64_t now_ms,
                              const Agent& default_agent) {
  AGENTD_ASSIGN_OR_RETURN(std::optional<Account> existing, FindAccount(db, account_id));
  if (existing) return std::move(*existing);
  AGENTD_ASSIGN_OR_RETURN(Stmt insert, db.Prepare(kInsertAccount));
  insert.BindText(1, account_id).BindText(2, tier).BindInt(3, now_ms);
  AGENTD_RETURN_IF_ERROR(insert.Run());
  AGENTD_RETURN_IF_ERROR(
      ApplyLedger(db, account_id, starting_credits, "grant", "", "starting credits", now_ms));
  AGENTD_RETURN_IF_ERROR(InsertDefaultAgent(db, account_id, default_agent, now_ms).status());
  return Account{account_id, tier, "user", starting_credits, now_ms};
}

// The billing gate of a start, in API.md section 4 order: credits, thread and project limits
// (new thread only), concurrency. The caller rolls back everything on a refusal.
Status CheckGate(Db& db, const NewRun& r, const Account& account, bool new_project) {
  if (account.balance_micro <= 0) {
    const double dollars = static_cast<double>(account.balance_micro) / 1e6;
    return Status(StatusCode::kResourceExhausted, "Insufficient credits", "INSUFFICIENT_CREDITS",
                  {{"balance", dollars}});
  }
  const RunLimits& l = r.limits;
  if (r.new_thread && l.max_threads >= 0) {
    AGENTD_ASSIGN_OR_RETURN(int64_t threads, CountOf(db, kCountThreadsOfAccount, r.account_id));
    if (threads >= l.max_threads) {
      return LimitExceeded("THREAD_LIMIT_EXCEEDED", "Thread", l.max_threads, threads);
    }
  }
  if (r.new_thread && new_project && l.max_projects >= 0) {
    AGENTD_ASSIGN_OR_RETURN(int64_t projects, CountOf(db, kCountProjectsOfAccount, r.account_id));
    if (projects >= l.max_projects) {
      return LimitExceeded("PROJECT_LIMIT_EXCEEDED", "Project", l.max_projects, projects);
    }
  }
  if (l.max_concurrent_runs >= 0) {
    AGENTD_ASSIGN_OR_RETURN(std::vector<std::string> running, RunningThreads(db, r.account_id));
    const auto count = static_cast<int64_t>(running.size());
    if (count >= l.max_concurrent_runs) {
      return Status(
          StatusCode::kResourceExhausted,
          "Concurrent agent run limit reached (" + std::to_string(l.max_concurrent_runs) + ")",
          "AGENT_RUN_LIMIT_EXCEEDED",
          {{"limit", l.max_concurrent_runs},
           {"running_count", count},
           {"running_thread_ids", running}});
    }
  }
  return Status::Ok();
}

Result<Account> ApplyUpdateAccount(Db& db, const AccountUpdate& u) {
  if (u.account_id.empty()) return InvalidArgument("account_id required");
  AGENTD_ASSIGN_OR_RETURN(Account account,
                          EnsureAccount(db, u.account_id, u.default_tier, u.starting_credits_micro,
                                        u.now_ms, StandardDefaultAgent()));
  if (u.tier) {
    AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kSetTier));
    stmt.BindText(1, u.account_id).BindText(2, *u.tier);
    AGENTD_RETURN_IF_ERROR(stmt.Run());
  }
  if (u.role) {
    AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kSetRole));
    stmt.BindText(1, u.account_id).BindText(2, *u.role);
    AGENTD_RETURN_IF_ERROR(stmt.Run());
  }
  if (u.set_credits_micro) {
    AGENTD_RETURN_IF_ERROR(ApplyLedger(db, u.account_id,
                                       *u.set_credits_micro - account.balance_micro, "set", "",
                                       "balance set by an administrator", u.now_ms));
  }
  if (u.add_credits_micro) {
    AGENTD_RETURN_IF_ERROR(ApplyLedger(db, u.account_id, *u.add_credits_micro, "add", "",
                                       "credits added by an administrator", u.now_ms));
  }
  AGENTD_ASSIGN_OR_RETURN(std::optional<Account> after, FindAccount(db, u.account_id));
  AGENTD_CHECK(after.has_value());
  return std::move(*after);
}

Result<AccountUsage> ReadAccountUsage(Db& db, const std::string& account_id) {
  AccountUsage usage;
  AGENTD_ASSIGN_OR_RETURN(std::vector<std::string> running, RunningThreads(db, account_id));
  usage.running_runs = static_cast<int64_t>(running.size());
  AGENTD_ASSIGN_OR_RETURN(usage.threads, CountOf(db, kCountThreadsOfAccount, account_id));
  AGENTD_ASSIGN_OR_RETURN(usage.projects, CountOf(db, kCountProjectsOfAccount, account_id));
  return usage;
}

Result<int64_t> ReadLedgerSum(Db& db, const std::string& account_id) {
  return CountOf(db, kLedgerSum, account_id);
}

}  // namespace agentd::store::sqlite
