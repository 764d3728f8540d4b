#include "llm/model_catalog.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace agentd::llm {
namespace {

using Tiers = std::vector<std::string>;

const ModelEntry& MustResolve(const ModelCatalog& catalog, std::string_view name) {
  auto r = catalog.Resolve(name);
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().ToString();
  static const ModelEntry kMissing;
  return r.ok() ? **r : kMissing;
}

TEST(ModelCatalog, DefaultCatalogueHasEveryModelWithItsTiers) {
  const ModelCatalog catalog = DefaultModelCatalog();
  const Tiers all = {"free", "pro", "enterprise"};
  const Tiers paid = {"pro", "enterprise"};

  EXPECT_EQ(MustResolve(catalog, "kortix/minimax").tiers, all);
  EXPECT_EQ(MustResolve(catalog, "kortix/basic").tiers, paid);
  EXPECT_EQ(MustResolve(catalog, "openai/gpt-5-nano-2025-08-07").tiers, paid);
  EXPECT_EQ(MustResolve(catalog, "anthropic/claude-3.5-sonnet").tiers, paid);
  EXPECT_EQ(MustResolve(catalog, "kortix/power").tiers, paid);
  EXPECT_EQ(MustResolve(catalog, "anthropic/claude-sonnet-4-20250514").tiers, paid);
  EXPECT_EQ(MustResolve(catalog, "kortix/haiku").tiers, all);
  EXPECT_TRUE(MustResolve(catalog, "builtin/echo").tiers.empty());
  EXPECT_EQ(catalog.entries().size(), 8u);

  for (const ModelEntry& e : catalog.entries()) {
    EXPECT_EQ(e.provider, "builtin") << e.name;
    EXPECT_EQ(e.upstream, "echo") << e.name;
    EXPECT_EQ(e.input_micro_usd_per_mtok, 0) << e.name;
    EXPECT_EQ(e.output_micro_usd_per_mtok, 0) << e.name;
  }
}

TEST(ModelCatalog, AliasResolvesToCanonicalEntry) {
  const ModelCatalog catalog = DefaultModelCatalog();
  EXPECT_EQ(MustResolve(catalog, "openai/gpt-5-nano").name, "openai/gpt-5-nano-2025-08-07");
}

TEST(ModelCatalog, UnknownNameIsInvalidArgumentWithApiMessage) {
  const ModelCatalog catalog = DefaultModelCatalog();
  auto r = catalog.Resolve("nope/model");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Unknown model: nope/model");
}

TEST(ModelCatalog, ResolveIsExactAndCaseSensitive) {
  const ModelCatalog catalog = DefaultModelCatalog();
  EXPECT_FALSE(catalog.Resolve("Kortix/Minimax").ok());
  EXPECT_FALSE(catalog.Resolve("kortix/minimax ").ok());
  EXPECT_FALSE(catalog.Resolve("").ok());
}

TEST(ModelCatalog, AddReplacesSameNameInPlace) {
  ModelCatalog catalog = DefaultModelCatalog();
  const size_t before = catalog.entries().size();
  ModelEntry e;
  e.name = "kortix/basic";
  e.provider = "openai";
  e.upstream = "gpt-4o-mini";
  e.input_micro_usd_per_mtok = 150000;
  catalog.Add(e);

  EXPECT_EQ(catalog.entries().size(), before);
  EXPECT_EQ(catalog.entries()[1].name, "kortix/basic");
  const ModelEntry& got = MustResolve(catalog, "kortix/basic");
  EXPECT_EQ(got.provider, "openai");
  EXPECT_EQ(got.upstream, "gpt-4o-mini");
  EXPECT_EQ(got.input_micro_usd_per_mtok, 150000);
  EXPECT_TRUE(got.tiers.empty());
}

TEST(ModelCatalog, AddAppendsNewName) {
  ModelCatalog catalog;
  ModelEntry e;
  e.name = "local/llama";
  e.aliases = {"llama"};
  catalog.Add(e);
  ASSERT_EQ(catalog.entries().size(), 1u);
  EXPECT_EQ(MustResolve(catalog, "llama").name, "local/llama");
}

TEST(ModelCatalog, NameWinsOverAnotherEntrysAlias) {
  ModelCatalog catalog;
  ModelEntry a;
  a.name = "a";
  a.aliases = {"b"};
  catalog.Add(a);
  ModelEntry b;
  b.name = "b";
  catalog.Add(b);
  EXPECT_EQ(MustResolve(catalog, "b").name, "b");
}

TEST(ModelEntry, AllowsTierUsesListOrEveryTierWhenEmpty) {
  const ModelCatalog catalog = DefaultModelCatalog();
  EXPECT_FALSE(MustResolve(catalog, "kortix/basic").AllowsTier("free"));
  EXPECT_TRUE(MustResolve(catalog, "kortix/basic").AllowsTier("pro"));
  EXPECT_TRUE(MustResolve(catalog, "kortix/minimax").AllowsTier("free"));
  EXPECT_TRUE(MustResolve(catalog, "builtin/echo").AllowsTier("free"));
  EXPECT_TRUE(MustResolve(catalog, "builtin/echo").AllowsTier("any-custom-tier"));
}

}  // namespace
}  // namespace agentd::llm
