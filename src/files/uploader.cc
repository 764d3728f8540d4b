#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "files/upload.h"

namespace agentd::files {
namespace {

constexpr int kMaxCollisionNumber = 10000;
constexpr char kUploadsDir[] = "uploads";

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The workspace's uploads folder as an O_PATH descriptor (made when `create` and absent). The
// sandbox's commands own the workspace and may have made `uploads` (or the workspace path's
// last part) a symlink to anywhere on the host; the server, often root, must only ever write
// inside the real folder, so no symlink is followed on the way.
Result<std::unique_ptr<Fd>> OpenUploadsDir(const std::filesystem::path& workspace, bool create) {
  Fd ws(::open(workspace.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (ws.get() < 0) {
    spdlog::error("opening a workspace failed: {}", std::strerror(errno));
    return Internal("Storing an uploaded file failed");
  }
  if (create && ::mkdirat(ws.get(), kUploadsDir, 0755) != 0 && errno != EEXIST) {
    spdlog::error("creating the uploads folder failed: {}", std::strerror(errno));
    return Internal("Storing an uploaded file failed");
  }
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  auto fd = std::make_unique<Fd>(
      static_cast<int>(::syscall(SYS_openat2, ws.get(), kUploadsDir, &how, sizeof how)));
  if (fd->get() < 0) {
    // The user's own sandbox made it so: a clear refusal, not a server error.
    return Status(StatusCode::kFailedPrecondition,
                  "Files cannot be stored: /workspace/uploads is not a folder");
  }
  return fd;
}

// Moves `from` into the folder `dir` as <name or a numbered variant> without replacing
// anything; returns the name used. Atomic per attempt, so concurrent starts in one project
// never overwrite a file.
Result<std::string> MoveUnique(const std::filesystem::path& from, const Fd& dir,
                               const std::string& name) {
  for (int n = 0; n <= kMaxCollisionNumber; ++n) {
    std::string candidate = NumberedName(name, n);
    if (::renameat2(AT_FDCWD, from.c_str(), dir.get(), candidate.c_str(), RENAME_NOREPLACE) == 0) {
      return candidate;
    }
    if (errno != EEXIST) {
      spdlog::error("placing an upload failed: {}", std::strerror(errno));
      return Internal("Storing an uploaded file failed");
    }
  }
  return Internal("Storing an uploaded file failed: too many files with that name");
}

void RemoveFiles(const std::filesystem::path& workspace, const std::vector<StoredFile>& files) {
  if (files.empty()) return;
  auto dir = OpenUploadsDir(workspace, /*create=*/false);
  if (!dir.ok()) return;
  for (const auto& f : files) {
    if (::unlinkat((*dir)->get(), f.name.c_str(), 0) != 0 && errno != ENOENT) {
      spdlog::warn("removing a refused upload failed: {}", std::strerror(errno));
    }
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
  auto dir = OpenUploadsDir(sandbox.workspace, /*create=*/true);
  if (!dir.ok()) co_return dir.status();
  const uid_t uid = sandbox.uid;
  const gid_t gid = sandbox.gid;
  const bool chown_to_sandbox = uid != ::geteuid() || gid != ::getegid();
  if (chown_to_sandbox && ::fchownat((*dir)->get(), "", uid, gid, AT_EMPTY_PATH) != 0) {
    spdlog::warn("chown of the uploads folder failed: {}", std::strerror(errno));
  }
  std::vector<StoredFile> placed;
  for (SpooledFile& file : spooled) {
    StoredFile stored;
    stored.size = file.size();
    stored.sha256 = file.sha256();
    // Typed, read and given its owner while still in the server's own spool folder: once in
    // the workspace the sandbox's commands may swap it for a symlink.
    stored.type = detector_.Detect(file.path());
    if (IsTextLike(stored.type.mime_type)) stored.text = ReadText(file.path(), stored.size);
    ::chmod(file.path().c_str(), 0644);
    if (chown_to_sandbox && ::chown(file.path().c_str(), uid, gid) != 0) {
      spdlog::warn("chown of an upload failed: {}", std::strerror(errno));
    }
    auto name = MoveUnique(file.path(), **dir, SafeFileName(file.filename()));
    if (!name.ok()) {
      RemoveFiles(sandbox.workspace, placed);
      co_return name.status();
    }
    file.Release();
    stored.name = *name;
    stored.path = fmt::format("/workspace/{}/{}", kUploadsDir, stored.name);
    stored.host_path = sandbox.workspace / kUploadsDir / stored.name;
    placed.push_back(std::move(stored));
  }
  for (StoredFile& stored : placed) {
    if (stored.type.mime_type == "application/pdf") {
      stored.text = co_await ExtractPdfText(sandbox, stored);
    }
  }
  co_return placed;
}

ExtractedText Uploader::ReadText(const std::filesystem::path& path, int64_t size) const {
  const size_t cap = options_.text_cap_bytes;
  // A few bytes past the cap so a character cut by it is still decoded whole.
  std::string prefix = ReadPrefix(path, cap + 4);
  ExtractedText text = ToValidUtf8(prefix, cap);
  text.truncated = text.truncated || size > static_cast<int64_t>(prefix.size());
  return text;
}

void Uploader::Remove(const sandbox::SandboxInfo& sandbox, const std::vector<StoredFile>& files) {
  RemoveFiles(sandbox.workspace, files);
  if (!sandbox.created) return;
  const Status removed = sandboxes_.Remove(sandbox.project_id);
  if (!removed.ok()) {
    spdlog::warn("removing the sandbox of a refused start failed: {}", removed.message());
  }
}

boost::asio::awaitable<std::optional<ExtractedText>> Uploader::ExtractPdfText(
    const sandbox::SandboxInfo& sandbox, const StoredFile& file) {
  const size_t cap = options_.text_cap_bytes;
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
