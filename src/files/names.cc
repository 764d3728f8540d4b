#include <fmt/format.h>

#include "files/upload.h"

namespace agentd::files {
namespace {

constexpr size_t kMaxNameBytes = 255;
constexpr size_t kMaxExtensionBytes = 32;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not a valid one (overlong
// forms, surrogates and code points past U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i, uint32_t* code_point) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t len = 0;
  uint32_t cp = 0;
  if (c < 0x80) {
    *code_point = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
    return 0;
  }
  *code_point = cp;
  return len;
}

// The longest prefix of valid UTF-8 `s` of at most `max` bytes that ends on a character.
std::string_view CutOnBoundary(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

// Position of the extension's dot, or npos (no dot, a leading dot only, or too long).
size_t ExtensionDot(std::string_view name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || name.size() - dot > kMaxExtensionBytes) {
    return std::string_view::npos;
  }
  return dot;
}

// stem + suffix + extension within kMaxNameBytes, shortening the stem.
std::string Compose(std::string_view name, std::string_view suffix) {
  const size_t dot = ExtensionDot(name);
  std::string_view stem = name.substr(0, dot);
  std::string_view ext = dot == std::string_view::npos ? std::string_view() : name.substr(dot);
  const size_t room = kMaxNameBytes - std::min(kMaxNameBytes, suffix.size() + ext.size());
  return fmt::format("{}{}{}", CutOnBoundary(stem, room), suffix, ext);
}

}  // namespace

std::string SafeFileName(std::string_view raw) {
  const size_t slash = raw.find_last_of("/\\");
  if (slash != std::string_view::npos) raw.remove_prefix(slash + 1);
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    uint32_t cp = 0;
    const size_t len = Utf8SequenceLength(raw, i, &cp);
    if (len == 0) {
      out += '_';
      ++i;
      continue;
    }
    const bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
    if (!control) out.append(raw.substr(i, len));
    i += len;
  }
  const size_t first = out.find_first_not_of(' ');
  const size_t last = out.find_last_not_of(' ');
  out = first == std::string::npos ? std::string() : out.substr(first, last - first + 1);
  if (out.find_first_not_of('.') == std::string::npos) return "file";
  if (out.size() > kMaxNameBytes) out = Compose(out, "");
  return out;
}

std::string NumberedName(const std::string& name, int n) {
  if (n == 0) return name;
  return Compose(name, fmt::format(" ({})", n));
}

Status FileTooLarge(int64_t limit_bytes, std::string_view filename) {
  return Status(StatusCode::kResourceExhausted,
                fmt::format("File too large: the limit is {} bytes per file", limit_bytes),
                "FILE_TOO_LARGE", {{"limit", limit_bytes}, {"filename", SafeFileName(filename)}});
}

Status TooManyFiles(int64_t limit) {
  return Status(StatusCode::kResourceExhausted,
                fmt::format("Too many files: the limit is {} files per request", limit),
                "TOO_MANY_FILES", {{"limit", limit}});
}

std::string HumanSize(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (v >= 1024 && unit < 3) {
    v /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

ExtractedText ToValidUtf8(std::string_view bytes, size_t cap_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  ExtractedText out;
  out.text.reserve(std::min(bytes.size(), cap_bytes));
  for (size_t i = 0; i < bytes.size();) {
    uint32_t cp = 0;
    size_t len = Utf8SequenceLength(bytes, i, &cp);
    std::string_view piece = len == 0 ? kReplacement : bytes.substr(i, len);
    if (len == 0) len = 1;
    if (cp == 0 && piece.size() == 1) piece = {};
    if (out.text.size() + piece.size() > cap_bytes) {
      out.truncated = true;
      break;
    }
    out.text.append(piece);
    i += len;
  }
  return out;
}

bool IsTextLike(std::string_view mime) {
  if (mime.starts_with("text/")) return true;
  if (mime.ends_with("+xml") || mime.ends_with("+json")) return true;
  static constexpr std::string_view kTextTypes[] = {
      "application/json",         "application/xml",           "application/javascript",
      "application/x-javascript", "application/ecmascript",    "application/csv",
      "application/x-sh",         "application/x-shellscript", "application/x-ndjson",
      "application/sql",          "application/x-yaml",        "application/yaml",
      "application/toml",         "application/x-php",         "application/x-perl",
      "application/x-ruby",       "application/x-python",      "application/x-awk",
      "application/x-tex",        "application/x-latex",       "application/x-subrip",
  };
  for (auto t : kTextTypes) {
    if (mime == t) return true;
  }
  return false;
}

}  // namespace agentd::files
