#include "billing/billing.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace agentd::billing {
namespace {

const TierConfig& TierNamed(const BillingConfig& c, const std::string& name) {
  const TierConfig* t = c.FindTier(name);
  EXPECT_NE(t, nullptr) << name;
  return *t;
}

class ResolveModelTest : public ::testing::Test {
 protected:
  BillingConfig config_ = DefaultBillingConfig();
  llm::ModelCatalog catalog_ = llm::DefaultModelCatalog();
  const TierConfig& free_ = TierNamed(config_, "free");
  const TierConfig& pro_ = TierNamed(config_, "pro");
  const TierConfig& enterprise_ = TierNamed(config_, "enterprise");
};

TEST_F(ResolveModelTest, UnknownNameIsInvalidArgumentBeforeAnyTierCheck) {
  auto r = ResolveModel(free_, "no/such-model", "kortix/minimax", catalog_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Unknown model: no/such-model");
}

TEST_F(ResolveModelTest, EmptyRequestGivesTheTierDefault) {
  EXPECT_EQ((*ResolveModel(free_, "", "builtin/echo", catalog_)).entry->name, "kortix/minimax");
  EXPECT_EQ((*ResolveModel(pro_, "", "builtin/echo", catalog_)).entry->name, "kortix/basic");
  EXPECT_EQ((*ResolveModel(enterprise_, "", "builtin/echo", catalog_)).entry->name, "kortix/basic");
  TierConfig no_default = free_;
  no_default.default_model = "";
  EXPECT_EQ((*ResolveModel(no_default, "", "builtin/echo", catalog_)).entry->name, "builtin/echo");
}

TEST_F(ResolveModelTest, FreeAskingBasicIsDowngradedToMinimax) {
  auto r = ResolveModel(free_, "kortix/basic", "", catalog_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entry->name, "kortix/minimax");
  EXPECT_TRUE(r->downgraded);
  auto pro = ResolveModel(pro_, "kortix/basic", "", catalog_);
  ASSERT_TRUE(pro.ok());
  EXPECT_EQ(pro->entry->name, "kortix/basic");
  EXPECT_FALSE(pro->downgraded);
}

TEST_F(ResolveModelTest, ModelOutsideTheTierIsModelAccessDeniedWithAllowedModels) {
  auto r = ResolveModel(free_, "openai/gpt-5-nano", "", catalog_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().reason(), "MODEL_ACCESS_DENIED");
  EXPECT_EQ(r.status().details()["tier_name"], "free");
  EXPECT_EQ(r.status().details()["allowed_models"],
            nlohmann::json::array({"kortix/minimax", "kortix/haiku", "builtin/echo"}));
}

TEST_F(ResolveModelTest, AliasesResolveToCatalogueNamesAndPaidTiersGetPaidModels) {
  auto r = ResolveModel(pro_, "openai/gpt-5-nano", "", catalog_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entry->name, "openai/gpt-5-nano-2025-08-07");
  EXPECT_TRUE(ResolveModel(enterprise_, "anthropic/claude-3.5-sonnet", "", catalog_).ok());
}

TEST_F(ResolveModelTest, BuiltinIsOpenToEveryTierAndAllOpensEverything) {
  for (const TierConfig* t : {&free_, &pro_, &enterprise_}) {
    EXPECT_TRUE(ResolveModel(*t, "builtin/echo", "", catalog_).ok()) << t->name;
  }
  TierConfig custom;
  custom.name = "custom";
  EXPECT_FALSE(ResolveModel(custom, "kortix/minimax", "", catalog_).ok())
      << "a tier no model lists gets only open models";
  custom.all_models = true;
  EXPECT_TRUE(ResolveModel(custom, "kortix/power", "", catalog_).ok());
  EXPECT_EQ(AllowedModels(custom, catalog_).size(), catalog_.entries().size());
}

TEST(CostMicro, IsTokensTimesPriceTimesMultiplierRoundedHalfUp) {
  // 1000 x $3.33/Mtok + 500 x $0.000001/Mtok = 3330 + 0.0005 micro -> 3330.0005 -> 3330
  EXPECT_EQ(CostMicro({1000, 500}, 3'330'000, 1, 1'000'000), 3330);
  // x 1.5 = 4995.00075 -> 4995
  EXPECT_EQ(CostMicro({1000, 500}, 3'330'000, 1, 1'500'000), 4995);
  // 1 token at $0.000001/Mtok = 1e-6 micro -> 0
  EXPECT_EQ(CostMicro({1, 0}, 1, 1, 1'000'000), 0);
  // 500000 tokens at $0.000001/Mtok = 0.5 micro -> rounds half up to 1
  EXPECT_EQ(CostMicro({500'000, 0}, 1, 0, 1'000'000), 1);
  EXPECT_EQ(CostMicro({499'999, 0}, 1, 0, 1'000'000), 0);
  // 7 x $3.33 x 1.5 = 34.965 micro -> 35
  EXPECT_EQ(CostMicro({0, 7}, 0, 3'330'000, 1'500'000), 35);
  EXPECT_EQ(CostMicro({0, 0}, 3'330'000, 3'330'000, 1'500'000), 0);
  EXPECT_EQ(CostMicro({-5, 10}, 1'000'000, 1'000'000, 1'000'000), 10);
  // No overflow on huge values: 1e9 tokens at $1e6/Mtok x 10 = $1e10 = 1e16 micro
  EXPECT_EQ(CostMicro({1'000'000'000, 0}, 1'000'000'000'000, 0, 10'000'000),
            10'000'000'000'000'000);
}

TEST(CostMicro, TenThousandDebitsSumExactly) {
  // Every debit is an exact integer, so their sum is exactly 10,000 x one debit: no drift.
  const llm::Usage usage{123, 457};
  const int64_t one = CostMicro(usage, 3'330'000, 1, 1'500'000);
  EXPECT_EQ(one, 614);  // (123 x 3.33 + 457 x 0.000001) x 1.5 = 614.3856...
  int64_t balance = 3'000'000'000;
  for (int i = 0; i < 10'000; ++i) balance -= CostMicro(usage, 3'330'000, 1, 1'500'000);
  EXPECT_EQ(balance, 3'000'000'000 - 10'000 * one);
  EXPECT_EQ(FormatUsd(balance), "2993.86");
}

TEST(Money, FormatUsdShowsDollars) {
  EXPECT_EQ(FormatUsd(2'500'000), "2.50");
  EXPECT_EQ(FormatUsd(3'000'000), "3.00");
  EXPECT_EQ(FormatUsd(1), "0.000001");
  EXPECT_EQ(FormatUsd(0), "0.00");
  EXPECT_EQ(FormatUsd(-1'250'000), "-1.25");
  EXPECT_EQ(FormatUsd(123'456'789), "123.456789");
  EXPECT_DOUBLE_EQ(UsdNumber(2'500'000), 2.5);
}

TEST(Money, ParseAndFormatRoundTrip) {
  for (const char* text : {"2.50", "0.000001", "3.00", "123.456789", "0.10"}) {
    auto micro = ParseMicroUsd(text);
    ASSERT_TRUE(micro.ok()) << text;
    EXPECT_EQ(FormatUsd(*micro), text);
  }
  EXPECT_FALSE(ParseMicroUsd("-1").ok());
  EXPECT_FALSE(ParseMicroUsd("1.0000001").ok());
}

TEST(BillingConfig, DefaultsAreThoseOfApiSection8) {
  BillingConfig c = DefaultBillingConfig();
  EXPECT_EQ(c.price_multiplier_ppm, 1'000'000);
  EXPECT_EQ(c.new_account_tier, "free");
  EXPECT_EQ(c.new_account_credits_micro, 3'000'000);
  const TierConfig& free = TierNamed(c, "free");
  EXPECT_EQ(free.max_concurrent_runs, 1);
  EXPECT_EQ(free.max_threads, 10);
  EXPECT_EQ(free.max_projects, 20);
  EXPECT_EQ(free.max_file_bytes, 10 * 1024 * 1024);
  EXPECT_EQ(free.run_timeout_s, 600);
  const TierConfig& pro = TierNamed(c, "pro");
  EXPECT_EQ(pro.max_concurrent_runs, 3);
  EXPECT_EQ(pro.max_threads, 1000);
  EXPECT_EQ(pro.run_timeout_s, 1800);
  const TierConfig& ent = TierNamed(c, "enterprise");
  EXPECT_EQ(ent.max_concurrent_runs, 10);
  EXPECT_EQ(ent.max_threads, kUnlimited);
  EXPECT_EQ(ent.max_files_per_request, 50);
  EXPECT_EQ(ent.run_timeout_s, 3600);
  EXPECT_EQ(c.FindTier("gold"), nullptr);
}

}  // namespace
}  // namespace agentd::billing
