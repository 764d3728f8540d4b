#include "app/config.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <limits>
#include <map>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace agentd::app {
namespace {

// ---------------------------------------------------------------------------------------------
// TOML -> Config

using FieldPtr = std::variant<std::string Config::*, int Config::*, int64_t Config::*,
                              bool Config::*, std::vector<std::string> Config::*>;

struct Field {
  std::string_view section;
  std::string_view key;
  FieldPtr member;
};

// Every scalar option as [section] key. [models] also holds the model tables (ApplyModel).
const Field kFields[] = {
    {"server", "host", &Config::host},
    {"server", "port", &Config::port},
    {"server", "data_dir", &Config::data_dir},
    {"server", "io_threads", &Config::io_threads},
    {"auth", "jwt_secret", &Config::jwt_secret},
    {"auth", "leeway_s", &Config::jwt_leeway_s},
    {"auth", "issuer", &Config::jwt_issuer},
    {"auth", "audience", &Config::jwt_audience},
    {"runs", "lease_ms", &Config::lease_ms},
    {"runs", "lease_renew_ms", &Config::lease_renew_ms},
    {"runs", "heartbeat_ms", &Config::heartbeat_ms},
    {"runs", "max_steps", &Config::max_steps},
    {"runs", "run_timeout_ms", &Config::run_timeout_ms},
    {"runs", "event_retention_s", &Config::event_retention_s},
    {"runs", "retention_sweep_ms", &Config::retention_sweep_ms},
    {"runs", "subscriber_queue_bytes", &Config::subscriber_queue_bytes},
    {"http", "max_body_bytes", &Config::max_body_bytes},
    {"http", "cors_allowed_origins", &Config::cors_allowed_origins},
    {"http", "upload_drain_bytes", &Config::upload_drain_bytes},
    {"uploads", "text_cap_bytes", &Config::upload_text_cap_bytes},
    {"uploads", "pdftotext_timeout_ms", &Config::upload_pdftotext_timeout_ms},
    {"models", "default", &Config::default_model},
    {"accounts", "default_tier", &Config::default_tier},
    {"store", "sqlite_synchronous", &Config::sqlite_synchronous},
    {"sandbox", "bwrap_path", &Config::sandbox_bwrap_path},
    {"sandbox", "setpriv_path", &Config::sandbox_setpriv_path},
    {"sandbox", "command_timeout_ms", &Config::sandbox_command_timeout_ms},
    {"sandbox", "max_command_timeout_ms", &Config::sandbox_max_command_timeout_ms},
    {"sandbox", "output_cap_bytes", &Config::sandbox_output_cap_bytes},
    {"sandbox", "cpu_seconds", &Config::sandbox_cpu_seconds},
    {"sandbox", "memory_bytes", &Config::sandbox_memory_bytes},
    {"sandbox", "max_processes", &Config::sandbox_max_processes},
    {"sandbox", "max_file_bytes", &Config::sandbox_max_file_bytes},
    {"sandbox", "max_open_files", &Config::sandbox_max_open_files},
    {"sandbox", "tmp_bytes", &Config::sandbox_tmp_bytes},
    {"sandbox", "first_uid", &Config::sandbox_first_uid},
    {"sandbox", "seccomp", &Config::sandbox_seccomp},
};

const Field* FindField(std::string_view section, std::string_view key) {
  for (const Field& f : kFields) {
    if (f.section == section && f.key == key) return &f;
  }
  return nullptr;
}

bool IsSection(std::string_view section) {
  for (const Field& f : kFields) {
    if (f.section == section) return true;
  }
  return false;
}

// "path:line:column: " for messages that point into the file.
std::string Where(const toml::source_region& src) {
  std::string out;
  if (src.path) out += *src.path + ":";
  out += std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) + ": ";
  return out;
}

Status ErrorAt(const toml::source_region& src, const std::string& message) {
  return InvalidArgument(Where(src) + message);
}

Result<std::string> GetString(const toml::node& n, const std::string& name) {
  if (const auto* v = n.as_string()) return v->get();
  return ErrorAt(n.source(), name + " must be a string");
}

Result<std::vector<std::string>> GetStringArray(const toml::node& n, const std::string& name) {
  const toml::array* arr = n.as_array();
  if (arr == nullptr) return ErrorAt(n.source(), name + " must be an array of strings");
  std::vector<std::string> out;
  for (const toml::node& el : *arr) {
    const auto* s = el.as_string();
    if (s == nullptr) return ErrorAt(el.source(), name + " must be an array of strings");
    out.push_back(s->get());
  }
  return out;
}

template <typename Int>
Result<Int> GetInteger(const toml::node& n, const std::string& name) {
  const auto* v = n.as_integer();
  if (v == nullptr) return ErrorAt(n.source(), name + " must be an integer");
  const int64_t x = v->get();
  if (x < std::numeric_limits<Int>::min() || x > std::numeric_limits<Int>::max()) {
    return ErrorAt(n.source(), name + " is out of range");
  }
  return static_cast<Int>(x);
}

Status SetField(Config& config, const Field& field, const toml::node& n) {
  const std::string name = std::string(field.section) + "." + std::string(field.key);
  return std::visit(
      [&](auto member) -> Status {
        using T = std::remove_reference_t<decltype(config.*member)>;
        Result<T> value = [&]() -> Result<T> {
          if constexpr (std::is_same_v<T, std::string>) {
            return GetString(n, name);
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            return GetStringArray(n, name);
          } else if constexpr (std::is_same_v<T, bool>) {
            if (const auto* v = n.as_boolean()) return v->get();
            return ErrorAt(n.source(), name + " must be true or false");
          } else {
            return GetInteger<T>(n, name);
          }
        }();
        if (!value.ok()) return value.status();
        config.*member = std::move(value).value();
        return Status::Ok();
      },
      field.member);
}

// A price in dollars per million tokens, written as a string ("0.05"), an integer or a float.
// A float is turned back into its shortest decimal spelling, which is what the user wrote, so
// 0.05 gives exactly 50000 micro-dollars rather than whatever binary floating point makes of it.
Result<int64_t> GetPrice(const toml::node& n, const std::string& name) {
  std::string text;
  if (const auto* s = n.as_string()) {
    text = s->get();
  } else if (const auto* i = n.as_integer()) {
    text = std::to_string(i->get());
  } else if (const auto* f = n.as_floating_point()) {
    char buf[64];
    const auto [end, ec] =
        std::to_chars(buf, buf + sizeof(buf), f->get(), std::chars_format::fixed);
    if (ec != std::errc()) return ErrorAt(n.source(), name + " is out of range");
    text.assign(buf, end);
  } else {
    return ErrorAt(n.source(), name + " must be a dollar amount such as \"0.05\"");
  }
  Result<int64_t> micro = ParseMicroUsd(text);
  if (!micro.ok()) return ErrorAt(n.source(), name + ": " + micro.status().message());
  return micro;
}

// [models."<name>"]: overrides the keys it sets on an existing entry, or adds a new entry that
// (like the defaults) runs on builtin/echo unless it says otherwise.
Status ApplyModel(const toml::key& model_key, const toml::table& table, llm::ModelCatalog& models) {
  const std::string model(model_key.str());
  const std::string prefix = "models.\"" + model + "\".";
  if (model.empty()) return ErrorAt(model_key.source(), "a model name must not be empty");

  llm::ModelEntry entry;
  entry.name = model;
  entry.provider = "builtin";
  entry.upstream = "echo";
  for (const llm::ModelEntry& existing : models.entries()) {
    if (existing.name == model) entry = existing;
  }

  bool set_provider = false;
  bool set_upstream = false;
  for (const auto& [key, node] : table) {
    const std::string name = prefix + std::string(key.str());
    if (key == "provider") {
      AGENTD_ASSIGN_OR_RETURN(entry.provider, GetString(node, name));
      set_provider = true;
    } else if (key == "upstream") {
      AGENTD_ASSIGN_OR_RETURN(entry.upstream, GetString(node, name));
      set_upstream = true;
    } else if (key == "aliases") {
      AGENTD_ASSIGN_OR_RETURN(entry.aliases, GetStringArray(node, name));
    } else if (key == "tiers") {
      AGENTD_ASSIGN_OR_RETURN(entry.tiers, GetStringArray(node, name));
    } else if (key == "input_price_per_mtok") {
      AGENTD_ASSIGN_OR_RETURN(entry.input_micro_usd_per_mtok, GetPrice(node, name));
    } else if (key == "output_price_per_mtok") {
      AGENTD_ASSIGN_OR_RETURN(entry.output_micro_usd_per_mtok, GetPrice(node, name));
    } else if (key == "context_window") {
      AGENTD_ASSIGN_OR_RETURN(entry.context_window, GetInteger<int64_t>(node, name));
    } else {
      return ErrorAt(key.source(), "unknown configuration key " + name);
    }
  }
  // Otherwise a model moved to a real provider would silently keep asking it for "echo".
  if (set_provider && !set_upstream) {
    return ErrorAt(table.source(), prefix + "upstream is required when provider is set");
  }
  models.Add(std::move(entry));
  return Status::Ok();
}

// [modes.<name>]: overrides the keys it sets on an existing mode, or adds a mode.
Status ApplyMode(const toml::key& mode_key, const toml::table& table, agent::ModeSet& modes) {
  const std::string mode_name(mode_key.str());
  const std::string prefix = "modes." + mode_name + ".";
  if (mode_name.empty()) return ErrorAt(mode_key.source(), "a mode name must not be empty");
  agent::Mode mode;
  mode.name = mode_name;
  if (const agent::Mode* existing = modes.Find(mode_name)) mode = *existing;
  for (const auto& [key, node] : table) {
    const std::string name = prefix + std::string(key.str());
    if (key == "tools") {
      AGENTD_ASSIGN_OR_RETURN(mode.tools, GetStringArray(node, name));
    } else if (key == "system_prompt") {
      AGENTD_ASSIGN_OR_RETURN(mode.system_prompt, GetString(node, name));
    } else if (key == "description") {
      AGENTD_ASSIGN_OR_RETURN(mode.description, GetString(node, name));
    } else {
      return ErrorAt(key.source(), "unknown configuration key " + name);
    }
  }
  modes.Add(std::move(mode));
  return Status::Ok();
}

// [tiers.<name>]: overrides the keys it sets on an existing tier, or adds a tier (starting
// from the free tier's limits).
Status ApplyTier(const toml::key& tier_key, const toml::table& table, billing::BillingConfig& b) {
  const std::string tier(tier_key.str());
  const std::string prefix = "tiers." + tier + ".";
  if (tier.empty()) return ErrorAt(tier_key.source(), "a tier name must not be empty");
  billing::TierConfig t;
  if (const billing::TierConfig* existing = b.FindTier(tier)) t = *existing;
  t.name = tier;
  for (const auto& [key, node] : table) {
    const std::string name = prefix + std::string(key.str());
    auto count = [&](int64_t& out) -> Status {
      AGENTD_ASSIGN_OR_RETURN(int64_t v, GetInteger<int64_t>(node, name));
      if (v < -1) return ErrorAt(node.source(), name + " must be -1 (unlimited) or more");
      out = v;
      return Status::Ok();
    };
    if (key == "concurrent_runs") {
      AGENTD_RETURN_IF_ERROR(count(t.max_concurrent_runs));
    } else if (key == "threads") {
      AGENTD_RETURN_IF_ERROR(count(t.max_threads));
    } else if (key == "projects") {
      AGENTD_RETURN_IF_ERROR(count(t.max_projects));
    } else if (key == "max_file_bytes") {
      AGENTD_ASSIGN_OR_RETURN(t.max_file_bytes, GetInteger<int64_t>(node, name));
    } else if (key == "max_file_mb") {
      AGENTD_ASSIGN_OR_RETURN(int64_t mb, GetInteger<int32_t>(node, name));
      t.max_file_bytes = mb * 1024 * 1024;
    } else if (key == "files_per_request") {
      AGENTD_ASSIGN_OR_RETURN(t.max_files_per_request, GetInteger<int64_t>(node, name));
    } else if (key == "run_timeout_s") {
      AGENTD_ASSIGN_OR_RETURN(t.run_timeout_s, GetInteger<int64_t>(node, name));
      if (t.run_timeout_s < 1) return ErrorAt(node.source(), name + " must be at least 1");
    } else if (key == "memory") {
      const auto* v = node.as_boolean();
      if (v == nullptr) return ErrorAt(node.source(), name + " must be true or false");
      t.memory_allowed = v->get();
    } else if (key == "default_model") {
      AGENTD_ASSIGN_OR_RETURN(t.default_model, GetString(node, name));
    } else if (key == "models") {
      AGENTD_ASSIGN_OR_RETURN(std::string models, GetString(node, name));
      if (models != "all" && models != "listed") {
        return ErrorAt(node.source(), name + " must be \"all\" or \"listed\"");
      }
      t.all_models = models == "all";
    } else {
      return ErrorAt(key.source(), "unknown configuration key " + name);
    }
  }
  b.tiers[tier] = std::move(t);
  return Status::Ok();
}

// [providers.<name>]: one OpenAI-compatible endpoint.
Status ApplyProvider(const toml::key& provider_key, const toml::node& node, Config& config) {
  const std::string provider(provider_key.str());
  const std::string prefix = "providers." + provider + ".";
  const toml::table* table = node.as_table();
  if (table == nullptr) return ErrorAt(node.source(), "providers." + provider + " must be a table");
  if (provider.empty()) return ErrorAt(provider_key.source(), "a provider name must not be empty");
  if (provider == "builtin") {
    return ErrorAt(provider_key.source(), "the provider name \"builtin\" is reserved");
  }
  Config::Provider p;
  p.options.name = provider;
  bool has_base_url = false;
  for (const auto& [key, value] : *table) {
    const std::string name = prefix + std::string(key.str());
    auto millis = [&](int64_t& out, int64_t min) -> Status {
      AGENTD_ASSIGN_OR_RETURN(out, GetInteger<int64_t>(value, name));
      if (out < min) {
        return ErrorAt(value.source(), name + " must be at least " + std::to_string(min));
      }
      return Status::Ok();
    };
    if (key == "base_url") {
      AGENTD_ASSIGN_OR_RETURN(p.options.base_url, GetString(value, name));
      const std::string& url = p.options.base_url;
      if (!(url.starts_with("http://") && url.size() > 7) &&
          !(url.starts_with("https://") && url.size() > 8)) {
        return ErrorAt(value.source(), name + " must be an http:// or https:// URL");
      }
      has_base_url = true;
    } else if (key == "api_key_env") {
      AGENTD_ASSIGN_OR_RETURN(p.api_key_env, GetString(value, name));
      if (p.api_key_env.empty()) return ErrorAt(value.source(), name + " must not be empty");
    } else if (key == "connect_timeout_ms") {
      AGENTD_RETURN_IF_ERROR(millis(p.options.connect_timeout_ms, 1));
    } else if (key == "idle_timeout_ms") {
      AGENTD_RETURN_IF_ERROR(millis(p.options.idle_timeout_ms, 1));
    } else if (key == "max_retries") {
      AGENTD_ASSIGN_OR_RETURN(p.options.max_retries, GetInteger<int>(value, name));
      if (p.options.max_retries < 0 || p.options.max_retries > 20) {
        return ErrorAt(value.source(), name + " must be between 0 and 20");
      }
    } else if (key == "retry_base_ms") {
      AGENTD_RETURN_IF_ERROR(millis(p.options.retry_base_ms, 0));
    } else if (key == "retry_max_ms") {
      AGENTD_RETURN_IF_ERROR(millis(p.options.retry_max_ms, 0));
    } else {
      return ErrorAt(key.source(), "unknown configuration key " + name);
    }
  }
  if (!has_base_url) return ErrorAt(table->source(), prefix + "base_url is required");
  config.providers[provider] = std::move(p);
  return Status::Ok();
}

// Keys that are not plain Config fields. Returns true when `section.key` was one of them.
Result<bool> ApplySpecial(const std::string& section, const toml::key& key, const toml::node& node,
                          Config& config) {
  if (section == "providers") {
    AGENTD_RETURN_IF_ERROR(ApplyProvider(key, node, config));
    return true;
  }
  if (section == "tiers") {
    if (!node.is_table())
      return ErrorAt(node.source(), "tiers." + std::string(key.str()) + " must be a table");
    AGENTD_RETURN_IF_ERROR(ApplyTier(key, *node.as_table(), config.billing));
    return true;
  }
  if (section == "billing" && key == "price_multiplier") {
    AGENTD_ASSIGN_OR_RETURN(config.billing.price_multiplier_ppm,
                            GetPrice(node, "billing.price_multiplier"));
    return true;
  }
  if (section == "accounts" && key == "starting_credits") {
    AGENTD_ASSIGN_OR_RETURN(config.billing.new_account_credits_micro,
                            GetPrice(node, "accounts.starting_credits"));
    return true;
  }
  return false;
}

Status ApplyToml(const toml::table& root, Config& config) {
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    if (!IsSection(section) && section != "tiers" && section != "billing" && section != "modes" &&
        section != "providers") {
      return ErrorAt(section_key.source(), "unknown configuration section [" + section + "]");
    }
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return ErrorAt(section_node.source(), section + " must be a table ([" + section + "])");
    }
    for (const auto& [key, node] : *table) {
      if (section == "models" && key != "default" && node.is_table()) {
        AGENTD_RETURN_IF_ERROR(ApplyModel(key, *node.as_table(), config.models));
        continue;
      }
      if (section == "modes") {
        if (node.is_table()) {
          AGENTD_RETURN_IF_ERROR(ApplyMode(key, *node.as_table(), config.modes));
        } else if (key == "default") {
          AGENTD_ASSIGN_OR_RETURN(std::string mode, GetString(node, "modes.default"));
          config.modes.set_default_mode(std::move(mode));
        } else {
          return ErrorAt(key.source(), "unknown configuration key modes." + std::string(key.str()));
        }
        continue;
      }
      AGENTD_ASSIGN_OR_RETURN(bool special, ApplySpecial(section, key, node, config));
      if (special) continue;
      const Field* field = FindField(section, key.str());
      if (field == nullptr) {
        return ErrorAt(key.source(),
                       "unknown configuration key " + section + "." + std::string(key.str()));
      }
      AGENTD_RETURN_IF_ERROR(SetField(config, *field, node));
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Environment and validation

Status ApplyEnv(const EnvLookup& env, Config& config) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = env ? env(name) : nullptr;
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  if (std::optional<std::string> port = get("AGENTD_PORT")) {
    int value = 0;
    const char* end = port->data() + port->size();
    const auto [ptr, ec] = std::from_chars(port->data(), end, value);
    if (ec != std::errc() || ptr != end) {
      return InvalidArgument("AGENTD_PORT must be an integer, got '" + *port + "'");
    }
    config.port = value;
  }
  if (std::optional<std::string> dir = get("AGENTD_DATA_DIR")) config.data_dir = *dir;
  if (std::optional<std::string> secret = get("AGENTD_JWT_SECRET")) config.jwt_secret = *secret;
  for (auto& [name, provider] : config.providers) {
    if (provider.api_key_env.empty()) continue;
    if (std::optional<std::string> key = get(provider.api_key_env.c_str())) {
      provider.options.api_key = *key;
    } else {
      // The variable's name only: its value is a secret.
      spdlog::warn(
          "provider {}: environment variable {} is not set; its calls go without an "
          "API key",
          name, provider.api_key_env);
    }
  }
  return Status::Ok();
}

Status CheckRange(const char* name, int64_t value, int64_t min,
                  int64_t max = std::numeric_limits<int64_t>::max()) {
  if (value >= min && value <= max) return Status::Ok();
  std::string msg = std::string(name) + " must be ";
  if (max == std::numeric_limits<int64_t>::max()) {
    msg += "at least " + std::to_string(min);
  } else {
    msg += "between " + std::to_string(min) + " and " + std::to_string(max);
  }
  return InvalidArgument(msg + ", got " + std::to_string(value));
}

Status ValidateModels(const llm::ModelCatalog& models,
                      const std::map<std::string, Config::Provider>& providers) {
  // Every name and alias must pick exactly one entry, or Resolve's answer would depend on order.
  std::map<std::string, std::string, std::less<>> owner;
  for (const llm::ModelEntry& e : models.entries()) {
    const std::string prefix = "models.\"" + e.name + "\".";
    if (e.provider.empty()) return InvalidArgument(prefix + "provider must not be empty");
    if (e.upstream.empty()) return InvalidArgument(prefix + "upstream must not be empty");
    if (e.provider != "builtin" && !providers.contains(e.provider)) {
      return InvalidArgument(prefix + "provider: no provider named '" + e.provider +
                             "' (configure [providers." + e.provider + "] or use \"builtin\")");
    }
    AGENTD_RETURN_IF_ERROR(CheckRange((prefix + "context_window").c_str(), e.context_window, 1));
    std::vector<std::string> names = e.aliases;
    names.push_back(e.name);
    for (const std::string& n : names) {
      if (n.empty()) return InvalidArgument(prefix + "aliases must not be empty strings");
      auto [it, inserted] = owner.emplace(n, e.name);
      if (!inserted && it->second != e.name) {
        return InvalidArgument("model name or alias '" + n + "' is used by both '" + it->second +
                               "' and '" + e.name + "'");
      }
    }
  }
  return Status::Ok();
}

Status ValidateModes(const agent::ModeSet& modes) {
  const std::vector<std::string> known = agent::KnownToolNames();
  for (const agent::Mode& mode : modes.modes()) {
    for (const std::string& tool : mode.tools) {
      if (std::find(known.begin(), known.end(), tool) == known.end()) {
        return InvalidArgument("modes." + mode.name + ".tools: unknown tool '" + tool + "'");
      }
    }
  }
  if (modes.Find(modes.default_mode()) == nullptr) {
    return InvalidArgument("modes.default: no mode named '" + modes.default_mode() + "'");
  }
  return Status::Ok();
}

Status Validate(const Config& c) {
  if (c.host.empty()) return InvalidArgument("server.host must not be empty");
  AGENTD_RETURN_IF_ERROR(CheckRange("server.port", c.port, 0, 65535));
  if (c.data_dir.empty()) return InvalidArgument("server.data_dir must not be empty");
  AGENTD_RETURN_IF_ERROR(CheckRange("server.io_threads", c.io_threads, 0, 1024));
  AGENTD_RETURN_IF_ERROR(CheckRange("auth.leeway_s", c.jwt_leeway_s, 0, 86400));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.lease_ms", c.lease_ms, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.lease_renew_ms", c.lease_renew_ms, 1, c.lease_ms - 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.heartbeat_ms", c.heartbeat_ms, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.max_steps", c.max_steps, 1, 10000));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.run_timeout_ms", c.run_timeout_ms, 0));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.event_retention_s", c.event_retention_s, 0));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.retention_sweep_ms", c.retention_sweep_ms, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("runs.subscriber_queue_bytes", c.subscriber_queue_bytes, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("http.max_body_bytes", c.max_body_bytes, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("http.upload_drain_bytes", c.upload_drain_bytes, 0));
  AGENTD_RETURN_IF_ERROR(CheckRange("uploads.text_cap_bytes", c.upload_text_cap_bytes, 0));
  AGENTD_RETURN_IF_ERROR(
      CheckRange("uploads.pdftotext_timeout_ms", c.upload_pdftotext_timeout_ms, 1));
  for (const std::string& origin : c.cors_allowed_origins) {
    if (origin.empty()) return InvalidArgument("http.cors_allowed_origins has an empty entry");
  }
  if (c.default_tier.empty()) return InvalidArgument("accounts.default_tier must not be empty");
  if (c.sqlite_synchronous != "NORMAL" && c.sqlite_synchronous != "FULL") {
    return InvalidArgument("store.sqlite_synchronous must be \"NORMAL\" or \"FULL\", got '" +
                           c.sqlite_synchronous + "'");
  }
  if (c.sandbox_bwrap_path.empty()) return InvalidArgument("sandbox.bwrap_path must not be empty");
  if (c.sandbox_setpriv_path.empty()) {
    return InvalidArgument("sandbox.setpriv_path must not be empty");
  }
  AGENTD_RETURN_IF_ERROR(
      CheckRange("sandbox.max_command_timeout_ms", c.sandbox_max_command_timeout_ms, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.command_timeout_ms", c.sandbox_command_timeout_ms, 1,
                                    c.sandbox_max_command_timeout_ms));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.output_cap_bytes", c.sandbox_output_cap_bytes, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.cpu_seconds", c.sandbox_cpu_seconds, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.memory_bytes", c.sandbox_memory_bytes, 16 << 20));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.max_processes", c.sandbox_max_processes, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.max_file_bytes", c.sandbox_max_file_bytes, 1));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.max_open_files", c.sandbox_max_open_files, 16));
  AGENTD_RETURN_IF_ERROR(CheckRange("sandbox.tmp_bytes", c.sandbox_tmp_bytes, 1 << 20));
  AGENTD_RETURN_IF_ERROR(
      CheckRange("sandbox.first_uid", c.sandbox_first_uid, 1000, 4'000'000'000LL));
  AGENTD_RETURN_IF_ERROR(ValidateModels(c.models, c.providers));
  AGENTD_RETURN_IF_ERROR(ValidateModes(c.modes));
  if (Result<const llm::ModelEntry*> m = c.models.Resolve(c.default_model); !m.ok()) {
    return InvalidArgument("models.default: " + m.status().message());
  }
  if (c.billing.FindTier(c.default_tier) == nullptr) {
    return InvalidArgument("accounts.default_tier: no tier named '" + c.default_tier + "'");
  }
  for (const auto& [name, t] : c.billing.tiers) {
    const std::string model = t.default_model.empty() ? c.default_model : t.default_model;
    Result<const llm::ModelEntry*> m = c.models.Resolve(model);
    if (!m.ok())
      return InvalidArgument("tiers." + name + ".default_model: " + m.status().message());
    // Otherwise every start of the tier without a model_name would be refused.
    if (!billing::TierAllowsModel(t, **m)) {
      return InvalidArgument("tiers." + name + ".default_model: " + (*m)->name +
                             " is not open to tier " + name +
                             " (list the tier in the model's tiers, or set models = \"all\")");
    }
  }
  return Status::Ok();
}

std::string ToUpper(std::string s) {
  for (char& ch : s) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// JWT secret file

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status OsError(const std::string& what, const std::string& path, int err) {
  return Status(StatusCode::kFailedPrecondition,
                what + " " + path + ": " + std::error_code(err, std::generic_category()).message());
}

constexpr char kSecretFileName[] = "jwt_secret";
constexpr size_t kSecretBytes = 32;
constexpr size_t kMaxSecretFileBytes = size_t{64} * 1024;

// nullopt when the file does not exist.
Result<std::optional<std::string>> ReadSecretFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return OsError("Cannot open JWT secret file", path, errno);
  }
  std::string text;
  char buf[4096];
  while (text.size() <= kMaxSecretFileBytes) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError("Cannot read JWT secret file", path, errno);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  if (text.size() > kMaxSecretFileBytes) {
    return Status(StatusCode::kFailedPrecondition, "JWT secret file " + path + " is too large");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  if (text.empty()) {
    return Status(StatusCode::kFailedPrecondition,
                  "JWT secret file " + path + " is empty; delete it to generate a new secret");
  }
  return std::optional<std::string>(std::move(text));
}

Result<std::string> RandomHex(size_t bytes) {
  static constexpr char kDevice[] = "/dev/urandom";
  ScopedFd fd(::open(kDevice, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return OsError("Cannot open", kDevice, errno);
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::read(fd.get(), raw.data() + got, bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return OsError("Cannot read", kDevice, n < 0 ? errno : EIO);
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 0xf]);
  }
  return hex;
}

// 0 on success, else errno.
int WriteFully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

}  // namespace

Result<Config> LoadConfig(const std::optional<std::string>& file, const std::optional<int>& port,
                          const std::optional<std::string>& data_dir, const EnvLookup& env) {
  Config config;
  if (file) {
    toml::table root;
    try {
      root = toml::parse_file(*file);
    } catch (const toml::parse_error& e) {
      const std::string where = e.source().path ? Where(e.source()) : *file + ": ";
      return InvalidArgument("Cannot load config file: " + where + std::string(e.description()));
    }
    AGENTD_RETURN_IF_ERROR(ApplyToml(root, config));
  }
  AGENTD_RETURN_IF_ERROR(ApplyEnv(env, config));
  if (port) config.port = *port;
  if (data_dir) config.data_dir = *data_dir;

  config.sqlite_synchronous = ToUpper(std::move(config.sqlite_synchronous));
  config.billing.new_account_tier = config.default_tier;
  AGENTD_RETURN_IF_ERROR(Validate(config));
  return config;
}

Result<std::string> LoadOrCreateJwtSecret(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return OsError("Cannot create data directory", data_dir, ec.value());
  const std::string path = (std::filesystem::path(data_dir) / kSecretFileName).string();

  AGENTD_ASSIGN_OR_RETURN(std::optional<std::string> existing, ReadSecretFile(path));
  if (existing) return *std::move(existing);

  AGENTD_ASSIGN_OR_RETURN(std::string secret, RandomHex(kSecretBytes));
  // O_EXCL: if another process created the file since we looked, its secret wins.
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    if (errno != EEXIST) return OsError("Cannot create JWT secret file", path, errno);
    AGENTD_ASSIGN_OR_RETURN(existing, ReadSecretFile(path));
    if (existing) return *std::move(existing);
    return OsError("Cannot read JWT secret file", path, ENOENT);  // e.g. a dangling symlink
  }
  // The umask can only remove bits from 0600, but be exact about what we promise.
  int err = ::fchmod(fd.get(), 0600) == 0 ? 0 : errno;
  if (err == 0) err = WriteFully(fd.get(), secret + "\n");
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());  // never leave an empty or partial secret behind
    return OsError("Cannot write JWT secret file", path, err);
  }
  return secret;
}

}  // namespace agentd::app
