#include <memory>
#include <string>
#include <vector>

#include "agent/agent_loop.h"

namespace agentd::agent {
namespace {

class EmptyToolRegistry final : public ToolRegistry {
 public:
  std::vector<llm::ToolSchema> Schemas() const override { return {}; }

  boost::asio::awaitable<ToolResult> Execute(const llm::ToolCall& call) override {
    ToolResult result;
    result.success = false;
    result.error = "Unknown tool: " + call.name;
    co_return result;
  }
};

}  // namespace

std::unique_ptr<ToolRegistry> NewEmptyToolRegistry() {
  return std::make_unique<EmptyToolRegistry>();
}

}  // namespace agentd::agent
