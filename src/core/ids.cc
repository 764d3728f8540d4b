#include "core/ids.h"

#include <uuid/uuid.h>

#include <cctype>

namespace agentd {

std::string NewUuid() {
  uuid_t raw;
  uuid_generate_random(raw);
  char out[37];
  uuid_unparse_lower(raw, out);
  return std::string(out, 36);
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::string CanonicalUuid(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace agentd
