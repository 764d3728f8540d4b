#include "auth/jwt/jwt_verifier.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentd::auth::jwt {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "test-secret-0123456789abcdef0123456789";
constexpr int64_t kNow = 1'700'000'000;

// Independent of the code under test: OpenSSL's base64 and HMAC, so that tokens cpp-jwt
// would refuse to produce (alg none, HS512, missing claims) can be built.
std::string Base64Url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string Hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_len);
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

std::string SigningInput(const json& header, const json& payload) {
  return Base64Url(header.dump()) + "." + Base64Url(payload.dump());
}

std::string Sign(const json& header, const json& payload, std::string_view secret = kSecret,
                 const EVP_MD* md = EVP_sha256()) {
  const std::string input = SigningInput(header, payload);
  return input + "." + Base64Url(Hmac(md, secret, input));
}

json Hs256Header() { return {{"alg", "HS256"}, {"typ", "JWT"}}; }

json Claims(int64_t exp = kNow + 3600) { return {{"sub", "user-1"}, {"iat", kNow}, {"exp", exp}}; }

JwtOptions FakeClockOptions() {
  JwtOptions o;
  o.hs256_secret = kSecret;
  o.now_s_for_testing = [] { return kNow; };
  return o;
}

void ExpectRefused(const TokenVerifier& v, std::string_view token, std::string_view message) {
  auto r = v.Verify(token);
  ASSERT_FALSE(r.ok()) << "accepted: " << token;
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), message);
}

void ExpectUser(const TokenVerifier& v, std::string_view token, std::string_view user) {
  auto r = v.Verify(token);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->user_id, user);
}

TEST(JwtVerifier, ValidTokenYieldsSubAsUserId) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectUser(*v, Sign(Hs256Header(), Claims()), "user-1");
  ExpectUser(*v, Sign({{"alg", "HS256"}}, Claims()), "user-1");  // typ is optional
}

TEST(JwtVerifier, MintedTokenVerifiesWithRealClock) {
  auto token = MintHs256Token(kSecret, "alice", 60);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  JwtOptions o;
  o.hs256_secret = kSecret;
  ExpectUser(*NewJwtVerifier(o), *token, "alice");
}

TEST(JwtVerifier, ExpiredBeyondLeewayIsTokenHasExpired) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign(Hs256Header(), Claims(kNow - 31)), "Token has expired");
  ExpectRefused(*v, Sign(Hs256Header(), Claims(kNow - 86400)), "Token has expired");
}

TEST(JwtVerifier, ExpiredWithinLeewayIsAccepted) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectUser(*v, Sign(Hs256Header(), Claims(kNow - 30)), "user-1");
  ExpectUser(*v, Sign(Hs256Header(), Claims(kNow - 1)), "user-1");
}

TEST(JwtVerifier, LeewayIsConfigurable) {
  JwtOptions o = FakeClockOptions();
  o.leeway_s = 0;
  auto v = NewJwtVerifier(o);
  ExpectUser(*v, Sign(Hs256Header(), Claims(kNow)), "user-1");
  ExpectRefused(*v, Sign(Hs256Header(), Claims(kNow - 1)), "Token has expired");
}

TEST(JwtVerifier, NegativeOrHugeExpDoesNotWrapAround) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign(Hs256Header(), Claims(-100)), "Token has expired");
  json claims = Claims();
  claims["exp"] = 18446744073709551615ull;
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
  claims["exp"] = 1e300;
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
}

TEST(JwtVerifier, FractionalExpIsAccepted) {
  json claims = Claims();
  claims["exp"] = static_cast<double>(kNow) + 10.5;
  ExpectUser(*NewJwtVerifier(FakeClockOptions()), Sign(Hs256Header(), claims), "user-1");
}

TEST(JwtVerifier, NbfInFutureBeyondLeewayIsRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  json claims = Claims();
  claims["nbf"] = kNow + 31;
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["nbf"] = kNow + 30;
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
  claims["nbf"] = kNow - 10;
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
  claims["nbf"] = "soon";
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
}

TEST(JwtVerifier, WrongSecretIsInvalidSignature) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign(Hs256Header(), Claims(), "another-secret"), "Invalid token signature");
}

TEST(JwtVerifier, SignatureIsCheckedBeforeClaims) {
  // A forger must not learn whether the claims would have passed.
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign(Hs256Header(), Claims(kNow - 86400), "another-secret"),
                "Invalid token signature");
  ExpectRefused(*v, Sign(Hs256Header(), {{"exp", kNow + 60}}, "another-secret"),
                "Invalid token signature");
}

TEST(JwtVerifier, AlgNoneIsRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  for (const char* alg : {"none", "None", "NONE"}) {
    const std::string input = SigningInput({{"alg", alg}, {"typ", "JWT"}}, Claims());
    ExpectRefused(*v, input + ".", "Invalid token");
    // With a signature appended, in case a verifier only looks at the segment count.
    ExpectRefused(*v, input + "." + Base64Url(Hmac(EVP_sha256(), kSecret, input)), "Invalid token");
  }
}

TEST(JwtVerifier, OtherHmacAlgorithmsAreRefusedEvenWithTheRightKey) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign({{"alg", "HS512"}}, Claims(), kSecret, EVP_sha512()), "Invalid token");
  ExpectRefused(*v, Sign({{"alg", "HS384"}}, Claims(), kSecret, EVP_sha384()), "Invalid token");
  // Algorithm names are case-sensitive (RFC 7515).
  ExpectRefused(*v, Sign({{"alg", "hs256"}}, Claims()), "Invalid token");
}

TEST(JwtVerifier, AsymmetricAlgorithmWithHmacSignatureIsRefused) {
  // Key confusion: an RS256/ES256 header whose "signature" is an HMAC under a known key.
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign({{"alg", "RS256"}}, Claims()), "Invalid token");
  ExpectRefused(*v, Sign({{"alg", "ES256"}}, Claims()), "Invalid token");
  ExpectRefused(*v, Sign({{"alg", "PS256"}}, Claims()), "Invalid token");
}

TEST(JwtVerifier, BadHeadersAreRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign({{"typ", "JWT"}}, Claims()), "Invalid token");  // no alg
  ExpectRefused(*v, Sign({{"alg", 256}}, Claims()), "Invalid token");    // alg not text
  ExpectRefused(*v, Sign({{"alg", "HS256"}, {"typ", 1}}, Claims()), "Invalid token");
  ExpectRefused(*v, Sign({{"alg", "HS256"}, {"crit", {"exp"}}}, Claims()), "Invalid token");
  ExpectRefused(*v, Sign(json::array({"HS256"}), Claims()), "Invalid token");
}

TEST(JwtVerifier, MissingOrNonNumericExpIsRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign(Hs256Header(), {{"sub", "user-1"}, {"iat", kNow}}), "Invalid token");
  json claims = Claims();
  claims["exp"] = std::to_string(kNow + 3600);
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["exp"] = nullptr;
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["exp"] = true;
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
}

TEST(JwtVerifier, MissingEmptyOrNonStringSubIsRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  json claims = Claims();
  claims.erase("sub");
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["sub"] = "";
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["sub"] = 42;
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
}

TEST(JwtVerifier, NonObjectPayloadIsRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  ExpectRefused(*v, Sign(Hs256Header(), json::array({1, 2})), "Invalid token");
  ExpectRefused(*v, Sign(Hs256Header(), "user-1"), "Invalid token");
  const std::string input = Base64Url(Hs256Header().dump()) + "." + Base64Url("{not json");
  ExpectRefused(*v, input + "." + Base64Url(Hmac(EVP_sha256(), kSecret, input)), "Invalid token");
}

TEST(JwtVerifier, GarbageIsRefused) {
  auto v = NewJwtVerifier(FakeClockOptions());
  const std::string valid = Sign(Hs256Header(), Claims());
  for (const std::string& token : {
           std::string(""),
           std::string("garbage"),
           std::string("a.b"),
           std::string(".."),
           std::string("a.b.c.d"),
           std::string("a.b.c"),
           std::string("abcde.abcd.abcd"),             // 4n+1 characters is not base64
           std::string("\xff\xfe\xfd.\x80\x81.\x90"),  // bytes the base64 table must never see
           std::string("eyJ=.eyJ=.abc="),              // padding is not base64url
           "Bearer " + valid,
           valid + " ",
           valid + ".",
           valid.substr(0, valid.size() - 1) + "\n",
           std::string(10000, 'A') + "." + "AAAA.AAAA",
       }) {
    ExpectRefused(*v, token, "Invalid token");
  }
}

TEST(JwtVerifier, TamperedPayloadIsInvalidSignature) {
  auto v = NewJwtVerifier(FakeClockOptions());
  const std::string token = Sign(Hs256Header(), Claims());
  const size_t first = token.find('.');
  const size_t second = token.rfind('.');
  json evil = Claims();
  evil["sub"] = "admin";
  const std::string tampered =
      token.substr(0, first + 1) + Base64Url(evil.dump()) + token.substr(second);
  ExpectRefused(*v, tampered, "Invalid token signature");

  std::string flipped = token;
  flipped[second + 5] = flipped[second + 5] == 'A' ? 'B' : 'A';
  ExpectRefused(*v, flipped, "Invalid token signature");
  ExpectRefused(*v, token.substr(0, second + 1) + "AAAA", "Invalid token signature");
}

TEST(JwtVerifier, IssuerCheckedWhenConfigured) {
  JwtOptions o = FakeClockOptions();
  o.issuer = "https://issuer.example";
  auto v = NewJwtVerifier(o);
  json claims = Claims();
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["iss"] = "https://evil.example";
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["iss"] = "https://issuer.example";
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
}

TEST(JwtVerifier, AudienceCheckedWhenConfigured) {
  JwtOptions o = FakeClockOptions();
  o.audience = "agentd";
  auto v = NewJwtVerifier(o);
  json claims = Claims();
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["aud"] = "other";
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["aud"] = json::array({"other", 7});
  ExpectRefused(*v, Sign(Hs256Header(), claims), "Invalid token");
  claims["aud"] = "agentd";
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
  claims["aud"] = json::array({"other", "agentd"});
  ExpectUser(*v, Sign(Hs256Header(), claims), "user-1");
}

TEST(JwtVerifier, IssAndAudIgnoredWhenNotConfigured) {
  json claims = Claims();
  claims["iss"] = "anyone";
  claims["aud"] = json::array({"x"});
  ExpectUser(*NewJwtVerifier(FakeClockOptions()), Sign(Hs256Header(), claims), "user-1");
}

TEST(JwtVerifier, EmptySecretRefusesEveryToken) {
  JwtOptions o = FakeClockOptions();
  o.hs256_secret = "";
  ExpectRefused(*NewJwtVerifier(o), Sign(Hs256Header(), Claims(), ""), "Invalid token signature");
}

TEST(JwtVerifier, MessagesNeverEchoTokenOrSecret) {
  auto v = NewJwtVerifier(FakeClockOptions());
  for (const std::string& token :
       {Sign(Hs256Header(), Claims(kNow - 3600)), Sign(Hs256Header(), Claims(), "x"),
        Sign({{"alg", "none"}}, Claims()), std::string("x.y.z")}) {
    auto r = v->Verify(token);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().ToString().find(kSecret), std::string::npos);
    EXPECT_EQ(r.status().ToString().find(token), std::string::npos);
    EXPECT_TRUE(r.status().details().is_null());
  }
}

TEST(MintHs256Token, RefusesBadArguments) {
  EXPECT_EQ(MintHs256Token("", "alice", 60).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MintHs256Token(kSecret, "", 60).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MintHs256Token(kSecret, "alice", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MintHs256Token(kSecret, "alice", -5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MintHs256Token(kSecret, "alice", INT64_MAX).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(MintHs256Token, HasHs256HeaderAndSubIatExpClaims) {
  auto token = MintHs256Token(kSecret, "alice", 600);
  ASSERT_TRUE(token.ok());
  const size_t first = token->find('.');
  const size_t second = token->rfind('.');
  ASSERT_NE(first, second);
  // Re-sign the minted header and payload independently: the signature must match.
  const std::string input = token->substr(0, second);
  EXPECT_EQ(token->substr(second + 1), Base64Url(Hmac(EVP_sha256(), kSecret, input)));

  auto decode = [](std::string s) {
    for (char& c : s) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    while (s.size() % 4 != 0) s.push_back('=');
    std::string out(s.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(s.data()),
                                  static_cast<int>(s.size()));
    out.resize(n);
    while (!out.empty() && out.back() == '\0') out.pop_back();  // EVP_DecodeBlock pads
    return json::parse(out);
  };
  const json header = decode(token->substr(0, first));
  const json claims = decode(token->substr(first + 1, second - first - 1));
  EXPECT_EQ(header["alg"], "HS256");
  EXPECT_EQ(claims["sub"], "alice");
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 600);
}

}  // namespace
}  // namespace agentd::auth::jwt
