// Agents and long-term memory in the SQLite store.
#include "store/sqlite/sqlite_agents.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/json.h"
#include "store/sqlite/sqlite_accounts.h"
#include "store/sqlite/sqlite_jobs.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::store::sqlite {
namespace {

// ---- SQL ----

#define AGENTD_AGENT_COLUMNS                                                                 \
  "agent_id, account_id, name, description, system_prompt, model, mode, tools, is_default, " \
  "created_at, updated_at"

constexpr char kSelectAgent[] = "SELECT " AGENTD_AGENT_COLUMNS " FROM agents WHERE agent_id = ?1";
constexpr char kSelectDefaultAgent[] =
    "SELECT " AGENTD_AGENT_COLUMNS " FROM agents WHERE account_id = ?1 AND is_default = 1";
constexpr char kSelectAgentsOfAccount[] =
    "SELECT " AGENTD_AGENT_COLUMNS " FROM agents WHERE account_id = ?1 ORDER BY created_at, rowid";
constexpr char kInsertAgent[] = "INSERT INTO agents(" AGENTD_AGENT_COLUMNS
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
#undef AGENTD_AGENT_COLUMNS

constexpr char kUpdateAgent[] =
    "UPDATE agents SET name = ?2, description = ?3, system_prompt = ?4, model = ?5, mode = ?6, "
    "tools = ?7, is_default = ?8, updated_at = ?9 WHERE agent_id = ?1";
constexpr char kClearDefaultAgent[] =
    "UPDATE agents SET is_default = 0, updated_at = ?2 WHERE account_id = ?1 AND is_default = 1";
constexpr char kDeleteAgent[] = "DELETE FROM agents WHERE agent_id = ?1";

constexpr char kInsertMemory[] =
    "INSERT INTO memories(memory_id, account_id, content, source_thread_id, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
// bm25() is computed over every account's memories, but only the caller's rows are returned.
constexpr char kSearchMemories[] =
    "SELECT m.memory_id, m.account_id, m.content, m.source_thread_id, m.created_at "
    "FROM memories_fts JOIN memories m ON m.memory_key = memories_fts.rowid "
    "WHERE memories_fts MATCH ?2 AND m.account_id = ?1 "
    "ORDER BY bm25(memories_fts), m.memory_key DESC LIMIT ?3";
constexpr char kNewestMemories[] =
    "SELECT memory_id, account_id, content, source_thread_id, created_at FROM memories "
    "WHERE account_id = ?1 ORDER BY memory_key DESC LIMIT ?2";

constexpr char kAnyMemory[] = "SELECT 1 FROM memories WHERE account_id = ?1 LIMIT 1";

constexpr char kAgentNotFound[] = "Agent not found";
constexpr char kDefaultAgentRequired[] = "DEFAULT_AGENT_REQUIRED";
constexpr size_t kMaxQueryWords = 32;

// ---- Rows ----

std::string ToolsText(const std::optional<std::vector<std::string>>& tools) {
  return tools ? ToJsonText(nlohmann::json(*tools)) : std::string();
}

Result<std::optional<std::vector<std::string>>> ParseTools(const Stmt& s, int column) {
  if (s.ColumnIsNull(column)) return std::optional<std::vector<std::string>>();
  nlohmann::json j = nlohmann::json::parse(s.ColumnText(column), nullptr, false);
  if (!j.is_array()) return Status(StatusCode::kDataLoss, "Corrupt agent tools");
  std::vector<std::string> tools;
  for (const auto& t : j) {
    if (!t.is_string()) return Status(StatusCode::kDataLoss, "Corrupt agent tools");
    tools.push_back(t.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(tools));
}

Result<Agent> ReadAgentRow(const Stmt& s) {
  Agent a;
  a.agent_id = s.ColumnText(0);
  a.account_id = s.ColumnText(1);
  a.name = s.ColumnText(2);
  a.description = s.ColumnText(3);
  a.system_prompt = s.ColumnText(4);
  a.model = s.ColumnText(5);
  a.mode = s.ColumnText(6);
  AGENTD_ASSIGN_OR_RETURN(a.tools, ParseTools(s, 7));
  a.is_default = s.ColumnInt(8) != 0;
  a.created_at_ms = s.ColumnInt(9);
  a.updated_at_ms = s.ColumnInt(10);
  return a;
}

// The first row of a one-text-parameter agent query, if any.
Result<std::optional<Agent>> FindAgentBy(Db& db, const char* sql, const std::string& arg) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(sql));
  stmt.BindText(1, arg);
  AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<Agent>();
  AGENTD_ASSIGN_OR_RETURN(Agent agent, ReadAgentRow(stmt));
  return std::optional<Agent>(std::move(agent));
}

// The agent `agent_id` of `account_id`; NotFound for anyone else's, as for an absent one.
Result<Agent> FindOwnAgent(Db& db, const std::string& account_id, const std::string& agent_id) {
  AGENTD_ASSIGN_OR_RETURN(std::optional<Agent> agent, FindAgentBy(db, kSelectAgent, agent_id));
  if (!agent || agent->account_id != account_id) return NotFound(kAgentNotFound);
  return std::move(*agent);
}

Status InsertAgent(Db& db, const Agent& a) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kInsertAgent));
  stmt.BindText(1, a.agent_id)
      .BindText(2, a.account_id)
      .BindText(3, a.name)
      .BindText(4, a.description)
      .BindText(5, a.system_prompt)
      .BindTextOrNull(6, a.model)
      .BindTextOrNull(7, a.mode)
      .BindTextOrNull(8, ToolsText(a.tools))
      .BindInt(9, a.is_default ? 1 : 0)
      .BindInt(10, a.created_at_ms)
      .BindInt(11, a.updated_at_ms);
  return stmt.Run();
}

Status ClearDefault(Db& db, const std::string& account_id, int64_t now_ms) {
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kClearDefaultAgent));
  stmt.BindText(1, account_id).BindInt(2, now_ms);
  return stmt.Run();
}

Status DefaultAgentRequired(const char* message) {
  return Status(StatusCode::kFailedPrecondition, message, kDefaultAgentRequired);
}

Status CheckAccountExists(Db& db, const std::string& account_id) {
  AGENTD_ASSIGN_OR_RETURN(std::optional<Account> account, FindAccount(db, account_id));
  if (!account) return NotFound("Account not found");
  return Status::Ok();
}

// ---- Writes (on the writer thread, inside the job's savepoint) ----

Result<Agent> ApplyCreateAgent(Db& db, Agent a) {
  if (a.account_id.empty() || a.name.empty()) {
    return InvalidArgument("account_id and name required");
  }
  AGENTD_RETURN_IF_ERROR(CheckAccountExists(db, a.account_id));
  if (a.agent_id.empty()) {
    a.agent_id = NewUuid();
  } else {
    AGENTD_ASSIGN_OR_RETURN(std::optional<Agent> taken, FindAgentBy(db, kSelectAgent, a.agent_id));
    if (taken) return Status(StatusCode::kAlreadyExists, "Agent already exists");
  }
  if (a.created_at_ms == 0) a.created_at_ms = NowMillis();
  if (a.updated_at_ms == 0) a.updated_at_ms = a.created_at_ms;
  if (a.is_default) AGENTD_RETURN_IF_ERROR(ClearDefault(db, a.account_id, a.updated_at_ms));
  AGENTD_RETURN_IF_ERROR(InsertAgent(db, a));
  return a;
}

Result<Agent> ApplyUpdateAgent(Db& db, const std::string& account_id, const std::string& agent_id,
                               AgentPatch patch, int64_t now_ms) {
  AGENTD_ASSIGN_OR_RETURN(Agent a, FindOwnAgent(db, account_id, agent_id));
  if (patch.is_default && !*patch.is_default && a.is_default) {
    return DefaultAgentRequired(
        "The default agent cannot be unset; make another agent the default instead");
  }
  if (patch.name && patch.name->empty()) return InvalidArgument("name must not be empty");
  a.updated_at_ms = now_ms != 0 ? now_ms : NowMillis();
  if (patch.is_default && *patch.is_default && !a.is_default) {
    AGENTD_RETURN_IF_ERROR(ClearDefault(db, account_id, a.updated_at_ms));
    a.is_default = true;
  }
  if (patch.name) a.name = std::move(*patch.name);
  if (patch.description) a.description = std::move(*patch.description);
  if (patch.system_prompt) a.system_prompt = std::move(*patch.system_prompt);
  if (patch.model) a.model = std::move(*patch.model);
  if (patch.mode) a.mode = std::move(*patch.mode);
  if (patch.tools) a.tools = std::move(*patch.tools);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kUpdateAgent));
  stmt.BindText(1, a.agent_id)
      .BindText(2, a.name)
      .BindText(3, a.description)
      .BindText(4, a.system_prompt)
      .BindTextOrNull(5, a.model)
      .BindTextOrNull(6, a.mode)
      .BindTextOrNull(7, ToolsText(a.tools))
      .BindInt(8, a.is_default ? 1 : 0)
      .BindInt(9, a.updated_at_ms);
  AGENTD_RETURN_IF_ERROR(stmt.Run());
  return a;
}

Status ApplyDeleteAgent(Db& db, const std::string& account_id, const std::string& agent_id) {
  AGENTD_ASSIGN_OR_RETURN(Agent a, FindOwnAgent(db, account_id, agent_id));
  if (a.is_default) return DefaultAgentRequired("The default agent cannot be deleted");
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kDeleteAgent));
  stmt.BindText(1, agent_id);
  return stmt.Run();
}

Result<Agent> ApplyEnsureDefaultAgent(Db& db, const std::string& account_id,
                                      const std::string& tier, int64_t starting_credits,
                                      const Agent& defaults) {
  if (account_id.empty()) return InvalidArgument("account_id required");
  AGENTD_ASSIGN_OR_RETURN(std::optional<Agent> existing,
                          FindAgentBy(db, kSelectDefaultAgent, account_id));
  if (existing) return std::move(*existing);
  const int64_t now_ms = NowMillis();
  AGENTD_RETURN_IF_ERROR(
      EnsureAccount(db, account_id, tier, starting_credits, now_ms, defaults).status());
  AGENTD_ASSIGN_OR_RETURN(existing, FindAgentBy(db, kSelectDefaultAgent, account_id));
  if (existing) return std::move(*existing);
  // An account that somehow lost its default (e.g. edited by hand) gets one again.
  return InsertDefaultAgent(db, account_id, defaults, now_ms);
}

Result<Memory> ApplyAddMemory(Db& db, Memory m) {
  if (m.account_id.empty() || m.content.empty()) {
    return InvalidArgument("account_id and content required");
  }
  AGENTD_RETURN_IF_ERROR(CheckAccountExists(db, m.account_id));
  if (m.memory_id.empty()) m.memory_id = NewUuid();
  if (m.created_at_ms == 0) m.created_at_ms = NowMillis();
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, db.Prepare(kInsertMemory));
  stmt.BindText(1, m.memory_id)
      .BindText(2, m.account_id)
      .BindText(3, m.content)
      .BindTextOrNull(4, m.source_thread_id)
      .BindInt(5, m.created_at_ms);
  AGENTD_RETURN_IF_ERROR(stmt.Run());
  return m;
}

Result<std::vector<Memory>> ReadMemoryRows(Stmt& stmt) {
  std::vector<Memory> out;
  for (;;) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(Memory{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2),
                         stmt.ColumnText(3), stmt.ColumnInt(4)});
  }
}

// ---- Words of a search query ----

// Decodes the UTF-8 sequence at `s[i]`; sets `len` to its length (1 for an invalid byte, which
// yields U+FFFD).
char32_t DecodeAt(std::string_view s, size_t i, size_t& len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  len = 1;
  if (b0 < 0x80) return b0;
  size_t n = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0xFFFD;
  }
  if (i + n > s.size()) return 0xFFFD;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (b & 0x3F);
  }
  len = n;
  return cp;
}

// Letters and digits as far as the search cares: ASCII alphanumerics and every non-ASCII code
// point outside the common punctuation and symbol blocks (FTS5's unicode61 tokenizer then
// decides the rest inside the quoted word).
bool IsWordChar(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  const std::pair<char32_t, char32_t> kSeparators[] = {
      {0x80, 0xBF},     {0xD7, 0xD7},     {0xF7, 0xF7},     {0x2000, 0x2BFF},   {0x3000, 0x303F},
      {0xFE30, 0xFE4F}, {0xFF00, 0xFF0F}, {0xFFF0, 0xFFFF}, {0x1F000, 0x1FAFF},
  };
  for (const auto& [lo, hi] : kSeparators) {
    if (c >= lo && c <= hi) return false;
  }
  return true;
}

}  // namespace

// ---- Helpers for account creation and search ----

Agent StandardDefaultAgent() {
  Agent a;
  a.name = kDefaultAgentName;
  return a;
}

Result<Agent> InsertDefaultAgent(Db& db, const std::string& account_id, Agent agent,
                                 int64_t now_ms) {
  agent.account_id = account_id;
  agent.is_default = true;
  if (agent.agent_id.empty()) agent.agent_id = NewUuid();
  if (agent.name.empty()) agent.name = kDefaultAgentName;
  if (agent.created_at_ms == 0) agent.created_at_ms = now_ms;
  if (agent.updated_at_ms == 0) agent.updated_at_ms = agent.created_at_ms;
  AGENTD_RETURN_IF_ERROR(InsertAgent(db, agent));
  return agent;
}

std::string MemoryMatchQuery(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && std::find(words.begin(), words.end(), word) == words.end()) {
      words.push_back(word);
    }
    word.clear();
  };
  for (size_t i = 0; i < text.size() && words.size() < kMaxQueryWords;) {
    size_t len = 1;
    const char32_t c = DecodeAt(text, i, len);
    if (IsWordChar(c)) {
      word.append(text.substr(i, len));
    } else {
      flush();
    }
    i += len;
  }
  if (words.size() < kMaxQueryWords) flush();
  std::string query;
  for (const std::string& w : words) {
    if (!query.empty()) query += " OR ";
    // A word holds no '"' (a separator), so quoting makes it a plain phrase: AND, NEAR, '*',
    // '^', ':' or parentheses in the user's text are never FTS5 syntax.
    query += '"';
    query += w;
    query += '"';
  }
  return query;
}

// ---- SqliteStore: writes ----

void SqliteStore::CreateAgent(Agent agent, std::function<void(Result<Agent>)> done) {
  Enqueue(MakeResultJob<Agent>(
      [agent = std::move(agent)](Db& db) { return ApplyCreateAgent(db, agent); }, std::move(done)));
}

void SqliteStore::UpdateAgent(std::string account_id, std::string agent_id, AgentPatch patch,
                              int64_t now_ms, std::function<void(Result<Agent>)> done) {
  Enqueue(MakeResultJob<Agent>(
      [account_id = std::move(account_id), agent_id = std::move(agent_id), patch = std::move(patch),
       now_ms](Db& db) { return ApplyUpdateAgent(db, account_id, agent_id, patch, now_ms); },
      std::move(done)));
}

void SqliteStore::DeleteAgent(std::string account_id, std::string agent_id,
                              std::function<void(Status)> done) {
  Enqueue(MakeStatusJob([account_id = std::move(account_id), agent_id = std::move(agent_id)](
                            Db& db) { return ApplyDeleteAgent(db, account_id, agent_id); },
                        std::move(done)));
}

void SqliteStore::EnsureDefaultAgent(std::string account_id, std::string default_tier,
                                     int64_t starting_credits_micro, Agent defaults,
                                     std::function<void(Result<Agent>)> done) {
  Enqueue(MakeResultJob<Agent>(
      [account_id = std::move(account_id), tier = std::move(default_tier), starting_credits_micro,
       defaults = std::move(defaults)](Db& db) {
        return ApplyEnsureDefaultAgent(db, account_id, tier, starting_credits_micro, defaults);
      },
      std::move(done)));
}

void SqliteStore::AddMemory(Memory memory, std::function<void(Result<Memory>)> done) {
  Enqueue(MakeResultJob<Memory>(
      [memory = std::move(memory)](Db& db) { return ApplyAddMemory(db, memory); },
      std::move(done)));
}

// ---- SqliteStore: reads ----

Result<Agent> SqliteStore::GetAgent(const std::string& agent_id) {
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(std::optional<Agent> agent,
                          FindAgentBy(reader.db(), kSelectAgent, agent_id));
  if (!agent) return NotFound(kAgentNotFound);
  return std::move(*agent);
}

Result<std::optional<Agent>> SqliteStore::GetDefaultAgent(const std::string& account_id) {
  ReadLease reader(*this);
  return FindAgentBy(reader.db(), kSelectDefaultAgent, account_id);
}

Result<std::vector<Agent>> SqliteStore::ListAgents(const std::string& account_id) {
  ReadLease reader(*this);
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSelectAgentsOfAccount));
  stmt.BindText(1, account_id);
  std::vector<Agent> agents;
  for (;;) {
    AGENTD_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return agents;
    AGENTD_ASSIGN_OR_RETURN(Agent agent, ReadAgentRow(stmt));
    agents.push_back(std::move(agent));
  }
}

Result<std::vector<Memory>> SqliteStore::SearchMemories(const std::string& account_id,
                                                        const std::string& query, int limit) {
  if (limit < 1) return InvalidArgument("limit must be positive");
  const std::string match = MemoryMatchQuery(query);
  ReadLease reader(*this);
  {
    // Most accounts have no memories: an index probe is much cheaper than a full-text query,
    // and every run with memory on asks.
    AGENTD_ASSIGN_OR_RETURN(Stmt any, reader.db().Prepare(kAnyMemory));
    any.BindText(1, account_id);
    AGENTD_ASSIGN_OR_RETURN(bool has_row, any.Step());
    if (!has_row) return std::vector<Memory>();
  }
  if (match.empty()) {
    AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kNewestMemories));
    stmt.BindText(1, account_id).BindInt(2, limit);
    return ReadMemoryRows(stmt);
  }
  AGENTD_ASSIGN_OR_RETURN(Stmt stmt, reader.db().Prepare(kSearchMemories));
  stmt.BindText(1, account_id).BindText(2, match).BindInt(3, limit);
  return ReadMemoryRows(stmt);
}

}  // namespace agentd::store::sqlite
