#include "api/dto.h"

#include "core/clock.h"

namespace agentd::api {
namespace {

nlohmann::json OptionalTime(const std::optional<int64_t>& ms) {
  return ms ? nlohmann::json(IsoTime(*ms)) : nlohmann::json(nullptr);
}

nlohmann::json OptionalText(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

nlohmann::json StartedRunToJson(const runs::StartedRun& run) {
  nlohmann::json j = {{"thread_id", run.thread_id},
                      {"agent_run_id", run.run_id},
                      {"project_id", run.project_id},
                      {"sandbox_id", run.sandbox_id ? nlohmann::json(*run.sandbox_id) : nullptr},
                      {"status", "running"},
                      {"model_name", run.model_name}};
  if (run.files.is_array()) j["files"] = run.files;
  return j;
}

nlohmann::json RunDetailToJson(const store::Run& run) {
  nlohmann::json j = {{"id", run.run_id},
                      {"threadId", run.thread_id},
                      {"projectId", run.project_id},
                      {"status", store::RunStatusName(run.status)},
                      {"modelName", run.model_name},
                      {"startedAt", IsoTime(run.started_at_ms)},
                      {"completedAt", OptionalTime(run.completed_at_ms)},
                      {"createdAt", IsoTime(run.created_at_ms)},
                      {"error", OptionalText(run.error)},
                      {"usage", run.usage}};
  if (run.completed_at_ms) j["durationMs"] = *run.completed_at_ms - run.started_at_ms;
  return j;
}

nlohmann::json RunListItemToJson(const store::Run& run) {
  return {{"id", run.run_id},
          {"thread_id", run.thread_id},
          {"status", store::RunStatusName(run.status)},
          {"model_name", run.model_name},
          {"started_at", IsoTime(run.started_at_ms)},
          {"completed_at", OptionalTime(run.completed_at_ms)},
          {"error", OptionalText(run.error)},
          {"created_at", IsoTime(run.created_at_ms)}};
}

nlohmann::json ActiveRunToJson(const store::Run& run) {
  return {{"id", run.run_id},
          {"thread_id", run.thread_id},
          {"status", store::RunStatusName(run.status)},
          {"started_at", IsoTime(run.started_at_ms)}};
}

nlohmann::json MessageToJson(const store::Message& m) {
  return {{"message_id", m.message_id},
          {"thread_id", m.thread_id},
          {"type", m.type},
          {"is_llm_message", m.is_llm_message},
          {"content", m.content},
          {"metadata", m.metadata},
          {"created_at", IsoTime(m.created_at_ms)},
          {"updated_at", IsoTime(m.updated_at_ms)},
          {"agent_id", OptionalText(m.agent_id)},
          {"agent_version_id", OptionalText(m.agent_version_id)}};
}

nlohmann::json AgentToJson(const store::Agent& a) {
  return {{"agent_id", a.agent_id},
          {"name", a.name},
          {"description", a.description},
          {"system_prompt", a.system_prompt},
          {"model", OptionalText(a.model)},
          {"mode", OptionalText(a.mode)},
          {"tools", a.tools ? nlohmann::json(*a.tools) : nlohmann::json(nullptr)},
          {"is_default", a.is_default},
          {"created_at", IsoTime(a.created_at_ms)},
          {"updated_at", IsoTime(a.updated_at_ms)}};
}

nlohmann::json LimitsToJson(const store::Account& account, const billing::TierConfig& tier,
                            const store::AccountUsage& usage,
                            const std::vector<std::string>& allowed_models) {
  return {{"tier", account.tier},
          {"role", account.role},
          {"balance", billing::UsdNumber(account.balance_micro)},
          {"balance_micro", account.balance_micro},
          {"limits",
           {{"concurrent_runs", tier.max_concurrent_runs},
            {"threads", tier.max_threads},
            {"projects", tier.max_projects},
            {"max_file_bytes", tier.max_file_bytes},
            {"files_per_request", tier.max_files_per_request},
            {"run_timeout_s", tier.run_timeout_s},
            {"memory", tier.memory_allowed}}},
          {"usage",
           {{"running_runs", usage.running_runs},
            {"threads", usage.threads},
            {"projects", usage.projects}}},
          {"allowed_models", allowed_models}};
}

}  // namespace agentd::api
