// `agentd account set|show USER`: administers one account directly in the SQLite database of
// a data dir. It does not take the serve lock: WAL lets it write while a server runs, and the
// server reads the account at every start, so a change takes effect at once.
#pragma once

#include <optional>
#include <string>

#include "app/config.h"

namespace agentd::app {

struct AccountSetOptions {
  std::optional<std::string> tier;
  std::optional<std::string> role;         // "user" or "super_admin"
  std::optional<std::string> credits;      // dollars: the new balance
  std::optional<std::string> add_credits;  // dollars added (a leading '-' removes)
};

// Applies the change and prints the account as `show` does. Returns the process exit code;
// errors (unknown tier or role, bad amount, database) are printed to stderr.
int AccountSet(const Config& config, const std::string& user, const AccountSetOptions& options);
// Prints tier, role, balance in dollars and running runs; exit code 1 for an unknown account.
int AccountShow(const Config& config, const std::string& user);

}  // namespace agentd::app
