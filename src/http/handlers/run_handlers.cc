#include "http/handlers/run_handlers.h"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "http/error_mapping.h"

namespace agentd::http {
namespace {

namespace asio = boost::asio;

constexpr char kNoCredentials[] = "No valid authentication credentials found";
constexpr char kPingFrame[] = "data: {\"type\":\"ping\"}\n\n";

// Bearer token from the Authorization header, else (streams only) from ?token=.
Result<auth::Principal> Authenticate(const HttpRequest& req, const auth::TokenVerifier& verifier,
                                     bool allow_query_token) {
  std::string_view header = req.Header("authorization");
  std::string token;
  if (header.size() > 7 && (header.substr(0, 7) == "Bearer " || header.substr(0, 7) == "bearer ")) {
    token = std::string(header.substr(7));
  } else if (allow_query_token) {
    token = req.Query("token").value_or("");
  }
  if (token.empty()) return Unauthenticated(kNoCredentials);
  return verifier.Verify(token);
}

HttpResponse JsonOrError(const Result<nlohmann::json>& result) {
  if (!result.ok()) return ErrorResponse(result.status());
  return HttpResponse::Json(200, *result);
}

std::optional<std::string> Field(const FormData& form, std::string_view name) {
  return form.Get(name);
}

api::StartRunForm ToStartForm(const FormData& form) {
  api::StartRunForm f;
  f.prompt = Field(form, "prompt");
  f.thread_id = Field(form, "thread_id");
  f.project_id = Field(form, "project_id");
  f.agent_id = Field(form, "agent_id");
  f.model_name = Field(form, "model_name");
  f.optimistic = Field(form, "optimistic");
  f.memory_enabled = Field(form, "memory_enabled");
  f.mode = Field(form, "mode");
  f.file_count = form.files.size();
  return f;
}

void AppendFrame(std::string& out, const bus::Event& e) {
  out += "id: ";
  out += std::to_string(e.seq);
  out += "\ndata: ";
  out += e.data;
  out += "\n\n";
}

// Using a capture-less wrapper keeps each handler a plain coroutine taking its dependencies.
struct Deps {
  api::RunApi& api;
  const auth::TokenVerifier& verifier;
  RunHandlerOptions options;
};

struct StartCall {
  auth::Principal caller;
  api::StartRunForm form;
};

// Authenticates and parses a start.
Result<StartCall> PrepareStart(const Deps& d, const HttpRequest& req) {
  const auto begin = std::chrono::steady_clock::now();
  AGENTD_ASSIGN_OR_RETURN(auth::Principal caller, Authenticate(req, d.verifier, false));
  const double auth_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  AGENTD_ASSIGN_OR_RETURN(FormData form,
                          ParseForm(req.Header("content-type"), req.body, d.options.form_limits));
  StartCall call{std::move(caller), ToStartForm(form)};
  const std::string_view timing = req.Header("x-emit-timing");
  call.form.emit_timing = timing == "true" || timing == "True" || timing == "1";
  call.form.auth_ms = auth_ms;
  return call;
}

// GCC 12 reports a false -Wmismatched-new-delete on this coroutine's frame (Asio's awaitable
// frame has a matching operator new/delete pair; the warning depends on frame layout).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<HttpResponse> StartRun(const Deps& d, HttpRequest& req) {
  auto call = PrepareStart(d, req);
  if (!call.ok()) co_return ErrorResponse(call.status());
  auto started = co_await d.api.StartRun(call->caller, std::move(call->form));
  if (!started.ok()) co_return ErrorResponse(started.status());
  HttpResponse resp = HttpResponse::Json(200, *started);
  resp.headers.emplace_back(
      "Content-Location",
      "/agent-run/" + started->at("agent_run_id").get<std::string>() + "/stream");
  co_return resp;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

asio::awaitable<HttpResponse> StopRun(const Deps& d, HttpRequest& req) {
  auto caller = Authenticate(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(co_await d.api.StopRun(*caller, req.params["id"]));
}

asio::awaitable<HttpResponse> StreamRun(const Deps& d, HttpRequest& req) {
  auto caller = Authenticate(req, d.verifier, true);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  std::string last_id(req.Header("last-event-id"));
  if (last_id.empty()) last_id = req.Query("last_id").value_or("");
  auto executor = co_await asio::this_coro::executor;
  auto feed = d.api.OpenStream(*caller, req.params["id"], last_id, executor);
  if (!feed.ok()) co_return ErrorResponse(feed.status());
  if (*feed == nullptr) co_return HttpResponse::Empty(204);

  HttpResponse resp;
  resp.headers = {{"Content-Type", "text/event-stream"},
                  {"Cache-Control", "no-cache, no-transform"},
                  {"X-Accel-Buffering", "no"}};
  resp.stream = [feed = *feed,
                 heartbeat = d.options.heartbeat](ChunkWriter& out) -> asio::awaitable<void> {
    std::string frames;
    while (!feed->done()) {
      auto batch = co_await feed->Next(heartbeat);
      if (!batch.ok()) {
        // The store failed under us: end the stream; the client resumes from its last id.
        break;
      }
      frames.clear();
      if (batch->empty()) {
        frames = kPingFrame;
      } else {
        for (const auto& e : *batch) AppendFrame(frames, *e);
      }
      if (!co_await out.Write(frames)) break;
    }
    feed->Close();
  };
  co_return resp;
}

}  // namespace

void AddRunRoutes(Router& router, api::RunApi& api, const auth::TokenVerifier& verifier,
                  RunHandlerOptions options) {
  auto deps = std::make_shared<Deps>(Deps{api, verifier, options});
  auto authed = [deps](auto fn) -> Handler {
    return [deps, fn](HttpRequest& req) { return fn(*deps, req); };
  };
  auto get_json = [deps](auto call) -> Handler {
    return [deps, call](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      auto caller = Authenticate(req, deps->verifier, false);
      if (!caller.ok()) co_return ErrorResponse(caller.status());
      co_return JsonOrError(call(deps->api, *caller, req));
    };
  };

  router.Add("GET", "/health", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
    co_return HttpResponse::Json(200, {{"status", "ok"}});
  });
  router.Add("POST", "/agent/start", authed(StartRun));
  router.Add("GET", "/agent-run/{id}/stream", authed(StreamRun));
  router.Add("POST", "/agent-run/{id}/stop", authed(StopRun));
  router.Add("POST", "/agent-runs/{id}/stop", authed(StopRun));
  router.Add("GET", "/agent-run/{id}",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.GetRun(p, r.params["id"]);
             }));
  router.Add("GET", "/agent-runs/{id}/status",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.GetRunStatus(p, r.params["id"]);
             }));
  router.Add("GET", "/limits", get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest&) {
               return a.GetLimits(p);
             }));
  router.Add("GET", "/agent-runs/active",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest&) {
               return a.ListActiveRuns(p);
             }));
  router.Add("GET", "/thread/{thread_id}/agent-runs",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.ListThreadRuns(p, r.params["thread_id"], r.Query("limit"),
                                       r.Query("before"));
             }));
  router.Add("GET", "/threads/{thread_id}/messages",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.ListMessages(p, r.params["thread_id"]);
             }));
}

}  // namespace agentd::http
