#include <magic.h>

#include <regex>

#include "files/upload.h"

namespace agentd::files {
namespace {

magic_t AsMagic(void* p) { return static_cast<magic_t>(p); }

// "PNG image data, 640 x 480, ..." / "JPEG image data, ..., density 72x72, ..., 640x480, ...":
// the last "W x H" of the description is the pixel size.
void ParsePixelSize(const std::string& description, DetectedType& out) {
  static const std::regex kSize(R"((\d{1,6}) ?x ?(\d{1,6}))");
  std::optional<std::smatch> last;
  for (auto it = std::sregex_iterator(description.begin(), description.end(), kSize);
       it != std::sregex_iterator(); ++it) {
    last = *it;
  }
  if (!last) return;
  out.width = std::stoi((*last)[1].str());
  out.height = std::stoi((*last)[2].str());
}

}  // namespace

Result<std::unique_ptr<TypeDetector>> TypeDetector::Create() {
  magic_t mime = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
  magic_t describe = magic_open(MAGIC_ERROR);
  if (mime == nullptr || describe == nullptr || magic_load(mime, nullptr) != 0 ||
      magic_load(describe, nullptr) != 0) {
    const std::string error = mime != nullptr && magic_error(mime) != nullptr
                                  ? magic_error(mime)
                                  : "cannot open libmagic";
    if (mime != nullptr) magic_close(mime);
    if (describe != nullptr) magic_close(describe);
    return Unavailable("libmagic: " + error);
  }
  return std::unique_ptr<TypeDetector>(new TypeDetector(mime, describe));
}

TypeDetector::~TypeDetector() {
  magic_close(AsMagic(mime_));
  magic_close(AsMagic(describe_));
}

DetectedType TypeDetector::Detect(const std::filesystem::path& file) {
  DetectedType out;
  std::lock_guard lock(mu_);
  const char* mime = magic_file(AsMagic(mime_), file.c_str());
  out.mime_type = mime != nullptr ? mime : "application/octet-stream";
  if (out.mime_type == "image/png" || out.mime_type == "image/jpeg" ||
      out.mime_type == "image/gif") {
    const char* description = magic_file(AsMagic(describe_), file.c_str());
    if (description != nullptr) ParsePixelSize(description, out);
  }
  return out;
}

}  // namespace agentd::files
