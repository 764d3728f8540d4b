#include "runs/run_uploads.h"

#include <fmt/format.h>

#include "core/ids.h"

namespace agentd::runs {
namespace {

// Attribute values are client-chosen names: keep the tag well-formed.
std::string EscapeAttribute(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"':
        out += "&quot;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Result<std::string> ResolveProject(store::Store& store, store::NewRun& row) {
  if (!row.new_thread) {
    auto thread = store.GetThread(row.thread_id);
    if (!thread.ok()) {
      if (thread.status().code() == StatusCode::kNotFound) return NotFound("Thread not found");
      return thread.status();
    }
    if (thread->account_id != row.account_id) return NotFound("Thread not found");
    return thread->project_id;
  }
  if (row.project_id.empty()) {
    row.project_id = NewUuid();
    return row.project_id;
  }
  AGENTD_ASSIGN_OR_RETURN(std::optional<std::string> owner, store.GetProjectOwner(row.project_id));
  if (owner && *owner != row.account_id) return NotFound("Project not found");
  return row.project_id;
}

}  // namespace

boost::asio::awaitable<Result<PlacedUploads>> PlaceUploads(
    store::Store& store, files::Uploader& uploader, store::NewRun& row,
    std::vector<files::SpooledFile> spooled) {
  auto project = ResolveProject(store, row);
  if (!project.ok()) co_return project.status();
  auto sandbox = uploader.sandboxes().Ensure(*project);
  if (!sandbox.ok()) co_return sandbox.status();
  auto placed = co_await uploader.Place(*sandbox, std::move(spooled));
  if (!placed.ok()) {
    uploader.Remove(*sandbox, {});
    co_return placed.status();
  }
  co_return PlacedUploads{std::move(*sandbox), std::move(*placed)};
}

void AttachUploads(const PlacedUploads& placed, store::Message& user_message) {
  std::string prompt = user_message.content.value("content", "");
  nlohmann::json attachments = nlohmann::json::array();
  for (const auto& f : placed.files) {
    if (!prompt.empty()) prompt += '\n';
    prompt += files::ReferenceLine(f);
    attachments.push_back(files::AttachmentJson(f));
  }
  user_message.content = {{"role", "user"}, {"content", prompt}};
  user_message.metadata["attachments"] = std::move(attachments);
}

void RemoveUploads(files::Uploader& uploader, const PlacedUploads& placed) {
  uploader.Remove(placed.sandbox, placed.files);
}

nlohmann::json UploadsResponse(const PlacedUploads& placed) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : placed.files) out.push_back(files::ResponseFileJson(f));
  return out;
}

std::string RenderAttachments(const nlohmann::json& metadata) {
  if (!metadata.is_object()) return "";
  auto it = metadata.find("attachments");
  if (it == metadata.end() || !it->is_array()) return "";
  std::string out;
  for (const auto& a : *it) {
    if (!a.is_object() || !a.contains("text") || !a["text"].is_string()) continue;
    out += fmt::format("\n\n<attachment name=\"{}\" path=\"{}\" type=\"{}\"{}>\n{}\n</attachment>",
                       EscapeAttribute(a.value("name", "")), EscapeAttribute(a.value("path", "")),
                       EscapeAttribute(a.value("mime_type", "")),
                       a.value("text_truncated", false) ? " truncated=\"true\"" : "",
                       a["text"].get<std::string>());
  }
  return out;
}

}  // namespace agentd::runs
