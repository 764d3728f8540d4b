#include "app/account_command.h"

#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>

#include "billing/billing.h"
#include "core/clock.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::app {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "agentd: %s\n", s.message().c_str());
  return 1;
}

Result<std::unique_ptr<store::Store>> OpenStore(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) return Unavailable("Cannot create data dir " + config.data_dir + ": " + ec.message());
  return store::sqlite::NewSqliteStore({.path = config.data_dir + "/agentd.db",
                                        .synchronous = config.sqlite_synchronous,
                                        .read_connections = 1});
}

// "-1.50" -> -1500000; otherwise as ParseMicroUsd.
Result<int64_t> ParseSignedMicroUsd(const std::string& text) {
  if (!text.empty() && text[0] == '-') {
    AGENTD_ASSIGN_OR_RETURN(int64_t v, billing::ParseMicroUsd(text.substr(1)));
    return -v;
  }
  return billing::ParseMicroUsd(text);
}

int Print(store::Store& store, const store::Account& account) {
  auto usage = store.GetAccountUsage(account.account_id);
  if (!usage.ok()) return Fail(usage.status());
  std::printf("account: %s\ntier: %s\nrole: %s\nbalance: %s\nrunning_runs: %lld\n",
              account.account_id.c_str(), account.tier.c_str(), account.role.c_str(),
              billing::FormatUsd(account.balance_micro).c_str(),
              static_cast<long long>(usage->running_runs));
  return 0;
}

}  // namespace

int AccountSet(const Config& config, const std::string& user, const AccountSetOptions& options) {
  store::AccountUpdate update;
  update.account_id = user;
  update.default_tier = config.billing.new_account_tier;
  update.starting_credits_micro = config.billing.new_account_credits_micro;
  update.now_ms = NowMillis();
  if (user.empty()) return Fail(InvalidArgument("USER must not be empty"));
  if (options.tier) {
    if (config.billing.FindTier(*options.tier) == nullptr) {
      return Fail(InvalidArgument("Unknown tier: " + *options.tier));
    }
    update.tier = options.tier;
  }
  if (options.role) {
    if (*options.role != "user" && *options.role != "super_admin") {
      return Fail(InvalidArgument("--role must be user or super_admin"));
    }
    update.role = options.role;
  }
  if (options.credits) {
    auto micro = billing::ParseMicroUsd(*options.credits);
    if (!micro.ok()) return Fail(micro.status());
    update.set_credits_micro = *micro;
  }
  if (options.add_credits) {
    auto micro = ParseSignedMicroUsd(*options.add_credits);
    if (!micro.ok()) return Fail(micro.status());
    update.add_credits_micro = *micro;
  }
  auto store = OpenStore(config);
  if (!store.ok()) return Fail(store.status());
  std::promise<Result<store::Account>> promise;
  (*store)->UpdateAccount(
      std::move(update), [&promise](Result<store::Account> r) { promise.set_value(std::move(r)); });
  Result<store::Account> account = promise.get_future().get();
  if (!account.ok()) return Fail(account.status());
  return Print(**store, *account);
}

int AccountShow(const Config& config, const std::string& user) {
  auto store = OpenStore(config);
  if (!store.ok()) return Fail(store.status());
  auto account = (*store)->GetAccount(user);
  if (!account.ok()) return Fail(account.status());
  if (!*account) return Fail(NotFound("No account " + user + " (it is created on first use)"));
  return Print(**store, **account);
}

}  // namespace agentd::app
