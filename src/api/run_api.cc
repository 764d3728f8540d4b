#include "api/run_api.h"

#include <charconv>

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

Status CheckPathId(const std::string& id) {
  if (!IsUuid(id)) return InvalidArgument(kInvalidUuid);
  return Status::Ok();
}

}  // namespace

bool IsKnownMode(std::string_view mode) {
  static constexpr std::string_view kModes[] = {"code",   "chat",  "slides",  "sheets",
                                                "docs",   "canvas", "video", "research"};
  for (auto m : kModes) {
    if (m == mode) return true;
  }
  return false;
}

RunApi::RunApi(runs::RunService& runs, const llm::ModelCatalog& catalog,
               std::string default_model)
    : runs_(runs), catalog_(catalog), default_model_(std::move(default_model)) {}

boost::asio::awaitable<Result<nlohmann::json>> RunApi::StartRun(const auth::Principal& caller,
                                                                StartRunForm form) {
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
  if (Present(form.mode) && !IsKnownMode(*form.mode)) {
    co_return InvalidArgument("Unknown mode: " + *form.mode);
  }
  for (const auto* text : {&form.prompt, &form.model_name, &form.mode}) {
    if (*text && !IsValidUtf8(**text)) co_return InvalidArgument("Form fields must be UTF-8 text");
  }
  // 4. Agent and model. Custom agents arrive with the agent issue: none exist yet.
  if (Present(form.agent_id)) co_return NotFound("Agent not found");
  auto model = catalog_.Resolve(Present(form.model_name) ? *form.model_name : default_model_);
  if (!model.ok()) co_return model.status();
  // 7. Files arrive with the sandbox issue; refuse rather than drop them silently.
  if (form.file_count > 0) {
    co_return Status(StatusCode::kUnimplemented, "File uploads are not supported yet");
  }

  runs::StartRunInput input;
  input.account_id = caller.user_id;
  input.prompt = form.prompt.value_or("");
  input.optimistic = optimistic;
  if (Present(form.thread_id)) input.thread_id = CanonicalUuid(*form.thread_id);
  if (optimistic) input.project_id = CanonicalUuid(*form.project_id);
  input.model_name = (*model)->name;
  input.provider = (*model)->provider;
  input.upstream_model = (*model)->upstream;
  auto started = co_await runs_.Start(std::move(input));
  if (!started.ok()) co_return started.status();
  co_return StartedRunToJson(*started);
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
  return nlohmann::json{{"status", store::RunStatusName(run.status)},
                        {"error", run.error.empty() ? nlohmann::json(nullptr)
                                                    : nlohmann::json(run.error)}};
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
  AGENTD_ASSIGN_OR_RETURN(auto runs,
                          runs_.ListThreadRuns(caller.user_id, CanonicalUuid(thread_id), n,
                                               before ? CanonicalUuid(*before) : ""));
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
