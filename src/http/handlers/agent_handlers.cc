#include "http/handlers/agent_handlers.h"

#include <memory>
#include <string>
#include <utility>

#include "http/error_mapping.h"
#include "http/handlers/request_auth.h"

namespace agentd::http {
namespace {

namespace asio = boost::asio;

struct Deps {
  api::AgentApi& api;
  const auth::TokenVerifier& verifier;
};

HttpResponse JsonOrError(const Result<nlohmann::json>& result) {
  if (!result.ok()) return ErrorResponse(result.status());
  return HttpResponse::Json(200, *result);
}

asio::awaitable<HttpResponse> CreateAgent(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(co_await d.api.CreateAgent(*caller, std::move(req.body)));
}

asio::awaitable<HttpResponse> ListAgents(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(co_await d.api.ListAgents(*caller));
}

asio::awaitable<HttpResponse> GetAgent(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(d.api.GetAgent(*caller, req.params["agent_id"]));
}

asio::awaitable<HttpResponse> UpdateAgent(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(
      co_await d.api.UpdateAgent(*caller, req.params["agent_id"], std::move(req.body)));
}

asio::awaitable<HttpResponse> DeleteAgent(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(co_await d.api.DeleteAgent(*caller, req.params["agent_id"]));
}

}  // namespace

void AddAgentRoutes(Router& router, api::AgentApi& api, const auth::TokenVerifier& verifier) {
  auto deps = std::make_shared<Deps>(Deps{api, verifier});
  auto bind = [deps](auto fn) -> Handler {
    return [deps, fn](HttpRequest& req) { return fn(*deps, req); };
  };
  router.Add("POST", "/agents", bind(CreateAgent));
  router.Add("GET", "/agents", bind(ListAgents));
  router.Add("GET", "/agents/{agent_id}", bind(GetAgent));
  router.Add("PATCH", "/agents/{agent_id}", bind(UpdateAgent));
  router.Add("DELETE", "/agents/{agent_id}", bind(DeleteAgent));
}

}  // namespace agentd::http
