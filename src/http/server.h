// HttpServer: HTTP/1.1 over Beast with C++20 coroutines, one coroutine per connection on the
// shared io_context (no thread per connection). Reads a request's header, routes it, reads its
// body whole (bounded) or hands the handler a BodyReader for routes that stream it, answers
// CORS preflights, writes the handler's response or streams its chunked body.
// Thread safety: Listen/Stop from one thread; sessions run on the io_context's threads.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "http/router.h"

namespace agentd::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;               // 0 = any free port
  size_t max_body_bytes = 64u << 20;  // of bodies read whole (Router::BodyMode::kWhole)
  // What the server still reads of a streamed body its handler left unread (a refused
  // upload), so a client still sending can read the answer; past it the connection closes.
  size_t upload_drain_bytes = 16u << 20;
  std::chrono::milliseconds read_timeout{30000};
  std::vector<std::string> cors_allowed_origins;  // empty = no CORS headers
};

class HttpServer {
 public:
  // REQUIRES: io and router outlive the server.
  HttpServer(boost::asio::io_context& io, const Router& router, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting. Returns the bound port.
  Result<uint16_t> Listen();
  // Stops accepting new connections (open ones finish their current exchange).
  void StopAccepting();
  // Streamed responses (SSE) still being written; shutdown waits for them to flush.
  int active_streams() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentd::http
