// Form bodies for POST /agent/start: an incremental multipart/form-data parser (RFC 7578 on
// RFC 2046) that streams part data to a handler without buffering whole parts, so uploads can
// go straight to disk, and a whole-body ParseForm for small forms and x-www-form-urlencoded.
// Called by the HTTP handlers. Thread safety: free functions are safe anywhere; a
// MultipartParser is one request's state and must be used by one thread at a time.
// Standard library + core only, so this compiles fast and fuzzes without Beast.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace agentd::http {

// Parser safety limits. Exceeding one is InvalidArgument (HTTP 400): they bound the parser's
// memory, not the business limits (file size and count per tier), which callers enforce.
struct FormLimits {
  size_t max_part_header_bytes = 16 * 1024;  // per part, from after its boundary line
  size_t max_parts = 256;                    // per body (urlencoded: pairs per body)
  size_t max_field_bytes = 1 << 20;          // per non-file field value, ParseForm only
};

// What a part's headers say about it.
struct PartHeaders {
  std::string name;          // Content-Disposition name; never empty
  std::string filename;      // filename*= (RFC 8187) when decodable, else filename=; may be ""
  bool is_file = false;      // a filename or filename* parameter was present
  std::string content_type;  // Content-Type value as sent; "" when absent (RFC 7578: text/plain)
};

// Receives one multipart body as it streams. The parser calls, per part, OnPartBegin once,
// OnPartData zero or more times with non-empty slices of any size (valid only during the
// call), then OnPartEnd. A non-OK return stops parsing: the parser returns that Status
// unchanged (so a handler can fail with e.g. FILE_TOO_LARGE) and calls the handler no more.
class MultipartHandler {
 public:
  MultipartHandler() = default;
  MultipartHandler(const MultipartHandler&) = delete;
  MultipartHandler& operator=(const MultipartHandler&) = delete;
  virtual ~MultipartHandler() = default;

  virtual Status OnPartBegin(const PartHeaders& headers) = 0;
  virtual Status OnPartData(std::string_view bytes) = 0;
  virtual Status OnPartEnd() = 0;
};

// Push parser for one multipart body. Memory stays below about 3 * max_part_header_bytes +
// 4 KiB whatever the input: between Feed calls it holds back only a possible delimiter start
// (at most the boundary length + 5 bytes) and the current part's header text and fields.
// The preamble and the epilogue (anything after "--boundary--") are ignored. Part headers
// may end lines with bare LF, and a body whose first boundary line ends with bare LF is read
// with LF-only delimiters throughout; otherwise delimiters are CRLF "--" boundary.
class MultipartParser {
 public:
  static constexpr size_t kMaxBoundaryLength = 70;  // RFC 2046 section 5.1.1

  // Returns the boundary parameter (quoted or not) of a multipart/* Content-Type value.
  // InvalidArgument when the type is not multipart/* or the boundary is missing, empty,
  // longer than kMaxBoundaryLength, or holds control or non-ASCII characters.
  static Result<std::string> BoundaryFromContentType(std::string_view content_type);

  // REQUIRES: `boundary` is valid as BoundaryFromContentType checks it (AGENTD_CHECKed).
  // `handler` is borrowed and must outlive the parser.
  MultipartParser(std::string boundary, MultipartHandler& handler, FormLimits limits = {});
  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  // Consumes the next bytes of the body; chunks may split it anywhere. Returns OK, or
  // InvalidArgument for a malformed body or an exceeded limit, or the handler's error. After
  // an error every later call returns that same error.
  Status Feed(std::string_view chunk);

  // Ends the body. OK once the closing delimiter has been seen; InvalidArgument when it has
  // not (truncated body); the earlier error after one.
  Status Finish();

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kData, kDone, kFailed };

  Result<size_t> Process(std::string_view in);  // returns how many bytes of `in` it consumed
  Result<size_t> ProcessAfterBoundary(std::string_view in, size_t pos);
  Result<size_t> ProcessHeaders(std::string_view in, size_t pos);
  Status AddHeaderLine(std::string_view line);
  Status FinishHeaderLine();
  Status BeginPart();
  Status HeadersTooLarge() const;
  Status Fail(Status status);

  // Const after construction.
  const std::string boundary_;
  MultipartHandler& handler_;
  const FormLimits limits_;

  // Parse state.
  State state_ = State::kPreamble;
  Status error_;
  std::string delimiter_;  // "\n--" + boundary in the preamble, then "\r\n--" or "\n--"
  bool first_boundary_ = true;
  std::string pending_;  // unconsumed input carried over to the next Feed
  size_t parts_ = 0;
  size_t header_bytes_ = 0;  // of the current part, padding after its boundary included
  bool line_start_ = true;   // in kHeaders: the next byte starts a header line
  std::string header_line_;  // current (unfolded) header line, not yet interpreted
  bool seen_disposition_ = false;
  bool seen_content_type_ = false;
  PartHeaders part_;
};

// A file part collected by ParseForm.
struct UploadedFile {
  std::string field_name;
  std::string filename;
  std::string content_type;  // as sent, "" when absent
  std::string data;
};

using FormFields = std::vector<std::pair<std::string, std::string>>;

// A whole parsed form. Fields and files keep their order in the body.
struct FormData {
  FormFields fields;
  std::vector<UploadedFile> files;

  // The first value of the non-file field `name`, or nullopt.
  std::optional<std::string> Get(std::string_view name) const;
};

// Parses a whole body by its Content-Type (multipart/form-data or
// application/x-www-form-urlencoded, case-insensitive, parameters allowed). An empty body is
// an empty FormData whatever the Content-Type, because clients POST empty application/json
// bodies. Fails with kUnsupportedMediaType for any other type with a non-empty body;
// InvalidArgument for a malformed body or an exceeded FormLimits. Holds files in memory:
// stream big uploads through MultipartParser instead.
Result<FormData> ParseForm(std::string_view content_type, std::string_view body,
                           const FormLimits& limits = {});

// Decodes application/x-www-form-urlencoded: pairs split on '&' (empty pieces skipped),
// name and value split on the first '=' (none: empty value), '+' is a space and %XX a byte.
// InvalidArgument when a '%' is not followed by two hex digits.
Result<FormFields> ParseUrlEncoded(std::string_view body);

// "Multipart/Form-Data; boundary=x" -> "multipart/form-data": the type/subtype of a
// Content-Type value, lowercased and trimmed, for choosing how to read a body.
std::string MediaTypeEssence(std::string_view content_type);

}  // namespace agentd::http
