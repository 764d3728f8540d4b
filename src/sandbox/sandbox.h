// Sandboxes: one per project, where the agent's commands run and the user's files live.
// A sandbox is a workspace folder under the data dir (seen as /workspace inside) plus the
// isolation every command gets: bubblewrap namespaces (no network, read-only system folders, a
// minimal /etc, private /tmp and PID namespace, nothing else of the host), an unprivileged uid
// of the sandbox's own, resource limits, a wall-clock timeout and an output cap.
// Implementation: sandbox/bwrap. Used by runs (create on demand), files (uploads, pdftotext)
// and sandbox/tools (the `code` mode tools).
// Thread safety: all methods are safe from any thread. Run() is a coroutine on the caller's
// executor and honours Asio per-operation cancellation (the whole process tree is killed).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace agentd::sandbox {

struct SandboxInfo {
  std::string sandbox_id;  // stable for the project's life
  std::string project_id;
  std::filesystem::path workspace;  // host path of /workspace
  uint32_t uid = 0;                 // host uid (and gid) the sandbox's commands run as
  uint32_t gid = 0;
  bool created = false;  // made by this call
};

// OK when `project_id` is usable as a sandbox name: 1-64 characters of [A-Za-z0-9_-] (UUIDs
// pass; "..", "/" and empty names do not). InvalidArgument otherwise.
Status ValidateProjectId(std::string_view project_id);

// Limits of one command; the manager's configured defaults fill what is unset.
struct CommandOptions {
  std::chrono::milliseconds timeout{0};  // wall clock; 0 = the configured default
  std::string cwd = "/workspace";        // inside the sandbox
  std::string stdin_data;                // written to the command's stdin, then closed
  size_t output_cap_bytes = 0;           // 0 = the configured default
};

struct CommandResult {
  int exit_code = -1;      // the command's exit status; 128+N when killed by signal N
  bool timed_out = false;  // killed by the wall-clock timeout
  std::string output;      // stdout and stderr interleaved as produced, cut at the cap
  bool truncated = false;  // output went past the cap (the rest was read and dropped)
  std::chrono::milliseconds elapsed{0};
};

class SandboxManager {
 public:
  virtual ~SandboxManager() = default;

  // Creates the project's sandbox when absent (idempotent, safe under concurrent calls) and
  // returns it. InvalidArgument for a bad project_id; Internal on a filesystem failure.
  virtual Result<SandboxInfo> Ensure(const std::string& project_id) = 0;
  // The project's sandbox if it exists; nullopt otherwise. Never creates anything.
  virtual Result<std::optional<SandboxInfo>> Find(const std::string& project_id) = 0;

  // Deletes the project's sandbox: its workspace with everything in it and its identity (a
  // later Ensure makes a fresh one with a new sandbox_id). OK when there is none. Commands still
  // running in it are not stopped. InvalidArgument for a bad project_id; Internal on a
  // filesystem failure.
  virtual Status Remove(const std::string& project_id) = 0;

  // Runs `argv` (argv[0] looked up in PATH inside the sandbox; execute_command passes
  // {"/bin/sh", "-c", command}) inside the project's sandbox (created when absent).
  // A non-zero exit or a timeout is a CommandResult, not an error; errors are for a sandbox
  // that cannot be made or a process that cannot be started (Internal/Unavailable, with a
  // message that names no host path). Cancellation kills the process tree within a second
  // and ends the call with kCancelled.
  virtual boost::asio::awaitable<Result<CommandResult>> Run(const std::string& project_id,
                                                            std::vector<std::string> argv,
                                                            CommandOptions options) = 0;

 protected:
  SandboxManager() = default;
};

}  // namespace agentd::sandbox
