// A small libcurl HTTP client for the integration tests: one-shot requests (JSON, multipart,
// urlencoded, any method) and an SSE reader that parses a stream on a background thread.
// Thread safety: HttpClient is stateless (each request has its own curl handle) and may be used
// from any thread. An SseStream is owned by one test thread; its reader thread is internal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace agentd::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Response {
  long status = 0;  // 0 when the request itself failed (see `error`)
  Headers headers;
  std::string body;
  std::string error;  // curl's error text when status == 0

  // Case-insensitive header lookup; the first value.
  std::optional<std::string> Header(std::string_view name) const;
  // The body as JSON, or a discarded value when it is not JSON.
  nlohmann::json Json() const;
};

// A part of a multipart/form-data body; a file part when `filename` is set.
struct Part {
  std::string name;
  std::string value;
  std::string filename;
  std::string content_type;
};

class HttpClient {
 public:
  explicit HttpClient(std::string base_url) : base_url_(std::move(base_url)) {}

  // Sends `body` as is (no body at all when `body` is empty and the method is GET/OPTIONS).
  // `path` is appended to the base URL and may carry a query.
  Response Request(const std::string& method, const std::string& path, const Headers& headers,
                   const std::string& body = "",
                   std::chrono::milliseconds timeout = std::chrono::seconds(15)) const;
  Response PostMultipart(const std::string& path, const Headers& headers,
                         const std::vector<Part>& parts) const;
  Response PostUrlencoded(const std::string& path, const Headers& headers,
                          const Fields& fields) const;

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
};

// Percent-encodes for a URL query or form value.
std::string UrlEncode(std::string_view s);

struct SseEvent {
  std::optional<std::string> id;  // the `id:` line, absent for pings
  std::string data;               // data lines joined with '\n'
  nlohmann::json json;            // `data` parsed; discarded when not JSON

  std::string type() const;
  bool IsPing() const { return type() == "ping"; }
  // `id` as a number, or -1.
  long long Seq() const;
};

// A live SSE connection read on a background thread. Events are queued; the test pulls them
// with Next() (waits on a condition variable, never sleeps).
class SseStream {
 public:
  SseStream(const std::string& url, const Headers& headers);
  ~SseStream();  // Close()
  SseStream(const SseStream&) = delete;
  SseStream& operator=(const SseStream&) = delete;

  // The next event (pings included) within `timeout`; nullopt on timeout or when the stream
  // ended and every event was taken.
  std::optional<SseEvent> Next(std::chrono::milliseconds timeout);
  // Like Next but skips pings (counting them in pings_seen()).
  std::optional<SseEvent> NextNonPing(std::chrono::milliseconds timeout);

  // Waits until the response headers arrived (or the transfer ended); the HTTP status or 0.
  long WaitStatus(std::chrono::milliseconds timeout);
  // Waits until the transfer ended. True if it did within `timeout`.
  bool WaitEnded(std::chrono::milliseconds timeout);
  bool ended() const;
  // True when the transfer ended by itself (server closed it cleanly), not by Close().
  bool ClosedByServer() const;
  std::string curl_error() const;
  std::optional<std::string> Header(std::string_view name) const;
  std::string raw_body() const;  // every byte received
  int pings_seen() const;

  // Ends the connection from the client side. Idempotent.
  void Close();

 private:
  void Run();
  static size_t OnData(char* ptr, size_t size, size_t n, void* self);
  static size_t OnHeader(char* ptr, size_t size, size_t n, void* self);
  void ParseLocked();

  void* easy_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM*
  void* header_list_ = nullptr;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SseEvent> queue_;      // guarded by mu_
  std::string pending_;             // guarded by mu_: unparsed bytes
  std::string raw_;                 // guarded by mu_
  SseEvent building_;               // guarded by mu_
  bool building_has_data_ = false;  // guarded by mu_
  Response head_;                   // guarded by mu_: status + headers
  bool headers_done_ = false;       // guarded by mu_
  bool ended_ = false;              // guarded by mu_
  bool stop_requested_ = false;     // guarded by mu_
  bool clean_end_ = false;          // guarded by mu_
  int pings_ = 0;                   // guarded by mu_
  std::string curl_error_;          // guarded by mu_
};

// Reads non-ping events until the server ends the stream or `timeout` passes.
struct StreamResult {
  std::vector<SseEvent> events;  // non-ping, in order
  int pings = 0;
  bool ended = false;  // the transfer ended within the timeout
  bool closed_by_server = false;
  long status = 0;
};
StreamResult ReadToEnd(SseStream& stream, std::chrono::milliseconds timeout);

}  // namespace agentd::testing
