#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/tool.h"

namespace agentd::agent {
namespace {

ToolResult Failure(std::string error) {
  ToolResult result;
  result.success = false;
  result.error = std::move(error);
  return result;
}

class EmptyToolRegistry final : public ToolRegistry {
 public:
  std::vector<llm::ToolSchema> Schemas() const override { return {}; }

  boost::asio::awaitable<ToolResult> Execute(const llm::ToolCall& call) override {
    co_return Failure("Unknown tool: " + call.name);
  }
};

class ListToolRegistry final : public ToolRegistry {
 public:
  explicit ListToolRegistry(std::vector<std::unique_ptr<Tool>> tools) {
    for (auto& tool : tools) {
      llm::ToolSchema schema = tool->Schema();
      if (by_name_.contains(schema.name)) continue;
      by_name_.emplace(schema.name, tools_.size());
      schemas_.push_back(std::move(schema));
      tools_.push_back(std::move(tool));
    }
  }

  std::vector<llm::ToolSchema> Schemas() const override { return schemas_; }

  boost::asio::awaitable<ToolResult> Execute(const llm::ToolCall& call) override {
    auto it = by_name_.find(call.name);
    if (it == by_name_.end()) co_return Failure("Unknown tool: " + call.name);
    nlohmann::json arguments = nlohmann::json::object();
    if (call.arguments.find_first_not_of(" \t\r\n") != std::string::npos) {
      arguments = nlohmann::json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
    }
    if (!arguments.is_object()) {
      co_return Failure("Arguments of " + call.name + " must be a JSON object");
    }
    std::string error;
    try {
      co_return co_await tools_[it->second]->Run(arguments);
    } catch (const nlohmann::json::exception& e) {
      error = "Bad arguments for " + call.name + ": " + e.what();
    }
    co_return Failure(std::move(error));
  }

 private:
  std::vector<std::unique_ptr<Tool>> tools_;
  std::vector<llm::ToolSchema> schemas_;
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace

std::unique_ptr<ToolRegistry> NewEmptyToolRegistry() {
  return std::make_unique<EmptyToolRegistry>();
}

std::unique_ptr<ToolRegistry> NewToolRegistry(std::vector<std::unique_ptr<Tool>> tools) {
  return std::make_unique<ListToolRegistry>(std::move(tools));
}

}  // namespace agentd::agent
