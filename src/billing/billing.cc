#include "billing/billing.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <utility>

namespace agentd::billing {
namespace {

constexpr char kBasic[] = "kortix/basic";
constexpr char kMinimax[] = "kortix/minimax";
constexpr int64_t kMb = int64_t{1024} * 1024;

TierConfig Tier(std::string name, int64_t runs, int64_t threads, int64_t projects, int64_t file_mb,
                int64_t files, int64_t timeout_s, std::string default_model) {
  TierConfig t;
  t.name = std::move(name);
  t.max_concurrent_runs = runs;
  t.max_threads = threads;
  t.max_projects = projects;
  t.max_file_bytes = file_mb * kMb;
  t.max_files_per_request = files;
  t.run_timeout_s = timeout_s;
  t.default_model = std::move(default_model);
  return t;
}

}  // namespace

const TierConfig* BillingConfig::FindTier(std::string_view name) const {
  auto it = tiers.find(name);
  return it == tiers.end() ? nullptr : &it->second;
}

BillingConfig DefaultBillingConfig() {
  BillingConfig c;
  for (TierConfig t : {Tier("free", 1, 10, 20, 10, 20, 600, kMinimax),
                       Tier("pro", 3, 1000, 2000, 50, 20, 1800, kBasic),
                       Tier("enterprise", 10, kUnlimited, kUnlimited, 500, 50, 3600, kBasic)}) {
    std::string name = t.name;
    c.tiers.emplace(std::move(name), std::move(t));
  }
  return c;
}

bool TierAllowsModel(const TierConfig& tier, const llm::ModelEntry& entry) {
  return tier.all_models || entry.AllowsTier(tier.name);
}

std::vector<std::string> AllowedModels(const TierConfig& tier, const llm::ModelCatalog& catalog) {
  std::vector<std::string> out;
  for (const llm::ModelEntry& e : catalog.entries()) {
    if (TierAllowsModel(tier, e)) out.push_back(e.name);
  }
  return out;
}

Result<ModelDecision> ResolveModel(const TierConfig& tier, std::string_view requested,
                                   std::string_view fallback_default,
                                   const llm::ModelCatalog& catalog) {
  std::string_view name = requested;
  if (name.empty()) name = tier.default_model.empty() ? fallback_default : tier.default_model;
  AGENTD_ASSIGN_OR_RETURN(const llm::ModelEntry* entry, catalog.Resolve(name));
  ModelDecision d{entry, false};
  if (tier.name == "free" && entry->name == kBasic) {
    auto minimax = catalog.Resolve(kMinimax);
    if (minimax.ok()) {
      d.entry = *minimax;
      d.downgraded = true;
    }
  }
  if (!TierAllowsModel(tier, *d.entry)) {
    return Status(StatusCode::kPermissionDenied,
                  "Model " + d.entry->name + " is not available on the " + tier.name + " tier",
                  "MODEL_ACCESS_DENIED",
                  {{"tier_name", tier.name}, {"allowed_models", AllowedModels(tier, catalog)}});
  }
  return d;
}

int64_t CostMicro(const llm::Usage& usage, int64_t input_micro_per_mtok,
                  int64_t output_micro_per_mtok, int64_t multiplier_ppm) {
  using I = __int128;
  const I prompt = std::max<int64_t>(usage.prompt_tokens, 0);
  const I completion = std::max<int64_t>(usage.completion_tokens, 0);
  // micro-dollars x 1e6 (tokens per Mtok) x 1e6 (ppm)
  const I numerator = (prompt * input_micro_per_mtok + completion * output_micro_per_mtok) *
                      I(std::max<int64_t>(multiplier_ppm, 0));
  const I denominator = I(1'000'000) * I(1'000'000);
  const I cost = (numerator + denominator / 2) / denominator;
  return cost > I(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(cost);
}

int64_t CostMicro(const llm::Usage& usage, const llm::ModelEntry& entry, int64_t multiplier_ppm) {
  return CostMicro(usage, entry.input_micro_usd_per_mtok, entry.output_micro_usd_per_mtok,
                   multiplier_ppm);
}

std::string FormatUsd(int64_t micro) {
  const bool negative = micro < 0;
  const unsigned __int128 abs = negative ? -static_cast<__int128>(micro) : micro;
  const uint64_t whole = static_cast<uint64_t>(abs / 1'000'000);
  std::string frac = std::to_string(static_cast<uint64_t>(abs % 1'000'000));
  frac.insert(0, 6 - frac.size(), '0');
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  return fmt::format("{}{}.{}", negative ? "-" : "", whole, frac);
}

double UsdNumber(int64_t micro) { return static_cast<double>(micro) / 1e6; }

Result<int64_t> ParseMicroUsd(std::string_view dollars) {
  constexpr uint64_t kMaxWholeDollars = 9'000'000'000'000;  // x 1e6 still fits in int64
  constexpr size_t kDecimals = 6;
  const auto bad = [&] {
    return InvalidArgument(
        fmt::format("'{}' is not a non-negative dollar amount such as \"0.05\"", dollars));
  };
  const auto is_digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };

  const size_t dot = dollars.find('.');
  const std::string_view whole = dollars.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : dollars.substr(dot + 1);
  if (!is_digits(whole)) return bad();
  if (dot != std::string_view::npos && !is_digits(frac)) return bad();
  while (frac.size() > kDecimals && frac.back() == '0') frac.remove_suffix(1);
  if (frac.size() > kDecimals) {
    return InvalidArgument(
        fmt::format("'{}' has more than 6 decimals (the unit is 1e-6 USD)", dollars));
  }

  uint64_t whole_value = 0;
  const auto [ptr, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), whole_value);
  if (ec != std::errc() || whole_value > kMaxWholeDollars) {
    return InvalidArgument(fmt::format("'{}' is too large", dollars));
  }
  int64_t micro = static_cast<int64_t>(whole_value);
  for (size_t i = 0; i < kDecimals; ++i) {
    micro = micro * 10 + (i < frac.size() ? frac[i] - '0' : 0);
  }
  if (micro > static_cast<int64_t>(kMaxWholeDollars) * 1'000'000) {
    return InvalidArgument(fmt::format("'{}' is too large", dollars));
  }
  return micro;
}

}  // namespace agentd::billing
