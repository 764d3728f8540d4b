// Helpers shared by the integration tests (tests/integration/*_itest.cc): a per-user API
// wrapper over HttpClient for the agent-run endpoints, a fixture base that runs one agentd per
// test suite, and event-sequence predicates.
// Thread safety: Api is immutable after construction and may be used from any thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/agentd_process.h"
#include "support/http_client.h"

namespace agentd::testing {

// One user of a running server: their token and the calls they make.
class Api {
 public:
  Api(const AgentdProcess& server, std::string user, std::string token);

  const std::string& user() const { return user_; }
  const std::string& token() const { return token_; }
  Headers Auth() const { return {{"Authorization", "Bearer " + token_}}; }
  const HttpClient& http() const { return http_; }

  // POST /agent/start as multipart/form-data.
  Response Start(const Fields& fields, const Headers& extra = {}) const;
  Response StartUrlencoded(const Fields& fields) const;
  // `n` starts with the same fields sent at once from `n` threads; the replies in order.
  std::vector<Response> StartInParallel(int n, const Fields& fields) const;
  // Starts and returns the 200 body; a gtest failure (and an empty object) otherwise.
  nlohmann::json StartOk(const Fields& fields) const;
  Response Get(const std::string& path, const Headers& extra = {}) const;
  // POST with `body`; a Content-Type header only when `content_type` is not empty.
  Response Post(const std::string& path, const std::string& body = "",
                const std::string& content_type = "") const;
  // POST /agent-run/{id}/stop the way clients do: Content-Type application/json, empty body.
  Response Stop(const std::string& run_id) const;

  // Opens GET /agent-run/{id}/stream[query] with this user's Authorization header (unless
  // `with_auth` is false) plus `extra`.
  std::unique_ptr<SseStream> OpenStream(const std::string& run_id, const Headers& extra = {},
                                        const std::string& query = "", bool with_auth = true) const;
  // Streams the run until the server ends it.
  StreamResult Finish(const std::string& run_id,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

 private:
  HttpClient http_;
  std::string user_;
  std::string token_;
};

// A JSON string as std::string ("" for anything else); for building Fields from replies.
inline std::string Str(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : std::string();
}

// j[k1][k2]... or null when a step is missing or not an object; never throws, never asserts
// (const operator[] on a missing key is undefined behaviour in nlohmann::json).
inline nlohmann::json At(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return *cur;
}
// At(...) as a string, "" when absent or not a string.
inline std::string StrAt(const nlohmann::json& j, std::initializer_list<const char*> path) {
  return Str(At(j, path));
}

// A user id no other test uses (so every test gets a fresh free-tier account).
std::string UniqueUser(std::string_view prefix);

bool LooksLikeUuid(const nlohmann::json& v);
// A terminal {"type":"status","status":completed|failed|stopped} event.
bool IsTerminal(const SseEvent& e);
// One line per event, for failure messages.
std::string Describe(const std::vector<SseEvent>& events);
// Checks ids are 1..N (offset by `first_seq` - 1), strictly consecutive, each with a matching
// "_event_id"; returns a failure describing the first violation.
::testing::AssertionResult SeqsConsecutiveFrom(const std::vector<SseEvent>& events,
                                               long long first_seq);
// Checks the stream ended cleanly by the server with exactly one terminal event, last.
::testing::AssertionResult EndsWithTerminal(const StreamResult& r, const std::string& status);
// The concatenated content of the `assistant` chunk events.
std::string ChunkText(const std::vector<SseEvent>& events);
std::vector<SseEvent> OfType(const std::vector<SseEvent>& events, const std::string& type);

// Base fixture: one agentd for the whole test suite (SetUpTestSuite -> StartSharedServer).
class SharedServerTest : public ::testing::Test {
 protected:
  static void StartSharedServer(const AgentdProcess::Options& options = {});
  static void StopSharedServer();
  static AgentdProcess* server() { return server_.get(); }

  void SetUp() override { ASSERT_NE(server_, nullptr) << start_error_; }
  // A new user with a token from `agentd token`.
  Api NewUser(std::string_view prefix = "user") const;

 private:
  static std::unique_ptr<AgentdProcess> server_;
  static std::string start_error_;
};

inline constexpr auto kStreamTimeout = std::chrono::seconds(20);

}  // namespace agentd::testing
