// Modes: the execution modes a run may ask for (`mode` of /agent/start). A mode names the
// tools the model is offered and adds its own lines to the system prompt. The configured set
// starts from DefaultModes() (chat, code, and Kortix's slides, sheets, docs, canvas, video,
// research on code's tools) and [modes.<name>] tables change or add modes.
// Thread safety: built once by app/, then only read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace agentd::agent {

// Tool names the agent loop itself provides (see RunAgent).
inline constexpr char kCompleteToolName[] = "complete";
inline constexpr char kAskToolName[] = "ask";
inline constexpr char kRememberToolName[] = "remember";

struct Mode {
  std::string name;
  std::string description;
  std::vector<std::string> tools;  // tool names offered, in this order
  std::string system_prompt;       // this mode's part of the system prompt
};

class ModeSet {
 public:
  // Adds `mode`, replacing the mode of the same name.
  void Add(Mode mode);
  // nullptr when no such mode.
  const Mode* Find(std::string_view name) const;
  const std::vector<Mode>& modes() const { return modes_; }

  // The mode of a run that names none (and whose agent names none).
  const std::string& default_mode() const { return default_mode_; }
  void set_default_mode(std::string name) { default_mode_ = std::move(name); }

 private:
  std::vector<Mode> modes_;
  std::string default_mode_ = "code";
};

// The sandbox tools of `code` mode (made by sandbox/tools).
const std::vector<std::string>& SandboxToolNames();

// Every tool name agentd has (the loop's own, remember and the sandbox tools): what modes and
// agents may name.
std::vector<std::string> KnownToolNames();

ModeSet DefaultModes();

}  // namespace agentd::agent
