// BwrapSandboxManager: sandboxes made of a folder per project under `root` and bubblewrap.
// Layout: <root>/<project_id>/{workspace/, etc/ (generated passwd, group, hostname, hosts,
// nsswitch.conf), sandbox.json (sandbox_id, uid, gid)}; <root>/next_uid and <root>/.lock.
// As root every sandbox gets a uid of its own (first_uid, first_uid+1, ...): bwrap sets up the
// namespaces as root and the command drops to that uid with setpriv, so on the host the
// command's processes belong to that uid and RLIMIT_NPROC holds (the kernel ignores it for
// root). As an ordinary user, commands run as the server's own uid inside a user namespace;
// the limits then count against that uid, so max_processes is not applied (it would count
// every process of the server's user).
// Thread safety: safe from any thread and from several processes sharing `root`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/status.h"
#include "sandbox/sandbox.h"

namespace agentd::sandbox::bwrap {

struct BwrapOptions {
  std::filesystem::path root;  // required: <data_dir>/sandboxes
  std::string bwrap_path = "/usr/bin/bwrap";
  std::string setpriv_path = "/usr/bin/setpriv";  // as root: drops to the sandbox uid inside
  std::chrono::milliseconds default_timeout{60000};
  std::chrono::milliseconds max_timeout{600000};  // caps CommandOptions::timeout
  size_t output_cap_bytes = 64 * 1024;
  int64_t cpu_seconds = 300;                                 // RLIMIT_CPU per process
  int64_t memory_bytes = int64_t{2} * 1024 * 1024 * 1024;    // RLIMIT_AS per process
  int64_t max_processes = 256;                               // RLIMIT_NPROC (root only)
  int64_t max_file_bytes = int64_t{1} * 1024 * 1024 * 1024;  // RLIMIT_FSIZE
  int64_t max_open_files = 1024;                             // RLIMIT_NOFILE
  // Size of the private /tmp (a tmpfs: host memory that RLIMIT_AS does not count).
  int64_t tmp_bytes = int64_t{256} << 20;
  uint32_t first_uid = 200000;  // first per-sandbox uid (root only)
  bool seccomp = true;  // the seccomp filter of sandbox/bwrap/seccomp_filter.h on every command
};

// Creates `root` when absent and builds the seccomp filter once. FailedPrecondition when the
// root cannot be made, when bwrap (or, as root, setpriv) is not executable, or when the filter
// cannot be built.
Result<std::unique_ptr<SandboxManager>> NewBwrapSandboxManager(BwrapOptions options);

}  // namespace agentd::sandbox::bwrap
