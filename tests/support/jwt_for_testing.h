// Hand-made JWTs for the integration tests: valid HS256 tokens the server must accept and
// malformed ones (expired, wrong signature, alg none) it must refuse. Self-contained SHA-256 and
// HMAC so the test support library needs no crypto dependency.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentd::testing {

// Raw 32-byte SHA-256 digest of `data`.
std::string Sha256ForTesting(std::string_view data);

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256ForTesting(std::string_view key, std::string_view data);

// Unpadded base64url (RFC 4648 section 5).
std::string Base64UrlForTesting(std::string_view bytes);

// header.payload.signature signed with HS256 under `secret`, whatever `header` says.
std::string SignJwtForTesting(const nlohmann::json& header, const nlohmann::json& payload,
                              std::string_view secret);

// An HS256 token for `sub` expiring `exp_offset_s` seconds from now (negative: in the past).
std::string Hs256TokenForTesting(std::string_view secret, std::string_view sub,
                                 int64_t exp_offset_s = 3600);

// Seconds since the epoch.
int64_t NowSecondsForTesting();

}  // namespace agentd::testing
