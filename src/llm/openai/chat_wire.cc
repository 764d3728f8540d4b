#include "llm/openai/chat_wire.h"

#include <utility>

namespace agentd::llm::openai {
namespace {

using nlohmann::json;

json MessageToJson(const ChatMessage& m) {
  json out = {{"role", m.role}};
  if (m.role == "assistant" && !m.tool_calls.empty()) {
    // The API accepts null content next to tool calls; "" would be sent as an empty turn.
    out["content"] = m.content.empty() ? json(nullptr) : json(m.content);
    out["tool_calls"] = ToolCallsToJson(m.tool_calls);
  } else {
    out["content"] = m.content;
  }
  if (m.role == "tool") out["tool_call_id"] = m.tool_call_id;
  return out;
}

std::string StringOr(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

json BuildChatRequest(const LlmRequest& request) {
  json messages = json::array();
  for (const ChatMessage& m : request.messages) messages.push_back(MessageToJson(m));
  json body = {{"model", request.model},
               {"messages", std::move(messages)},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (!request.tools.empty()) {
    json tools = json::array();
    for (const ToolSchema& t : request.tools) {
      tools.push_back(
          {{"type", "function"},
           {"function",
            {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}});
    }
    body["tools"] = std::move(tools);
    body["tool_choice"] = "auto";
  }
  return body;
}

std::vector<std::string> SseParser::Feed(std::string_view bytes) {
  std::vector<std::string> events;
  while (!bytes.empty()) {
    const size_t nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      line_.append(bytes);
      break;
    }
    line_.append(bytes.substr(0, nl));
    bytes.remove_prefix(nl + 1);
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
      if (has_data_) events.push_back(std::move(data_));
      data_.clear();
      has_data_ = false;
    } else if (line_.starts_with("data:")) {
      std::string_view value = std::string_view(line_).substr(5);
      if (value.starts_with(' ')) value.remove_prefix(1);
      if (has_data_) data_ += '\n';
      data_.append(value);
      has_data_ = true;
    }
    line_.clear();
  }
  return events;
}

Result<ChatStreamAccumulator::Step> ChatStreamAccumulator::Add(std::string_view payload) {
  json chunk = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (chunk.is_discarded() || !chunk.is_object()) {
    return InvalidArgument("the stream carried a chunk that is not a JSON object");
  }
  Step step;
  if (auto err = chunk.find("error"); err != chunk.end() && !err->is_null()) {
    std::string message = err->is_object()   ? StringOr(*err, "message")
                          : err->is_string() ? err->get<std::string>()
                                             : std::string();
    step.error = message.empty() ? std::string("unknown error") : message;
    return step;
  }
  if (auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
    response_.usage.prompt_tokens = usage->value("prompt_tokens", int64_t{0});
    response_.usage.completion_tokens = usage->value("completion_tokens", int64_t{0});
  }
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return step;
  const json& choice = (*choices)[0];
  if (!choice.is_object()) return step;
  if (auto fr = choice.find("finish_reason"); fr != choice.end() && fr->is_string()) {
    response_.finish_reason = fr->get<std::string>();
  }
  auto delta = choice.find("delta");
  if (delta == choice.end() || !delta->is_object()) return step;
  step.text_delta = StringOr(*delta, "content");
  if (!step.text_delta.empty()) {
    response_.text += step.text_delta;
    step.delivered = true;
  }
  auto calls = delta->find("tool_calls");
  if (calls != delta->end() && calls->is_array()) {
    for (const json& frag : *calls) {
      if (!frag.is_object()) continue;
      const int64_t index = frag.value("index", int64_t{0});
      ToolCall& call = calls_[index];
      if (std::string id = StringOr(frag, "id"); !id.empty()) call.id = std::move(id);
      if (auto fn = frag.find("function"); fn != frag.end() && fn->is_object()) {
        if (std::string name = StringOr(*fn, "name"); !name.empty()) call.name = std::move(name);
        call.arguments += StringOr(*fn, "arguments");
      }
      step.delivered = true;
    }
  }
  return step;
}

LlmResponse ChatStreamAccumulator::Finish() && {
  for (auto& [index, call] : calls_) {
    if (call.arguments.empty()) call.arguments = "{}";
    response_.tool_calls.push_back(std::move(call));
  }
  if (response_.finish_reason.empty()) {
    response_.finish_reason = response_.tool_calls.empty() ? "stop" : "tool_calls";
  }
  return std::move(response_);
}

std::optional<std::string> ErrorMessageOf(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  if (auto err = j.find("error"); err != j.end()) {
    if (err->is_object()) {
      std::string m = StringOr(*err, "message");
      if (!m.empty()) return m;
    } else if (err->is_string()) {
      return err->get<std::string>();
    }
  }
  std::string m = StringOr(j, "message");
  if (!m.empty()) return m;
  return std::nullopt;
}

}  // namespace agentd::llm::openai
