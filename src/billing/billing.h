// Billing: tiers, model access by tier, the price of a model response, and money as text.
// Pure functions and plain values: the gate's state (balances, slots) lives in the store and is
// checked inside the start transaction; api/ and runs/ call these to decide what to ask for.
// Money is integers of 1e-6 US dollars ("micro"); never floating point except for display.
// Thread safety: everything here is reentrant; a BillingConfig is read-only once built.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/llm_client.h"
#include "llm/model_catalog.h"

namespace agentd::billing {

inline constexpr int64_t kUnlimited = -1;

// One tier's limits (API.md section 8). kUnlimited (-1) = no limit for the counts.
struct TierConfig {
  std::string name;
  int64_t max_concurrent_runs = 1;
  int64_t max_threads = 10;
  int64_t max_projects = 20;
  int64_t max_file_bytes = int64_t{10} * 1024 * 1024;
  int64_t max_files_per_request = 20;
  int64_t run_timeout_s = 600;
  bool memory_allowed = true;
  std::string default_model;  // "" = the server's [models] default
  bool all_models = false;    // models = "all": every catalogue model
};

struct BillingConfig {
  std::map<std::string, TierConfig, std::less<>> tiers;  // by name
  int64_t price_multiplier_ppm = 1'000'000;              // 1.0
  std::string new_account_tier = "free";
  int64_t new_account_credits_micro = 3'000'000;  // $3.00

  // nullptr when there is no such tier.
  const TierConfig* FindTier(std::string_view name) const;
};

// free, pro and enterprise with the defaults of API.md section 8.
BillingConfig DefaultBillingConfig();

struct ModelDecision {
  const llm::ModelEntry* entry = nullptr;  // owned by the catalogue
  bool downgraded = false;                 // free asking kortix/basic got kortix/minimax
};

// Picks the model of a run: `requested` (empty = the tier's default, else `fallback_default`).
// Order: known name (else InvalidArgument "Unknown model: X"), the free-tier downgrade of
// kortix/basic to kortix/minimax, tier access (else PermissionDenied reason MODEL_ACCESS_DENIED
// with details {"tier_name", "allowed_models"}).
Result<ModelDecision> ResolveModel(const TierConfig& tier, std::string_view requested,
                                   std::string_view fallback_default,
                                   const llm::ModelCatalog& catalog);

// True when `tier` may use `entry`: the tier says all, or the model lists the tier (an entry
// with no tiers, e.g. builtin/*, is open to every tier).
bool TierAllowsModel(const TierConfig& tier, const llm::ModelEntry& entry);

// Catalogue names `tier` may use, in catalogue order.
std::vector<std::string> AllowedModels(const TierConfig& tier, const llm::ModelCatalog& catalog);

// (prompt x input price + completion x output price) / 1e6 x multiplier, in micro-dollars,
// rounded half up once at the end (integers only). Negative token counts count as zero.
int64_t CostMicro(const llm::Usage& usage, int64_t input_micro_per_mtok,
                  int64_t output_micro_per_mtok, int64_t multiplier_ppm);
int64_t CostMicro(const llm::Usage& usage, const llm::ModelEntry& entry, int64_t multiplier_ppm);

// Micro-dollars as dollars for people: "2.50", "0.000001", "-1.25" (at least 2 decimals,
// trailing zeros beyond that dropped).
std::string FormatUsd(int64_t micro);
// Micro-dollars as a JSON number of dollars (display only).
double UsdNumber(int64_t micro);

// Parses a non-negative decimal amount of US dollars ("0.05", "3", "12.500000") into integer
// micro-dollars (50000, 3000000, 12500000) without floating point. Failure: InvalidArgument for
// anything else, for more than 6 significant decimals, or for amounts above $9e12.
Result<int64_t> ParseMicroUsd(std::string_view dollars);

}  // namespace agentd::billing
