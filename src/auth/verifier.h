// Authentication: turns a bearer token into the Principal it names.
// Implementations: auth/jwt (HS256 now; RS256/ES256 with JWKS later behind the same seam).
// Thread safety: Verify is const and safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace agentd::auth {

struct Principal {
  std::string user_id;  // the token's `sub`
};

class TokenVerifier {
 public:
  virtual ~TokenVerifier() = default;
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

  // Success: the principal. Failure: Unauthenticated with a client-safe message:
  // "Token has expired", "Invalid token signature", "Invalid token" (bad format, alg not
  // allowed, missing exp or sub, not yet valid).
  virtual Result<Principal> Verify(std::string_view token) const = 0;

 protected:
  TokenVerifier() = default;
};

}  // namespace agentd::auth
