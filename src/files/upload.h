// Uploads: the files sent with POST /agent/start, from the request body to the project's
// sandbox. The HTTP handler streams each file part into a SpoolWriter (a temp file under the
// data dir, hashed and size-checked as bytes arrive, never held in memory); runs/ then hands
// the spooled files to an Uploader, which places them in <workspace>/uploads/ under safe,
// unique names, detects their type from the bytes (libmagic) and extracts their text (text-like
// files read directly, PDFs through pdftotext inside the sandbox, never on the host).
// Thread safety: free functions are reentrant; a SpoolWriter or SpooledFile belongs to one
// request; an Uploader is safe from any thread (libmagic behind a mutex).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sandbox/sandbox.h"

namespace agentd::files {

inline constexpr int64_t kNoLimit = -1;

// The base name of a client's file name, safe to create in a folder: cut after the last '/'
// or '\'; NUL, C0/C1 control characters and DEL dropped; invalid UTF-8 bytes replaced by '_';
// "", "." and ".." (and names of dots only) become "file"; leading dots are kept (".bashrc"
// stays a dotfile: it is only a name inside uploads/, and dropping the dot would change what a
// user's tools look for); capped at 255 bytes on a UTF-8 boundary, keeping the extension.
std::string SafeFileName(std::string_view raw);

// `name` with collision number `n`: "report.pdf", 1 -> "report (1).pdf"; "Makefile", 2 ->
// "Makefile (2)"; ".bashrc", 1 -> ".bashrc (1)". Still at most 255 bytes. n == 0: `name`.
std::string NumberedName(const std::string& name, int n);

// ResourceExhausted reasons FILE_TOO_LARGE {"limit","filename"} and TOO_MANY_FILES {"limit"}
// (HTTP 413).
Status FileTooLarge(int64_t limit_bytes, std::string_view filename);
Status TooManyFiles(int64_t limit);

// A file received whole and spooled to a temp file it owns: the destructor deletes the temp
// file unless Release() was called (after it was moved elsewhere). Move-only.
class SpooledFile {
 public:
  SpooledFile(std::filesystem::path path, std::string filename, std::string sent_type, int64_t size,
              std::string sha256);
  ~SpooledFile();
  SpooledFile(SpooledFile&& other) noexcept;
  SpooledFile& operator=(SpooledFile&& other) noexcept;
  SpooledFile(const SpooledFile&) = delete;
  SpooledFile& operator=(const SpooledFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::string& filename() const { return filename_; }    // as the client sent it
  const std::string& sent_type() const { return sent_type_; }  // Content-Type of the part
  int64_t size() const { return size_; }
  const std::string& sha256() const { return sha256_; }  // lowercase hex
  // The temp file is someone else's now (renamed away): the destructor leaves it alone.
  void Release() { path_.clear(); }

 private:
  std::filesystem::path path_;
  std::string filename_;
  std::string sent_type_;
  int64_t size_ = 0;
  std::string sha256_;
};

// Writes one file part to a new temp file in `dir` as its bytes arrive, with its SHA-256 and
// size. Deletes the temp file when destroyed before Finish() or after a failed Append.
class SpoolWriter {
 public:
  // Creates `dir` when absent and a temp file in it (mode 0600). `max_bytes` (kNoLimit = none)
  // is the largest size accepted. Internal when the file cannot be created.
  static Result<std::unique_ptr<SpoolWriter>> Open(const std::filesystem::path& dir,
                                                   std::string filename, std::string sent_type,
                                                   int64_t max_bytes);
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // Appends `bytes`. FileTooLarge when the file would pass max_bytes (the temp file is deleted
  // at once); Internal on a write error. After a failure every call fails the same way.
  Status Append(std::string_view bytes);
  // Closes the file and hands it over. REQUIRES: no failed Append.
  Result<SpooledFile> Finish();
  int64_t size() const { return size_; }

 private:
  struct Hash;
  SpoolWriter(std::filesystem::path path, int fd, std::string filename, std::string sent_type,
              int64_t max_bytes);
  void Discard();

  std::filesystem::path path_;
  int fd_ = -1;
  std::string filename_;
  std::string sent_type_;
  int64_t max_bytes_;
  int64_t size_ = 0;
  std::unique_ptr<Hash> hash_;
  Status failed_;
};

// Text made valid UTF-8 (each invalid byte becomes U+FFFD; NUL dropped) and cut at
// `cap_bytes` on a character boundary.
struct ExtractedText {
  std::string text;
  bool truncated = false;
};
ExtractedText ToValidUtf8(std::string_view bytes, size_t cap_bytes);

// Whether a detected MIME type is text a model can read as is (text/*, JSON, XML, JavaScript,
// CSV, shell and other source code).
bool IsTextLike(std::string_view mime_type);

struct DetectedType {
  std::string mime_type;  // e.g. "image/png"; "application/octet-stream" when unknown
  std::optional<int> width;
  std::optional<int> height;  // pixel size of PNG/JPEG/GIF images, when libmagic reports it
};

// libmagic with its database loaded once. Safe from any thread (a magic_t is not, so calls
// are serialised; each reads at most libmagic's byte limit of the file).
class TypeDetector {
 public:
  // Unavailable when libmagic or its database cannot be loaded.
  static Result<std::unique_ptr<TypeDetector>> Create();
  ~TypeDetector();
  TypeDetector(const TypeDetector&) = delete;
  TypeDetector& operator=(const TypeDetector&) = delete;

  DetectedType Detect(const std::filesystem::path& file);

 private:
  TypeDetector(void* mime, void* describe) : mime_(mime), describe_(describe) {}
  std::mutex mu_;
  void* mime_;      // magic_t, GUARDED_BY(mu_)
  void* describe_;  // magic_t, GUARDED_BY(mu_)
};

// One file as stored in the sandbox.
struct StoredFile {
  std::string name;  // safe unique name in uploads/
  std::string path;  // "/workspace/uploads/<name>"
  std::filesystem::path host_path;
  int64_t size = 0;
  std::string sha256;
  DetectedType type;
  std::optional<ExtractedText> text;  // text-like files and PDFs
};

struct UploaderOptions {
  std::filesystem::path spool_dir;  // <data_dir>/tmp/uploads: same filesystem as sandboxes
  size_t text_cap_bytes = 100 * 1024;
  std::chrono::milliseconds pdftotext_timeout{20000};
};

// The stored prompt's line for a file: "[Attached: report.pdf (1.2 MB) -> uploads/report.pdf]".
std::string ReferenceLine(const StoredFile& file);
// The user message's metadata entry for a file (name, path, size, sha256, mime_type,
// width/height when known, text and text_truncated when extracted).
nlohmann::json AttachmentJson(const StoredFile& file);
// The response's entry: {name, path, size, sha256, mime_type}.
nlohmann::json ResponseFileJson(const StoredFile& file);
// "1.2 MB", "532 B", "4.0 KB".
std::string HumanSize(int64_t bytes);

// Places spooled files in a sandbox's workspace and inspects them.
class Uploader {
 public:
  // REQUIRES: sandboxes and detector outlive the uploader.
  Uploader(sandbox::SandboxManager& sandboxes, TypeDetector& detector, UploaderOptions options);

  const UploaderOptions& options() const { return options_; }
  sandbox::SandboxManager& sandboxes() { return sandboxes_; }

  // Moves `spooled` into <sandbox.workspace>/uploads/ (created when absent) under safe names
  // with collision suffixes (rename: the spool dir is on the same filesystem), owned by the
  // sandbox's uid/gid when that is not the server's, then detects types and extracts text. On
  // failure the files placed so far are removed again and Internal is returned; either way
  // `spooled` is used up.
  boost::asio::awaitable<Result<std::vector<StoredFile>>> Place(const sandbox::SandboxInfo& sandbox,
                                                                std::vector<SpooledFile> spooled);
  // Undoes Place for a refused start: deletes the placed files and, when `sandbox.created`
  // (made for this start, so nothing else is in it), the whole sandbox (SandboxManager::Remove).
  // Never fails; problems are logged.
  void Remove(const sandbox::SandboxInfo& sandbox, const std::vector<StoredFile>& files);

 private:
  // The text of a text-like file, capped at text_cap_bytes and made valid UTF-8.
  ExtractedText ReadText(const std::filesystem::path& path, int64_t size) const;
  // A placed PDF's text from pdftotext run inside the sandbox; nullopt when it fails.
  boost::asio::awaitable<std::optional<ExtractedText>> ExtractPdfText(
      const sandbox::SandboxInfo& sandbox, const StoredFile& file);

  sandbox::SandboxManager& sandboxes_;
  TypeDetector& detector_;
  const UploaderOptions options_;
};

}  // namespace agentd::files
