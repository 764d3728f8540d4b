// Small real files for upload tests: a 3 x 2 PNG, a one-page PDF with a line of text, and
// SHA-256 as lowercase hex. Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace agentd::testing {

// A valid 3 x 2 RGB PNG.
std::string TinyPng();
// A valid single-page PDF whose text (as pdftotext extracts it) is `text` (ASCII, no parens).
std::string TinyPdf(std::string_view text);
std::string Sha256Hex(std::string_view bytes);
// `n` pseudo-random bytes (fixed seed), NULs and every byte value included.
std::string RandomBytes(size_t n, unsigned seed = 42);

}  // namespace agentd::testing
