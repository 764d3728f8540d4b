#include "http/handlers/request_auth.h"

#include <string>
#include <string_view>

namespace agentd::http {

Result<auth::Principal> AuthenticateRequest(const HttpRequest& req,
                                            const auth::TokenVerifier& verifier,
                                            bool allow_query_token) {
  std::string_view header = req.Header("authorization");
  std::string token;
  if (header.size() > 7 && (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer ")) {
    token = std::string(header.substr(7));
  } else if (allow_query_token) {
    token = req.Query("token").value_or("");
  }
  if (token.empty()) return Unauthenticated("No valid authentication credentials found");
  return verifier.Verify(token);
}

}  // namespace agentd::http
