#include "http/form_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace agentd::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

struct RecordedPart {
  PartHeaders headers;
  std::string data;
  bool ended = false;
};

// Records parts and fails the test on any call out of order or an empty data slice.
class RecordingHandler final : public MultipartHandler {
 public:
  Status OnPartBegin(const PartHeaders& h) override {
    EXPECT_TRUE(parts.empty() || parts.back().ended) << "OnPartBegin inside a part";
    parts.push_back({h, {}, false});
    return Status::Ok();
  }
  Status OnPartData(std::string_view bytes) override {
    EXPECT_FALSE(parts.empty() || parts.back().ended) << "OnPartData outside a part";
    EXPECT_FALSE(bytes.empty()) << "empty OnPartData";
    ++data_calls;
    if (!parts.empty()) parts.back().data.append(bytes);
    return Status::Ok();
  }
  Status OnPartEnd() override {
    EXPECT_FALSE(parts.empty() || parts.back().ended) << "OnPartEnd outside a part";
    if (!parts.empty()) parts.back().ended = true;
    return Status::Ok();
  }

  size_t BytesReceived() const {
    size_t n = 0;
    for (const auto& p : parts) n += p.data.size();
    return n;
  }

  std::vector<RecordedPart> parts;
  int data_calls = 0;
};

// One comparable line per event, for checking that feeding strategies agree exactly.
std::string Transcript(const RecordingHandler& h, const Status& final_status) {
  std::string out;
  for (const auto& p : h.parts) {
    out += "part name=[" + p.headers.name + "] filename=[" + p.headers.filename +
           "] is_file=" + (p.headers.is_file ? "1" : "0") + " type=[" + p.headers.content_type +
           "] data=[" + p.data + "] ended=" + (p.ended ? "1" : "0") + "\n";
  }
  return out + "status=" + final_status.ToString();
}

// Feeds `pieces` in order then Finish; returns the first error or Finish's result.
Status FeedPieces(MultipartParser& parser, const std::vector<std::string_view>& pieces) {
  for (std::string_view piece : pieces) {
    Status s = parser.Feed(piece);
    if (!s.ok()) return s;
  }
  return parser.Finish();
}

std::string ParseWhole(std::string_view boundary, std::string_view body, FormLimits limits = {}) {
  RecordingHandler h;
  MultipartParser parser(std::string(boundary), h, limits);
  Status s = FeedPieces(parser, {body});
  return Transcript(h, s);
}

constexpr std::string_view kBoundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

std::string FieldPart(std::string_view name, std::string_view value) {
  return "--" + std::string(kBoundary) + "\r\nContent-Disposition: form-data; name=\"" +
         std::string(name) + "\"\r\n\r\n" + std::string(value) + "\r\n";
}

std::string Close() { return "--" + std::string(kBoundary) + "--\r\n"; }

// Binary content: every byte value, NULs, CR/LF runs and delimiter-like prefixes.
std::string BinaryPayload() {
  std::string data;
  for (int i = 0; i < 256; ++i) data += static_cast<char>(i);
  data += std::string("\0\0\r\n\r\n\r\n--", 10) + std::string(kBoundary.substr(0, 10));
  data += "\r\n-\r\n--\r";
  return data;
}

std::string MixedBody() {
  return "preamble text, ignored\r\n" + FieldPart("prompt", "Hello, world") +
         FieldPart("model_name", "kortix/basic") + "--" + std::string(kBoundary) +
         "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.bin\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         BinaryPayload() + "\r\n" + FieldPart("empty", "") + Close() + "epilogue, ignored";
}

// ---------------------------------------------------------------------------------------------
// BoundaryFromContentType, MediaTypeEssence

TEST(MultipartParser, BoundaryFromContentTypeReadsQuotedAndUnquotedBoundary) {
  auto unquoted = MultipartParser::BoundaryFromContentType("multipart/form-data; boundary=abc");
  ASSERT_TRUE(unquoted.ok()) << unquoted.status().ToString();
  EXPECT_EQ(*unquoted, "abc");

  auto quoted = MultipartParser::BoundaryFromContentType(
      "Multipart/Form-Data ; charset=utf-8;BOUNDARY=\"a b;c=d\"");
  ASSERT_TRUE(quoted.ok()) << quoted.status().ToString();
  EXPECT_EQ(*quoted, "a b;c=d");

  // JavaMail-style boundaries hold '=' and '.' unquoted.
  auto java =
      MultipartParser::BoundaryFromContentType("multipart/form-data; boundary=----=_Part_0_1.2");
  ASSERT_TRUE(java.ok()) << java.status().ToString();
  EXPECT_EQ(*java, "----=_Part_0_1.2");
}

TEST(MultipartParser, BoundaryFromContentTypeRejectsUnusableBoundary) {
  for (std::string_view ct :
       {"multipart/form-data", "multipart/form-data; charset=utf-8",
        "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"abc", "multipart/form-data; boundary=a; boundary=b",
        "text/plain; boundary=abc", "multipart/form-data; boundary=\"abc \""}) {
    auto r = MultipartParser::BoundaryFromContentType(ct);
    ASSERT_FALSE(r.ok()) << ct;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << ct;
    EXPECT_THAT(r.status().message(), HasSubstr("Invalid multipart Content-Type")) << ct;
  }
  std::string too_long = "multipart/form-data; boundary=" + std::string(71, 'x');
  EXPECT_EQ(MultipartParser::BoundaryFromContentType(too_long).status().code(),
            StatusCode::kInvalidArgument);
  std::string longest = "multipart/form-data; boundary=" + std::string(70, 'x');
  EXPECT_TRUE(MultipartParser::BoundaryFromContentType(longest).ok());
}

TEST(MediaTypeEssence, LowercasesAndDropsParameters) {
  EXPECT_EQ(MediaTypeEssence(" Multipart/Form-Data ; boundary=X"), "multipart/form-data");
  EXPECT_EQ(MediaTypeEssence("application/JSON"), "application/json");
  EXPECT_EQ(MediaTypeEssence(""), "");
}

// ---------------------------------------------------------------------------------------------
// MultipartParser

TEST(MultipartParser, ParsesSimpleFields) {
  RecordingHandler h;
  MultipartParser parser(std::string(kBoundary), h);
  ASSERT_TRUE(
      parser.Feed(FieldPart("prompt", "Hi there") + FieldPart("mode", "chat") + Close()).ok());
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(h.parts.size(), 2u);
  EXPECT_EQ(h.parts[0].headers.name, "prompt");
  EXPECT_FALSE(h.parts[0].headers.is_file);
  EXPECT_EQ(h.parts[0].headers.content_type, "");
  EXPECT_EQ(h.parts[0].data, "Hi there");
  EXPECT_TRUE(h.parts[0].ended);
  EXPECT_EQ(h.parts[1].headers.name, "mode");
  EXPECT_EQ(h.parts[1].data, "chat");
  EXPECT_TRUE(h.parts[1].ended);
}

TEST(MultipartParser, FilePartWithBinaryContentRoundTrips) {
  RecordingHandler h;
  MultipartParser parser(std::string(kBoundary), h);
  ASSERT_TRUE(FeedPieces(parser, {MixedBody()}).ok());
  ASSERT_EQ(h.parts.size(), 4u);
  const RecordedPart& file = h.parts[2];
  EXPECT_EQ(file.headers.name, "files");
  EXPECT_TRUE(file.headers.is_file);
  EXPECT_EQ(file.headers.filename, "a.bin");
  EXPECT_EQ(file.headers.content_type, "application/octet-stream");
  EXPECT_EQ(file.data, BinaryPayload());
  EXPECT_EQ(h.parts[3].headers.name, "empty");
  EXPECT_EQ(h.parts[3].data, "");
}

TEST(MultipartParser, BodySplitAtEveryByteYieldsSameParts) {
  const std::string body = MixedBody();
  const std::string expected = ParseWhole(kBoundary, body);
  ASSERT_THAT(expected, HasSubstr("status=OK"));

  RecordingHandler h;
  MultipartParser parser(std::string(kBoundary), h);
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < body.size(); ++i) bytes.push_back(std::string_view(body).substr(i, 1));
  Status s = FeedPieces(parser, bytes);
  EXPECT_EQ(Transcript(h, s), expected);
}

TEST(MultipartParser, BodySplitAtEveryTwoWayPositionYieldsSameParts) {
  const std::string body = MixedBody();
  const std::string expected = ParseWhole(kBoundary, body);
  for (size_t split = 0; split <= body.size(); ++split) {
    RecordingHandler h;
    MultipartParser parser(std::string(kBoundary), h);
    std::string_view v = body;
    Status s = FeedPieces(parser, {v.substr(0, split), v.substr(split)});
    ASSERT_EQ(Transcript(h, s), expected) << "split at " << split;
  }
}

TEST(MultipartParser, ErrorsAreTheSameAtEverySplit) {
  // Each body fails at a different stage; the outcome must not depend on chunking.
  const std::string b(kBoundary);
  const std::vector<std::string> bodies = {
      FieldPart("a", "1") + "--" + b + "\r\nContent-Type: text/plain\r\n\r\nx\r\n" + Close(),
      FieldPart("a", "1") + "--" + b + "  \r\nX-Long: " + std::string(300, 'h') + "\r\n\r\n",
      FieldPart("a", "1") + "--" + b + "\r\nContent-Disposition: form-data; name=\"x\r\n\r\n",
      FieldPart("a", "1") + "--" + b + "\rX",
      FieldPart("a", "1") + "--" + b,
  };
  FormLimits limits;
  limits.max_part_header_bytes = 200;
  for (const std::string& body : bodies) {
    const std::string expected = ParseWhole(kBoundary, body, limits);
    ASSERT_THAT(expected, HasSubstr("INVALID_ARGUMENT"));
    for (size_t split = 0; split <= body.size(); ++split) {
      RecordingHandler h;
      MultipartParser parser(b, h, limits);
      std::string_view v = body;
      Status s = FeedPieces(parser, {v.substr(0, split), v.substr(split)});
      ASSERT_EQ(Transcript(h, s), expected) << "split at " << split;
    }
  }
}

TEST(MultipartParser, BoundaryLikeStringsInsideDataAreKept) {
  const std::string b(kBoundary);
  // Prefixes of the delimiter, the boundary text not at a line start, and the full
  // delimiter followed by a byte that cannot follow a boundary.
  const std::string tricky = "--" + b.substr(0, b.size() - 1) + "\r\n--" +
                             b.substr(0, b.size() - 1) + "\r\n" + "x--" + b + "\r\n--" + b +
                             "X\r\n--" + b + "-x\r\n-\r\n--";
  const std::string body = FieldPart("data", tricky) + Close();
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].data, tricky);
}

TEST(MultipartParser, PreambleAndEpilogueAreIgnored) {
  const std::string b(kBoundary);
  const std::string body = "This is the preamble.\r\n--" + b + "X not a boundary\r\n" +
                           FieldPart("a", "1") + "--" + b + "--  trailing\r\n" +
                           FieldPart("ignored", "2") + Close();
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].headers.name, "a");
  EXPECT_EQ(h.parts[0].data, "1");
}

TEST(MultipartParser, TransportPaddingAfterBoundaryIsAccepted) {
  const std::string b(kBoundary);
  const std::string body =
      "--" + b + " \t \r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" + Close();
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].headers.name, "a");
  EXPECT_EQ(h.parts[0].data, "v");
}

TEST(MultipartParser, BodyWithOnlyCloseDelimiterHasNoParts) {
  RecordingHandler h;
  MultipartParser parser(std::string(kBoundary), h);
  EXPECT_TRUE(FeedPieces(parser, {Close()}).ok());
  EXPECT_TRUE(h.parts.empty());
}

TEST(MultipartParser, MissingClosingDelimiterFails) {
  const std::string b(kBoundary);
  for (const std::string& body :
       {FieldPart("a", "1"), FieldPart("a", "1") + "--" + b, FieldPart("a", "1") + "--" + b + "-",
        "--" + b + "\r\nContent-Disposition: form-data; name=a\r\n"}) {
    RecordingHandler h;
    MultipartParser parser(b, h);
    ASSERT_TRUE(parser.Feed(body).ok());
    Status s = parser.Finish();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "Malformed multipart body: body ends before the closing boundary");
    EXPECT_EQ(parser.Finish().message(), s.message()) << "error must stick";
  }
}

TEST(MultipartParser, BodyWithoutAnyBoundaryFails) {
  RecordingHandler h;
  MultipartParser parser(std::string(kBoundary), h);
  ASSERT_TRUE(parser.Feed("prompt=hello").ok());
  Status s = parser.Finish();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Malformed multipart body: no boundary delimiter found");
  EXPECT_TRUE(h.parts.empty());
}

TEST(MultipartParser, HeaderTooLargeFailsWithoutReadingItAll) {
  FormLimits limits;
  limits.max_part_header_bytes = 1024;
  const std::string b(kBoundary);
  RecordingHandler h;
  MultipartParser parser(b, h, limits);
  ASSERT_TRUE(parser.Feed("--" + b + "\r\nContent-Disposition: form-data; name=a\r\nX: ").ok());
  // An endless header line: the error comes as soon as the limit is passed.
  Status s;
  int fed = 0;
  while (s.ok() && fed < 100000) {
    s = parser.Feed(std::string(100, 'x'));
    fed += 100;
  }
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Malformed multipart body: part headers exceed 1024 bytes");
  EXPECT_LE(fed, 1100);
  EXPECT_TRUE(h.parts.empty());
  EXPECT_EQ(parser.Feed("\r\n\r\n").message(), s.message()) << "error must stick";
}

TEST(MultipartParser, HeaderJustUnderLimitIsAccepted) {
  const std::string b(kBoundary);
  const std::string headers = "Content-Disposition: form-data; name=a\r\n\r\n";
  FormLimits limits;
  limits.max_part_header_bytes = headers.size();
  EXPECT_THAT(ParseWhole(b, "--" + b + "\r\n" + headers + "v\r\n" + Close(), limits),
              HasSubstr("status=OK"));
  limits.max_part_header_bytes = headers.size() - 1;
  EXPECT_THAT(ParseWhole(b, "--" + b + "\r\n" + headers + "v\r\n" + Close(), limits),
              HasSubstr("part headers exceed"));
}

TEST(MultipartParser, TooManyPartsFails) {
  FormLimits limits;
  limits.max_parts = 3;
  std::string body;
  for (int i = 0; i < 3; ++i) body += FieldPart("f" + std::to_string(i), "v");
  EXPECT_THAT(ParseWhole(kBoundary, body + Close(), limits), HasSubstr("status=OK"));
  body += FieldPart("f3", "v") + Close();
  RecordingHandler h;
  MultipartParser parser(std::string(kBoundary), h, limits);
  Status s = FeedPieces(parser, {body});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Malformed multipart body: more than 3 parts");
  EXPECT_EQ(h.parts.size(), 3u);
}

TEST(MultipartParser, PartWithoutNameFails) {
  const std::string b(kBoundary);
  for (const std::string& headers :
       {std::string("Content-Type: text/plain\r\n"),
        std::string("Content-Disposition: form-data\r\n"),
        std::string("Content-Disposition: form-data; name=\"\"\r\n"),
        std::string("Content-Disposition: form-data; filename=\"a.txt\"\r\n")}) {
    RecordingHandler h;
    MultipartParser parser(b, h);
    Status s = FeedPieces(parser, {"--" + b + "\r\n" + headers + "\r\nv\r\n" + Close()});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << headers;
    EXPECT_THAT(s.message(), HasSubstr("Malformed multipart body: part without")) << headers;
    EXPECT_TRUE(h.parts.empty());
  }
}

TEST(MultipartParser, MalformedPartHeadersFail) {
  const std::string b(kBoundary);
  for (const std::string& headers : {
           std::string("Content-Disposition: attachment; name=a\r\n"),
           std::string("Content-Disposition: form-data; name=\"a\r\n"),
           std::string("Content-Disposition: form-data; name=a; name=b\r\n"),
           std::string("Content-Disposition: form-data; name\r\n"),
           std::string("Content-Disposition: form-data; name=a\r\nContent-Disposition: "
                       "form-data; name=b\r\n"),
           std::string("no colon here\r\n"),
           std::string(" folded-first: x\r\n"),
           std::string("Content-Disposition: form-data; name=a\rX\r\n"),
           std::string("Content-Disposition: form-data; name=a") + '\0' + "b\r\n",
       }) {
    Status s;
    {
      RecordingHandler h;
      MultipartParser parser(b, h);
      s = FeedPieces(parser, {"--" + b + "\r\n" + headers + "\r\nv\r\n" + Close()});
      EXPECT_TRUE(h.parts.empty());
    }
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << headers;
    EXPECT_THAT(s.message(), HasSubstr("Malformed multipart body: ")) << headers;
  }
}

TEST(MultipartParser, GarbageAfterBoundaryFails) {
  const std::string b(kBoundary);
  RecordingHandler h;
  MultipartParser parser(b, h);
  Status s = FeedPieces(parser, {FieldPart("a", "1") + "--" + b + " x\r\n" + Close()});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Malformed multipart body: unexpected characters after boundary");
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_TRUE(h.parts[0].ended);
}

TEST(MultipartParser, QuotedNamesWithEscapesAreUnescaped) {
  const std::string b(kBoundary);
  const std::string body = "--" + b +
                           "\r\ncontent-disposition: form-data; name=\"a\\\"b\\\\c;d\"; "
                           "filename=\"C:\\Users\\me\\x \\\"y\\\".txt\"\r\n\r\nv\r\n" +
                           Close();
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].headers.name, "a\"b\\c;d");
  // Backslashes before other characters stay: old browsers send Windows paths unescaped.
  EXPECT_EQ(h.parts[0].headers.filename, "C:\\Users\\me\\x \"y\".txt");
  EXPECT_TRUE(h.parts[0].headers.is_file);
}

TEST(MultipartParser, FilenameStarIsPreferredAndDecoded) {
  const std::string b(kBoundary);
  auto parse_filename = [&](const std::string& params) {
    RecordingHandler h;
    MultipartParser parser(b, h);
    Status s = FeedPieces(parser, {"--" + b + "\r\nContent-Disposition: form-data; name=f; " +
                                   params + "\r\n\r\nv\r\n" + Close()});
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(h.parts.size(), 1u);
    return h.parts.empty() ? std::string("<none>") : h.parts[0].headers.filename;
  };
  EXPECT_EQ(parse_filename("filename=\"fallback.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
            "r\xC3\xA9sum\xC3\xA9.pdf");
  EXPECT_EQ(parse_filename("filename*=utf-8'en'a%20b.txt; filename=\"fallback.txt\""), "a b.txt");
  EXPECT_EQ(parse_filename("filename*=ISO-8859-1''caf%E9.txt"), "caf\xC3\xA9.txt");
  EXPECT_EQ(parse_filename("filename=\"fallback.txt\"; filename*=KOI8-R''%C1.txt"), "fallback.txt");
  EXPECT_EQ(parse_filename("filename=\"fallback.txt\"; filename*=UTF-8''bad%zz.txt"),
            "fallback.txt");
}

TEST(MultipartParser, HeaderNamesAreCaseInsensitiveAndUnknownHeadersIgnored) {
  const std::string b(kBoundary);
  const std::string body = "--" + b +
                           "\r\nCONTENT-TYPE: text/plain; charset=utf-8\r\nX-Extra: 1\r\n"
                           "cOnTeNt-DiSpOsItIoN: FORM-DATA; NAME=prompt\r\n\r\nhi\r\n" +
                           Close();
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].headers.name, "prompt");
  EXPECT_EQ(h.parts[0].headers.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(h.parts[0].data, "hi");
}

TEST(MultipartParser, BareLfInPartHeadersAndFoldedLinesAreAccepted) {
  const std::string b(kBoundary);
  const std::string body = "--" + b +
                           "\r\nContent-Disposition: form-data;\n name=\"a\"\nContent-Type: "
                           "text/plain\n\r\nline1\r\nline2\r\n" +
                           Close();
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].headers.name, "a");
  EXPECT_EQ(h.parts[0].headers.content_type, "text/plain");
  EXPECT_EQ(h.parts[0].data, "line1\r\nline2");
}

TEST(MultipartParser, LfOnlyBodyIsReadWithLfDelimiters) {
  const std::string b = "xyz";
  const std::string body =
      "--xyz\nContent-Disposition: form-data; name=a\n\nv1\r\n--xyz\n"
      "Content-Disposition: form-data; name=b\n\nv2\n--xyz--\n";
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(FeedPieces(parser, {body}).ok());
  ASSERT_EQ(h.parts.size(), 2u);
  EXPECT_EQ(h.parts[0].data, "v1\r");
  EXPECT_EQ(h.parts[1].data, "v2");
}

TEST(MultipartParser, StreamsPartDataWithoutBufferingThePart) {
  const std::string b(kBoundary);
  RecordingHandler h;
  MultipartParser parser(b, h);
  ASSERT_TRUE(
      parser.Feed("--" + b + "\r\nContent-Disposition: form-data; name=f; filename=big\r\n\r\n")
          .ok());
  std::string chunk(65536, '\0');
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i * 7 + 3);
  chunk[chunk.size() - 2] = '\r';  // a possible delimiter start at the chunk end is held back
  chunk[chunk.size() - 1] = '\n';
  size_t fed = 0;
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(parser.Feed(chunk).ok());
    fed += chunk.size();
    // Everything but a possible delimiter start has reached the handler already.
    EXPECT_GE(h.BytesReceived() + b.size() + 5, fed);
  }
  ASSERT_TRUE(parser.Feed("\r\n" + Close()).ok());
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(h.parts.size(), 1u);
  EXPECT_EQ(h.parts[0].data.size(), fed);
  EXPECT_EQ(h.parts[0].data.substr(0, chunk.size()), chunk);
  EXPECT_GE(h.data_calls, 64);
}

class FailingHandler final : public MultipartHandler {
 public:
  Status OnPartBegin(const PartHeaders&) override { return Status::Ok(); }
  Status OnPartData(std::string_view bytes) override {
    received += bytes.size();
    if (received > 10) {
      return Status(StatusCode::kResourceExhausted, "File too large", "FILE_TOO_LARGE");
    }
    return Status::Ok();
  }
  Status OnPartEnd() override {
    ++ends;
    return Status::Ok();
  }
  size_t received = 0;
  int ends = 0;
};

TEST(MultipartParser, HandlerErrorStopsParsingAndIsReturnedUnchanged) {
  FailingHandler h;
  MultipartParser parser(std::string(kBoundary), h);
  Status s = parser.Feed(FieldPart("f", std::string(100, 'x')) + FieldPart("g", "y"));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.reason(), "FILE_TOO_LARGE");
  EXPECT_EQ(h.ends, 0);
  const size_t received = h.received;
  EXPECT_EQ(parser.Feed("more").reason(), "FILE_TOO_LARGE");
  EXPECT_EQ(parser.Finish().reason(), "FILE_TOO_LARGE");
  EXPECT_EQ(h.received, received) << "no calls after an error";
}

// ---------------------------------------------------------------------------------------------
// ParseForm

TEST(ParseForm, CollectsMultipartFieldsAndFiles) {
  auto form = ParseForm("multipart/form-data; boundary=" + std::string(kBoundary),
                        MixedBody() + FieldPart("prompt", "second"));
  ASSERT_TRUE(form.ok()) << form.status().ToString();
  EXPECT_THAT(form->fields, ElementsAre(Pair("prompt", "Hello, world"),
                                        Pair("model_name", "kortix/basic"), Pair("empty", "")));
  EXPECT_EQ(form->Get("prompt"), "Hello, world");
  EXPECT_EQ(form->Get("missing"), std::nullopt);
  EXPECT_EQ(form->Get("files"), std::nullopt) << "files are not fields";
  ASSERT_EQ(form->files.size(), 1u);
  EXPECT_EQ(form->files[0].field_name, "files");
  EXPECT_EQ(form->files[0].filename, "a.bin");
  EXPECT_EQ(form->files[0].content_type, "application/octet-stream");
  EXPECT_EQ(form->files[0].data, BinaryPayload());
}

TEST(ParseForm, ReadsUrlEncodedBody) {
  auto form = ParseForm("Application/X-WWW-Form-Urlencoded; charset=UTF-8",
                        "prompt=hello+world%21&optimistic=true&prompt=again");
  ASSERT_TRUE(form.ok()) << form.status().ToString();
  EXPECT_EQ(form->Get("prompt"), "hello world!");
  EXPECT_EQ(form->Get("optimistic"), "true");
  EXPECT_EQ(form->fields.size(), 3u);
  EXPECT_TRUE(form->files.empty());
}

TEST(ParseForm, UnsupportedContentTypeIs415) {
  auto form = ParseForm("application/json", "{\"prompt\":\"x\"}");
  ASSERT_FALSE(form.ok());
  EXPECT_EQ(form.status().code(), StatusCode::kUnsupportedMediaType);
  EXPECT_EQ(form.status().message(),
            "Unsupported Content-Type: application/json, expected multipart/form-data or "
            "application/x-www-form-urlencoded");
  auto none = ParseForm("", "prompt=x");
  EXPECT_EQ(none.status().code(), StatusCode::kUnsupportedMediaType);
  EXPECT_THAT(none.status().message(), HasSubstr("(none)"));
  // Client bytes echoed in the message are made printable ASCII.
  auto binary = ParseForm("text/\xff\x01", "x");
  EXPECT_EQ(binary.status().message().substr(0, 33), "Unsupported Content-Type: text/??");
}

TEST(ParseForm, EmptyBodyIsEmptyFormWhateverTheContentType) {
  for (std::string_view ct : {"application/json", "", "multipart/form-data",
                              "application/x-www-form-urlencoded", "text/plain"}) {
    auto form = ParseForm(ct, "");
    ASSERT_TRUE(form.ok()) << ct << ": " << form.status().ToString();
    EXPECT_TRUE(form->fields.empty());
    EXPECT_TRUE(form->files.empty());
  }
}

TEST(ParseForm, MultipartWithoutBoundaryIsInvalidArgument) {
  auto form = ParseForm("multipart/form-data", "--x\r\n");
  EXPECT_EQ(form.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(form.status().message(), "Invalid multipart Content-Type: no boundary parameter");
}

TEST(ParseForm, MalformedMultipartIsInvalidArgument) {
  auto form = ParseForm("multipart/form-data; boundary=" + std::string(kBoundary),
                        FieldPart("prompt", "x"));
  EXPECT_EQ(form.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(form.status().message(), HasSubstr("Malformed multipart body"));
}

TEST(ParseForm, FieldOverMaxFieldBytesFailsButFilesMayBeLarger) {
  FormLimits limits;
  limits.max_field_bytes = 8;
  const std::string ct = "multipart/form-data; boundary=" + std::string(kBoundary);
  EXPECT_TRUE(ParseForm(ct, FieldPart("prompt", "12345678") + Close(), limits).ok());
  auto big = ParseForm(ct, FieldPart("prompt", "123456789") + Close(), limits);
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.status().message(), "Form field \"prompt\" exceeds 8 bytes");
  auto with_file = ParseForm(ct, MixedBody(), {16 * 1024, 256, 16});
  ASSERT_TRUE(with_file.ok()) << with_file.status().ToString();
  EXPECT_EQ(with_file->files[0].data, BinaryPayload());

  auto urlencoded = ParseForm("application/x-www-form-urlencoded", "prompt=123456789", limits);
  EXPECT_EQ(urlencoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(urlencoded.status().message(), "Form field \"prompt\" exceeds 8 bytes");
}

TEST(ParseForm, UrlEncodedPairCountIsLimited) {
  FormLimits limits;
  limits.max_parts = 2;
  EXPECT_TRUE(ParseForm("application/x-www-form-urlencoded", "a=1&b=2", limits).ok());
  auto form = ParseForm("application/x-www-form-urlencoded", "a=1&b=2&c=3", limits);
  EXPECT_EQ(form.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(form.status().message(), "Form body has more than 2 fields");
}

// ---------------------------------------------------------------------------------------------
// ParseUrlEncoded

TEST(ParseUrlEncoded, DecodesPlusAndPercentEscapes) {
  auto r = ParseUrlEncoded("a+b=c+d&plus=%2B&pct=100%25&utf8=%C3%A9&mixed=%2b%2F&eq=a=b");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(*r, ElementsAre(Pair("a b", "c d"), Pair("plus", "+"), Pair("pct", "100%"),
                              Pair("utf8", "\xC3\xA9"), Pair("mixed", "+/"), Pair("eq", "a=b")));
}

TEST(ParseUrlEncoded, SkipsEmptyPiecesAndKeepsNamesWithoutValue) {
  auto r = ParseUrlEncoded("&a&&b=&=c&");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(*r, ElementsAre(Pair("a", ""), Pair("b", ""), Pair("", "c")));
  auto nul = ParseUrlEncoded("k=%00v");
  ASSERT_TRUE(nul.ok());
  EXPECT_EQ((*nul)[0].second, std::string("\0v", 2));
}

TEST(ParseUrlEncoded, InvalidPercentEscapeIsInvalidArgument) {
  for (std::string_view body : {"a=%zz", "a=%4", "a=%", "%g1=x", "a=1&b=%%41"}) {
    auto r = ParseUrlEncoded(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(r.status().message(), "Malformed form body: '%' not followed by two hex digits");
  }
}

}  // namespace
}  // namespace agentd::http
