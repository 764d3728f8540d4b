// libFuzzer target for http/form_parser: feeds the multipart parser the same body whole, split
// in two at a data-derived point, and in small chunks, and traps unless all three give the
// same parts and the same result (the parser must not depend on how the network chunks a
// body). Also runs ParseUrlEncoded, BoundaryFromContentType and ParseForm on the input.
// Input layout: [flags][split lo][split hi] body...
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "http/form_parser.h"

namespace {

using agentd::Status;
using agentd::http::FormLimits;
using agentd::http::MultipartHandler;
using agentd::http::MultipartParser;
using agentd::http::PartHeaders;

void Check(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "form_parser_fuzz: invariant failed: %s\n", what);
    __builtin_trap();
  }
}

// Serializes the events; checks the handler contract on the way.
class TranscriptHandler final : public MultipartHandler {
 public:
  Status OnPartBegin(const PartHeaders& h) override {
    Check(!in_part_, "OnPartBegin inside a part");
    Check(!h.name.empty(), "part without a name");
    in_part_ = true;
    out_ += "B[" + h.name + "|" + h.filename + "|" + (h.is_file ? "f" : "v") + "|" +
            h.content_type + "]";
    return Status::Ok();
  }
  Status OnPartData(std::string_view bytes) override {
    Check(in_part_, "OnPartData outside a part");
    Check(!bytes.empty(), "empty OnPartData");
    data_.append(bytes);
    return Status::Ok();
  }
  Status OnPartEnd() override {
    Check(in_part_, "OnPartEnd outside a part");
    FlushData();
    out_ += "E";
    in_part_ = false;
    return Status::Ok();
  }

  std::string Finish(const Status& status) {
    FlushData();
    return out_ + " -> " + status.ToString();
  }

 private:
  void FlushData() {
    out_ += "D" + std::to_string(data_.size()) + ":" + data_;
    data_.clear();
  }

  bool in_part_ = false;
  std::string data_;
  std::string out_;
};

std::string Run(std::string_view boundary, const FormLimits& limits, std::string_view body,
                size_t split, size_t step) {
  TranscriptHandler handler;
  MultipartParser parser(std::string(boundary), handler, limits);
  Status status;
  if (step > 0) {
    for (size_t i = 0; i < body.size() && status.ok(); i += step) {
      status = parser.Feed(body.substr(i, step));
    }
  } else {
    status = parser.Feed(body.substr(0, split));
    if (status.ok()) status = parser.Feed(body.substr(split));
  }
  if (status.ok()) status = parser.Finish();
  Check(parser.Finish().ToString() == status.ToString(), "Finish result not sticky");
  return handler.Finish(status);
}

void FuzzMultipart(uint8_t flags, size_t split, std::string_view body) {
  static constexpr std::string_view kBoundaries[] = {"X", "--b-=", "WebKitFormBoundary7MA4YWxk",
                                                     "a b'()+_,-./:=?"};
  const std::string_view boundary = kBoundaries[flags & 3];
  FormLimits limits;
  if (flags & 4) {  // small limits, to reach the limit paths
    limits.max_part_header_bytes = 16 + (flags >> 3) * 4;
    limits.max_parts = 1 + (flags >> 5);
  }
  const std::string whole = Run(boundary, limits, body, body.size(), 0);
  const std::string two = Run(boundary, limits, body, split, 0);
  const std::string small = Run(boundary, limits, body, 0, 1 + (split % 7));
  if (whole != two || whole != small) {
    std::fprintf(stderr, "whole: %s\ntwo-way (%zu): %s\nsmall: %s\n", whole.c_str(), split,
                 two.c_str(), small.c_str());
    Check(false, "result depends on chunking");
  }
}

void FuzzUrlEncoded(std::string_view body) {
  auto fields = agentd::http::ParseUrlEncoded(body);
  if (!fields.ok()) {
    Check(body.find('%') != std::string_view::npos, "urlencoded error without '%'");
    return;
  }
  size_t decoded = 0;
  for (const auto& [name, value] : *fields) decoded += name.size() + value.size();
  Check(decoded <= body.size(), "urlencoded decoding grew the input");
}

// The first line as a Content-Type, the rest as its body.
void FuzzContentType(std::string_view input) {
  const size_t eol = input.find('\n');
  if (eol == std::string_view::npos || eol > 512) return;
  const std::string_view content_type = input.substr(0, eol);
  const std::string_view body = input.substr(eol + 1);
  auto boundary = MultipartParser::BoundaryFromContentType(content_type);
  if (boundary.ok()) {
    Check(!boundary->empty() && boundary->size() <= MultipartParser::kMaxBoundaryLength,
          "boundary length");
  }
  auto form = agentd::http::ParseForm(content_type, body);
  if (body.empty()) Check(form.ok(), "empty body must parse");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 3, size - 3);
  const size_t split = (size_t{data[1]} | size_t{data[2]} << 8) % (body.size() + 1);
  FuzzMultipart(flags, split, body);
  FuzzUrlEncoded(body);
  FuzzContentType(body);
  return 0;
}
