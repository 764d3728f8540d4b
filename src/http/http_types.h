// The HTTP vocabulary handlers speak: plain request/response values and a chunk writer for
// streamed (SSE) bodies. Only http/server.cc touches Beast, so handlers compile quickly.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace agentd::http {

// The body of a request whose route streams it (Router::BodyMode::kStream), read piece by
// piece so it is never held whole. Used by one handler coroutine at a time.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // The next piece of the body, valid until the next call; empty once the body has ended.
  // InvalidArgument for a malformed body (bad chunking), Unavailable when the connection
  // failed or timed out. Answers "100 Continue" first when the client asked for it.
  virtual boost::asio::awaitable<Result<std::string_view>> Read() = 0;
  virtual bool done() const = 0;
  // Body bytes read so far.
  virtual uint64_t bytes_read() const = 0;
};

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string path;                                          // decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;                   // the whole body, unless the route streams it
  BodyReader* body_reader = nullptr;  // set (and `body` empty) when the route streams it
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
  // Close the connection after this response without reading the rest of a streamed request
  // body (the handler already read as much of it as it would).
  bool close = false;

  static HttpResponse Json(int status, const nlohmann::json& body);
  static HttpResponse Empty(int status);
};

using Handler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest&)>;

}  // namespace agentd::http
