#include "agent/modes.h"

#include <algorithm>
#include <utility>

namespace agentd::agent {

void ModeSet::Add(Mode mode) {
  for (Mode& existing : modes_) {
    if (existing.name == mode.name) {
      existing = std::move(mode);
      return;
    }
  }
  modes_.push_back(std::move(mode));
}

const Mode* ModeSet::Find(std::string_view name) const {
  auto it =
      std::find_if(modes_.begin(), modes_.end(), [&](const Mode& m) { return m.name == name; });
  return it == modes_.end() ? nullptr : &*it;
}

const std::vector<std::string>& SandboxToolNames() {
  static const std::vector<std::string> kNames = {"execute_command", "list_files",  "read_file",
                                                  "write_file",      "str_replace", "delete_file"};
  return kNames;
}

std::vector<std::string> KnownToolNames() {
  std::vector<std::string> names = {kAskToolName, kCompleteToolName, kRememberToolName};
  names.insert(names.end(), SandboxToolNames().begin(), SandboxToolNames().end());
  return names;
}

ModeSet DefaultModes() {
  const std::vector<std::string> chat_tools = {kAskToolName, kCompleteToolName, kRememberToolName};
  std::vector<std::string> code_tools = chat_tools;
  code_tools.insert(code_tools.end(), SandboxToolNames().begin(), SandboxToolNames().end());
  const std::string workspace =
      "You work in a Linux sandbox without network access. The project's files are in "
      "/workspace (files the user attached are in /workspace/uploads). Use the tools to look at "
      "and change files and to run commands; paths are relative to /workspace. ";

  ModeSet set;
  set.Add({"chat", "Conversation only; no sandbox tools.", chat_tools,
           "Answer the user directly. You have no sandbox or file tools in this mode; the text of "
           "attached files is included in the message."});
  set.Add({"code", "Coding and general tasks in the project's sandbox.", code_tools,
           workspace + "Work step by step, check your results by running them, and call "
                       "`complete` when the task is done."});
  // Kortix's modes, on code's tools, so its clients work unchanged.
  const std::pair<const char*, const char*> kortix[] = {
      {"slides", "Make presentation slides as HTML files in /workspace (one file per deck)."},
      {"sheets", "Make spreadsheets as CSV or XLSX files in /workspace."},
      {"docs", "Write documents as Markdown or HTML files in /workspace."},
      {"canvas", "Make visual designs as HTML/SVG files in /workspace."},
      {"video", "Plan and script videos; write scripts and storyboards to /workspace."},
      {"research",
       "Research the question thoroughly with the tools you have and write up the "
       "findings with their sources."},
  };
  for (const auto& [name, prompt] : kortix) {
    set.Add({name, std::string("Kortix ") + name + " mode (code's tools).", code_tools,
             workspace + prompt});
  }
  return set;
}

}  // namespace agentd::agent
