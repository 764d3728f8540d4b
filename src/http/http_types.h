// The HTTP vocabulary handlers speak: plain request/response values and a chunk writer for
// streamed (SSE) bodies. Only http/server.cc touches Beast, so handlers compile quickly.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace agentd::http {

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string path;                                          // decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::unordered_map<std::string, std::string> params;  // from the route pattern

  // First value, or "" when absent. `name` must be lowercase.
  std::string_view Header(std::string_view name) const;
  std::optional<std::string> Query(std::string_view name) const;
};

// Writes body chunks of a streamed response. Returns false once the client is gone.
class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  virtual boost::asio::awaitable<bool> Write(std::string_view data) = 0;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the response is streamed: headers go out, then this writes the body; the
  // connection closes when it returns.
  std::function<boost::asio::awaitable<void>(ChunkWriter&)> stream;

  static HttpResponse Json(int status, const nlohmann::json& body);
  static HttpResponse Empty(int status);
};

using Handler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest&)>;

}  // namespace agentd::http
