// Authentication and per-user isolation against the real server.
#include <gtest/gtest.h>

#include "core/ids.h"
#include "support/itest_api.h"
#include "support/jwt_for_testing.h"

namespace agentd::testing {
namespace {

using std::chrono::milliseconds;

class AuthItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() { StartSharedServer(); }
  static void TearDownTestSuite() { StopSharedServer(); }

  Response GetWithToken(const std::string& path, const std::string& token) {
    HttpClient http(server()->base_url());
    return http.Request("GET", path, {{"Authorization", "Bearer " + token}});
  }
};

::testing::AssertionResult Is401(const Response& r) {
  if (r.status != 401)
    return ::testing::AssertionFailure() << "status " << r.status << " " << r.body;
  const std::string www = r.Header("WWW-Authenticate").value_or("");
  if (www.rfind("Bearer", 0) != 0) {
    return ::testing::AssertionFailure() << "WWW-Authenticate is '" << www << "'";
  }
  auto j = r.Json();
  if (!j.is_object() || !j.contains("detail") || !j["detail"].is_string() ||
      j["detail"].get<std::string>().empty()) {
    return ::testing::AssertionFailure() << "body is not {\"detail\": string}: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

TEST(JwtForTesting, HmacSha256MatchesRfc4231) {
  // RFC 4231 test case 2.
  const std::string mac = HmacSha256ForTesting("Jefe", "what do ya want for nothing?");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : mac) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  EXPECT_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(AuthItest, EveryProtectedEndpointWithoutCredentialsIs401) {
  HttpClient http(server()->base_url());
  const std::string id = NewUuid();
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"POST", "/agent/start"},
      {"GET", "/agent-run/" + id},
      {"GET", "/agent-run/" + id + "/stream"},
      {"POST", "/agent-run/" + id + "/stop"},
      {"POST", "/agent-runs/" + id + "/stop"},
      {"GET", "/agent-runs/" + id + "/status"},
      {"GET", "/thread/" + id + "/agent-runs"},
      {"GET", "/agent-runs/active"},
      {"GET", "/threads/" + id + "/messages"},
  };
  for (const auto& [method, path] : endpoints) {
    Response r = http.Request(method, path, {});
    EXPECT_TRUE(Is401(r)) << method << " " << path;
  }
  Response r = http.Request("GET", "/agent-runs/active", {});
  EXPECT_EQ(r.Json().value("detail", ""), "No valid authentication credentials found") << r.body;
}

TEST_F(AuthItest, TokenFromAgentdTokenIsAccepted) {
  Api a = NewUser();
  ASSERT_FALSE(a.token().empty());
  Response r = a.Get("/agent-runs/active");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(AuthItest, HandMadeHs256TokenIsAccepted) {
  const std::string token = Hs256TokenForTesting(kTestJwtSecret, UniqueUser("hand"));
  Response r = GetWithToken("/agent-runs/active", token);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(AuthItest, BadSignatureIs401) {
  std::string token = Hs256TokenForTesting("some-other-secret", UniqueUser("sig"));
  Response r = GetWithToken("/agent-runs/active", token);
  EXPECT_TRUE(Is401(r));
  EXPECT_EQ(r.Json().value("detail", ""), "Invalid token signature") << r.body;
  // A valid token with its signature tampered with.
  Api a = NewUser();
  std::string tampered = a.token();
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'x' ? 'y' : 'x';
  EXPECT_TRUE(Is401(GetWithToken("/agent-runs/active", tampered)));
}

TEST_F(AuthItest, ExpiredTokenIs401TokenHasExpired) {
  const std::string token = Hs256TokenForTesting(kTestJwtSecret, UniqueUser("exp"), -3600);
  Response r = GetWithToken("/agent-runs/active", token);
  EXPECT_TRUE(Is401(r));
  EXPECT_NE(Lower(r.Json().value("detail", "")).find("expired"), std::string::npos) << r.body;
}

TEST_F(AuthItest, RecentlyExpiredTokenIsWithinLeeway) {
  const std::string token = Hs256TokenForTesting(kTestJwtSecret, UniqueUser("leeway"), -5);
  Response r = GetWithToken("/agent-runs/active", token);
  EXPECT_EQ(r.status, 200) << "30 s leeway by default: " << r.body;
}

TEST_F(AuthItest, AlgNoneIs401) {
  const int64_t now = NowSecondsForTesting();
  const std::string unsigned_token =
      Base64UrlForTesting(R"({"alg":"none","typ":"JWT"})") + "." +
      Base64UrlForTesting(
          nlohmann::json({{"sub", UniqueUser("none")}, {"exp", now + 3600}}).dump()) +
      ".";
  EXPECT_TRUE(Is401(GetWithToken("/agent-runs/active", unsigned_token)));
  // alg none in the header but signed with the right key is still refused.
  const std::string signed_none =
      SignJwtForTesting({{"alg", "none"}, {"typ", "JWT"}},
                        {{"sub", UniqueUser("none")}, {"exp", now + 3600}}, kTestJwtSecret);
  EXPECT_TRUE(Is401(GetWithToken("/agent-runs/active", signed_none)));
  const std::string hs512 =
      SignJwtForTesting({{"alg", "HS512"}, {"typ", "JWT"}},
                        {{"sub", UniqueUser("hs512")}, {"exp", now + 3600}}, kTestJwtSecret);
  EXPECT_TRUE(Is401(GetWithToken("/agent-runs/active", hs512)));
}

TEST_F(AuthItest, MissingExpOrSubOrFutureNbfIs401) {
  const int64_t now = NowSecondsForTesting();
  const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  EXPECT_TRUE(Is401(
      GetWithToken("/agent-runs/active",
                   SignJwtForTesting(header, {{"sub", UniqueUser("noexp")}}, kTestJwtSecret))))
      << "exp is required";
  EXPECT_TRUE(Is401(GetWithToken("/agent-runs/active",
                                 SignJwtForTesting(header, {{"exp", now + 3600}}, kTestJwtSecret))))
      << "sub is the user id";
  EXPECT_TRUE(Is401(GetWithToken(
      "/agent-runs/active",
      SignJwtForTesting(header,
                        {{"sub", UniqueUser("nbf")}, {"exp", now + 7200}, {"nbf", now + 600}},
                        kTestJwtSecret))))
      << "nbf in the future";
}

TEST_F(AuthItest, MalformedAuthorizationIs401) {
  HttpClient http(server()->base_url());
  for (const std::string value :
       {"Bearer", "Bearer ", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"}) {
    Response r = http.Request("GET", "/agent-runs/active", {{"Authorization", value}});
    EXPECT_TRUE(Is401(r)) << "Authorization: " << value;
  }
}

TEST_F(AuthItest, AnotherUsersRunThreadAndMessagesAre404) {
  Api a = NewUser("owner");
  Api b = NewUser("intruder");
  auto start = a.StartOk({{"prompt", "/sleep 60000"}});
  const std::string run = start["agent_run_id"];
  const std::string thread = start["thread_id"];
  auto expect_404 = [](const Response& r, const std::string& what, const std::string& detail) {
    EXPECT_EQ(r.status, 404) << what << ": " << r.body;
    EXPECT_EQ(r.Json().value("detail", ""), detail) << what << ": " << r.body;
  };
  expect_404(b.Get("/agent-run/" + run), "GET run", "Agent run not found");
  expect_404(b.Get("/agent-runs/" + run + "/status"), "GET status", "Agent run not found");
  expect_404(b.Get("/agent-run/" + run + "/stream"), "GET stream", "Agent run not found");
  expect_404(b.Stop(run), "POST stop", "Agent run not found");
  expect_404(b.Post("/agent-runs/" + run + "/stop"), "POST stop alias", "Agent run not found");
  expect_404(b.Get("/thread/" + thread + "/agent-runs"), "GET thread runs", "Thread not found");
  expect_404(b.Get("/threads/" + thread + "/messages"), "GET messages", "Thread not found");
  expect_404(b.Start({{"thread_id", thread}, {"prompt", "hijack"}}), "start on thread",
             "Thread not found");
  Response b_active = b.Get("/agent-runs/active");
  EXPECT_TRUE(b_active.Json()["active_runs"].empty()) << b_active.body;
  // B's stop did not touch A's run.
  Response still = a.Get("/agent-run/" + run);
  EXPECT_EQ(still.Json()["status"], "running") << still.body;
  // Optimistic start reusing A's project is 404 "Project not found".
  Response project = b.Start({{"optimistic", "true"},
                              {"thread_id", NewUuid()},
                              {"project_id", Str(start["project_id"])},
                              {"prompt", "x"}});
  EXPECT_EQ(project.status, 404) << project.body;
  EXPECT_EQ(project.Json().value("detail", ""), "Project not found") << project.body;
  ASSERT_EQ(a.Stop(run).status, 200);
  EXPECT_TRUE(EndsWithTerminal(a.Finish(run), "stopped"));
}

}  // namespace
}  // namespace agentd::testing
