// agentd: the agent-run server. Subcommands: serve, token, account.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "app/account_command.h"
#include "app/config.h"
#include "app/serve.h"
#include "auth/jwt/jwt_verifier.h"

namespace {

struct CommonFlags {
  std::optional<std::string> config_file;
  std::optional<std::string> data_dir;
  std::optional<int> port;
};

void AddCommonFlags(CLI::App* cmd, CommonFlags& flags, bool with_port) {
  cmd->add_option("--config", flags.config_file, "TOML configuration file");
  cmd->add_option("--data-dir", flags.data_dir, "Data directory (default ./data)");
  if (with_port) cmd->add_option("--port", flags.port, "Listen port (default 8000; 0 = any)");
}

int Fail(const agentd::Status& s) {
  std::fprintf(stderr, "agentd: %s\n", s.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"agentd: self-hostable agent-run server"};
  app.require_subcommand(1);

  CommonFlags serve_flags;
  auto* serve = app.add_subcommand("serve", "Run the HTTP server and the run executor");
  AddCommonFlags(serve, serve_flags, true);

  CommonFlags token_flags;
  std::string user;
  int64_t ttl = 3600;
  auto* token = app.add_subcommand("token", "Print an HS256 JWT for a user (for development)");
  AddCommonFlags(token, token_flags, false);
  token->add_option("--user", user, "User id (the token's sub)")->required();
  token->add_option("--ttl", ttl, "Lifetime in seconds (default 3600)");

  CommonFlags account_flags;
  std::string account_user;
  agentd::app::AccountSetOptions set_options;
  auto* account = app.add_subcommand("account", "Show or change an account (tier, role, credits)");
  account->require_subcommand(1);
  auto* account_set = account->add_subcommand("set", "Change an account, creating it if needed");
  AddCommonFlags(account_set, account_flags, false);
  account_set->add_option("USER", account_user, "User id (the token's sub)")->required();
  account_set->add_option("--tier", set_options.tier, "Tier, e.g. free, pro, enterprise");
  account_set->add_option("--credits", set_options.credits, "New balance in US dollars, e.g. 2.50");
  account_set->add_option("--add-credits", set_options.add_credits,
                          "US dollars to add (negative to remove)");
  account_set->add_option("--role", set_options.role, "user or super_admin");
  auto* account_show = account->add_subcommand("show", "Print tier, role, balance, running runs");
  AddCommonFlags(account_show, account_flags, false);
  account_show->add_option("USER", account_user, "User id (the token's sub)")->required();

  CLI11_PARSE(app, argc, argv);

  if (*account) {
    auto config =
        agentd::app::LoadConfig(account_flags.config_file, std::nullopt, account_flags.data_dir);
    if (!config.ok()) return Fail(config.status());
    if (*account_set) return agentd::app::AccountSet(*config, account_user, set_options);
    return agentd::app::AccountShow(*config, account_user);
  }

  if (*serve) {
    auto config =
        agentd::app::LoadConfig(serve_flags.config_file, serve_flags.port, serve_flags.data_dir);
    if (!config.ok()) return Fail(config.status());
    return agentd::app::Serve(std::move(*config));
  }
  auto config =
      agentd::app::LoadConfig(token_flags.config_file, std::nullopt, token_flags.data_dir);
  if (!config.ok()) return Fail(config.status());
  std::string secret = config->jwt_secret;
  if (secret.empty()) {
    auto loaded = agentd::app::LoadOrCreateJwtSecret(config->data_dir);
    if (!loaded.ok()) return Fail(loaded.status());
    secret = *loaded;
  }
  auto jwt = agentd::auth::jwt::MintHs256Token(secret, user, ttl);
  if (!jwt.ok()) return Fail(jwt.status());
  std::printf("%s\n", jwt->c_str());
  return 0;
}
