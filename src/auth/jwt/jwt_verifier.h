// JWT bearer-token verification (API.md section 2) and HS256 minting for `agentd token` and
// tests. Built once by app/ from configuration; the verifier is immutable after construction,
// so Verify is safe to call from any thread. HS256 only for now; RS256/ES256 with JWKS keys
// selected by `kid` plug in at the signature step of the implementation (jwt_verifier.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/verifier.h"
#include "core/status.h"

namespace agentd::auth::jwt {

struct JwtOptions {
  // HMAC key for HS256, used as raw bytes. REQUIRES: non-empty; a verifier built with an empty
  // secret refuses every token rather than accept tokens signed with the empty key.
  std::string hs256_secret;
  int leeway_s = 30;     // clock skew tolerated on `exp` and `nbf`, seconds; negative = 0
  std::string issuer;    // "" = `iss` not checked; otherwise `iss` must equal it
  std::string audience;  // "" = `aud` not checked; otherwise `aud` (string or array) must hold it
  // Unix seconds. Empty = the real clock (core/clock.h).
  std::function<int64_t()> now_s_for_testing;
};

// Verifies compact-serialised JWS tokens. Accepts only alg "HS256" (exact spelling); requires a
// numeric `exp` and a non-empty string `sub` (the Principal's user_id); checks `nbf`, `iss` and
// `aud`. The signature is checked before any claim, so a forged token never learns whether its
// claims would have passed. Every failure is Unauthenticated with one of the messages
// "Token has expired", "Invalid token signature", "Invalid token"; messages never contain the
// token or the secret.
std::unique_ptr<TokenVerifier> NewJwtVerifier(JwtOptions options);

// A compact HS256 token {"sub": user_id, "iat": now, "exp": now + ttl_s}, signed with `secret`.
// Failure: InvalidArgument for an empty secret or user_id or ttl_s <= 0; Internal if signing
// fails.
Result<std::string> MintHs256Token(const std::string& secret, const std::string& user_id,
                                   int64_t ttl_s);

}  // namespace agentd::auth::jwt
