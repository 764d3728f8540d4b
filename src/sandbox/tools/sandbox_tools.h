// The `code` mode tools over a project's sandbox: execute_command, list_files, read_file,
// write_file, str_replace, delete_file. Paths are relative to /workspace (or absolute inside
// it); anything resolving outside it, through `..` or a symlink, is refused with a tool error.
// File tools work host-side on the workspace folder with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) from a descriptor of the workspace: the kernel confines every lookup,
// including symlinks the agent planted, without a process per call and without a race between
// a check and the use. Files they create are chowned to the sandbox's uid (as root), so
// commands in the sandbox can change them. execute_command runs `/bin/sh -c` in the sandbox.
// Thread safety: the provider is safe from any thread; the tools belong to one run.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "agent/tool.h"
#include "sandbox/sandbox.h"

namespace agentd::sandbox::tools {

struct SandboxToolOptions {
  size_t read_cap_bytes = 256 * 1024;             // read_file returns at most this much
  size_t max_edit_bytes = 8 * 1024 * 1024;        // write_file / str_replace file size limit
  size_t max_list_entries = 1000;                 // list_files shows at most this many
  size_t event_output_bytes = 8 * 1024;           // execute_command output kept in details
  std::chrono::seconds max_command_timeout{600};  // cap on timeout_s
};

// REQUIRES: `sandboxes` outlives the provider and every tool it makes.
std::unique_ptr<agent::ToolProvider> NewSandboxToolProvider(SandboxManager& sandboxes,
                                                            SandboxToolOptions options = {});

}  // namespace agentd::sandbox::tools
