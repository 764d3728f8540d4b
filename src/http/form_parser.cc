#include "http/form_parser.h"

#include <algorithm>
#include <string>

namespace agentd::http {
namespace {

// Input is copied into the carry-over buffer at most this much per step, so a residue plus
// one step bounds its size.
constexpr size_t kCopyStep = 4096;

constexpr std::string_view kMultipartPrefix = "Malformed multipart body: ";

Status Malformed(std::string_view detail) {
  return InvalidArgument(std::string(kMultipartPrefix) + std::string(detail));
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return AsciiLower(x) == AsciiLower(y);
         });
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Client-sent text echoed in an error message: messages are shown to clients and later
// JSON-encoded, so keep them short and printable ASCII (invalid UTF-8 would break encoding).
std::string Printable(std::string_view s, size_t max_len = 64) {
  std::string out;
  for (char c : s.substr(0, max_len)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max_len) out += "...";
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding; nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Latin1ToUtf8(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xC0 | (u >> 6));
      out += static_cast<char>(0x80 | (u & 0x3F));
    }
  }
  return out;
}

// RFC 8187 ext-value: charset "'" [language] "'" pct-encoded. UTF-8 and ISO-8859-1 (the two
// every recipient must support); nullopt for anything else, so the caller falls back to the
// plain filename parameter.
std::optional<std::string> DecodeExtValue(std::string_view v) {
  size_t q1 = v.find('\'');
  if (q1 == std::string_view::npos) return std::nullopt;
  size_t q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return std::nullopt;
  std::optional<std::string> bytes = PercentDecode(v.substr(q2 + 1), /*plus_is_space=*/false);
  if (!bytes) return std::nullopt;
  std::string charset = AsciiLower(v.substr(0, q1));
  if (charset == "utf-8") return bytes;
  if (charset == "iso-8859-1") return Latin1ToUtf8(*bytes);
  return std::nullopt;
}

// `value *( ";" name "=" ( token | quoted-string ) )` as in Content-Type and
// Content-Disposition. The leading value and parameter names are lowercased.
struct ParameterizedValue {
  std::string value;
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* Find(std::string_view name) const {
    for (const auto& [n, v] : params) {
      if (n == name) return &v;
    }
    return nullptr;
  }
};

// Returns InvalidArgument with a bare detail; callers add what was being parsed. Unquoted
// values run to the next ';' (some clients send unquoted boundaries with '=' or '/').
// In quoted strings a backslash escapes only '"' and '\', so that Windows paths that old
// browsers send unescaped in filename keep their backslashes.
Result<ParameterizedValue> ParseParameterized(std::string_view s) {
  ParameterizedValue out;
  size_t pos = s.find(';');
  out.value = AsciiLower(TrimOws(s.substr(0, pos)));
  while (pos < s.size()) {
    ++pos;  // s[pos - 1] == ';'
    while (pos < s.size() && IsOws(s[pos])) ++pos;
    if (pos == s.size()) break;
    if (s[pos] == ';') continue;
    size_t eq = s.find_first_of("=;", pos);
    if (eq == std::string_view::npos || s[eq] == ';') {
      return InvalidArgument("parameter \"" + Printable(TrimOws(s.substr(pos, eq - pos))) +
                             "\" has no value");
    }
    std::string name = AsciiLower(TrimOws(s.substr(pos, eq - pos)));
    if (name.empty()) return InvalidArgument("parameter without a name");
    pos = eq + 1;
    while (pos < s.size() && IsOws(s[pos])) ++pos;
    std::string value;
    if (pos < s.size() && s[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < s.size()) {
        char c = s[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && pos < s.size() && (s[pos] == '"' || s[pos] == '\\')) c = s[pos++];
        value += c;
      }
      if (!closed) return InvalidArgument("unterminated quoted string in parameter " + name);
      while (pos < s.size() && IsOws(s[pos])) ++pos;
      if (pos < s.size() && s[pos] != ';') {
        return InvalidArgument("unexpected text after quoted parameter " + name);
      }
    } else {
      size_t end = std::min(s.find(';', pos), s.size());
      value = std::string(TrimOws(s.substr(pos, end - pos)));
      pos = end;
    }
    if (out.Find(name) != nullptr) return InvalidArgument("duplicate parameter " + name);
    out.params.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

bool IsValidBoundary(std::string_view b) {
  if (b.empty() || b.size() > MultipartParser::kMaxBoundaryLength || b.back() == ' ') {
    return false;
  }
  return std::all_of(b.begin(), b.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

enum class ScanOutcome { kNeedMore, kDelimiter, kCloseDelimiter };

struct ScanResult {
  ScanOutcome outcome;
  size_t data_end;  // in[pos, data_end) holds no delimiter start: pass it on
  size_t next;      // after the dash-boundary (kDelimiter) or its "--" (kCloseDelimiter)
};

// Finds the first `delim` ("\r\n--boundary" or "\n--boundary") in in[pos..] that is followed
// by what RFC 2046 allows after a boundary: whitespace or a line end (delimiter) or "--"
// (close delimiter). Anything else after it is data, as in Go's mime/multipart, so a body
// that merely contains the boundary text is not cut. kNeedMore keeps from data_end on: a
// possible delimiter start, never more than delim.size() + 1 bytes.
// Linear time: delim[0] is CR or LF and never recurs in delim (boundaries hold no CTLs).
ScanResult ScanForDelimiter(std::string_view in, size_t pos, std::string_view delim) {
  size_t from = pos;
  while (true) {
    const size_t k = in.find(delim, from);
    if (k == std::string_view::npos) break;
    from = k + 1;
    const size_t after = k + delim.size();
    if (after == in.size()) return {ScanOutcome::kNeedMore, k, k};
    char c = in[after];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      return {ScanOutcome::kDelimiter, k, after};
    }
    if (c == '-') {
      if (after + 1 == in.size()) return {ScanOutcome::kNeedMore, k, k};
      if (in[after + 1] == '-') return {ScanOutcome::kCloseDelimiter, k, after + 2};
    }
  }
  // No whole delimiter: keep the earliest suffix that could still become one.
  size_t q = std::max(from, in.size() >= delim.size() ? in.size() - delim.size() + 1 : 0);
  for (; (q = in.find(delim[0], q)) != std::string_view::npos; ++q) {
    if (delim.starts_with(in.substr(q))) return {ScanOutcome::kNeedMore, q, q};
  }
  return {ScanOutcome::kNeedMore, in.size(), in.size()};
}

// Collects a whole form for ParseForm.
class FormCollector final : public MultipartHandler {
 public:
  explicit FormCollector(const FormLimits& limits) : limits_(limits) {}

  Status OnPartBegin(const PartHeaders& h) override {
    in_file_ = h.is_file;
    if (in_file_) {
      form_.files.push_back({h.name, h.filename, h.content_type, {}});
    } else {
      form_.fields.emplace_back(h.name, std::string());
    }
    return Status::Ok();
  }

  Status OnPartData(std::string_view bytes) override {
    if (in_file_) {
      form_.files.back().data.append(bytes);
      return Status::Ok();
    }
    auto& [name, value] = form_.fields.back();
    if (value.size() + bytes.size() > limits_.max_field_bytes) {
      return InvalidArgument("Form field \"" + Printable(name) + "\" exceeds " +
                             std::to_string(limits_.max_field_bytes) + " bytes");
    }
    value.append(bytes);
    return Status::Ok();
  }

  Status OnPartEnd() override { return Status::Ok(); }

  FormData Take() && { return std::move(form_); }

 private:
  const FormLimits limits_;
  FormData form_;
  bool in_file_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// MultipartParser

Result<std::string> MultipartParser::BoundaryFromContentType(std::string_view content_type) {
  const std::string prefix = "Invalid multipart Content-Type: ";
  if (!MediaTypeEssence(content_type).starts_with("multipart/")) {
    return InvalidArgument(prefix + "not a multipart type");
  }
  Result<ParameterizedValue> parsed = ParseParameterized(content_type);
  if (!parsed.ok()) return InvalidArgument(prefix + parsed.status().message());
  const std::string* boundary = parsed->Find("boundary");
  if (boundary == nullptr) return InvalidArgument(prefix + "no boundary parameter");
  if (!IsValidBoundary(*boundary)) {
    return InvalidArgument(prefix + "boundary must be 1-" + std::to_string(kMaxBoundaryLength) +
                           " printable ASCII characters");
  }
  return *boundary;
}

MultipartParser::MultipartParser(std::string boundary, MultipartHandler& handler, FormLimits limits)
    : boundary_(std::move(boundary)),
      handler_(handler),
      limits_(limits),
      delimiter_("\n--" + boundary_),
      // A virtual line end before the body lets the preamble scan find a boundary that opens
      // the body with the same pattern as one that follows a preamble line.
      pending_("\n") {
  AGENTD_CHECK(IsValidBoundary(boundary_));
}

Status MultipartParser::Fail(Status status) {
  state_ = State::kFailed;
  error_ = std::move(status);
  pending_.clear();
  pending_.shrink_to_fit();
  return error_;
}

Status MultipartParser::Feed(std::string_view chunk) {
  if (state_ == State::kFailed) return error_;
  while (!chunk.empty()) {
    if (pending_.empty()) {
      // Common case: parse the caller's buffer in place and copy only the residue.
      Result<size_t> consumed = Process(chunk);
      if (!consumed.ok()) return Fail(consumed.status());
      pending_.assign(chunk.substr(*consumed));
      chunk = {};
    } else {
      size_t take = std::min(chunk.size(), kCopyStep);
      pending_.append(chunk.substr(0, take));
      chunk.remove_prefix(take);
      Result<size_t> consumed = Process(pending_);
      if (!consumed.ok()) return Fail(consumed.status());
      pending_.erase(0, *consumed);
    }
    AGENTD_CHECK(pending_.size() <= delimiter_.size() + 1);
  }
  return Status::Ok();
}

Status MultipartParser::Finish() {
  switch (state_) {
    case State::kDone:
      return Status::Ok();
    case State::kFailed:
      return error_;
    case State::kPreamble:
      return Fail(Malformed("no boundary delimiter found"));
    default:
      return Fail(Malformed("body ends before the closing boundary"));
  }
}

Result<size_t> MultipartParser::Process(std::string_view in) {
  size_t pos = 0;
  while (true) {
    switch (state_) {
      case State::kPreamble:
      case State::kData: {
        const bool in_part = state_ == State::kData;
        ScanResult r = ScanForDelimiter(in, pos, delimiter_);
        if (in_part && r.data_end > pos) {
          AGENTD_RETURN_IF_ERROR(handler_.OnPartData(in.substr(pos, r.data_end - pos)));
        }
        if (r.outcome == ScanOutcome::kNeedMore) return r.data_end;
        if (in_part) AGENTD_RETURN_IF_ERROR(handler_.OnPartEnd());
        if (r.outcome == ScanOutcome::kCloseDelimiter) {
          state_ = State::kDone;
          return in.size();
        }
        state_ = State::kAfterBoundary;
        header_bytes_ = 0;
        pos = r.next;
        break;
      }
      case State::kAfterBoundary: {
        AGENTD_ASSIGN_OR_RETURN(pos, ProcessAfterBoundary(in, pos));
        if (state_ == State::kAfterBoundary) return pos;
        break;
      }
      case State::kHeaders: {
        AGENTD_ASSIGN_OR_RETURN(pos, ProcessHeaders(in, pos));
        if (state_ == State::kHeaders) return pos;
        break;
      }
      case State::kDone:
        return in.size();  // epilogue
      case State::kFailed:
        return error_;
    }
  }
}

// Transport padding (spaces, tabs) then the line end of a boundary line.
Result<size_t> MultipartParser::ProcessAfterBoundary(std::string_view in, size_t pos) {
  for (; pos < in.size(); ++pos) {
    char c = in[pos];
    if (IsOws(c)) {
      if (++header_bytes_ > limits_.max_part_header_bytes) return HeadersTooLarge();
      continue;
    }
    bool crlf = c == '\r';
    if (crlf) {
      if (pos + 1 == in.size()) return pos;
      if (in[pos + 1] != '\n') return Malformed("CR without LF after boundary");
      ++pos;
    } else if (c != '\n') {
      return Malformed("unexpected characters after boundary");
    }
    if (first_boundary_) {
      // The first boundary line decides between CRLF and LF-only delimiters for the body.
      first_boundary_ = false;
      delimiter_ = (crlf ? "\r\n--" : "\n--") + boundary_;
    }
    if (++parts_ > limits_.max_parts) {
      return Malformed("more than " + std::to_string(limits_.max_parts) + " parts");
    }
    state_ = State::kHeaders;
    part_ = PartHeaders();
    seen_disposition_ = false;
    seen_content_type_ = false;
    header_line_.clear();
    line_start_ = true;
    return pos + 1;
  }
  return pos;
}

// Header lines, CRLF or bare LF, until an empty line. Bytes go straight into header_line_;
// a line is interpreted once the next one starts, because that one may be a folded
// continuation (obs-fold, RFC 7230 3.2.4).
Result<size_t> MultipartParser::ProcessHeaders(std::string_view in, size_t pos) {
  const size_t max = limits_.max_part_header_bytes;
  while (pos < in.size()) {
    if (line_start_) {
      char c = in[pos];
      if (c == '\r' || c == '\n') {
        size_t len = 1;
        if (c == '\r') {
          if (pos + 1 == in.size()) return pos;
          if (in[pos + 1] != '\n') return Malformed("bare CR in part headers");
          len = 2;
        }
        if ((header_bytes_ += len) > max) return HeadersTooLarge();
        AGENTD_RETURN_IF_ERROR(FinishHeaderLine());
        AGENTD_RETURN_IF_ERROR(BeginPart());
        return pos + len;
      }
      if (IsOws(c)) {
        if (header_line_.empty()) return Malformed("part headers start with a folded line");
      } else {
        AGENTD_RETURN_IF_ERROR(FinishHeaderLine());
      }
      line_start_ = false;
    }
    size_t eol = std::min(in.find('\n', pos), in.size());
    if ((header_bytes_ += eol - pos + (eol < in.size() ? 1 : 0)) > max) {
      return HeadersTooLarge();
    }
    header_line_.append(in.substr(pos, eol - pos));
    if (eol == in.size()) return eol;
    if (!header_line_.empty() && header_line_.back() == '\r') header_line_.pop_back();
    line_start_ = true;
    pos = eol + 1;
  }
  return pos;
}

Status MultipartParser::HeadersTooLarge() const {
  return Malformed("part headers exceed " + std::to_string(limits_.max_part_header_bytes) +
                   " bytes");
}

Status MultipartParser::FinishHeaderLine() {
  if (header_line_.empty()) return Status::Ok();
  const std::string line = std::move(header_line_);
  header_line_.clear();
  if (line.find_first_of(std::string_view("\r\0", 2)) != std::string::npos) {
    return Malformed("control character in part headers");
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return Malformed("part header line without ':'");
  std::string_view name = TrimOws(std::string_view(line).substr(0, colon));
  std::string_view value = TrimOws(std::string_view(line).substr(colon + 1));
  if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
    return Malformed("invalid part header name");
  }
  if (EqualsIgnoreCase(name, "content-type")) {
    if (seen_content_type_) return Malformed("duplicate Content-Type in part");
    seen_content_type_ = true;
    part_.content_type = std::string(value);
    return Status::Ok();
  }
  if (!EqualsIgnoreCase(name, "content-disposition")) return Status::Ok();
  // Two dispositions could name a part differently for different readers; refuse.
  if (seen_disposition_) return Malformed("duplicate Content-Disposition in part");
  seen_disposition_ = true;
  Result<ParameterizedValue> cd = ParseParameterized(value);
  if (!cd.ok()) return Malformed("Content-Disposition: " + cd.status().message());
  if (cd->value != "form-data") return Malformed("Content-Disposition is not form-data");
  if (const std::string* n = cd->Find("name")) part_.name = *n;
  const std::string* filename = cd->Find("filename");
  const std::string* filename_ext = cd->Find("filename*");
  part_.is_file = filename != nullptr || filename_ext != nullptr;
  std::optional<std::string> decoded;
  if (filename_ext != nullptr) decoded = DecodeExtValue(*filename_ext);
  if (decoded) {
    part_.filename = std::move(*decoded);
  } else if (filename != nullptr) {
    part_.filename = *filename;
  }
  return Status::Ok();
}

Status MultipartParser::BeginPart() {
  if (!seen_disposition_) return Malformed("part without Content-Disposition header");
  if (part_.name.empty()) return Malformed("part without a name in Content-Disposition");
  AGENTD_RETURN_IF_ERROR(handler_.OnPartBegin(part_));
  state_ = State::kData;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Whole forms

std::optional<std::string> FormData::Get(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::string MediaTypeEssence(std::string_view content_type) {
  return AsciiLower(TrimOws(content_type.substr(0, content_type.find(';'))));
}

Result<FormFields> ParseUrlEncoded(std::string_view body) {
  FormFields out;
  while (!body.empty()) {
    size_t amp = std::min(body.find('&'), body.size());
    std::string_view pair = body.substr(0, amp);
    body.remove_prefix(std::min(amp + 1, body.size()));
    if (pair.empty()) continue;
    size_t eq = std::min(pair.find('='), pair.size());
    std::optional<std::string> name = PercentDecode(pair.substr(0, eq), /*plus_is_space=*/true);
    std::optional<std::string> value =
        PercentDecode(pair.substr(std::min(eq + 1, pair.size())), /*plus_is_space=*/true);
    if (!name || !value) {
      return InvalidArgument("Malformed form body: '%' not followed by two hex digits");
    }
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

Result<FormData> ParseForm(std::string_view content_type, std::string_view body,
                           const FormLimits& limits) {
  if (body.empty()) return FormData();
  const std::string essence = MediaTypeEssence(content_type);
  if (essence == "multipart/form-data") {
    AGENTD_ASSIGN_OR_RETURN(std::string boundary,
                            MultipartParser::BoundaryFromContentType(content_type));
    FormCollector collector(limits);
    MultipartParser parser(std::move(boundary), collector, limits);
    AGENTD_RETURN_IF_ERROR(parser.Feed(body));
    AGENTD_RETURN_IF_ERROR(parser.Finish());
    return std::move(collector).Take();
  }
  if (essence == "application/x-www-form-urlencoded") {
    AGENTD_ASSIGN_OR_RETURN(FormFields fields, ParseUrlEncoded(body));
    if (fields.size() > limits.max_parts) {
      return InvalidArgument("Form body has more than " + std::to_string(limits.max_parts) +
                             " fields");
    }
    for (const auto& [name, value] : fields) {
      if (value.size() > limits.max_field_bytes) {
        return InvalidArgument("Form field \"" + Printable(name) + "\" exceeds " +
                               std::to_string(limits.max_field_bytes) + " bytes");
      }
    }
    FormData form;
    form.fields = std::move(fields);
    return form;
  }
  return Status(StatusCode::kUnsupportedMediaType,
                "Unsupported Content-Type: " +
                    (content_type.empty() ? std::string("(none)") : Printable(content_type, 100)) +
                    ", expected multipart/form-data or application/x-www-form-urlencoded");
}

}  // namespace agentd::http
