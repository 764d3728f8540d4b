// The files of one start, on their way from the request to the user message: placed in the
// project's sandbox before the run commits (so the agent finds them and the reply can list
// them), described in the stored prompt and message metadata, removed again when the start is
// refused, and shown to the model inside the user message (even in chat mode).
// Called by RunService::Start and ToChatHistory. Thread safety: reentrant.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "files/upload.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

namespace agentd::runs {

struct PlacedUploads {
  sandbox::SandboxInfo sandbox;
  std::vector<files::StoredFile> files;
};

// Resolves the project of `row` without writing to the store (continued thread: its project,
// NotFound "Thread not found" when absent or someone else's; optimistic: the client's,
// NotFound "Project not found" when someone else's; new: a server-made UUID, written into
// row.project_id), ensures its sandbox and places the files in it. On failure nothing placed
// is left behind.
boost::asio::awaitable<Result<PlacedUploads>> PlaceUploads(store::Store& store,
                                                           files::Uploader& uploader,
                                                           store::NewRun& row,
                                                           std::vector<files::SpooledFile> spooled);

// The stored prompt gets one reference line per file; the message metadata an "attachments"
// array (files::AttachmentJson).
void AttachUploads(const PlacedUploads& placed, store::Message& user_message);

// Undoes PlaceUploads for a refused start: removes the placed files, and the sandbox when
// this start created it.
void RemoveUploads(files::Uploader& uploader, const PlacedUploads& placed);

// The response's "files" array.
nlohmann::json UploadsResponse(const PlacedUploads& placed);

// The extracted text of a user message's attachments, as appended to its content for the
// model: "\n\n<attachment name=".." path=".." type="..">text</attachment>" per file with text;
// "" when there is none.
std::string RenderAttachments(const nlohmann::json& metadata);

}  // namespace agentd::runs
