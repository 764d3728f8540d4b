#include "support/itest_api.h"

#include <unistd.h>

#include <atomic>
#include <sstream>
#include <thread>

namespace agentd::testing {

std::unique_ptr<AgentdProcess> SharedServerTest::server_;
std::string SharedServerTest::start_error_;

Api::Api(const AgentdProcess& server, std::string user, std::string token)
    : http_(server.base_url()), user_(std::move(user)), token_(std::move(token)) {}

Response Api::Start(const Fields& fields, const Headers& extra) const {
  std::vector<Part> parts;
  for (const auto& [k, v] : fields) parts.push_back({k, v, "", ""});
  Headers headers = Auth();
  headers.insert(headers.end(), extra.begin(), extra.end());
  return http_.PostMultipart("/agent/start", headers, parts);
}

std::vector<Response> Api::StartInParallel(int n, const Fields& fields) const {
  std::vector<Response> replies(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { replies[i] = Start(fields); });
  }
  for (auto& t : threads) t.join();
  return replies;
}

Response Api::StartUrlencoded(const Fields& fields) const {
  return http_.PostUrlencoded("/agent/start", Auth(), fields);
}

nlohmann::json Api::StartOk(const Fields& fields) const {
  Response r = Start(fields);
  if (r.status != 200) {
    ADD_FAILURE() << "POST /agent/start -> " << r.status << " " << r.body << r.error;
    return nlohmann::json::object();
  }
  nlohmann::json j = r.Json();
  if (!j.is_object() || !j.contains("agent_run_id") || !j["agent_run_id"].is_string()) {
    ADD_FAILURE() << "POST /agent/start body has no agent_run_id: " << r.body;
    return nlohmann::json::object();
  }
  return j;
}

Response Api::Get(const std::string& path, const Headers& extra) const {
  Headers headers = Auth();
  headers.insert(headers.end(), extra.begin(), extra.end());
  return http_.Request("GET", path, headers);
}

Response Api::Post(const std::string& path, const std::string& body,
                   const std::string& content_type) const {
  Headers headers = Auth();
  if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
  return http_.Request("POST", path, headers, body);
}

Response Api::Stop(const std::string& run_id) const {
  return Post("/agent-run/" + run_id + "/stop", "", "application/json");
}

std::unique_ptr<SseStream> Api::OpenStream(const std::string& run_id, const Headers& extra,
                                           const std::string& query, bool with_auth) const {
  Headers headers = with_auth ? Auth() : Headers{};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return std::make_unique<SseStream>(http_.base_url() + "/agent-run/" + run_id + "/stream" + query,
                                     headers);
}

StreamResult Api::Finish(const std::string& run_id, std::chrono::milliseconds timeout) const {
  auto stream = OpenStream(run_id);
  return ReadToEnd(*stream, timeout);
}

std::string UniqueUser(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return std::string(prefix) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

bool LooksLikeUuid(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const std::string s = v.get<std::string>();
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool IsTerminal(const SseEvent& e) {
  if (e.type() != "status") return false;
  const std::string s = StrAt(e.json, {"status"});
  return s == "completed" || s == "failed" || s == "stopped";
}

std::string Describe(const std::vector<SseEvent>& events) {
  std::ostringstream out;
  for (const SseEvent& e : events) {
    out << "  id=" << (e.id ? *e.id : "<none>") << " " << e.data << "\n";
  }
  return out.str();
}

::testing::AssertionResult SeqsConsecutiveFrom(const std::vector<SseEvent>& events,
                                               long long first_seq) {
  long long want = first_seq;
  for (const SseEvent& e : events) {
    if (e.Seq() != want) {
      return ::testing::AssertionFailure()
             << "expected id " << want << ", got " << (e.id ? *e.id : "<none>") << " in\n"
             << Describe(events);
    }
    if (StrAt(e.json, {"_event_id"}) != std::to_string(want)) {
      return ::testing::AssertionFailure()
             << "event " << want << " lacks \"_event_id\":\"" << want << "\": " << e.data;
    }
    ++want;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult EndsWithTerminal(const StreamResult& r, const std::string& status) {
  if (!r.ended) {
    return ::testing::AssertionFailure() << "stream did not end; events so far:\n"
                                         << Describe(r.events);
  }
  if (!r.closed_by_server) {
    return ::testing::AssertionFailure() << "stream ended with a transfer error";
  }
  if (r.events.empty() || !IsTerminal(r.events.back())) {
    return ::testing::AssertionFailure() << "last event is not terminal:\n" << Describe(r.events);
  }
  for (size_t i = 0; i + 1 < r.events.size(); ++i) {
    if (IsTerminal(r.events[i])) {
      return ::testing::AssertionFailure() << "terminal event before the end:\n"
                                           << Describe(r.events);
    }
  }
  const std::string last = StrAt(r.events.back().json, {"status"});
  if (last != status) {
    return ::testing::AssertionFailure()
           << "terminal status " << last << ", want " << status << "; events:\n"
           << Describe(r.events);
  }
  return ::testing::AssertionSuccess();
}

std::string ChunkText(const std::vector<SseEvent>& events) {
  std::string text;
  for (const SseEvent& e : events) {
    if (e.type() != "assistant") continue;
    if (StrAt(e.json, {"metadata", "stream_status"}) == "chunk") {
      text += StrAt(e.json, {"content", "content"});
    }
  }
  return text;
}

std::vector<SseEvent> OfType(const std::vector<SseEvent>& events, const std::string& type) {
  std::vector<SseEvent> out;
  for (const SseEvent& e : events) {
    if (e.type() == type) out.push_back(e);
  }
  return out;
}

void SharedServerTest::StartSharedServer(const AgentdProcess::Options& options) {
  start_error_.clear();
  server_ = AgentdProcess::Start(options, &start_error_);
}

void SharedServerTest::StopSharedServer() { server_.reset(); }

Api SharedServerTest::NewUser(std::string_view prefix) const {
  std::string user = UniqueUser(prefix);
  std::string token = server_->MintToken(user);
  return Api(*server_, user, token);
}

}  // namespace agentd::testing
