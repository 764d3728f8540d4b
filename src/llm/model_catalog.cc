#include "llm/model_catalog.h"

#include <algorithm>
#include <utility>

namespace agentd::llm {

bool ModelEntry::AllowsTier(std::string_view tier) const {
  return tiers.empty() || std::find(tiers.begin(), tiers.end(), tier) != tiers.end();
}

void ModelCatalog::Add(ModelEntry entry) {
  for (ModelEntry& existing : entries_) {
    if (existing.name == entry.name) {
      existing = std::move(entry);
      return;
    }
  }
  entries_.push_back(std::move(entry));
}

Result<const ModelEntry*> ModelCatalog::Resolve(std::string_view name) const {
  // Names win over aliases so that adding an alias can never hijack an existing name.
  for (const ModelEntry& e : entries_) {
    if (e.name == name) return &e;
  }
  for (const ModelEntry& e : entries_) {
    if (std::find(e.aliases.begin(), e.aliases.end(), name) != e.aliases.end()) return &e;
  }
  return Status(StatusCode::kInvalidArgument, "Unknown model: " + std::string(name));
}

ModelCatalog DefaultModelCatalog() {
  const std::vector<std::string> kAllTiers = {"free", "pro", "enterprise"};
  const std::vector<std::string> kPaidTiers = {"pro", "enterprise"};
  auto entry = [](std::string name, std::vector<std::string> tiers,
                  std::vector<std::string> aliases = {}) {
    ModelEntry e;
    e.name = std::move(name);
    e.provider = "builtin";
    e.upstream = "echo";
    e.aliases = std::move(aliases);
    e.tiers = std::move(tiers);
    return e;
  };

  ModelCatalog catalog;
  catalog.Add(entry("kortix/minimax", kAllTiers));
  catalog.Add(entry("kortix/basic", kPaidTiers));
  catalog.Add(entry("openai/gpt-5-nano-2025-08-07", kPaidTiers, {"openai/gpt-5-nano"}));
  catalog.Add(entry("anthropic/claude-3.5-sonnet", kPaidTiers));
  catalog.Add(entry("kortix/power", kPaidTiers));
  catalog.Add(entry("anthropic/claude-sonnet-4-20250514", kPaidTiers));
  catalog.Add(entry("kortix/haiku", kAllTiers));
  catalog.Add(entry("builtin/echo", {}));
  return catalog;
}

}  // namespace agentd::llm
