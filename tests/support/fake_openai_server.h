// A fake OpenAI-compatible provider for tests: a real HTTP/1.1 server on 127.0.0.1 (port 0)
// that answers POST .../chat/completions with the exact Chat Completions streaming wire format
// (chunked `text/event-stream`, `data: {...}` events, `data: [DONE]`). Replies are scripted in
// a queue; with the queue empty it streams a short default text. Every request is recorded,
// and client disconnects seen mid-stream are counted; tests wait for either with WaitFor.
// Thread safety: every method may be called from any thread. One thread per connection, all
// joined by the destructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace agentd::testing {

struct FakeChunk {
  std::string payload;                 // the event's data, sent as "data: <payload>\n\n"
  std::chrono::milliseconds delay{0};  // waited before sending it
  bool raw = false;                    // payload is sent verbatim (to cut events at odd places)
};

struct FakeReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Retry-After", "0"}
  std::vector<FakeChunk> chunks;                             // status 200: the SSE stream
  std::string body;   // otherwise: a JSON body (e.g. an error object)
  bool hang = false;  // after the chunks, keep the connection open until the client leaves
  bool drop = false;  // after the chunks, close the connection without ending the stream
};

// Payload builders for the shapes the real API sends.
namespace fake_openai {
std::string RoleChunk();
std::string TextChunk(const std::string& text);
// One tool-call fragment; id and name are omitted from the JSON when empty.
std::string ToolCallChunk(int index, const std::string& id, const std::string& name,
                          const std::string& arguments_piece);
std::string FinishChunk(const std::string& reason);
std::string UsageChunk(int64_t prompt_tokens, int64_t completion_tokens);  // "choices": []
inline constexpr char kDone[] = "[DONE]";

// A whole text stream: role, one chunk per delta, finish "stop", usage, [DONE].
FakeReply TextReply(const std::vector<std::string>& deltas, int64_t prompt_tokens = 5,
                    int64_t completion_tokens = 7);
// A non-streaming error: {"error":{"message","type","code"}}.
FakeReply ErrorReply(int status, const std::string& message,
                     std::vector<std::pair<std::string, std::string>> headers = {});
}  // namespace fake_openai

struct RecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  nlohmann::json json;  // the parsed body (null when not JSON)
};

class FakeOpenAiServer {
 public:
  struct State {
    std::vector<RecordedRequest> requests;
    int disconnects = 0;  // clients that left before a stream ended
    int active_connections = 0;
  };

  FakeOpenAiServer();  // listens at once; aborts the test on failure
  ~FakeOpenAiServer();
  FakeOpenAiServer(const FakeOpenAiServer&) = delete;
  FakeOpenAiServer& operator=(const FakeOpenAiServer&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:<port>/v1"

  void Push(FakeReply reply);
  State Snapshot() const;
  std::vector<RecordedRequest> requests() const { return Snapshot().requests; }
  // Waits until `pred(state)` holds; false after `timeout`.
  bool WaitFor(const std::function<bool(const State&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  void AcceptLoop();
  void Serve(int fd);
  // False when the client went away.
  bool Answer(int fd, const FakeReply& reply);

  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};  // readable once the server stops
  int port_ = 0;
  std::thread acceptor_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<FakeReply> replies_;      // guarded by mu_
  State state_;                        // guarded by mu_
  std::vector<std::thread> handlers_;  // guarded by mu_
};

}  // namespace agentd::testing
