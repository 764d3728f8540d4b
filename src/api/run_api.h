// RunApi: the use cases behind the run endpoints. A handler parses the HTTP request into
// these inputs, makes one call, and maps the returned Status. Validation here follows the
// order of API.md section 4; every refusal happens before any state changes.
// Thread safety: safe from any thread (state lives in RunService and the store).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/modes.h"
#include "auth/verifier.h"
#include "billing/billing.h"
#include "core/status.h"
#include "files/upload.h"
#include "llm/model_catalog.h"
#include "runs/run_service.h"

namespace agentd::api {

// The form fields of POST /agent/start, as sent (absent = nullopt).
struct StartRunForm {
  std::optional<std::string> prompt;
  std::optional<std::string> thread_id;
  std::optional<std::string> project_id;
  std::optional<std::string> agent_id;
  std::optional<std::string> model_name;
  std::optional<std::string> optimistic;
  std::optional<std::string> memory_enabled;
  std::optional<std::string> mode;
  std::vector<files::SpooledFile> files;  // the uploads, already spooled to disk
  // FILE_TOO_LARGE / TOO_MANY_FILES met while the body streamed in: returned after the checks
  // API.md section 4 puts before it (fields, thread, model, credits, thread/project limits).
  Status file_refusal;
  // X-Emit-Timing: true (honoured for super_admin only) and the handler's auth time.
  bool emit_timing = false;
  double auth_ms = 0;
};

// Per-tier upload limits (files::kNoLimit = none), known before the body is read.
struct UploadLimits {
  int64_t max_file_bytes = files::kNoLimit;
  int64_t max_files = files::kNoLimit;
};

class RunApi {
 public:
  // REQUIRES: runs, catalog and billing outlive the api. `default_model` is in the catalog
  // (the model of a tier that names none); billing.new_account_tier is one of its tiers.
  RunApi(runs::RunService& runs, const llm::ModelCatalog& catalog, std::string default_model,
         const billing::BillingConfig& billing, const agent::ModeSet& modes);

  // 200 body of POST /agent/start, in API.md section 4 order. Refusals: InvalidArgument
  // (fields, "Unknown model: X"), NotFound, PermissionDenied MODEL_ACCESS_DENIED, the billing
  // refusals of Store::CreateRun (INSUFFICIENT_CREDITS, THREAD_/PROJECT_LIMIT_EXCEEDED,
  // AGENT_RUN_LIMIT_EXCEEDED), AlreadyExists THREAD_ALREADY_EXISTS, Aborted THREAD_BUSY,
  // form.file_refusal (413) after those that apply, Unimplemented (files on a server without
  // sandboxes). Files are placed in the project's sandbox before the run commits and listed
  // in the body's "files". With form.emit_timing from a super_admin the body has "timing".
  boost::asio::awaitable<Result<nlohmann::json>> StartRun(const auth::Principal& caller,
                                                          StartRunForm form);
  // {"status": <final status>}
  boost::asio::awaitable<Result<nlohmann::json>> StopRun(const auth::Principal& caller,
                                                         std::string run_id);
  Result<nlohmann::json> GetRun(const auth::Principal& caller, const std::string& run_id);
  Result<nlohmann::json> GetRunStatus(const auth::Principal& caller, const std::string& run_id);
  Result<nlohmann::json> ListThreadRuns(const auth::Principal& caller, const std::string& thread_id,
                                        std::optional<std::string> limit,
                                        std::optional<std::string> before);
  Result<nlohmann::json> ListActiveRuns(const auth::Principal& caller);
  Result<nlohmann::json> ListMessages(const auth::Principal& caller, const std::string& thread_id);
  // The caller's tier's file limits (the default tier's for an account not yet seen).
  Result<UploadLimits> UploadLimitsFor(const auth::Principal& caller);
  // GET /limits: {"tier","role","balance","balance_micro","limits":{...},"usage":{...},
  // "allowed_models":[...]}; an account not yet seen is shown as it would be created.
  Result<nlohmann::json> GetLimits(const auth::Principal& caller);

  // The run's event feed after `last_id` (Last-Event-ID or ?last_id=; empty = from the start),
  // or nullptr when nothing is left to send (HTTP 204).
  Result<std::shared_ptr<runs::RunEventFeed>> OpenStream(const auth::Principal& caller,
                                                         const std::string& run_id,
                                                         const std::string& last_id,
                                                         boost::asio::any_io_executor executor);

 private:
  // The caller's account, or the one a first start would create.
  Result<store::Account> AccountOf(const std::string& account_id);
  Result<const billing::TierConfig*> TierOf(const store::Account& account) const;
  // The credit and thread/project-limit refusals CreateRun would give, read without writing
  // (to order them before a 413); OK when none applies.
  Status GateRefusal(const store::Account& account, const billing::TierConfig& tier,
                     const StartRunForm& form);

  runs::RunService& runs_;
  const llm::ModelCatalog& catalog_;
  const std::string default_model_;
  const billing::BillingConfig& billing_;
  const agent::ModeSet& modes_;
};

}  // namespace agentd::api
