// Model catalogue: every model name a client may ask for, the provider and upstream model
// it runs on, the tiers allowed to use it and its price. Built once by app/ (defaults plus
// configuration) and then only read; billing and the run service resolve names through it.
// Thread safety: const methods are safe to call concurrently; Add is not (call it only while
// building the catalogue, before sharing it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace agentd::llm {

struct ModelEntry {
  std::string name;                       // the canonical name clients send, e.g. "kortix/basic"
  std::string provider;                   // which LlmClient serves it; "builtin" for now
  std::string upstream;                   // the provider's own model name, e.g. "echo"
  std::vector<std::string> aliases;       // other names that resolve to this entry
  std::vector<std::string> tiers;         // tiers allowed to use it; empty = every tier
  int64_t input_micro_usd_per_mtok = 0;   // price of 1M prompt tokens, in 1e-6 USD
  int64_t output_micro_usd_per_mtok = 0;  // price of 1M completion tokens, in 1e-6 USD
  int64_t context_window = 128000;        // tokens

  // True when `tier` may use this model (listed, or the list is empty).
  bool AllowsTier(std::string_view tier) const;
};

class ModelCatalog {
 public:
  // Adds `entry`, replacing an existing entry of the same name (in place, keeping its order).
  // Invalidates pointers returned by Resolve.
  void Add(ModelEntry entry);

  // Resolves a canonical name first, then an alias (exact, case-sensitive match).
  // Success: the entry, owned by the catalogue and valid until the next Add or its destruction.
  // Failure: InvalidArgument "Unknown model: <name>".
  Result<const ModelEntry*> Resolve(std::string_view name) const;

  // In insertion order.
  const std::vector<ModelEntry>& entries() const { return entries_; }

 private:
  // Linear scans: the catalogue holds tens of entries, and a scan of them is cheaper than
  // keeping an index in step with Add.
  std::vector<ModelEntry> entries_;
};

// The catalogue of API.md section 8: every model the Kortix source names, all served by the
// offline builtin/echo model until real providers are configured, plus builtin/echo itself.
ModelCatalog DefaultModelCatalog();

}  // namespace agentd::llm
