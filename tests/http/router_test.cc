#include "http/router.h"

#include <gtest/gtest.h>

#include "http/error_mapping.h"

namespace agentd::http {
namespace {

Handler Named(int id) {
  return [id](HttpRequest&) -> boost::asio::awaitable<HttpResponse> {
    co_return HttpResponse::Empty(id);
  };
}

TEST(Router, CapturesNamedSegments) {
  Router r;
  r.Add("GET", "/agent-run/{id}/stream", Named(1));
  HttpRequest req;
  req.method = "GET";
  req.path = "/agent-run/abc/stream";
  auto m = r.Find(req);
  EXPECT_EQ(m.kind, Router::MatchKind::kFound);
  EXPECT_EQ(req.params["id"], "abc");
}

TEST(Router, LiteralRouteIsNotShadowedByCapture) {
  Router r;
  r.Add("GET", "/agent-runs/active", Named(1));
  r.Add("GET", "/agent-runs/{id}/status", Named(2));
  HttpRequest req;
  req.method = "GET";
  req.path = "/agent-runs/active";
  EXPECT_EQ(r.Find(req).kind, Router::MatchKind::kFound);
  req.path = "/agent-runs/active/extra";
  EXPECT_EQ(r.Find(req).kind, Router::MatchKind::kNoPath);
}

TEST(Router, WrongMethodReportsAllowedMethods) {
  Router r;
  r.Add("POST", "/agent/start", Named(1));
  HttpRequest req;
  req.method = "GET";
  req.path = "/agent/start";
  auto m = r.Find(req);
  EXPECT_EQ(m.kind, Router::MatchKind::kNoMethod);
  EXPECT_EQ(m.allowed_methods, std::vector<std::string>{"POST"});
}

TEST(ErrorMapping, BillingReasonsAre402WithErrorCodeAndDetails) {
  Status s(StatusCode::kResourceExhausted, "limit", "AGENT_RUN_LIMIT_EXCEEDED", {{"limit", 1}});
  EXPECT_EQ(HttpStatusFor(s), 402);
  auto body = ErrorBody(s);
  EXPECT_EQ(body["detail"]["error_code"], "AGENT_RUN_LIMIT_EXCEEDED");
  EXPECT_EQ(body["detail"]["limit"], 1);
  EXPECT_EQ(body["detail"]["message"], "limit");
}

TEST(ErrorMapping, ThreadBusyIs409) {
  Status s(StatusCode::kAborted, "busy", "THREAD_BUSY", {{"running_agent_run_id", "r"}});
  EXPECT_EQ(HttpStatusFor(s), 409);
  EXPECT_EQ(ErrorBody(s)["detail"]["running_agent_run_id"], "r");
}

TEST(ErrorMapping, DefaultAgentRequiredIs409WithErrorCode) {
  Status s(StatusCode::kFailedPrecondition, "The default agent cannot be deleted",
           "DEFAULT_AGENT_REQUIRED");
  EXPECT_EQ(HttpStatusFor(s), 409);
  EXPECT_EQ(ErrorBody(s)["detail"]["error_code"], "DEFAULT_AGENT_REQUIRED");
  EXPECT_EQ(HttpStatusFor(Status(StatusCode::kFailedPrecondition, "x")), 400);
}

TEST(ErrorMapping, UnauthenticatedIs401WithBearerChallengeAndStringDetail) {
  auto resp = ErrorResponse(Unauthenticated("Token has expired"));
  EXPECT_EQ(resp.status, 401);
  EXPECT_EQ(nlohmann::json::parse(resp.body)["detail"], "Token has expired");
  bool challenge = false;
  for (auto& [k, v] : resp.headers) challenge |= (k == "WWW-Authenticate" && v == "Bearer");
  EXPECT_TRUE(challenge);
}

TEST(ErrorMapping, InternalErrorsNeverShowTheirText) {
  auto resp = ErrorResponse(Internal("sqlite: disk I/O error at /secret/path"));
  EXPECT_EQ(resp.status, 500);
  EXPECT_EQ(resp.body.find("secret"), std::string::npos);
}

TEST(ErrorMapping, UnsupportedMediaTypeIs415) {
  EXPECT_EQ(HttpStatusFor(Status(StatusCode::kUnsupportedMediaType, "x")), 415);
}

}  // namespace
}  // namespace agentd::http
