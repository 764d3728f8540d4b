// JSON text for anything that leaves the process or reaches the store. Invalid UTF-8 from
// clients is replaced (U+FFFD) instead of throwing, so no input can make rendering fail.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentd {

inline std::string ToJsonText(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// True when `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

}  // namespace agentd
