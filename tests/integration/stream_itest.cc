// GET /agent-run/{id}/stream against the real server: the event sequence, ids, resume with
// Last-Event-ID and ?last_id=, 204 at the end, ?token= auth, replay, fan-out and heartbeats.
#include <gtest/gtest.h>

#include "core/ids.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

using std::chrono::milliseconds;

class StreamItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() { StartSharedServer(); }  // heartbeat_ms = 200
  static void TearDownTestSuite() { StopSharedServer(); }
};

// Index of the first event of `type` at or after `from`, or -1.
int IndexOf(const std::vector<SseEvent>& events, const std::string& type, size_t from = 0) {
  for (size_t i = from; i < events.size(); ++i) {
    if (events[i].type() == type) return static_cast<int>(i);
  }
  return -1;
}

bool SameEvents(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].json != b[i].json) return false;
  }
  return true;
}

TEST_F(StreamItest, PlainRunHasTheFullEventSequenceWithConsecutiveIds) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "hello brave new world"}});
  const StreamResult s = a.Finish(start["agent_run_id"]);
  ASSERT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(s.events, 1));
  const auto& ev = s.events;
  ASSERT_GE(ev.size(), 5u) << Describe(ev);
  EXPECT_EQ(ev.front().type(), "ack") << Describe(ev);
  const int llm_start = IndexOf(ev, "llm_response_start");
  const int first_assistant = IndexOf(ev, "assistant");
  const int llm_end = IndexOf(ev, "llm_response_end");
  ASSERT_GE(llm_start, 1) << Describe(ev);
  ASSERT_GT(first_assistant, llm_start) << Describe(ev);
  ASSERT_GT(llm_end, first_assistant) << Describe(ev);
  // Chunks, then one complete message with a message_id, then llm_response_end with usage.
  int complete = -1;
  for (int i = first_assistant; i < llm_end; ++i) {
    ASSERT_EQ(ev[i].type(), "assistant") << Describe(ev);
    const std::string status = StrAt(ev[i].json, {"metadata", "stream_status"});
    if (status == "complete") {
      complete = i;
    } else {
      EXPECT_EQ(status, "chunk") << ev[i].data;
      EXPECT_EQ(complete, -1) << "chunk after the complete message:\n" << Describe(ev);
    }
  }
  ASSERT_EQ(complete, llm_end - 1) << Describe(ev);
  EXPECT_TRUE(ev[complete].json.contains("message_id")) << ev[complete].data;
  const std::string full = StrAt(ev[complete].json, {"content", "content"});
  EXPECT_EQ(ChunkText(ev), full) << "chunks add up to the complete message";
  for (const char* word : {"hello", "brave", "new", "world"}) {
    EXPECT_NE(full.find(word), std::string::npos) << full;
  }
  EXPECT_GE(OfType(ev, "assistant").size(), 3u) << "echoed word by word";
  const nlohmann::json usage = At(ev[llm_end].json, {"usage"});
  ASSERT_TRUE(usage.is_object()) << ev[llm_end].data;
  EXPECT_TRUE(usage.contains("prompt_tokens") && usage.contains("completion_tokens") &&
              usage.contains("total_tokens"))
      << ev[llm_end].data;
  EXPECT_EQ(ev.back().json.value("message", ""), "completed") << ev.back().data;
  EXPECT_EQ(s.status, 200);
}

TEST_F(StreamItest, StreamDoesNotRequireAcceptHeaderAndIsEventStream) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "content type"}});
  auto stream = a.OpenStream(start["agent_run_id"], {{"Accept", ""}});
  ASSERT_EQ(stream->WaitStatus(milliseconds(5000)), 200);
  EXPECT_NE(stream->Header("Content-Type").value_or("").find("text/event-stream"),
            std::string::npos);
  EXPECT_TRUE(EndsWithTerminal(ReadToEnd(*stream, kStreamTimeout), "completed"));
}

TEST_F(StreamItest, ReplayOfAFinishedRunIsIdentical) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "replay me please"}});
  const StreamResult live = a.Finish(start["agent_run_id"]);
  ASSERT_TRUE(EndsWithTerminal(live, "completed"));
  const StreamResult replay = a.Finish(start["agent_run_id"]);
  ASSERT_TRUE(EndsWithTerminal(replay, "completed"));
  EXPECT_TRUE(SameEvents(live.events, replay.events)) << "live:\n"
                                                      << Describe(live.events) << "replay:\n"
                                                      << Describe(replay.events);
}

TEST_F(StreamItest, ResumeWithLastEventIdGetsExactlyTheRest) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "one two three four five"}});
  const std::string run = start["agent_run_id"];
  const StreamResult all = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(all, "completed"));
  const long long n = static_cast<long long>(all.events.size());
  ASSERT_GE(n, 4);
  const long long mid = n / 2;
  auto resumed = a.OpenStream(run, {{"Last-Event-ID", std::to_string(mid)}});
  const StreamResult rest = ReadToEnd(*resumed, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(rest, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(rest.events, mid + 1));
  const std::vector<SseEvent> want(all.events.begin() + mid, all.events.end());
  EXPECT_TRUE(SameEvents(want, rest.events)) << Describe(rest.events);
}

TEST_F(StreamItest, ResumeWithLastIdQueryGetsExactlyTheRest) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "alpha beta gamma delta"}});
  const std::string run = start["agent_run_id"];
  const StreamResult all = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(all, "completed"));
  const long long n = static_cast<long long>(all.events.size());
  auto resumed = a.OpenStream(run, {}, "?last_id=2");
  const StreamResult rest = ReadToEnd(*resumed, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(rest, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(rest.events, 3));
  EXPECT_EQ(static_cast<long long>(rest.events.size()), n - 2);
}

TEST_F(StreamItest, ResumeOfALiveRunHasNoGapsOrDuplicates) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "before the pause\n/sleep 700\nafter the pause"}});
  const std::string run = start["agent_run_id"];
  auto first = a.OpenStream(run);
  std::vector<SseEvent> got;
  for (int i = 0; i < 2; ++i) {
    auto e = first->NextNonPing(milliseconds(10000));
    ASSERT_TRUE(e.has_value()) << "no event " << i + 1;
    got.push_back(*e);
  }
  first->Close();
  auto second = a.OpenStream(run, {{"Last-Event-ID", *got.back().id}});
  const StreamResult rest = ReadToEnd(*second, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(rest, "completed"));
  got.insert(got.end(), rest.events.begin(), rest.events.end());
  EXPECT_TRUE(SeqsConsecutiveFrom(got, 1));
  const std::string text = ChunkText(got);
  EXPECT_NE(text.find("before"), std::string::npos) << text;
  EXPECT_NE(text.find("after"), std::string::npos) << text;
  EXPECT_EQ(text.find("/sleep"), std::string::npos) << "directives are not echoed: " << text;
}

TEST_F(StreamItest, ResumeAtOrPastTheTerminalEventIs204) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "short"}});
  const std::string run = start["agent_run_id"];
  const StreamResult all = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(all, "completed"));
  const std::string last = *all.events.back().id;
  Response at = a.Get("/agent-run/" + run + "/stream", {{"Last-Event-ID", last}});
  EXPECT_EQ(at.status, 204) << at.body;
  EXPECT_TRUE(at.body.empty()) << at.body;
  Response past = a.Get("/agent-run/" + run + "/stream",
                        {{"Last-Event-ID", std::to_string(std::stoll(last) + 10)}});
  EXPECT_EQ(past.status, 204) << past.body;
  Response query = a.Get("/agent-run/" + run + "/stream?last_id=" + last);
  EXPECT_EQ(query.status, 204) << query.body;
  // One before the end still gets the terminal event.
  auto almost = a.OpenStream(run, {{"Last-Event-ID", std::to_string(std::stoll(last) - 1)}});
  const StreamResult one = ReadToEnd(*almost, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(one, "completed"));
  EXPECT_EQ(one.events.size(), 1u) << Describe(one.events);
}

TEST_F(StreamItest, TokenQueryParameterAuthenticatesTheStream) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "query token"}});
  const std::string run = start["agent_run_id"];
  auto stream = a.OpenStream(run, {}, "?token=" + UrlEncode(a.token()), /*with_auth=*/false);
  const StreamResult s = ReadToEnd(*stream, kStreamTimeout);
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(s.events, 1));
  Response bad = a.http().Request("GET", "/agent-run/" + run + "/stream?token=not.a.jwt", {});
  EXPECT_EQ(bad.status, 401) << bad.body;
  Response none = a.http().Request("GET", "/agent-run/" + run + "/stream", {});
  EXPECT_EQ(none.status, 401) << none.body;
}

TEST_F(StreamItest, TwoSubscribersGetIdenticalSequences) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "fan out\n/sleep 500\nto both of you"}});
  const std::string run = start["agent_run_id"];
  auto s1 = a.OpenStream(run);
  auto s2 = a.OpenStream(run);
  const StreamResult r1 = ReadToEnd(*s1, kStreamTimeout);
  const StreamResult r2 = ReadToEnd(*s2, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(r1, "completed"));
  ASSERT_TRUE(EndsWithTerminal(r2, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(r1.events, 1));
  EXPECT_TRUE(SameEvents(r1.events, r2.events)) << "first:\n"
                                                << Describe(r1.events) << "second:\n"
                                                << Describe(r2.events);
}

TEST_F(StreamItest, IdleRunGetsHeartbeatPingsWithoutIds) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/sleep 5000"}});
  const std::string run = start["agent_run_id"];
  auto stream = a.OpenStream(run);
  std::optional<SseEvent> ping;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(3000);
  while (!ping && std::chrono::steady_clock::now() < deadline) {
    auto e = stream->Next(milliseconds(3000));
    if (!e) break;
    if (e->IsPing()) ping = e;
  }
  ASSERT_TRUE(ping.has_value()) << "no ping within 3 s with heartbeat_ms = 200";
  EXPECT_FALSE(ping->id.has_value()) << "pings carry no id";
  EXPECT_EQ(ping->json, nlohmann::json({{"type", "ping"}})) << ping->data;
  ASSERT_EQ(a.Stop(run).status, 200);
  const StreamResult rest = ReadToEnd(*stream, kStreamTimeout);
  EXPECT_TRUE(EndsWithTerminal(rest, "stopped"));
}

TEST_F(StreamItest, FailingModelEndsFailedWithItsMessage) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "/fail provider exploded"}});
  const std::string run = start["agent_run_id"];
  const StreamResult s = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(s, "failed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(s.events, 1));
  EXPECT_EQ(s.events.back().json.value("message", ""), "provider exploded");
  const auto errors = OfType(s.events, "error");
  ASSERT_EQ(errors.size(), 1u) << Describe(s.events);
  EXPECT_EQ(errors[0].json.value("error", ""), "provider exploded");
  EXPECT_TRUE(errors[0].json.contains("error_code")) << errors[0].data;
  Response got = a.Get("/agent-run/" + run);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json()["status"], "failed");
  EXPECT_EQ(got.Json()["error"], "provider exploded");
  Response status = a.Get("/agent-runs/" + run + "/status");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.Json(), nlohmann::json({{"status", "failed"}, {"error", "provider exploded"}}));
}

TEST_F(StreamItest, ToolDirectiveProducesToolEventsAndContinues) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "look it up\n/tool web_search {\"query\":\"x\"}\nthen done"}});
  const StreamResult s = a.Finish(start["agent_run_id"]);
  ASSERT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(s.events, 1));
  const int started = IndexOf(s.events, "tool_started");
  const int result = IndexOf(s.events, "tool");
  const int failed = IndexOf(s.events, "tool_failed");
  ASSERT_GE(started, 0) << Describe(s.events);
  ASSERT_GT(result, started) << Describe(s.events);
  ASSERT_GT(failed, result) << Describe(s.events);
  nlohmann::json st = s.events[started].json;
  EXPECT_EQ(st.value("function_name", ""), "web_search") << st.dump();
  const std::string call_id = st.value("tool_call_id", "");
  EXPECT_FALSE(call_id.empty()) << st.dump();
  nlohmann::json tool = s.events[result].json;
  EXPECT_EQ(tool["content"].value("tool_call_id", ""), call_id) << tool.dump();
  EXPECT_EQ(tool["metadata"]["result"].value("success", true), false) << tool.dump();
  EXPECT_NE(tool["metadata"]["result"].value("error", "").find("Unknown tool: web_search"),
            std::string::npos)
      << tool.dump();
  EXPECT_EQ(s.events[failed].json.value("tool_call_id", ""), call_id);
  EXPECT_EQ(IndexOf(s.events, "tool_completed"), -1);
  // The model saw the tool error and went on: a second model step after the tool.
  EXPECT_GT(IndexOf(s.events, "llm_response_start", failed), failed) << Describe(s.events);
  EXPECT_NE(ChunkText(s.events).find("done"), std::string::npos) << Describe(s.events);
}

TEST_F(StreamItest, UnknownRunIs404) {
  Api a = NewUser();
  Response missing = a.Get("/agent-run/" + NewUuid() + "/stream");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(missing.Json().value("detail", ""), "Agent run not found") << missing.body;
}

TEST_F(StreamItest, ConcurrentRunsDoNotSeeEachOthersEvents) {
  Api a = NewUser("left");
  Api b = NewUser("right");
  auto ra = a.StartOk({{"prompt", "apples apples\n/sleep 300\napples"}});
  auto rb = b.StartOk({{"prompt", "bananas bananas\n/sleep 300\nbananas"}});
  auto sa = a.OpenStream(ra["agent_run_id"]);
  auto sb = b.OpenStream(rb["agent_run_id"]);
  const StreamResult xa = ReadToEnd(*sa, kStreamTimeout);
  const StreamResult xb = ReadToEnd(*sb, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(xa, "completed"));
  ASSERT_TRUE(EndsWithTerminal(xb, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(xa.events, 1));
  EXPECT_TRUE(SeqsConsecutiveFrom(xb.events, 1));
  const std::string ta = ChunkText(xa.events);
  const std::string tb = ChunkText(xb.events);
  EXPECT_NE(ta.find("apples"), std::string::npos) << ta;
  EXPECT_EQ(ta.find("bananas"), std::string::npos) << ta;
  EXPECT_NE(tb.find("bananas"), std::string::npos) << tb;
  EXPECT_EQ(tb.find("apples"), std::string::npos) << tb;
}

TEST_F(StreamItest, LongRunStreamsEveryEventInOrderToLiveAndLateSubscribers) {
  Api a = NewUser();
  std::string prompt;
  for (int i = 0; i < 3000; ++i) prompt += "w" + std::to_string(i) + " ";
  auto start = a.StartOk({{"prompt", prompt}});
  const std::string run = start["agent_run_id"];
  auto live = a.OpenStream(run);
  const StreamResult first = ReadToEnd(*live, milliseconds(60000));
  ASSERT_TRUE(EndsWithTerminal(first, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(first.events, 1));
  const std::string text = ChunkText(first.events);
  EXPECT_NE(text.find("w0 "), std::string::npos);
  EXPECT_NE(text.find("w2999"), std::string::npos);
  EXPECT_GE(first.events.size(), 3000u);
  const StreamResult late = a.Finish(run, milliseconds(60000));
  ASSERT_TRUE(EndsWithTerminal(late, "completed"));
  EXPECT_TRUE(SameEvents(first.events, late.events));
}

TEST_F(StreamItest, LateJoinerOfALiveRunGetsEverythingFromTheStart) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "early words here\n/sleep 500\nlate words here"}});
  const std::string run = start["agent_run_id"];
  auto early = a.OpenStream(run);
  std::vector<SseEvent> seen;
  // Wait until the run is visibly under way (the first chunk), then join.
  while (ChunkText(seen).find("early") == std::string::npos) {
    auto e = early->NextNonPing(milliseconds(10000));
    ASSERT_TRUE(e.has_value()) << Describe(seen);
    seen.push_back(*e);
  }
  auto late = a.OpenStream(run);
  const StreamResult l = ReadToEnd(*late, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(l, "completed"));
  EXPECT_TRUE(SeqsConsecutiveFrom(l.events, 1));
  const StreamResult rest = ReadToEnd(*early, kStreamTimeout);
  ASSERT_TRUE(EndsWithTerminal(rest, "completed"));
  seen.insert(seen.end(), rest.events.begin(), rest.events.end());
  EXPECT_TRUE(SameEvents(seen, l.events)) << "early:\n"
                                          << Describe(seen) << "late:\n"
                                          << Describe(l.events);
}

TEST_F(StreamItest, DisconnectingDoesNotStopTheRun) {
  Api a = NewUser();
  auto start = a.StartOk({{"prompt", "keep going\n/sleep 300\nafter disconnect"}});
  const std::string run = start["agent_run_id"];
  {
    auto stream = a.OpenStream(run);
    ASSERT_TRUE(stream->NextNonPing(milliseconds(5000)).has_value());
    stream->Close();
  }
  const StreamResult s = a.Finish(run);
  ASSERT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_NE(ChunkText(s.events).find("disconnect"), std::string::npos);
}

}  // namespace
}  // namespace agentd::testing
