#include "runs/run_setup.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace agentd::runs {
namespace {

const agent::Mode& Code() {
  static const agent::ModeSet modes = agent::DefaultModes();
  return *modes.Find("code");
}

TEST(RunToolNames, CodeModeOffersItsToolsInOrder) {
  const auto names = RunToolNames(Code(), std::nullopt, true);
  EXPECT_EQ(names, Code().tools);
  EXPECT_EQ(names.front(), "ask");
  EXPECT_NE(std::find(names.begin(), names.end(), "execute_command"), names.end());
}

TEST(RunToolNames, AgentToolListNarrowsTheModeAndCannotWidenIt) {
  const auto names =
      RunToolNames(Code(), std::vector<std::string>{"read_file", "complete", "not_in_mode"}, true);
  EXPECT_EQ(names, (std::vector<std::string>{"complete", "read_file"}));
}

TEST(RunToolNames, MemoryOffDropsRemember) {
  const auto on = RunToolNames(Code(), std::nullopt, true);
  const auto off = RunToolNames(Code(), std::nullopt, false);
  EXPECT_NE(std::find(on.begin(), on.end(), "remember"), on.end());
  EXPECT_EQ(std::find(off.begin(), off.end(), "remember"), off.end());
  EXPECT_EQ(off.size() + 1, on.size());
}

TEST(ComposeSystemPrompt, HasDateModeAgentPromptAndMemories) {
  std::vector<store::Memory> memories(2);
  memories[0].content = "The user's name is Ada.";
  memories[1].content = "Prefers tabs.";
  const std::string prompt = ComposeSystemPrompt(Code(), "Always answer in French.", memories, true,
                                                 /*2026-12-04*/ 1796342400000);
  EXPECT_NE(prompt.find("2026-12-04"), std::string::npos);
  EXPECT_NE(prompt.find("/workspace"), std::string::npos);
  EXPECT_NE(prompt.find("Always answer in French."), std::string::npos);
  EXPECT_NE(prompt.find("- The user's name is Ada.\n- Prefers tabs.\n"), std::string::npos);
  EXPECT_NE(prompt.find("`remember`"), std::string::npos);
}

TEST(ComposeSystemPrompt, MemoryOffHasNoMemoriesAndNoRememberHint) {
  std::vector<store::Memory> memories(1);
  memories[0].content = "secret fact";
  const std::string prompt = ComposeSystemPrompt(Code(), "", memories, false, 0);
  EXPECT_EQ(prompt.find("secret fact"), std::string::npos);
  EXPECT_EQ(prompt.find("remember"), std::string::npos);
}

TEST(ComposeSystemPrompt, MemorySectionIsBounded) {
  std::vector<store::Memory> memories(100);
  for (auto& m : memories) m.content = std::string(200, 'm');
  const std::string prompt = ComposeSystemPrompt(Code(), "", memories, true, 0);
  EXPECT_LT(prompt.size(), 6000u);
}

}  // namespace
}  // namespace agentd::runs
