#include "auth/jwt/jwt_verifier.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <jwt/jwt.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/clock.h"

// cpp-jwt is used to split and decode the token, to compute the HMAC and to mint tokens. Its
// own claim checks (jwt::decode with verify=true) are not used, because they
//  - run before the signature check, so a forged token learns "expired" vs "bad signature";
//  - read exp/nbf as uint64, so a negative `exp` wraps around and never expires;
//  - treat `exp` as optional and a JSON-array `aud` as a type error;
//  - compare the HMAC with operator== (not constant time);
//  - match `alg` case-insensitively.
// Its base64 decoder also indexes a table with signed chars, so bytes >= 0x80 read out of
// bounds: CheckShape keeps everything but the base64url alphabet away from it.

namespace agentd::auth::jwt {
namespace {

constexpr char kExpired[] = "Token has expired";
constexpr char kBadSignature[] = "Invalid token signature";
constexpr char kInvalid[] = "Invalid token";

// Real tokens are a few hundred bytes; the bound keeps a hostile header cheap to refuse.
constexpr size_t kMaxTokenBytes = 8192;

// NumericDates are clamped to +-kMaxNumericDate (about 31 million years) so that adding the
// leeway can never overflow int64.
constexpr int64_t kMaxNumericDate = int64_t{1} << 50;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// header.payload.signature, three non-empty unpadded base64url segments.
bool CheckShape(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  size_t dots = 0;
  size_t segment_len = 0;
  for (char c : token) {
    if (c == '.') {
      // A segment of 4n+1 characters cannot be base64 of anything.
      if (segment_len == 0 || segment_len % 4 == 1) return false;
      ++dots;
      segment_len = 0;
    } else if (IsBase64UrlChar(c)) {
      ++segment_len;
    } else {
      return false;
    }
  }
  return dots == 2 && segment_len != 0 && segment_len % 4 != 1;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out = ::jwt::base64_encode(bytes.data(), bytes.size());
  out.resize(::jwt::base64_uri_encode(out.data(), out.size()));
  return out;
}

// JSON number (integer or fractional, RFC 7519 NumericDate) -> whole seconds, clamped.
std::optional<int64_t> NumericDate(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    return static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), kMaxNumericDate));
  }
  if (v.is_number_integer()) {
    return std::clamp<int64_t>(v.get<int64_t>(), -kMaxNumericDate, kMaxNumericDate);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    const double clamped = std::clamp(std::floor(d), -static_cast<double>(kMaxNumericDate),
                                      static_cast<double>(kMaxNumericDate));
    return static_cast<int64_t>(clamped);
  }
  return std::nullopt;
}

bool AudienceMatches(const nlohmann::json& aud, const std::string& want) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == want;
  if (!aud.is_array()) return false;
  return std::any_of(aud.begin(), aud.end(), [&](const nlohmann::json& a) {
    return a.is_string() && a.get_ref<const std::string&>() == want;
  });
}

int64_t RealNowSeconds() { return NowMillis() / 1000; }

class JwtVerifier final : public TokenVerifier {
 public:
  explicit JwtVerifier(JwtOptions options)
      : options_(std::move(options)), leeway_s_(std::max(options_.leeway_s, 0)) {}

  Result<Principal> Verify(std::string_view token) const override {
    // cpp-jwt and nlohmann::json throw on some malformed input (e.g. a non-string `alg`, a
    // payload that is a JSON array); every such token is simply invalid.
    try {
      return VerifyOrThrow(token);
    } catch (const std::exception&) {
      return Unauthenticated(kInvalid);
    }
  }

 private:
  Result<Principal> VerifyOrThrow(std::string_view token) const {
    if (!CheckShape(token)) return Unauthenticated(kInvalid);

    // verify(false): decode only; the checks below are ours (see the top of this file).
    std::error_code ec;
    const ::jwt::jwt_object obj = ::jwt::decode(token, ::jwt::params::algorithms({"HS256"}), ec,
                                                ::jwt::params::verify(false));
    if (ec) return Unauthenticated(kInvalid);
    const nlohmann::json& header = obj.header().create_json_obj();
    const nlohmann::json& claims = obj.payload().create_json_obj();
    if (!header.is_object() || !claims.is_object()) return Unauthenticated(kInvalid);

    // RFC 7515 4.1.11: extensions we do not understand must not be ignored.
    if (header.contains("crit")) return Unauthenticated(kInvalid);
    const auto alg = header.find("alg");
    if (alg == header.end() || !alg->is_string()) return Unauthenticated(kInvalid);
    const size_t signing_input_len = token.rfind('.');
    AGENTD_RETURN_IF_ERROR(VerifySignature(alg->get_ref<const std::string&>(),
                                           token.substr(0, signing_input_len),
                                           token.substr(signing_input_len + 1)));
    return CheckClaims(claims);
  }

  // The seam for RS256/ES256: those will pick a public key by `kid` from a JWKS here.
  // Algorithms are compared exactly (RFC 7515 says they are case-sensitive), and anything
  // else, "none" and HS384/HS512 included, is refused before any key is touched.
  Status VerifySignature(const std::string& alg, std::string_view signing_input,
                         std::string_view signature) const {
    if (alg != "HS256") return Unauthenticated(kInvalid);
    if (options_.hs256_secret.empty()) return Unauthenticated(kBadSignature);
    auto [mac, ec] =
        ::jwt::HMACSign<::jwt::algo::HS256>::sign(options_.hs256_secret, signing_input);
    if (ec || mac.empty()) return Unauthenticated(kBadSignature);
    // Comparing the canonical encoding also refuses non-canonical spellings of the right MAC.
    const std::string expected = Base64UrlEncode(mac);
    if (expected.size() != signature.size() ||
        CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
      return Unauthenticated(kBadSignature);
    }
    return Status::Ok();
  }

  Result<Principal> CheckClaims(const nlohmann::json& claims) const {
    const int64_t now =
        options_.now_s_for_testing ? options_.now_s_for_testing() : RealNowSeconds();

    const auto exp_it = claims.find("exp");
    if (exp_it == claims.end()) return Unauthenticated(kInvalid);
    const std::optional<int64_t> exp = NumericDate(*exp_it);
    if (!exp) return Unauthenticated(kInvalid);
    if (now > *exp + leeway_s_) return Unauthenticated(kExpired);

    if (const auto nbf_it = claims.find("nbf"); nbf_it != claims.end()) {
      const std::optional<int64_t> nbf = NumericDate(*nbf_it);
      if (!nbf || now + leeway_s_ < *nbf) return Unauthenticated(kInvalid);
    }

    if (!options_.issuer.empty()) {
      const auto iss = claims.find("iss");
      if (iss == claims.end() || !iss->is_string() ||
          iss->get_ref<const std::string&>() != options_.issuer) {
        return Unauthenticated(kInvalid);
      }
    }
    if (!options_.audience.empty()) {
      const auto aud = claims.find("aud");
      if (aud == claims.end() || !AudienceMatches(*aud, options_.audience)) {
        return Unauthenticated(kInvalid);
      }
    }

    const auto sub = claims.find("sub");
    if (sub == claims.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
      return Unauthenticated(kInvalid);
    }
    return Principal{sub->get<std::string>()};
  }

  // Const after construction.
  const JwtOptions options_;
  const int64_t leeway_s_;
};

}  // namespace

std::unique_ptr<TokenVerifier> NewJwtVerifier(JwtOptions options) {
  return std::make_unique<JwtVerifier>(std::move(options));
}

Result<std::string> MintHs256Token(const std::string& secret, const std::string& user_id,
                                   int64_t ttl_s) {
  if (secret.empty()) return InvalidArgument("JWT secret is empty");
  if (user_id.empty()) return InvalidArgument("user id is empty");
  const int64_t now = RealNowSeconds();
  if (ttl_s <= 0 || ttl_s > kMaxNumericDate - now) {
    return InvalidArgument("token lifetime must be a positive number of seconds");
  }
  try {
    ::jwt::jwt_object obj{::jwt::params::algorithm("HS256"), ::jwt::params::secret(secret)};
    obj.add_claim("sub", user_id);
    obj.add_claim("iat", now);
    obj.add_claim("exp", now + ttl_s);
    std::error_code ec;
    std::string token = obj.signature(ec);
    if (ec) return Internal("signing the token failed: " + ec.message());
    return token;
  } catch (const std::exception& e) {
    return Internal(std::string("signing the token failed: ") + e.what());
  }
}

}  // namespace agentd::auth::jwt
