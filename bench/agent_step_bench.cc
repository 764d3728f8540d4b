// Agent loop overhead per model step against a zero-latency OpenAI-compatible provider
// (FakeOpenAiServer on loopback). Two phases, same fake, same process:
//   baseline: a raw libcurl loop (one easy handle, keep-alive) POSTing a chat request and
//             reading the whole stream: the floor of one model step on this machine;
//   agent:    agent::RunAgent with OpenAiLlmClient on a CurlMultiLoop, a no-op tool and a
//             RunIo that discards events; each run is 2 steps (a tool call, then text).
// Prints steps/s and per-step latency p50/p99 of both and `FIGURE <key> <value>` lines for
// scripts/bench.sh. Usage: agent_step_bench [--steps N] (default 2000).
#include <curl/curl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_loop.h"
#include "agent/tool.h"
#include "llm/openai/curl_multi_loop.h"
#include "llm/openai/openai_llm_client.h"
#include "support/fake_openai_server.h"

namespace {

namespace asio = boost::asio;
using namespace agentd;
using Clock = std::chrono::steady_clock;
namespace fo = agentd::testing::fake_openai;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

class NoopTool final : public agent::Tool {
 public:
  llm::ToolSchema Schema() const override {
    return {
        "noop", "Does nothing.", {{"type", "object"}, {"properties", nlohmann::json::object()}}};
  }
  asio::awaitable<agent::ToolResult> Run(const nlohmann::json&) override {
    co_return agent::ToolResult{true, "ok", "", nlohmann::json::object()};
  }
};

class DiscardIo final : public agent::RunIo {
 public:
  void Emit(nlohmann::json) override { ++events; }
  std::string SaveMessage(const std::string&, nlohmann::json, nlohmann::json) override {
    return "msg_" + std::to_string(++messages);
  }
  asio::awaitable<Status> BeforeStep() override { co_return Status::Ok(); }
  int64_t events = 0;
  int64_t messages = 0;
};

// Records when each model call starts, so per-step latency covers the loop's own work too.
class TimedClient final : public llm::LlmClient {
 public:
  explicit TimedClient(llm::LlmClient& inner) : inner_(inner) {}
  asio::awaitable<Result<llm::LlmResponse>> Stream(const llm::LlmRequest& request,
                                                   llm::LlmStreamSink& sink) override {
    starts.push_back(Clock::now());
    co_return co_await inner_.Stream(request, sink);
  }
  std::vector<Clock::time_point> starts;

 private:
  llm::LlmClient& inner_;
};

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

void Report(const char* name, int steps, Clock::duration total, const std::vector<double>& us) {
  const double secs = std::chrono::duration<double>(total).count();
  std::printf("%-9s %6d steps in %.3f s: %.0f steps/s, per step p50 %.1f us, p99 %.1f us\n", name,
              steps, secs, steps / secs, Percentile(us, 0.5), Percentile(us, 0.99));
  std::printf("FIGURE %s_steps_per_s %.1f\n", name, steps / secs);
  std::printf("FIGURE %s_p50_us %.1f\n", name, Percentile(us, 0.5));
  std::printf("FIGURE %s_p99_us %.1f\n", name, Percentile(us, 0.99));
}

agentd::testing::FakeReply ToolCallReply(int i) {
  agentd::testing::FakeReply r;
  r.chunks = {{fo::RoleChunk()},
              {fo::ToolCallChunk(0, "call_" + std::to_string(i), "noop", "")},
              {fo::ToolCallChunk(0, "", "", "{}")},
              {fo::FinishChunk("tool_calls")},
              {fo::UsageChunk(20, 5)},
              {fo::kDone}};
  return r;
}

// The raw floor: one keep-alive easy handle, `steps` sequential requests.
void Baseline(const std::string& base_url, int steps) {
  const std::string url = base_url + "/chat/completions";
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,)"
      R"("stream_options":{"include_usage":true}})";
  CURL* easy = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  std::vector<double> us;
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto s = Clock::now();
    if (curl_easy_perform(easy) != CURLE_OK) {
      std::fprintf(stderr, "baseline request %d failed\n", i);
      break;
    }
    us.push_back(Micros(Clock::now() - s));
  }
  Report("baseline", static_cast<int>(us.size()), Clock::now() - t0, us);
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
}

void AgentLoop(agentd::testing::FakeOpenAiServer& fake, int steps) {
  const int runs = steps / 2;
  for (int i = 0; i < runs; ++i) {
    fake.Push(ToolCallReply(i));
    fake.Push(fo::TextReply({"done"}, 30, 1));
  }
  asio::io_context io;
  auto loop = llm::openai::CurlMultiLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "%s\n", loop.status().message().c_str());
    std::exit(1);
  }
  llm::openai::OpenAiOptions options;
  options.name = "fake";
  options.base_url = fake.base_url();
  llm::openai::OpenAiLlmClient client(options, **loop);
  TimedClient timed(client);
  std::vector<std::unique_ptr<agent::Tool>> tools;
  tools.push_back(std::make_unique<NoopTool>());
  auto registry = agent::NewToolRegistry(std::move(tools));
  DiscardIo run_io;
  agent::AgentConfig config;
  config.model_name = "fake/model";
  config.upstream_model = "model";
  config.max_steps = 4;

  std::vector<double> us;
  int failures = 0;
  const auto t0 = Clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < runs; ++i) {
          timed.starts.clear();
          llm::ChatMessage user;
          user.role = "user";
          user.content = "call noop, then say done";
          std::vector<llm::ChatMessage> history = {user};
          auto r = co_await agent::RunAgent(timed, *registry, run_io, config, std::move(history));
          const auto end = Clock::now();
          if (!r.ok() || timed.starts.size() != 2) {
            ++failures;
            continue;
          }
          us.push_back(Micros(timed.starts[1] - timed.starts[0]));
          us.push_back(Micros(end - timed.starts[1]));
        }
      },
      asio::detached);
  io.run();
  if (failures > 0) std::fprintf(stderr, "agent: %d runs failed\n", failures);
  Report("agent", static_cast<int>(us.size()), Clock::now() - t0, us);
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 2000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--steps") == 0) steps = std::max(2, std::atoi(argv[i + 1]));
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  {
    agentd::testing::FakeOpenAiServer fake;
    Baseline(fake.base_url(), steps);
    AgentLoop(fake, steps);
  }
  curl_global_cleanup();
  return 0;
}
