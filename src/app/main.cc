// agentd: the agent-run server. Subcommands: serve, token.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

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

  CLI11_PARSE(app, argc, argv);

  if (*serve) {
    auto config = agentd::app::LoadConfig(serve_flags.config_file, serve_flags.port,
                                          serve_flags.data_dir);
    if (!config.ok()) return Fail(config.status());
    return agentd::app::Serve(std::move(*config));
  }
  auto config = agentd::app::LoadConfig(token_flags.config_file, std::nullopt,
                                        token_flags.data_dir);
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
