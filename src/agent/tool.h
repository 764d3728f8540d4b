// Tools: what the model may call. A Tool is one function with a JSON-Schema signature; a
// ToolRegistry is the set one run offers (dispatch by name); a ToolProvider makes the tools of
// one family (sandbox tools, memory tools) bound to one run's context. The agent loop sees only
// a ToolRegistry; the runs module assembles one per run from the mode's tool names.
// Thread safety: a Tool and a ToolRegistry belong to one run (one strand); providers are
// shared by all runs and must be safe from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "llm/llm_client.h"

namespace agentd::agent {

struct ToolResult {
  bool success = false;
  std::string output;  // shown to the model
  std::string error;   // empty on success; shown to the model as "Error: <error>"
  // Extra fields for the run's events (the "tool" event's metadata.result), e.g.
  // {"command": "...", "exit_code": 0, "truncated": false}.
  nlohmann::json details = nlohmann::json::object();
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual llm::ToolSchema Schema() const = 0;
  // `arguments` is the model's arguments parsed as a JSON object (the registry answers
  // anything else with a tool error). Bad argument values are a failed ToolResult. Must
  // honour Asio cancellation (a stop of the run cancels it).
  virtual boost::asio::awaitable<ToolResult> Run(const nlohmann::json& arguments) = 0;
};

// Tools the agent may call in one run.
class ToolRegistry {
 public:
  virtual ~ToolRegistry() = default;
  virtual std::vector<llm::ToolSchema> Schemas() const = 0;
  // Runs one call. An unknown tool or bad arguments is a failed ToolResult, not an error.
  virtual boost::asio::awaitable<ToolResult> Execute(const llm::ToolCall& call) = 0;
};

// A registry with no tools: every call is answered with a tool error the model sees.
std::unique_ptr<ToolRegistry> NewEmptyToolRegistry();

// A registry over `tools` (names must be unique; later duplicates are dropped): parses the
// arguments (empty text = {}), refuses non-objects and unknown names with a tool error, and
// turns a nlohmann::json exception escaping a tool (an argument of the wrong type) into a
// failed ToolResult.
std::unique_ptr<ToolRegistry> NewToolRegistry(std::vector<std::unique_ptr<Tool>> tools);

// Who a run's tools act for.
struct ToolContext {
  std::string account_id;
  std::string project_id;
  std::string thread_id;
  std::string run_id;
};

// Makes the tools of one family for one run.
class ToolProvider {
 public:
  virtual ~ToolProvider() = default;
  // The names of the tools this provider makes.
  virtual std::vector<std::string> Names() const = 0;
  // The tool `name` bound to `context`, or nullptr when this provider has no such tool.
  virtual std::unique_ptr<Tool> Make(std::string_view name, const ToolContext& context) = 0;
};

}  // namespace agentd::agent
