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
  void Add(std::string method, std::string_view pattern, Handler handler);

  enum class MatchKind { kFound, kNoPath, kNoMethod };
  struct Match {
    MatchKind kind = MatchKind::kNoPath;
    const Handler* handler = nullptr;
    std::vector<std::string> allowed_methods;  // for kNoMethod
  };
  // On kFound, fills request.params.
  Match Find(HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{x}" = capture
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace agentd::http
