#include "app/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace agentd::app {
namespace {

namespace fs = std::filesystem;

using Vars = std::map<std::string, std::string>;

class FakeEnv {
 public:
  FakeEnv() = default;
  explicit FakeEnv(Vars vars) : vars_(std::move(vars)) {}
  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars_.find(name);
      return it == vars_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  Vars vars_;
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "agentd_config_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  Result<Config> LoadText(const std::string& toml, const FakeEnv& env = {}) {
    return LoadConfig(WriteFile("agentd.toml", toml), std::nullopt, std::nullopt, env.lookup());
  }

  static void ExpectInvalid(const Result<Config>& r, const std::string& needle) {
    ASSERT_FALSE(r.ok()) << "expected an error mentioning: " << needle;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }

  fs::path dir_;
};

void ExpectDefaults(const Config& c) {
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.io_threads, 0);
  EXPECT_EQ(c.jwt_secret, "");
  EXPECT_EQ(c.jwt_leeway_s, 30);
  EXPECT_EQ(c.jwt_issuer, "");
  EXPECT_EQ(c.jwt_audience, "");
  EXPECT_EQ(c.lease_ms, 30000);
  EXPECT_EQ(c.lease_renew_ms, 10000);
  EXPECT_EQ(c.heartbeat_ms, 10000);
  EXPECT_EQ(c.max_steps, 25);
  EXPECT_EQ(c.run_timeout_ms, 0);
  EXPECT_EQ(c.event_retention_s, 86400);
  EXPECT_EQ(c.subscriber_queue_bytes, 1048576);
  EXPECT_EQ(c.max_body_bytes, 64 * 1024 * 1024);
  EXPECT_TRUE(c.cors_allowed_origins.empty());
  EXPECT_EQ(c.default_model, "kortix/minimax");
  EXPECT_EQ(c.default_tier, "free");
  EXPECT_EQ(c.sqlite_synchronous, "NORMAL");
  EXPECT_EQ(c.sandbox_bwrap_path, "/usr/bin/bwrap");
  EXPECT_EQ(c.sandbox_setpriv_path, "/usr/bin/setpriv");
  EXPECT_EQ(c.sandbox_command_timeout_ms, 60000);
  EXPECT_EQ(c.sandbox_max_command_timeout_ms, 600000);
  EXPECT_EQ(c.sandbox_output_cap_bytes, 65536);
  EXPECT_EQ(c.sandbox_cpu_seconds, 300);
  EXPECT_EQ(c.sandbox_memory_bytes, int64_t{2} << 30);
  EXPECT_EQ(c.sandbox_max_processes, 256);
  EXPECT_EQ(c.sandbox_max_file_bytes, int64_t{1} << 30);
  EXPECT_EQ(c.sandbox_max_open_files, 1024);
  EXPECT_EQ(c.sandbox_tmp_bytes, int64_t{256} << 20);
  EXPECT_EQ(c.sandbox_first_uid, 200000);
  EXPECT_TRUE(c.sandbox_seccomp);
  EXPECT_EQ(c.billing.price_multiplier_ppm, 1'000'000);
  EXPECT_EQ(c.billing.new_account_tier, "free");
  EXPECT_EQ(c.billing.new_account_credits_micro, 3'000'000);
  const billing::BillingConfig tiers = billing::DefaultBillingConfig();
  ASSERT_EQ(c.billing.tiers.size(), tiers.tiers.size());
  for (const auto& [name, want] : tiers.tiers) {
    const billing::TierConfig* got = c.billing.FindTier(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_EQ(got->max_concurrent_runs, want.max_concurrent_runs) << name;
    EXPECT_EQ(got->max_threads, want.max_threads) << name;
    EXPECT_EQ(got->max_projects, want.max_projects) << name;
    EXPECT_EQ(got->max_file_bytes, want.max_file_bytes) << name;
    EXPECT_EQ(got->max_files_per_request, want.max_files_per_request) << name;
    EXPECT_EQ(got->run_timeout_s, want.run_timeout_s) << name;
    EXPECT_EQ(got->memory_allowed, want.memory_allowed) << name;
    EXPECT_EQ(got->default_model, want.default_model) << name;
    EXPECT_EQ(got->all_models, want.all_models) << name;
  }

  const llm::ModelCatalog defaults = llm::DefaultModelCatalog();
  ASSERT_EQ(c.models.entries().size(), defaults.entries().size());
  for (size_t i = 0; i < defaults.entries().size(); ++i) {
    const llm::ModelEntry& a = c.models.entries()[i];
    const llm::ModelEntry& b = defaults.entries()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.provider, b.provider);
    EXPECT_EQ(a.upstream, b.upstream);
    EXPECT_EQ(a.aliases, b.aliases);
    EXPECT_EQ(a.tiers, b.tiers);
    EXPECT_EQ(a.input_micro_usd_per_mtok, b.input_micro_usd_per_mtok);
    EXPECT_EQ(a.output_micro_usd_per_mtok, b.output_micro_usd_per_mtok);
    EXPECT_EQ(a.context_window, b.context_window);
  }
}

TEST_F(ConfigTest, DefaultsWithoutFileOrEnvironment) {
  FakeEnv env;
  auto c = LoadConfig(std::nullopt, std::nullopt, std::nullopt, env.lookup());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectDefaults(*c);
}

TEST_F(ConfigTest, ExampleFileListsEveryOptionAtItsDefault) {
  const fs::path example = fs::path(AGENTD_SOURCE_DIR) / "docs/config.example.toml";
  FakeEnv env;
  auto c = LoadConfig(example.string(), std::nullopt, std::nullopt, env.lookup());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectDefaults(*c);
}

TEST_F(ConfigTest, FileOverridesDefaults) {
  auto c = LoadText(R"(
[server]
host = "0.0.0.0"
port = 9000
data_dir = "/var/lib/agentd"
io_threads = 4
[auth]
jwt_secret = "file-secret"
leeway_s = 5
issuer = "https://issuer.example"
audience = "agentd"
[runs]
lease_ms = 60000
lease_renew_ms = 20000
heartbeat_ms = 5000
max_steps = 50
run_timeout_ms = 1800000
event_retention_s = 3600
subscriber_queue_bytes = 4096
[http]
max_body_bytes = 1024
cors_allowed_origins = ["https://a.example", "https://b.example"]
[models]
default = "kortix/basic"
[accounts]
default_tier = "pro"
[store]
sqlite_synchronous = "full"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->data_dir, "/var/lib/agentd");
  EXPECT_EQ(c->io_threads, 4);
  EXPECT_EQ(c->jwt_secret, "file-secret");
  EXPECT_EQ(c->jwt_leeway_s, 5);
  EXPECT_EQ(c->jwt_issuer, "https://issuer.example");
  EXPECT_EQ(c->jwt_audience, "agentd");
  EXPECT_EQ(c->lease_ms, 60000);
  EXPECT_EQ(c->lease_renew_ms, 20000);
  EXPECT_EQ(c->heartbeat_ms, 5000);
  EXPECT_EQ(c->max_steps, 50);
  EXPECT_EQ(c->run_timeout_ms, 1800000);
  EXPECT_EQ(c->event_retention_s, 3600);
  EXPECT_EQ(c->subscriber_queue_bytes, 4096);
  EXPECT_EQ(c->max_body_bytes, 1024);
  EXPECT_EQ(c->cors_allowed_origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c->default_model, "kortix/basic");
  EXPECT_EQ(c->default_tier, "pro");
  EXPECT_EQ(c->sqlite_synchronous, "FULL");  // normalised
}

TEST_F(ConfigTest, PartialFileKeepsOtherDefaults) {
  auto c = LoadText("[server]\nport = 9001\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 9001);
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->max_steps, 25);
}

TEST_F(ConfigTest, EnvironmentOverridesFile) {
  FakeEnv env({{"AGENTD_PORT", "9100"},
               {"AGENTD_DATA_DIR", "/env/data"},
               {"AGENTD_JWT_SECRET", "env-secret"}});
  auto c = LoadText(
      "[server]\nport = 9000\ndata_dir = \"/file/data\"\n[auth]\njwt_secret = \"file-secret\"\n",
      env);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 9100);
  EXPECT_EQ(c->data_dir, "/env/data");
  EXPECT_EQ(c->jwt_secret, "env-secret");
}

TEST_F(ConfigTest, EmptyEnvironmentVariablesCountAsUnset) {
  FakeEnv env({{"AGENTD_PORT", ""}, {"AGENTD_DATA_DIR", ""}, {"AGENTD_JWT_SECRET", ""}});
  auto c = LoadText("[server]\nport = 9000\n", env);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->data_dir, "./data");
  EXPECT_EQ(c->jwt_secret, "");
}

TEST_F(ConfigTest, CommandLineOverridesEnvironment) {
  FakeEnv env({{"AGENTD_PORT", "9100"}, {"AGENTD_DATA_DIR", "/env/data"}});
  auto c = LoadConfig(WriteFile("a.toml", "[server]\nport = 9000\n"), 9200,
                      std::string("/cli/data"), env.lookup());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->port, 9200);
  EXPECT_EQ(c->data_dir, "/cli/data");
}

TEST_F(ConfigTest, NullEnvironmentLookupIsAllowed) {
  auto c = LoadConfig(std::nullopt, std::nullopt, std::nullopt, EnvLookup());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
}

TEST_F(ConfigTest, BadPortIsRefused) {
  ExpectInvalid(LoadText("[server]\nport = 70000\n"), "server.port must be between 0 and 65535");
  ExpectInvalid(LoadText("[sandbox]\ncommand_timeout_ms = 700000\n"),
                "sandbox.command_timeout_ms must be between 1 and 600000");
  ExpectInvalid(LoadText("[sandbox]\nfirst_uid = 0\n"), "sandbox.first_uid");
  ExpectInvalid(LoadText("[sandbox]\nseccomp = 1\n"), "sandbox.seccomp must be true or false");
  ExpectInvalid(LoadText("[sandbox]\nnetwork = true\n"), "unknown configuration key");
  ExpectInvalid(LoadText("[server]\nport = -1\n"), "server.port");
  ExpectInvalid(LoadText("[server]\nport = \"8000\"\n"), "server.port must be an integer");
  ExpectInvalid(LoadText("[server]\nport = 99999999999\n"), "server.port is out of range");
  ExpectInvalid(LoadText("", FakeEnv(Vars{{"AGENTD_PORT", "80x"}})),
                "AGENTD_PORT must be an integer");
  ExpectInvalid(LoadText("", FakeEnv(Vars{{"AGENTD_PORT", "99999"}})), "server.port");
  FakeEnv env;
  ExpectInvalid(LoadConfig(std::nullopt, 65536, std::nullopt, env.lookup()), "server.port");
  ExpectInvalid(LoadConfig(std::nullopt, std::nullopt, std::string(), env.lookup()),
                "server.data_dir must not be empty");
}

TEST_F(ConfigTest, OutOfRangeValuesAreRefused) {
  ExpectInvalid(LoadText("[runs]\nlease_ms = 10000\nlease_renew_ms = 10000\n"),
                "runs.lease_renew_ms must be between 1 and 9999");
  ExpectInvalid(LoadText("[runs]\nmax_steps = 0\n"), "runs.max_steps");
  ExpectInvalid(LoadText("[runs]\nheartbeat_ms = 0\n"), "runs.heartbeat_ms must be at least 1");
  ExpectInvalid(LoadText("[http]\nmax_body_bytes = 0\n"), "http.max_body_bytes");
  ExpectInvalid(LoadText("[http]\ncors_allowed_origins = \"https://a.example\"\n"),
                "http.cors_allowed_origins must be an array of strings");
  ExpectInvalid(LoadText("[http]\ncors_allowed_origins = [1]\n"),
                "http.cors_allowed_origins must be an array of strings");
  ExpectInvalid(LoadText("[auth]\nleeway_s = -5\n"), "auth.leeway_s");
  ExpectInvalid(LoadText("[server]\nhost = \"\"\n"), "server.host must not be empty");
  ExpectInvalid(LoadText("[accounts]\ndefault_tier = \"\"\n"), "accounts.default_tier");
}

TEST_F(ConfigTest, BadSynchronousIsRefused) {
  ExpectInvalid(LoadText("[store]\nsqlite_synchronous = \"OFF\"\n"),
                "store.sqlite_synchronous must be \"NORMAL\" or \"FULL\"");
}

TEST_F(ConfigTest, UnknownDefaultModelIsRefused) {
  ExpectInvalid(LoadText("[models]\ndefault = \"nope/model\"\n"),
                "models.default: Unknown model: nope/model");
}

TEST_F(ConfigTest, DefaultModelMayBeAnAlias) {
  auto c = LoadText("[models]\ndefault = \"openai/gpt-5-nano\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
}

TEST_F(ConfigTest, UnknownKeysAndSectionsAreErrorsWithTheirPosition) {
  auto r = LoadText("[server]\nhots = \"0.0.0.0\"\n");
  ExpectInvalid(r, "unknown configuration key server.hots");
  ExpectInvalid(r, "agentd.toml:2:1: ");
  ExpectInvalid(LoadText("[sever]\nport = 1\n"), "unknown configuration section [sever]");
  ExpectInvalid(LoadText("port = 1\n"), "unknown configuration section [port]");
  ExpectInvalid(LoadText("server = 1\n"), "server must be a table");
  ExpectInvalid(LoadText("[models.\"builtin/echo\"]\nprice = 1\n"),
                "unknown configuration key models.\"builtin/echo\".price");
}

TEST_F(ConfigTest, MalformedOrMissingFileIsInvalidArgument) {
  ExpectInvalid(LoadText("[server\nport = 1\n"), "agentd.toml:1:");
  ExpectInvalid(LoadText("[server]\nport = 1\nport = 2\n"), "agentd.toml:3:");
  FakeEnv env;
  ExpectInvalid(
      LoadConfig((dir_ / "missing.toml").string(), std::nullopt, std::nullopt, env.lookup()),
      "missing.toml");
}

TEST_F(ConfigTest, CustomModelPricesAreExactMicroDollars) {
  auto c = LoadText(R"(
[models."local/llama"]
aliases = ["llama"]
tiers = ["pro"]
input_price_per_mtok = "0.05"
output_price_per_mtok = 0.08
context_window = 8192
[models."local/other"]
input_price_per_mtok = 3
output_price_per_mtok = "12.345678"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto llama = c->models.Resolve("llama");
  ASSERT_TRUE(llama.ok());
  EXPECT_EQ((*llama)->name, "local/llama");
  EXPECT_EQ((*llama)->provider, "builtin");
  EXPECT_EQ((*llama)->upstream, "echo");
  EXPECT_EQ((*llama)->tiers, std::vector<std::string>{"pro"});
  EXPECT_EQ((*llama)->input_micro_usd_per_mtok, 50000);
  EXPECT_EQ((*llama)->output_micro_usd_per_mtok, 80000);  // a TOML float, still exact
  EXPECT_EQ((*llama)->context_window, 8192);
  auto other = c->models.Resolve("local/other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->input_micro_usd_per_mtok, 3000000);
  EXPECT_EQ((*other)->output_micro_usd_per_mtok, 12345678);
  EXPECT_EQ(c->models.entries().size(), llm::DefaultModelCatalog().entries().size() + 2);
}

TEST_F(ConfigTest, BadPricesAreRefused) {
  ExpectInvalid(LoadText("[models.\"m\"]\ninput_price_per_mtok = \"-1\"\n"),
                "models.\"m\".input_price_per_mtok");
  ExpectInvalid(LoadText("[models.\"m\"]\ninput_price_per_mtok = -0.5\n"),
                "models.\"m\".input_price_per_mtok");
  ExpectInvalid(LoadText("[models.\"m\"]\ninput_price_per_mtok = \"0.0000001\"\n"),
                "more than 6 decimals");
  ExpectInvalid(LoadText("[models.\"m\"]\ninput_price_per_mtok = true\n"),
                "must be a dollar amount");
  ExpectInvalid(LoadText("[models.\"m\"]\ninput_price_per_mtok = inf\n"),
                "models.\"m\".input_price_per_mtok");
  ExpectInvalid(LoadText("[models.\"m\"]\ncontext_window = 0\n"), "context_window");
}

TEST_F(ConfigTest, ModelTableOverridesOnlyTheKeysItSets) {
  auto c = LoadText(R"(
[models."kortix/basic"]
input_price_per_mtok = "1.25"
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto basic = c->models.Resolve("kortix/basic");
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ((*basic)->input_micro_usd_per_mtok, 1250000);
  EXPECT_EQ((*basic)->tiers, (std::vector<std::string>{"pro", "enterprise"}));
  EXPECT_EQ((*basic)->upstream, "echo");
  EXPECT_EQ(c->models.entries().size(), llm::DefaultModelCatalog().entries().size());
}

TEST_F(ConfigTest, ProviderWithoutUpstreamIsRefused) {
  const std::string provider = "[providers.openai]\nbase_url = \"https://api.openai.com/v1\"\n";
  ExpectInvalid(LoadText(provider + "[models.\"kortix/basic\"]\nprovider = \"openai\"\n"),
                "upstream is required when provider is set");
  auto c = LoadText(
      provider + "[models.\"kortix/basic\"]\nprovider = \"openai\"\nupstream = \"gpt-4o-mini\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c->models.Resolve("kortix/basic"))->upstream, "gpt-4o-mini");
}

TEST_F(ConfigTest, DuplicateModelNamesOrAliasesAreRefused) {
  ExpectInvalid(LoadText("[models.\"m\"]\naliases = [\"kortix/basic\"]\n"),
                "'kortix/basic' is used by both");
  ExpectInvalid(LoadText("[models.\"m\"]\naliases = [\"openai/gpt-5-nano\"]\n"),
                "'openai/gpt-5-nano' is used by both");
  ExpectInvalid(LoadText("[models.\"m\"]\naliases = [\"\"]\n"), "aliases must not be empty");
}

TEST_F(ConfigTest, DefaultModelMayBeACustomModel) {
  auto c = LoadText("[models]\ndefault = \"local/llama\"\n[models.\"local/llama\"]\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->default_model, "local/llama");
}

TEST_F(ConfigTest, ProvidersAreReadWithTheirKeyFromTheNamedVariable) {
  FakeEnv env(Vars{{"MY_OPENAI_KEY", "sk-from-env"}});
  auto c = LoadText(R"(
[providers.openai]
base_url = "https://api.openai.com/v1"
api_key_env = "MY_OPENAI_KEY"
connect_timeout_ms = 1500
idle_timeout_ms = 2500
max_retries = 5
retry_base_ms = 10
retry_max_ms = 100
[providers.local]
base_url = "http://127.0.0.1:11434/v1"
[models."openai/gpt-5-nano-2025-08-07"]
provider = "openai"
upstream = "gpt-5-nano-2025-08-07"
input_price_per_mtok = 0.05
output_price_per_mtok = 0.40
context_window = 400000
tiers = ["pro", "enterprise"]
)",
                    env);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->providers.size(), 2u);
  const auto& openai = c->providers.at("openai");
  EXPECT_EQ(openai.api_key_env, "MY_OPENAI_KEY");
  EXPECT_EQ(openai.options.name, "openai");
  EXPECT_EQ(openai.options.base_url, "https://api.openai.com/v1");
  EXPECT_EQ(openai.options.api_key, "sk-from-env");
  EXPECT_EQ(openai.options.connect_timeout_ms, 1500);
  EXPECT_EQ(openai.options.idle_timeout_ms, 2500);
  EXPECT_EQ(openai.options.max_retries, 5);
  EXPECT_EQ(openai.options.retry_base_ms, 10);
  EXPECT_EQ(openai.options.retry_max_ms, 100);
  const auto& local = c->providers.at("local");
  EXPECT_EQ(local.options.api_key, "");
  EXPECT_EQ(local.options.connect_timeout_ms, 10000);
  EXPECT_EQ(local.options.idle_timeout_ms, 120000);
  EXPECT_EQ(local.options.max_retries, 3);
  EXPECT_EQ(local.options.retry_base_ms, 500);
  EXPECT_EQ(local.options.retry_max_ms, 8000);
  auto nano = c->models.Resolve("openai/gpt-5-nano");  // the default alias still resolves
  ASSERT_TRUE(nano.ok()) << nano.status().ToString();
  EXPECT_EQ((*nano)->provider, "openai");
  EXPECT_EQ((*nano)->upstream, "gpt-5-nano-2025-08-07");
  EXPECT_EQ((*nano)->input_micro_usd_per_mtok, 50000);
  EXPECT_EQ((*nano)->output_micro_usd_per_mtok, 400000);
  EXPECT_EQ((*nano)->context_window, 400000);
}

TEST_F(ConfigTest, UnsetApiKeyVariableLeavesTheProviderWithoutAKey) {
  auto c = LoadText(
      "[providers.openai]\nbase_url = \"https://api.openai.com/v1\"\napi_key_env = "
      "\"UNSET_KEY\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->providers.at("openai").options.api_key, "");
}

TEST_F(ConfigTest, BadProvidersAreRefused) {
  ExpectInvalid(LoadText("[providers.p]\napi_key_env = \"K\"\n"),
                "providers.p.base_url is required");
  ExpectInvalid(LoadText("[providers.p]\nbase_url = \"ftp://x\"\n"),
                "providers.p.base_url must be an http:// or https:// URL");
  ExpectInvalid(LoadText("[providers.p]\nbase_url = \"http://x\"\ntimeout = 1\n"),
                "unknown configuration key providers.p.timeout");
  ExpectInvalid(LoadText("[providers.p]\nbase_url = \"http://x\"\nidle_timeout_ms = 0\n"),
                "providers.p.idle_timeout_ms must be at least 1");
  ExpectInvalid(LoadText("[providers.p]\nbase_url = \"http://x\"\nmax_retries = -1\n"),
                "providers.p.max_retries must be between 0 and 20");
  ExpectInvalid(LoadText("[providers.builtin]\nbase_url = \"http://x\"\n"), "reserved");
  ExpectInvalid(LoadText("[providers]\np = 1\n"), "providers.p must be a table");
  ExpectInvalid(LoadText("[models.\"m\"]\nprovider = \"nope\"\nupstream = \"x\"\n"),
                "models.\"m\".provider: no provider named 'nope'");
}

TEST_F(ConfigTest, ProvidersExampleFileLoads) {
  const fs::path example = fs::path(AGENTD_SOURCE_DIR) / "docs/providers.example.toml";
  FakeEnv env({{"OPENAI_API_KEY", "sk-a"}, {"OPENROUTER_API_KEY", "sk-b"}});
  auto c = LoadConfig(example.string(), std::nullopt, std::nullopt, env.lookup());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->providers.size(), 3u);
  EXPECT_EQ(c->providers.at("openai").options.api_key, "sk-a");
  EXPECT_EQ(c->providers.at("openrouter").options.api_key, "sk-b");
  EXPECT_EQ(c->providers.at("local").options.api_key, "");
  EXPECT_EQ((*c->models.Resolve("openai/gpt-5-nano"))->name, "openai/gpt-5-nano-2025-08-07");
  EXPECT_EQ((*c->models.Resolve("anthropic/claude-3.5-sonnet"))->provider, "openrouter");
  EXPECT_EQ((*c->models.Resolve("kortix/basic"))->provider, "openai");
  EXPECT_EQ((*c->models.Resolve("qwen"))->provider, "local");
}

TEST(ParseMicroUsd, ParsesDecimalDollarsExactly) {
  EXPECT_EQ(*ParseMicroUsd("0.05"), 50000);
  EXPECT_EQ(*ParseMicroUsd("3"), 3000000);
  EXPECT_EQ(*ParseMicroUsd("3.00"), 3000000);
  EXPECT_EQ(*ParseMicroUsd("0.000001"), 1);
  EXPECT_EQ(*ParseMicroUsd("12.500000000"), 12500000);
  EXPECT_EQ(*ParseMicroUsd("0"), 0);
  EXPECT_EQ(*ParseMicroUsd("007.1"), 7100000);
  EXPECT_EQ(*ParseMicroUsd("9000000000000"), 9000000000000000000);
}

TEST(ParseMicroUsd, RefusesAnythingElse) {
  for (const char* s :
       {"", ".5", "5.", "-1", "+1", " 1", "1 ", "1e3", "1,5", "0x10", "1.0000001",
        "9000000000000.000001", "9000000000001", "99999999999999999999999", "nan", "inf"}) {
    auto r = ParseMicroUsd(s);
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << s;
  }
}

TEST_F(ConfigTest, JwtSecretIsCreatedOnceWithMode0600AndReused) {
  const std::string data_dir = (dir_ / "nested" / "data").string();
  auto first = LoadOrCreateJwtSecret(data_dir);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), 64u);
  EXPECT_EQ(first->find_first_not_of("0123456789abcdef"), std::string::npos);

  struct stat st {};
  ASSERT_EQ(::stat((fs::path(data_dir) / "jwt_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto second = LoadOrCreateJwtSecret(data_dir);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, *first);

  auto other = LoadOrCreateJwtSecret((dir_ / "other").string());
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);
}

TEST_F(ConfigTest, JwtSecretFileWrittenByHandIsTrimmed) {
  WriteFile("jwt_secret", "my-own-secret\n");
  auto s = LoadOrCreateJwtSecret(dir_.string());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, "my-own-secret");
}

TEST_F(ConfigTest, EmptyJwtSecretFileIsRefused) {
  WriteFile("jwt_secret", "\n");
  auto s = LoadOrCreateJwtSecret(dir_.string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("is empty"), std::string::npos);
}

TEST_F(ConfigTest, DataDirThatIsAFileIsRefused) {
  const std::string file = WriteFile("not_a_dir", "x");
  auto s = LoadOrCreateJwtSecret(file);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find(file), std::string::npos);
}

TEST_F(ConfigTest, ModeTablesChangeAndAddModes) {
  auto c = LoadText(R"(
[modes]
default = "review"
[modes.review]
description = "Reads, changes nothing"
tools = ["ask", "complete", "read_file"]
system_prompt = "Review only."
[modes.chat]
system_prompt = "Be brief."
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->modes.default_mode(), "review");
  const agent::Mode* review = c->modes.Find("review");
  ASSERT_NE(review, nullptr);
  EXPECT_EQ(review->tools, (std::vector<std::string>{"ask", "complete", "read_file"}));
  EXPECT_EQ(review->system_prompt, "Review only.");
  const agent::Mode* chat = c->modes.Find("chat");
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(chat->system_prompt, "Be brief.");
  EXPECT_EQ(chat->tools, (std::vector<std::string>{"ask", "complete", "remember"}))
      << "unset keys keep the built-in value";
  EXPECT_NE(c->modes.Find("research"), nullptr);
}

TEST_F(ConfigTest, BadModesAreErrors) {
  ExpectInvalid(LoadText("[modes.x]\ntools = [\"rm_rf\"]\n"),
                "modes.x.tools: unknown tool 'rm_rf'");
  ExpectInvalid(LoadText("[modes]\ndefault = \"nope\"\n"), "modes.default: no mode named 'nope'");
  ExpectInvalid(LoadText("[modes.x]\ncolour = \"red\"\n"),
                "unknown configuration key modes.x.colour");
  ExpectInvalid(LoadText("[modes]\nfoo = 1\n"), "unknown configuration key modes.foo");
}

}  // namespace
}  // namespace agentd::app

namespace agentd::app {
namespace {

TEST(BillingConfig, TiersBillingAndAccountsAreRead) {
  const std::string path = ::testing::TempDir() + "/billing_config_test.toml";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(R"([accounts]
default_tier = "team"
starting_credits = "0.50"
[billing]
price_multiplier = "1.5"
[tiers.team]
concurrent_runs = 7
threads = -1
max_file_mb = 2
models = "all"
run_timeout_s = 5
[tiers.pro]
concurrent_runs = 4
)",
               f);
    std::fclose(f);
  }
  auto c = LoadConfig(path, std::nullopt, std::nullopt,
                      [](const char*) -> const char* { return nullptr; });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->billing.new_account_tier, "team");
  EXPECT_EQ(c->billing.new_account_credits_micro, 500'000);
  EXPECT_EQ(c->billing.price_multiplier_ppm, 1'500'000);
  const billing::TierConfig* team = c->billing.FindTier("team");
  ASSERT_NE(team, nullptr);
  EXPECT_EQ(team->max_concurrent_runs, 7);
  EXPECT_EQ(team->max_threads, -1);
  EXPECT_EQ(team->max_projects, 20) << "a new tier starts from the free tier's values";
  EXPECT_EQ(team->max_file_bytes, 2 * 1024 * 1024);
  EXPECT_TRUE(team->all_models);
  EXPECT_EQ(team->run_timeout_s, 5);
  EXPECT_EQ(c->billing.FindTier("pro")->max_concurrent_runs, 4);
  EXPECT_EQ(c->billing.FindTier("pro")->max_threads, 1000) << "unset keys keep their value";
}

TEST(BillingConfig, BadTierKeysAndUnknownDefaultTierAreErrors) {
  auto load = [](const std::string& text) {
    const std::string path = ::testing::TempDir() + "/billing_config_bad.toml";
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return LoadConfig(path, std::nullopt, std::nullopt,
                      [](const char*) -> const char* { return nullptr; });
  };
  for (const char* text :
       {"[tiers.free]\nconcurent_runs = 2\n", "[tiers.free]\nthreads = -2\n",
        "[tiers.free]\nmodels = \"some\"\n", "[billing]\nmultiplier = 2\n",
        "[accounts]\ndefault_tier = \"gold\"\n", "[tiers.free]\ndefault_model = \"no/such\"\n",
        "[accounts]\nstarting_credits = \"-1\"\n",
        "[tiers.custom]\nthreads = 5\n"}) {  // minimax does not list custom
    auto c = load(text);
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
}

}  // namespace
}  // namespace agentd::app
