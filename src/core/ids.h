// Identifier helpers: random v4 UUIDs for every object id, and their validation.
// Thread safety: all functions are safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

namespace agentd {

// A new random (version 4) UUID in lowercase canonical form.
std::string NewUuid();

// True when `s` is a canonical 36-character UUID (any version, either case).
bool IsUuid(std::string_view s);

// Lowercases a UUID so ids compare equal however the client spelled them.
std::string CanonicalUuid(std::string_view s);

}  // namespace agentd
