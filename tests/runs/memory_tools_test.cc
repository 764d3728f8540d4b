// The `remember` tool and the memory prompt section, over the real SQLite store.
#include "runs/memory_tools.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "agent/modes.h"
#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::runs {
namespace {

namespace asio = boost::asio;

class MemoryToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("memory_tools_test_" + NewUuid());
    std::filesystem::create_directories(dir_);
    auto s = store::sqlite::NewSqliteStore({.path = (dir_ / "agentd.db").string()});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    for (const char* account : {"alice", "bob"}) {
      std::promise<Result<store::Agent>> made;
      store_->EnsureDefaultAgent(account, "free", 1'000'000, store::Agent{},
                                 [&](Result<store::Agent> r) { made.set_value(std::move(r)); });
      ASSERT_TRUE(made.get_future().get().ok());
    }
    provider_ = NewMemoryToolProvider(*store_);
  }

  void TearDown() override {
    provider_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  agent::ToolResult Remember(const std::string& account, const nlohmann::json& arguments) {
    agent::ToolContext context{account, "project-1", "thread-" + account, "run-1"};
    std::unique_ptr<agent::Tool> tool = provider_->Make(agent::kRememberToolName, context);
    EXPECT_NE(tool, nullptr);
    if (tool == nullptr) return {};
    asio::io_context io;
    auto future = asio::co_spawn(io, tool->Run(arguments), asio::use_future);
    io.run();
    return future.get();
  }

  std::vector<store::Memory> Memories(const std::string& account) {
    auto found = store_->SearchMemories(account, "", 100);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : std::vector<store::Memory>{};
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<agent::ToolProvider> provider_;
};

TEST_F(MemoryToolsTest, ProviderMakesOnlyRemember) {
  EXPECT_EQ(provider_->Names(), std::vector<std::string>{"remember"});
  EXPECT_EQ(provider_->Make("execute_command", {}), nullptr);
  auto tool = provider_->Make("remember", {});
  ASSERT_NE(tool, nullptr);
  llm::ToolSchema schema = tool->Schema();
  EXPECT_EQ(schema.name, "remember");
  EXPECT_EQ(schema.parameters["required"], nlohmann::json::array({"content"}));
}

TEST_F(MemoryToolsTest, RememberStoresForTheContextsAccountAndThread) {
  agent::ToolResult r = Remember("alice", {{"content", "  Alice's cat is named Miso \n"}});
  ASSERT_TRUE(r.success) << r.error;
  EXPECT_EQ(r.output, "Remembered: Alice's cat is named Miso");
  std::vector<store::Memory> alice = Memories("alice");
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(alice[0].content, "Alice's cat is named Miso");
  EXPECT_EQ(alice[0].source_thread_id, "thread-alice");
  EXPECT_EQ(r.details["memory_id"], alice[0].memory_id);
  EXPECT_TRUE(Memories("bob").empty());
}

TEST_F(MemoryToolsTest, OutputShowsTheFirst80Characters) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "\xc3\xa9t\xc3\xa9 ";  // "été " = 4 code points
  agent::ToolResult r = Remember("alice", {{"content", text}});
  ASSERT_TRUE(r.success) << r.error;
  const std::string prefix = "Remembered: ";
  ASSERT_EQ(r.output.rfind(prefix, 0), 0u);
  std::string shown = r.output.substr(prefix.size());
  EXPECT_EQ(shown, text.substr(0, 20 * 6));  // 20 x "été " = 80 code points, 120 bytes
  EXPECT_EQ(Memories("alice").at(0).content, text.substr(0, text.size() - 1));
}

TEST_F(MemoryToolsTest, EmptyMissingOrTooLongContentIsRefusedAndNothingStored) {
  for (const nlohmann::json& args :
       {nlohmann::json::object(), nlohmann::json{{"content", ""}},
        nlohmann::json{{"content", " \n\t "}}, nlohmann::json{{"content", 42}},
        nlohmann::json{{"content", std::string(4001, 'x')}}}) {
    agent::ToolResult r = Remember("alice", args);
    EXPECT_FALSE(r.success) << args.dump();
    EXPECT_FALSE(r.error.empty()) << args.dump();
  }
  EXPECT_TRUE(Memories("alice").empty());
  agent::ToolResult max = Remember("alice", {{"content", std::string(4000, 'x')}});
  EXPECT_TRUE(max.success) << max.error;
  EXPECT_EQ(Memories("alice").size(), 1u);
}

TEST_F(MemoryToolsTest, StoreFailureIsAFailedToolResult) {
  agent::ToolContext context{"never-seen", "p", "t", "r"};
  auto tool = provider_->Make(agent::kRememberToolName, context);
  const nlohmann::json arguments = {{"content", "x"}};  // Run borrows it until it finishes
  asio::io_context io;
  auto future = asio::co_spawn(io, tool->Run(arguments), asio::use_future);
  io.run();
  agent::ToolResult r = future.get();
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.error, "The memory could not be stored");
}

TEST(MemoryPromptSection, ListsMemoriesInOrderBoundedAndFlattened) {
  EXPECT_EQ(MemoryPromptSection({}), "");
  std::vector<store::Memory> memories;
  for (int i = 0; i < 30; ++i) {
    store::Memory m;
    m.content = "fact " + std::to_string(i) + "\nsecond   line";
    memories.push_back(m);
  }
  const std::string section = MemoryPromptSection(memories);
  EXPECT_EQ(section.rfind("## Memories\n", 0), 0u) << section;
  EXPECT_NE(section.find("- fact 0 second line\n"), std::string::npos) << section;
  EXPECT_LT(section.find("- fact 0 "), section.find("- fact 1 "));
  EXPECT_NE(section.find("- fact 19 "), std::string::npos);
  EXPECT_EQ(section.find("- fact 20 "), std::string::npos);  // at most 20

  store::Memory huge;
  huge.content = std::string(3000, 'a');
  std::vector<store::Memory> many(40, huge);
  const std::string bounded = MemoryPromptSection(many);
  EXPECT_LT(bounded.size(), 8500u);
  EXPECT_NE(bounded.find("- " + std::string(499, 'a') + "\u2026\n"), std::string::npos);
}

}  // namespace
}  // namespace agentd::runs
