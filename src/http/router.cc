#include "http/router.h"

namespace agentd::http {
namespace {

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsCapture(const std::string& s) { return s.size() > 2 && s.front() == '{' && s.back() == '}'; }

}  // namespace

void Router::Add(std::string method, std::string_view pattern, Handler handler, BodyMode body) {
  routes_.push_back({std::move(method), Split(pattern), std::move(handler), body});
}

Router::Match Router::Find(HttpRequest& request) const {
  Match m;
  const auto segments = Split(request.path);
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool same = true;
    for (size_t i = 0; i < segments.size() && same; ++i) {
      same = IsCapture(route.segments[i]) || route.segments[i] == segments[i];
    }
    if (!same) continue;
    if (route.method != request.method) {
      m.kind = MatchKind::kNoMethod;
      m.allowed_methods.push_back(route.method);
      continue;
    }
    for (size_t i = 0; i < segments.size(); ++i) {
      if (IsCapture(route.segments[i])) {
        request.params[route.segments[i].substr(1, route.segments[i].size() - 2)] = segments[i];
      }
    }
    m.kind = MatchKind::kFound;
    m.handler = &route.handler;
    m.body = route.body;
    return m;
  }
  return m;
}

}  // namespace agentd::http
