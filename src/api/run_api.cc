#include "api/run_api.h"

#include <charconv>
#include <chrono>

#include "api/dto.h"
#include "core/ids.h"
#include "core/json.h"

namespace agentd::api {
namespace {

constexpr char kInvalidUuid[] = "Invalid UUID format";

Status CheckUuid(const std::optional<std::string>& value) {
  if (value && !value->empty() && !IsUuid(*value)) return InvalidArgument(kInvalidUuid);
  return Status::Ok();
}

bool Present(const std::optional<std::string>& v) { return v && !v->empty(); }

// Milliseconds between phases of a start (X-Emit-Timing).
class PhaseTimer {
 public:
  double Lap() {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

Status CheckPathId(const std::string& id) {
  if (!IsUuid(id)) return InvalidArgument(kInvalidUuid);
  return Status::Ok();
}

}  // namespace

RunApi::RunApi(runs::RunService& runs, const llm::ModelCatalog& catalog, std::string default_model,
               const billing::BillingConfig& billing, const agent::ModeSet& modes)
    : runs_(runs),
      catalog_(catalog),
      default_model_(std::move(default_model)),
      billing_(billing),
      modes_(modes) {}

Result<store::Account> RunApi::AccountOf(const std::string& account_id) {
  AGENTD_ASSIGN_OR_RETURN(std::optional<store::Account> account, runs_.GetAccount(account_id));
  if (account) return std::move(*account);
  store::Account fresh;
  fresh.account_id = account_id;
  fresh.tier = billing_.new_account_tier;
  fresh.role = "user";
  fresh.balance_micro = billing_.new_account_credits_micro;
  return fresh;
}

Result<const billing::TierConfig*> RunApi::TierOf(const store::Account& account) const {
  const billing::TierConfig* tier = billing_.FindTier(account.tier);
  if (tier == nullptr) {
    // An account set to a tier that was later removed from the configuration.
    return Internal("Account " + account.account_id + " has unknown tier " + account.tier);
  }
  return tier;
}

boost::asio::awaitable<Result<nlohmann::json>> RunApi::StartRun(const auth::Principal& caller,
                                                                StartRunForm form) {
  PhaseTimer timer;
  // 2. Fields.
  const bool optimistic = form.optimistic && *form.optimistic == "true";
  if (form.optimistic && *form.optimistic != "true" && *form.optimistic != "false") {
    co_return InvalidArgument("optimistic must be \"true\" or \"false\"");
  }
  if (optimistic) {
    if (!Present(form.thread_id) || !Present(form.project_id)) {
      co_return InvalidArgument("thread_id and project_id required for optimistic mode");
    }
    if (!Present(form.prompt)) co_return InvalidArgument("prompt required for optimistic mode");
  } else if (!Present(form.thread_id) && !Present(form.prompt)) {
    co_return InvalidArgument("prompt required when creating new thread");
  }
  for (const auto* id : {&form.thread_id, &form.project_id, &form.agent_id}) {
    if (Status s = CheckUuid(*id); !s.ok()) co_return s;
  }
  if (form.memory_enabled && *form.memory_enabled != "true" && *form.memory_enabled != "false") {
    co_return InvalidArgument("memory_enabled must be \"true\" or \"false\"");
  }
  if (Present(form.mode) && modes_.Find(*form.mode) == nullptr) {
    co_return InvalidArgument("Unknown mode: " + *form.mode);
  }
  for (const auto* text : {&form.prompt, &form.model_name, &form.mode}) {
    if (*text && !IsValidUtf8(**text)) co_return InvalidArgument("Form fields must be UTF-8 text");
  }
  // Memory: the request's choice, else the thread's (for an existing thread), else on.
  bool memory_enabled = !form.memory_enabled || *form.memory_enabled == "true";
  // 3. Thread: an existing one must be the caller's and idle. Both are checked again in the
  // start transaction, where two racing starts cannot both pass; reading them here keeps the
  // refusal order of API.md section 4 (404 and THREAD_BUSY before model and billing refusals).
  if (Present(form.thread_id) && !optimistic) {
    const std::string thread_id = CanonicalUuid(*form.thread_id);
    auto thread = runs_.GetThread(caller.user_id, thread_id);
    if (!thread.ok()) co_return thread.status();
    if (!form.memory_enabled) memory_enabled = thread->memory_enabled;
    auto newest = runs_.ListThreadRuns(caller.user_id, thread_id, 1, "");
    if (!newest.ok()) co_return newest.status();
    if (!newest->empty() && newest->front().status == store::RunStatus::kRunning) {
      co_return Status(StatusCode::kAborted, "Thread already has a running agent run",
                       "THREAD_BUSY", {{"running_agent_run_id", newest->front().run_id}});
    }
  }
  const double validation_ms = timer.Lap();
  // 4. Agent, then model and mode: the request's, else the agent's, else the defaults.
  std::optional<store::Agent> agent;
  if (Present(form.agent_id)) {
    auto found = runs_.GetAgent(caller.user_id, CanonicalUuid(*form.agent_id));
    if (!found.ok()) co_return found.status();
    agent = std::move(*found);
  } else {
    auto found = runs_.GetDefaultAgent(caller.user_id);
    if (!found.ok()) co_return found.status();
    agent = std::move(*found);
  }
  std::string mode_name = modes_.default_mode();
  if (Present(form.mode)) {
    mode_name = *form.mode;
  } else if (agent && !agent->mode.empty()) {
    mode_name = agent->mode;
  }
  const agent::Mode* mode = modes_.Find(mode_name);
  if (mode == nullptr) co_return InvalidArgument("Unknown mode: " + mode_name);
  auto account = AccountOf(caller.user_id);
  if (!account.ok()) co_return account.status();
  auto tier = TierOf(*account);
  if (!tier.ok()) co_return tier.status();
  std::string requested_model = form.model_name.value_or("");
  if (requested_model.empty() && agent) requested_model = agent->model;
  auto model = billing::ResolveModel(**tier, requested_model, default_model_, catalog_);
  if (!model.ok()) co_return model.status();
  const llm::ModelEntry& entry = *model->entry;
  // 5.-6., 8. Credits, thread and project limits and the concurrency slot are checked in the
  // start transaction (Store::CreateRun). 7. File limits were checked as the body streamed in;
  // a refusal then is answered here, after reads that give the refusals before it.
  if (!form.file_refusal.ok()) {
    if (Status s = GateRefusal(*account, **tier, form); !s.ok()) co_return s;
    co_return form.file_refusal;
  }
  const double billing_ms = timer.Lap();

  runs::StartRunInput input;
  input.account_id = caller.user_id;
  input.prompt = form.prompt.value_or("");
  input.optimistic = optimistic;
  if (Present(form.thread_id)) input.thread_id = CanonicalUuid(*form.thread_id);
  if (optimistic) input.project_id = CanonicalUuid(*form.project_id);
  input.model_name = entry.name;
  input.provider = entry.provider;
  input.upstream_model = entry.upstream;
  input.limits = {(*tier)->max_concurrent_runs, (*tier)->max_threads, (*tier)->max_projects};
  input.run_timeout = std::chrono::seconds((*tier)->run_timeout_s);
  input.input_micro_usd_per_mtok = entry.input_micro_usd_per_mtok;
  input.output_micro_usd_per_mtok = entry.output_micro_usd_per_mtok;
  input.price_multiplier_ppm = billing_.price_multiplier_ppm;
  input.context_window = entry.context_window;
  if (agent) {
    input.agent_id = agent->agent_id;
    input.agent_system_prompt = agent->system_prompt;
    input.agent_tools = agent->tools;
  }
  input.mode = *mode;
  input.memory_enabled = memory_enabled && (*tier)->memory_allowed;
  auto started = co_await runs_.Start(std::move(input), std::move(form.files));
  if (!started.ok()) co_return started.status();
  nlohmann::json body = StartedRunToJson(*started);
  if (form.emit_timing && account->role == "super_admin") {
    const double database_ms = timer.Lap();
    body["timing"] = {{"auth_ms", form.auth_ms},
                      {"validation_ms", validation_ms},
                      {"billing_ms", billing_ms},
                      {"database_ms", database_ms},
                      {"sandbox_ms", 0.0},
                      {"total_ms", form.auth_ms + validation_ms + billing_ms + database_ms}};
  }
  co_return body;
}

boost::asio::awaitable<Result<nlohmann::json>> RunApi::StopRun(const auth::Principal& caller,
                                                               std::string run_id) {
  if (Status s = CheckPathId(run_id); !s.ok()) co_return s;
  auto status = co_await runs_.Stop(caller.user_id, CanonicalUuid(run_id));
  if (!status.ok()) co_return status.status();
  co_return nlohmann::json{{"status", store::RunStatusName(*status)}};
}

Result<nlohmann::json> RunApi::GetRun(const auth::Principal& caller, const std::string& run_id) {
  AGENTD_RETURN_IF_ERROR(CheckPathId(run_id));
  AGENTD_ASSIGN_OR_RETURN(auto run, runs_.GetRun(caller.user_id, CanonicalUuid(run_id)));
  return RunDetailToJson(run);
}

Result<nlohmann::json> RunApi::GetRunStatus(const auth::Principal& caller,
                                            const std::string& run_id) {
  AGENTD_RETURN_IF_ERROR(CheckPathId(run_id));
  AGENTD_ASSIGN_OR_RETURN(auto run, runs_.GetRun(caller.user_id, CanonicalUuid(run_id)));
  return nlohmann::json{
      {"status", store::RunStatusName(run.status)},
      {"error", run.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.error)}};
}

Result<nlohmann::json> RunApi::ListThreadRuns(const auth::Principal& caller,
                                              const std::string& thread_id,
                                              std::optional<std::string> limit,
                                              std::optional<std::string> before) {
  AGENTD_RETURN_IF_ERROR(CheckPathId(thread_id));
  int n = 50;
  if (limit) {
    auto [p, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (ec != std::errc() || p != limit->data() + limit->size() || n < 1 || n > 1000) {
      return InvalidArgument("limit must be an integer from 1 to 1000");
    }
  }
  if (before && !IsUuid(*before)) return InvalidArgument(kInvalidUuid);
  AGENTD_ASSIGN_OR_RETURN(auto runs, runs_.ListThreadRuns(caller.user_id, CanonicalUuid(thread_id),
                                                          n, before ? CanonicalUuid(*before) : ""));
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : runs) list.push_back(RunListItemToJson(r));
  return nlohmann::json{{"agent_runs", std::move(list)}};
}

Result<nlohmann::json> RunApi::ListActiveRuns(const auth::Principal& caller) {
  AGENTD_ASSIGN_OR_RETURN(auto runs, runs_.ListActiveRuns(caller.user_id));
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : runs) list.push_back(ActiveRunToJson(r));
  return nlohmann::json{{"active_runs", std::move(list)}};
}

Result<nlohmann::json> RunApi::ListMessages(const auth::Principal& caller,
                                            const std::string& thread_id) {
  AGENTD_RETURN_IF_ERROR(CheckPathId(thread_id));
  AGENTD_ASSIGN_OR_RETURN(auto messages,
                          runs_.ListMessages(caller.user_id, CanonicalUuid(thread_id)));
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : messages) list.push_back(MessageToJson(m));
  return nlohmann::json{{"messages", std::move(list)}};
}

Status RunApi::GateRefusal(const store::Account& account, const billing::TierConfig& tier,
                           const StartRunForm& form) {
  if (account.balance_micro <= 0) {
    return Status(StatusCode::kResourceExhausted, "Insufficient credits", "INSUFFICIENT_CREDITS",
                  {{"balance", static_cast<double>(account.balance_micro) / 1e6}});
  }
  const bool new_thread = !Present(form.thread_id) || form.optimistic.value_or("") == "true";
  if (!new_thread) return Status::Ok();
  AGENTD_ASSIGN_OR_RETURN(store::AccountUsage usage, runs_.GetAccountUsage(account.account_id));
  if (tier.max_threads >= 0 && usage.threads >= tier.max_threads) {
    return Status(StatusCode::kResourceExhausted,
                  "Thread limit reached (" + std::to_string(tier.max_threads) + ")",
                  "THREAD_LIMIT_EXCEEDED",
                  {{"limit", tier.max_threads}, {"current_count", usage.threads}});
  }
  return Status::Ok();
}

Result<UploadLimits> RunApi::UploadLimitsFor(const auth::Principal& caller) {
  AGENTD_ASSIGN_OR_RETURN(store::Account account, AccountOf(caller.user_id));
  AGENTD_ASSIGN_OR_RETURN(const billing::TierConfig* tier, TierOf(account));
  return UploadLimits{tier->max_file_bytes, tier->max_files_per_request};
}

Result<nlohmann::json> RunApi::GetLimits(const auth::Principal& caller) {
  AGENTD_ASSIGN_OR_RETURN(store::Account account, AccountOf(caller.user_id));
  AGENTD_ASSIGN_OR_RETURN(const billing::TierConfig* tier, TierOf(account));
  AGENTD_ASSIGN_OR_RETURN(store::AccountUsage usage, runs_.GetAccountUsage(caller.user_id));
  return LimitsToJson(account, *tier, usage, billing::AllowedModels(*tier, catalog_));
}

Result<std::shared_ptr<runs::RunEventFeed>> RunApi::OpenStream(
    const auth::Principal& caller, const std::string& run_id, const std::string& last_id,
    boost::asio::any_io_executor executor) {
  AGENTD_RETURN_IF_ERROR(CheckPathId(run_id));
  int64_t after = 0;
  if (!last_id.empty()) {
    auto [p, ec] = std::from_chars(last_id.data(), last_id.data() + last_id.size(), after);
    if (ec != std::errc() || p != last_id.data() + last_id.size() || after < 0) {
      return InvalidArgument("last_id must be an event id (a non-negative integer)");
    }
  }
  return runs_.OpenFeed(caller.user_id, CanonicalUuid(run_id), after, std::move(executor));
}

}  // namespace agentd::api
