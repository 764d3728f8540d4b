// Router: maps (method, path pattern) to handlers. Patterns are literal segments and
// `{name}` captures, e.g. "/agent-run/{id}/stream". Built once at startup, then read-only
// (thread-safe for concurrent Match).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/http_types.h"

namespace agentd::http {

class Router {
 public:
  // kWhole: the server reads the body (up to ServerOptions::max_body_bytes) into
  // HttpRequest::body before calling the handler. kStream: the handler reads it through
  // HttpRequest::body_reader; whatever it leaves unread is drained (bounded) by the server.
  enum class BodyMode { kWhole, kStream };
  void Add(std::string method, std::string_view pattern, Handler handler,
           BodyMode body = BodyMode::kWhole);

  enum class MatchKind { kFound, kNoPath, kNoMethod };
  struct Match {
    MatchKind kind = MatchKind::kNoPath;
    const Handler* handler = nullptr;
    BodyMode body = BodyMode::kWhole;
    std::vector<std::string> allowed_methods;  // for kNoMethod
  };
  // On kFound, fills request.params.
  Match Find(HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{x}" = capture
    Handler handler;
    BodyMode body;
  };
  std::vector<Route> routes_;
};

}  // namespace agentd::http
