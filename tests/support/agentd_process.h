// Starts the real `agentd serve` binary (AGENTD_BINARY) for integration tests: a fresh temp
// data dir (or a given one, for restart tests), a config file written for fast tests, the port
// the OS picked (read from the "agentd listening on ..." stdout line), and helpers to kill it,
// stop it gracefully and run the other subcommands (`token`, `account`).
// Thread safety: one owner thread; port()/data_dir() may be read from any thread.
// Lifetime: the destructor SIGKILLs the server, reaps it and deletes the dirs it created.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace agentd::testing {

// The HS256 secret every test server and `agentd token` run use.
inline constexpr char kTestJwtSecret[] = "agentd-integration-test-secret-0123456789abcdef";

// A directory made with mkdtemp and removed (recursively) by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "agentd-itest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string out;
  std::string err;
};

// Runs AGENTD_BINARY with `args` (secret in the environment) and waits for it to exit.
CommandResult RunAgentdCommand(const std::vector<std::string>& args);

class AgentdProcess {
 public:
  struct Options {
    std::string data_dir;      // empty: a fresh temp dir owned (and deleted) by the process
    int heartbeat_ms = 200;    // [runs] heartbeat_ms
    std::string extra_config;  // appended TOML (other tables)
    std::string runs_extra;    // extra lines inside [runs], e.g. "lease_ms = 1000"
    std::chrono::milliseconds start_deadline{20000};
    // Extra environment variables for the server, "NAME=value" (e.g. a provider's API key).
    std::vector<std::string> env;
  };

  // Starts the server and waits for its listening line. On failure returns nullptr and sets
  // `*error` to what happened (exit status and the server's stderr).
  static std::unique_ptr<AgentdProcess> Start(const Options& options, std::string* error);

  ~AgentdProcess();
  AgentdProcess(const AgentdProcess&) = delete;
  AgentdProcess& operator=(const AgentdProcess&) = delete;

  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string base_url() const;

  // SIGKILL and reap. Idempotent.
  void Kill9();
  // SIGTERM, then wait up to `deadline` for a clean exit. Returns the exit code, or nullopt when
  // it had to be killed (or died by a signal).
  std::optional<int> Terminate(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  bool running() const { return pid_ > 0; }

  // The server's stderr so far (for failure messages).
  std::string Stderr() const;
  // The server's stdout so far.
  std::string Stdout() const;

  // Runs `agentd token --user user` and returns the token; empty (with a gtest failure) if the
  // command failed.
  std::string MintToken(const std::string& user) const;

 private:
  AgentdProcess() = default;
  bool Launch(const Options& options, std::string* error);
  void ReadStdout(int fd);
  // Waits (up to deadline) for stdout EOF; returns true if it came.
  bool WaitStdoutEof(std::chrono::milliseconds deadline);
  void Reap();

  std::unique_ptr<TempDir> run_dir_;       // config, stderr log
  std::unique_ptr<TempDir> own_data_dir_;  // when no data dir was given
  std::string data_dir_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int wait_status_ = 0;
  int wake_pipe_[2] = {-1, -1};  // wakes the stdout reader when EOF never comes
  std::thread stdout_reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string stdout_;       // guarded by mu_
  bool stdout_eof_ = false;  // guarded by mu_
};

}  // namespace agentd::testing
