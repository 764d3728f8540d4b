// Time for the whole server: wall-clock milliseconds for stored timestamps and ISO-8601
// rendering for the API. Thread safety: free functions, safe anywhere.
#pragma once

#include <cstdint>
#include <string>

namespace agentd {

// Milliseconds since the Unix epoch.
int64_t NowMillis();

// "2026-12-04T16:06:40.123Z" for a Unix-epoch millisecond value.
std::string IsoTime(int64_t unix_ms);

}  // namespace agentd
