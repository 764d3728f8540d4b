#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "files/upload.h"

namespace agentd::files {
namespace {

constexpr int kMaxCollisionNumber = 10000;
constexpr char kUploadsDir[] = "uploads";

// Moves `from` to dir/<name or a numbered variant> without replacing anything; returns the
// name used. Atomic per attempt, so concurrent starts in one project never overwrite a file.
Result<std::string> MoveUnique(const std::filesystem::path& from, const std::filesystem::path& dir,
                               const std::string& name) {
  for (int n = 0; n <= kMaxCollisionNumber; ++n) {
    std::string candidate = NumberedName(name, n);
    const std::filesystem::path to = dir / candidate;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
      return candidate;
    }
    if (errno != EEXIST) {
      spdlog::error("placing an upload failed: {}", std::strerror(errno));
      return Internal("Storing an uploaded file failed");
    }
  }
  return Internal("Storing an uploaded file failed: too many files with that name");
}

void RemoveFiles(const std::vector<StoredFile>& files) {
  for (const auto& f : files) {
    std::error_code ec;
    std::filesystem::remove(f.host_path, ec);
    if (ec) spdlog::warn("removing a refused upload failed: {}", ec.message());
  }
}

std::string ReadPrefix(const std::filesystem::path& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  std::string buf(max, '\0');
  in.read(buf.data(), static_cast<std::streamsize>(max));
  buf.resize(static_cast<size_t>(in.gcount()));
  return buf;
}

}  // namespace

std::string ReferenceLine(const StoredFile& file) {
  return fmt::format("[Attached: {} ({}) -> {}/{}]", file.name, HumanSize(file.size), kUploadsDir,
                     file.name);
}

nlohmann::json ResponseFileJson(const StoredFile& file) {
  return {{"name", file.name},
          {"path", file.path},
          {"size", file.size},
          {"sha256", file.sha256},
          {"mime_type", file.type.mime_type}};
}

nlohmann::json AttachmentJson(const StoredFile& file) {
  nlohmann::json j = ResponseFileJson(file);
  if (file.type.width) j["width"] = *file.type.width;
  if (file.type.height) j["height"] = *file.type.height;
  if (file.text) {
    j["text"] = file.text->text;
    j["text_truncated"] = file.text->truncated;
  }
  return j;
}

Uploader::Uploader(sandbox::SandboxManager& sandboxes, TypeDetector& detector,
                   UploaderOptions options)
    : sandboxes_(sandboxes), detector_(detector), options_(std::move(options)) {}

boost::asio::awaitable<Result<std::vector<StoredFile>>> Uploader::Place(
    const sandbox::SandboxInfo& sandbox, std::vector<SpooledFile> spooled) {
  const std::filesystem::path dir = sandbox.workspace / kUploadsDir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    spdlog::error("creating the uploads folder failed: {}", ec.message());
    co_return Internal("Storing an uploaded file failed");
  }
  const uid_t uid = sandbox.uid;
  const gid_t gid = sandbox.gid;
  const bool chown_to_sandbox = uid != ::geteuid() || gid != ::getegid();
  if (chown_to_sandbox && ::chown(dir.c_str(), uid, gid) != 0) {
    spdlog::warn("chown of the uploads folder failed: {}", std::strerror(errno));
  }
  std::vector<StoredFile> placed;
  for (SpooledFile& file : spooled) {
    auto name = MoveUnique(file.path(), dir, SafeFileName(file.filename()));
    if (!name.ok()) {
      RemoveFiles(placed);
      co_return name.status();
    }
    file.Release();
    StoredFile stored;
    stored.name = *name;
    stored.path = fmt::format("/workspace/{}/{}", kUploadsDir, stored.name);
    stored.host_path = dir / stored.name;
    stored.size = file.size();
    stored.sha256 = file.sha256();
    ::chmod(stored.host_path.c_str(), 0644);
    if (chown_to_sandbox && ::chown(stored.host_path.c_str(), uid, gid) != 0) {
      spdlog::warn("chown of an upload failed: {}", std::strerror(errno));
    }
    placed.push_back(std::move(stored));
  }
  for (StoredFile& stored : placed) {
    stored.type = detector_.Detect(stored.host_path);
    stored.text = co_await ExtractText(sandbox, stored);
  }
  co_return placed;
}

void Uploader::Remove(const sandbox::SandboxInfo& sandbox, const std::vector<StoredFile>& files) {
  RemoveFiles(files);
  if (!sandbox.created) return;
  const Status removed = sandboxes_.Remove(sandbox.project_id);
  if (!removed.ok()) {
    spdlog::warn("removing the sandbox of a refused start failed: {}", removed.message());
  }
}

boost::asio::awaitable<std::optional<ExtractedText>> Uploader::ExtractText(
    const sandbox::SandboxInfo& sandbox, const StoredFile& file) {
  const size_t cap = options_.text_cap_bytes;
  if (IsTextLike(file.type.mime_type)) {
    // A few bytes past the cap so a character cut by it is still decoded whole.
    std::string prefix = ReadPrefix(file.host_path, cap + 4);
    ExtractedText text = ToValidUtf8(prefix, cap);
    text.truncated = text.truncated || file.size > static_cast<int64_t>(prefix.size());
    co_return text;
  }
  if (file.type.mime_type != "application/pdf") co_return std::nullopt;
  sandbox::CommandOptions options;
  options.timeout = options_.pdftotext_timeout;
  options.output_cap_bytes = cap + 4;
  // pdftotext's warnings go to stderr, which Run would mix into the text.
  std::vector<std::string> argv;
  for (const char* arg :
       {"/bin/sh", "-c", "exec pdftotext -enc UTF-8 -layout \"$1\" - 2>/dev/null", "sh"}) {
    argv.emplace_back(arg);
  }
  argv.push_back(file.path);
  auto result = co_await sandboxes_.Run(sandbox.project_id, std::move(argv), options);
  if (!result.ok()) {
    spdlog::warn("pdftotext in sandbox {} failed: {}", sandbox.sandbox_id,
                 result.status().ToString());
    co_return std::nullopt;
  }
  if (result->timed_out || (result->exit_code != 0 && !result->truncated)) {
    spdlog::info("pdftotext in sandbox {}: exit {}{}", sandbox.sandbox_id, result->exit_code,
                 result->timed_out ? " (timed out)" : "");
    co_return std::nullopt;
  }
  ExtractedText text = ToValidUtf8(result->output, cap);
  text.truncated = text.truncated || result->truncated;
  co_return text;
}

}  // namespace agentd::files
