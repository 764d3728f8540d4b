#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "files/upload.h"

namespace agentd::files {

struct SpoolWriter::Hash {
  Hash() : ctx(EVP_MD_CTX_new()) {}
  ~Hash() { EVP_MD_CTX_free(ctx); }
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;
  EVP_MD_CTX* ctx;
};

SpooledFile::SpooledFile(std::filesystem::path path, std::string filename, std::string sent_type,
                         int64_t size, std::string sha256)
    : path_(std::move(path)),
      filename_(std::move(filename)),
      sent_type_(std::move(sent_type)),
      size_(size),
      sha256_(std::move(sha256)) {}

SpooledFile::~SpooledFile() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

SpooledFile::SpooledFile(SpooledFile&& other) noexcept
    : path_(std::move(other.path_)),
      filename_(std::move(other.filename_)),
      sent_type_(std::move(other.sent_type_)),
      size_(other.size_),
      sha256_(std::move(other.sha256_)) {
  other.path_.clear();
}

SpooledFile& SpooledFile::operator=(SpooledFile&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
    path_ = std::move(other.path_);
    other.path_.clear();
    filename_ = std::move(other.filename_);
    sent_type_ = std::move(other.sent_type_);
    size_ = other.size_;
    sha256_ = std::move(other.sha256_);
  }
  return *this;
}

Result<std::unique_ptr<SpoolWriter>> SpoolWriter::Open(const std::filesystem::path& dir,
                                                       std::string filename, std::string sent_type,
                                                       int64_t max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("Cannot create the upload spool directory: " + ec.message());
  std::string path = (dir / "upload-XXXXXX").string();
  const int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0)
    return Internal(std::string("Cannot create an upload spool file: ") + std::strerror(errno));
  auto writer = std::unique_ptr<SpoolWriter>(
      new SpoolWriter(path, fd, std::move(filename), std::move(sent_type), max_bytes));
  if (EVP_DigestInit_ex(writer->hash_->ctx, EVP_sha256(), nullptr) != 1) {
    return Internal("SHA-256 unavailable");
  }
  return writer;
}

SpoolWriter::SpoolWriter(std::filesystem::path path, int fd, std::string filename,
                         std::string sent_type, int64_t max_bytes)
    : path_(std::move(path)),
      fd_(fd),
      filename_(std::move(filename)),
      sent_type_(std::move(sent_type)),
      max_bytes_(max_bytes),
      hash_(std::make_unique<Hash>()) {}

SpoolWriter::~SpoolWriter() { Discard(); }

void SpoolWriter::Discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    path_.clear();
  }
}

Status SpoolWriter::Append(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  if (max_bytes_ != kNoLimit && size_ + static_cast<int64_t>(bytes.size()) > max_bytes_) {
    failed_ = FileTooLarge(max_bytes_, filename_);
    Discard();
    return failed_;
  }
  EVP_DigestUpdate(hash_->ctx, bytes.data(), bytes.size());
  size_ += static_cast<int64_t>(bytes.size());
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      spdlog::error("upload spool write failed: {}", std::strerror(errno));
      failed_ = Internal("Writing an uploaded file failed");
      Discard();
      return failed_;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Result<SpooledFile> SpoolWriter::Finish() {
  if (!failed_.ok()) return failed_;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(hash_->ctx, digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    failed_ = Internal("Writing an uploaded file failed");
    Discard();
    return failed_;
  }
  fd_ = -1;
  SpooledFile out(path_, std::move(filename_), std::move(sent_type_), size_, std::move(hex));
  path_.clear();
  return out;
}

}  // namespace agentd::files
