#include "app/serve.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/agent_loop.h"
#include "api/agent_api.h"
#include "api/run_api.h"
#include "auth/jwt/jwt_verifier.h"
#include "bus/memory/memory_event_bus.h"
#include "files/upload.h"
#include "http/handlers/agent_handlers.h"
#include "http/handlers/run_handlers.h"
#include "http/server.h"
#include "llm/builtin/echo_llm_client.h"
#include "llm/openai/curl_multi_loop.h"
#include "llm/openai/openai_llm_client.h"
#include "runs/memory_tools.h"
#include "runs/run_service.h"
#include "sandbox/bwrap/bwrap_sandbox.h"
#include "sandbox/tools/sandbox_tools.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::app {
namespace {

namespace asio = boost::asio;

constexpr auto kStreamDrainTimeout = std::chrono::seconds(2);

// One server per data dir: the lock is what makes "every running run at startup belongs to a
// dead process" true, so recovery can reap them at once.
class DataDirLock {
 public:
  static Result<DataDirLock> Acquire(const std::string& data_dir) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    if (ec) return Unavailable("Cannot create data dir " + data_dir + ": " + ec.message());
    const std::string path = data_dir + "/agentd.lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Unavailable("Cannot open " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status(StatusCode::kFailedPrecondition,
                    "Another agentd serve is using the data dir " + data_dir);
    }
    return DataDirLock(fd);
  }
  DataDirLock(DataDirLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~DataDirLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

// The modes a run or an agent may name (API.md section 9): the configured set.
std::vector<std::string> ModeNames(const agent::ModeSet& modes) {
  std::vector<std::string> names;
  for (const agent::Mode& mode : modes.modes()) names.push_back(mode.name);
  return names;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "agentd: %s\n", s.message().c_str());
  return 1;
}

}  // namespace

int Serve(Config config) {
  auto lock = DataDirLock::Acquire(config.data_dir);
  if (!lock.ok()) return Fail(lock.status());

  if (config.jwt_secret.empty()) {
    auto secret = LoadOrCreateJwtSecret(config.data_dir);
    if (!secret.ok()) return Fail(secret.status());
    config.jwt_secret = *secret;
    std::printf(
        "JWT secret: %s/jwt_secret. Get a token with: agentd token --user <id> --data-dir %s\n",
        config.data_dir.c_str(), config.data_dir.c_str());
  }

  const std::string db_path = config.data_dir + "/agentd.db";
  auto store =
      store::sqlite::NewSqliteStore({.path = db_path, .synchronous = config.sqlite_synchronous});
  if (!store.ok()) return Fail(store.status());
  auto bus = bus::memory::NewMemoryEventBus();
  auto echo = llm::builtin::NewEchoLlmClient();

  sandbox::bwrap::BwrapOptions sandbox_options;
  sandbox_options.root = std::filesystem::path(config.data_dir) / "sandboxes";
  sandbox_options.bwrap_path = config.sandbox_bwrap_path;
  sandbox_options.setpriv_path = config.sandbox_setpriv_path;
  sandbox_options.default_timeout = std::chrono::milliseconds(config.sandbox_command_timeout_ms);
  sandbox_options.max_timeout = std::chrono::milliseconds(config.sandbox_max_command_timeout_ms);
  sandbox_options.output_cap_bytes = static_cast<size_t>(config.sandbox_output_cap_bytes);
  sandbox_options.cpu_seconds = config.sandbox_cpu_seconds;
  sandbox_options.memory_bytes = config.sandbox_memory_bytes;
  sandbox_options.max_processes = config.sandbox_max_processes;
  sandbox_options.max_file_bytes = config.sandbox_max_file_bytes;
  sandbox_options.max_open_files = config.sandbox_max_open_files;
  sandbox_options.tmp_bytes = config.sandbox_tmp_bytes;
  sandbox_options.first_uid = static_cast<uint32_t>(config.sandbox_first_uid);
  sandbox_options.seccomp = config.sandbox_seccomp;
  auto sandboxes = sandbox::bwrap::NewBwrapSandboxManager(sandbox_options);
  if (!sandboxes.ok()) return Fail(sandboxes.status());
  auto sandbox_tools = sandbox::tools::NewSandboxToolProvider(
      **sandboxes, {.max_command_timeout = std::chrono::duration_cast<std::chrono::seconds>(
                        sandbox_options.max_timeout)});

  const int threads = config.io_threads > 0
                          ? config.io_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  asio::io_context io(threads);

  // After io: destroyed before it, since its transfers signal io's executors.
  auto curl_loop = llm::openai::CurlMultiLoop::Create();
  if (!curl_loop.ok()) return Fail(curl_loop.status());
  std::vector<std::unique_ptr<llm::LlmClient>> provider_clients;
  std::unordered_map<std::string, llm::LlmClient*> llm_clients = {{"builtin", echo.get()}};
  for (const auto& [name, provider] : config.providers) {
    provider_clients.push_back(llm::openai::NewOpenAiLlmClient(provider.options, **curl_loop));
    llm_clients[name] = provider_clients.back().get();
  }

  runs::RunServiceOptions run_options;
  run_options.lease = std::chrono::milliseconds(config.lease_ms);
  run_options.lease_renew = std::chrono::milliseconds(config.lease_renew_ms);
  // 0 = no server-wide cap: each run gets its tier's run_timeout_s.
  run_options.run_timeout = config.run_timeout_ms > 0
                                ? std::chrono::milliseconds(config.run_timeout_ms)
                                : std::chrono::milliseconds(std::chrono::hours(24 * 365));
  run_options.max_steps = config.max_steps;
  run_options.event_retention = std::chrono::seconds(config.event_retention_s);
  run_options.retention_sweep = std::chrono::milliseconds(config.retention_sweep_ms);
  run_options.subscriber_queue_bytes = static_cast<size_t>(config.subscriber_queue_bytes);
  run_options.default_tier = config.billing.new_account_tier;
  run_options.starting_credits_micro = config.billing.new_account_credits_micro;
  auto memory_tools = runs::NewMemoryToolProvider(**store);
  auto type_detector = files::TypeDetector::Create();
  if (!type_detector.ok()) return Fail(type_detector.status());
  // Spooled under the data dir, like the sandboxes, so placing an upload is a rename.
  const std::string spool_dir = config.data_dir + "/tmp/uploads";
  files::Uploader uploader(
      **sandboxes, **type_detector,
      {.spool_dir = spool_dir,
       .text_cap_bytes = static_cast<size_t>(config.upload_text_cap_bytes),
       .pdftotext_timeout = std::chrono::milliseconds(config.upload_pdftotext_timeout_ms)});
  // Spool files of requests cut off by a previous server's end.
  std::error_code spool_ec;
  std::filesystem::remove_all(spool_dir, spool_ec);
  runs::RunService run_service(
      **store, *bus, llm_clients,
      runs::RunTools{.providers = {memory_tools.get(), sandbox_tools.get()},
                     .sandboxes = sandboxes->get(),
                     .uploads = &uploader},
      io.get_executor(), run_options);
  auto reaped = run_service.RecoverLostRuns();
  if (!reaped.ok()) return Fail(reaped.status());
  if (*reaped > 0) spdlog::warn("recovered {} run(s) left running by a previous server", *reaped);

  api::RunApi run_api(run_service, config.models, config.default_model, config.billing,
                      config.modes);
  api::AgentApi agent_api(**store, config.models,
                          {.modes = ModeNames(config.modes),
                           .tool_names = agent::KnownToolNames(),
                           .default_tier = config.billing.new_account_tier,
                           .starting_credits_micro = config.billing.new_account_credits_micro});
  auto verifier = auth::jwt::NewJwtVerifier({.hs256_secret = config.jwt_secret,
                                             .leeway_s = config.jwt_leeway_s,
                                             .issuer = config.jwt_issuer,
                                             .audience = config.jwt_audience});
  http::Router router;
  http::RunHandlerOptions handler_options;
  handler_options.heartbeat = std::chrono::milliseconds(config.heartbeat_ms);
  handler_options.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  handler_options.upload_drain_bytes = static_cast<size_t>(config.upload_drain_bytes);
  handler_options.spool_dir = spool_dir;
  http::AddRunRoutes(router, run_api, *verifier, handler_options);
  http::AddAgentRoutes(router, agent_api, *verifier);

  http::ServerOptions server_options;
  server_options.host = config.host;
  server_options.port = static_cast<uint16_t>(config.port);
  server_options.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  server_options.upload_drain_bytes = static_cast<size_t>(config.upload_drain_bytes);
  server_options.cors_allowed_origins = config.cors_allowed_origins;
  http::HttpServer server(io, router, server_options);
  auto port = server.Listen();
  if (!port.ok()) return Fail(port.status());

  std::printf("agentd listening on http://%s:%u\n", config.host.c_str(), *port);
  std::printf("store: SQLite %s (embedded default)\n", db_path.c_str());
  std::printf("default model: %s\n", config.default_model.c_str());
  if (config.providers.empty()) {
    std::printf(
        "models: every catalogue model runs on builtin/echo, the offline deterministic demo "
        "model (no real provider is configured)\n");
  } else {
    for (const auto& [name, provider] : config.providers) {
      // The base URL and whether a key is set; never the key.
      std::printf("provider %s: %s (%s)\n", name.c_str(), provider.options.base_url.c_str(),
                  provider.options.api_key.empty() ? "no API key" : "API key set");
    }
  }
  std::fflush(stdout);

  run_service.StartBackgroundTasks();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    spdlog::info("shutting down");
    server.StopAccepting();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await run_service.Shutdown();
          // Let open streams deliver the terminal events just published, then close.
          asio::steady_timer tick(io);
          const auto deadline = std::chrono::steady_clock::now() + kStreamDrainTimeout;
          while (server.active_streams() > 0 && std::chrono::steady_clock::now() < deadline) {
            tick.expires_after(std::chrono::milliseconds(5));
            co_await tick.async_wait(asio::use_awaitable);
          }
          io.stop();
        },
        asio::detached);
  });

  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : workers) t.join();
  return 0;
}

}  // namespace agentd::app
