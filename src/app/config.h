// Server configuration: defaults, then an optional TOML file, then the environment
// (AGENTD_PORT, AGENTD_DATA_DIR, AGENTD_JWT_SECRET), then command-line values. Loaded once by
// main before anything is built; the result is a plain value handed to the wiring.
// docs/config.example.toml lists every option. Unknown keys in the file are errors, so a typo
// never silently leaves a default in place. Thread safety: functions are reentrant; they read
// the environment only through the lookup they are given.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/modes.h"
#include "billing/billing.h"
#include "core/status.h"
#include "llm/model_catalog.h"
#include "llm/openai/openai_llm_client.h"

namespace agentd::app {

struct Config {
  // [server]
  std::string host = "127.0.0.1";
  int port = 8000;  // 0 = any free port
  std::string data_dir = "./data";
  int io_threads = 0;  // 0 = std::thread::hardware_concurrency()

  // [auth] keys: jwt_secret, leeway_s, issuer, audience
  std::string jwt_secret;  // "" = LoadOrCreateJwtSecret(data_dir)
  int jwt_leeway_s = 30;
  std::string jwt_issuer;    // "" = `iss` not checked
  std::string jwt_audience;  // "" = `aud` not checked

  // [runs]
  int64_t lease_ms = 30000;           // a run's executor lease; an unrenewed run is reaped after it
  int64_t lease_renew_ms = 10000;     // must be < lease_ms
  int64_t heartbeat_ms = 10000;       // an idle SSE stream gets a ping after this much silence
  int max_steps = 25;                 // model <-> tool round trips per run
  int64_t run_timeout_ms = 0;         // cap on every run's tier timeout; 0 = no cap
  int64_t event_retention_s = 86400;  // how long a finished run's events stay replayable
  int64_t retention_sweep_ms = 60000;  // how often expired events are deleted
  // Bound of one SSE subscriber's queue; beyond it the subscriber catches up from the store.
  int64_t subscriber_queue_bytes = 1048576;

  // [http]
  int64_t max_body_bytes = int64_t{64} * 1024 * 1024;  // bodies read whole (not uploads)
  // What is still read of a refused upload's body (413) so the client can read the answer.
  int64_t upload_drain_bytes = int64_t{16} * 1024 * 1024;
  std::vector<std::string> cors_allowed_origins;  // empty = no cross-origin access

  // [uploads] (per-tier size and count limits live in [tiers.<name>])
  int64_t upload_text_cap_bytes = 102400;       // extracted text kept per file
  int64_t upload_pdftotext_timeout_ms = 20000;  // pdftotext run in the sandbox

  // [models] default, and [models."<name>"] tables merged into the catalogue
  std::string default_model = "kortix/minimax";  // must resolve in `models`
  llm::ModelCatalog models = llm::DefaultModelCatalog();

  // [accounts] default_tier, starting_credits (dollars, default "3.00")
  std::string default_tier = "free";  // tier of an account created on first sight

  // [tiers.<name>] tables, [billing] price_multiplier (default "1.0"), and the starting
  // credits of [accounts]. billing.new_account_tier mirrors default_tier after loading.
  billing::BillingConfig billing = billing::DefaultBillingConfig();

  // [modes] default, and [modes.<name>] tables (keys: description, tools, system_prompt) that
  // change a mode or add one. Every tool must be one agentd has; default must be a mode.
  agent::ModeSet modes = agent::DefaultModes();

  // [sandbox] per-project bubblewrap sandboxes under <data_dir>/sandboxes
  std::string sandbox_bwrap_path = "/usr/bin/bwrap";
  std::string sandbox_setpriv_path = "/usr/bin/setpriv";  // used when the server runs as root
  int64_t sandbox_command_timeout_ms = 60000;             // default wall clock of one command
  int64_t sandbox_max_command_timeout_ms = 600000;        // cap on a command's requested timeout
  int64_t sandbox_output_cap_bytes = 65536;               // output kept per command
  int64_t sandbox_cpu_seconds = 300;                      // RLIMIT_CPU
  int64_t sandbox_memory_bytes = int64_t{2} << 30;        // RLIMIT_AS
  int64_t sandbox_max_processes = 256;                    // RLIMIT_NPROC (only when run as root)
  int64_t sandbox_max_file_bytes = int64_t{1} << 30;      // RLIMIT_FSIZE
  int64_t sandbox_max_open_files = 1024;                  // RLIMIT_NOFILE
  int64_t sandbox_tmp_bytes = int64_t{256} << 20;         // size of the private /tmp
  int64_t sandbox_first_uid = 200000;                     // first per-sandbox uid (as root)
  bool sandbox_seccomp = true;  // seccomp filter on commands (no ptrace, mount, namespaces, ...)

  // [providers.<name>] tables: OpenAI-compatible endpoints the models may run on. Keys:
  // base_url (required, http:// or https://), api_key_env (the NAME of the environment
  // variable holding the key; absent = no key), connect_timeout_ms, idle_timeout_ms,
  // max_retries, retry_base_ms, retry_max_ms (defaults in llm::openai::OpenAiOptions).
  // options.api_key is read from the environment at load time; "" when unset.
  struct Provider {
    std::string api_key_env;
    llm::openai::OpenAiOptions options;
  };
  std::map<std::string, Provider> providers;

  // [store]
  std::string sqlite_synchronous = "NORMAL";  // "NORMAL" or "FULL" (input is case-insensitive)
};

// Returns the value of an environment variable, or nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// Loads the configuration. `file`: TOML file to read (nullopt = none). `port`, `data_dir`:
// command-line values, which win over everything. Empty environment variables count as unset.
// Failure: InvalidArgument naming the file position or the variable and what is wrong (file
// unreadable or not TOML, unknown key, wrong type, value out of range, default_model unknown,
// sqlite_synchronous not NORMAL/FULL, a model name or alias used twice, a provider without a
// valid base_url, a model on a provider that is neither "builtin" nor configured). A provider's
// api_key_env that is unset only logs a warning naming the variable.
Result<Config> LoadConfig(const std::optional<std::string>& file, const std::optional<int>& port,
                          const std::optional<std::string>& data_dir,
                          const EnvLookup& env = ::getenv);

// Returns the HS256 secret stored in `<data_dir>/jwt_secret` (trailing whitespace trimmed),
// creating data_dir and the file first if needed: 32 bytes from /dev/urandom as 64 hex
// characters, mode 0600. The secret is the file's text, used as the HMAC key bytes.
// Failure: FailedPrecondition naming the path when the directory or file cannot be created or
// read, or the file is empty.
Result<std::string> LoadOrCreateJwtSecret(const std::string& data_dir);

// Dollar amounts ("0.05") as micro-dollars; see billing/billing.h.
using billing::ParseMicroUsd;

}  // namespace agentd::app
