#include "runs/memory_tools.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>

#include "agent/modes.h"
#include "core/json.h"
#include "runs/await_callback.h"

namespace agentd::runs {
namespace {

constexpr size_t kEchoChars = 80;
constexpr size_t kMaxPromptMemories = 20;
constexpr size_t kMaxPromptMemoryChars = 500;
constexpr size_t kMaxPromptChars = 8000;
constexpr char kWhiteSpace[] = " \t\r\n\f\v";

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// The first `n` code points of valid UTF-8 `s`.
std::string_view Utf8Prefix(std::string_view s, size_t n) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (seen == n) return s.substr(0, i);
    ++seen;
  }
  return s;
}

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhiteSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kWhiteSpace) - begin + 1);
}

agent::ToolResult Failed(std::string error) {
  agent::ToolResult r;
  r.error = std::move(error);
  return r;
}

class RememberTool final : public agent::Tool {
 public:
  RememberTool(store::Store& store, agent::ToolContext context)
      : store_(store), context_(std::move(context)) {}

  llm::ToolSchema Schema() const override {
    return {agent::kRememberToolName,
            "Store a long-term memory of the user: a durable fact, preference or decision that "
            "later conversations should know. One self-contained statement per call; not for "
            "details that matter only in this conversation.",
            {{"type", "object"},
             {"properties",
              {{"content",
                {{"type", "string"},
                 {"description", "What to remember, as a complete sentence"},
                 {"minLength", 1},
                 {"maxLength", kMaxMemoryChars}}}}},
             {"required", {"content"}}}};
  }

  boost::asio::awaitable<agent::ToolResult> Run(const nlohmann::json& arguments) override {
    auto it = arguments.find("content");
    if (it == arguments.end() || !it->is_string()) {
      co_return Failed("content (a string) is required");
    }
    const std::string_view content = Trim(it->get_ref<const std::string&>());
    if (content.empty()) co_return Failed("content must not be empty");
    if (!IsValidUtf8(content)) co_return Failed("content must be UTF-8 text");
    if (CodePoints(content) > kMaxMemoryChars) {
      co_return Failed(fmt::format("content must be at most {} characters", kMaxMemoryChars));
    }
    store::Memory memory;
    memory.account_id = context_.account_id;
    memory.content = std::string(content);
    memory.source_thread_id = context_.thread_id;
    auto stored = co_await AwaitCallback<Result<store::Memory>>(
        [&](std::function<void(Result<store::Memory>)> done) {
          store_.AddMemory(std::move(memory), std::move(done));
        });
    if (!stored.ok()) {
      spdlog::error("run {}: storing a memory failed: {}", context_.run_id,
                    stored.status().ToString());
      co_return Failed("The memory could not be stored");
    }
    agent::ToolResult result;
    result.success = true;
    result.output = fmt::format("Remembered: {}", Utf8Prefix(stored->content, kEchoChars));
    result.details = {{"memory_id", stored->memory_id}};
    co_return result;
  }

 private:
  store::Store& store_;
  const agent::ToolContext context_;
};

class MemoryToolProvider final : public agent::ToolProvider {
 public:
  explicit MemoryToolProvider(store::Store& store) : store_(store) {}

  std::vector<std::string> Names() const override { return {agent::kRememberToolName}; }

  std::unique_ptr<agent::Tool> Make(std::string_view name,
                                    const agent::ToolContext& context) override {
    if (name != agent::kRememberToolName) return nullptr;
    return std::make_unique<RememberTool>(store_, context);
  }

 private:
  store::Store& store_;
};

// One line of at most kMaxPromptMemoryChars code points.
std::string PromptLine(std::string_view content) {
  std::string line;
  bool space = false;
  for (char c : Trim(content)) {
    const bool is_space = std::string_view(kWhiteSpace).find(c) != std::string_view::npos;
    if (is_space) {
      space = true;
      continue;
    }
    if (space) line += ' ';
    space = false;
    line += c;
  }
  if (CodePoints(line) > kMaxPromptMemoryChars) {
    line = fmt::format("{}\u2026", Utf8Prefix(line, kMaxPromptMemoryChars - 1));
  }
  return line;
}

}  // namespace

std::unique_ptr<agent::ToolProvider> NewMemoryToolProvider(store::Store& store) {
  return std::make_unique<MemoryToolProvider>(store);
}

std::string MemoryPromptSection(const std::vector<store::Memory>& memories) {
  std::string lines;
  size_t count = 0;
  for (const store::Memory& m : memories) {
    if (count == kMaxPromptMemories) break;
    const std::string line = PromptLine(m.content);
    if (line.empty()) continue;
    if (CodePoints(lines) + CodePoints(line) + 3 > kMaxPromptChars) break;
    lines += fmt::format("- {}\n", line);
    ++count;
  }
  if (lines.empty()) return "";
  return fmt::format(
      "## Memories\nWhat you remembered about this user in earlier conversations, most "
      "relevant first:\n{}",
      lines);
}

}  // namespace agentd::runs
