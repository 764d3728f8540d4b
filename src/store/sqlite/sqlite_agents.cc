// Agents and long-term memory in the SQLite store.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"

namespace agentd::store::sqlite {
namespace {
Status NotYet() {
  return Status(StatusCode::kUnimplemented, "agents and memory are not implemented yet");
}
}  // namespace

void SqliteStore::CreateAgent(Agent, std::function<void(Result<Agent>)> done) { done(NotYet()); }
void SqliteStore::UpdateAgent(std::string, std::string, AgentPatch, int64_t,
                              std::function<void(Result<Agent>)> done) {
  done(NotYet());
}
void SqliteStore::DeleteAgent(std::string, std::string, std::function<void(Status)> done) {
  done(NotYet());
}
void SqliteStore::EnsureDefaultAgent(std::string, std::string, int64_t, Agent,
                                     std::function<void(Result<Agent>)> done) {
  done(NotYet());
}
Result<Agent> SqliteStore::GetAgent(const std::string&) { return NotFound("Agent not found"); }
Result<std::optional<Agent>> SqliteStore::GetDefaultAgent(const std::string&) {
  return std::optional<Agent>();
}
Result<std::vector<Agent>> SqliteStore::ListAgents(const std::string&) { return NotYet(); }
void SqliteStore::AddMemory(Memory, std::function<void(Result<Memory>)> done) { done(NotYet()); }
Result<std::vector<Memory>> SqliteStore::SearchMemories(const std::string&, const std::string&,
                                                        int) {
  return std::vector<Memory>();
}

}  // namespace agentd::store::sqlite
