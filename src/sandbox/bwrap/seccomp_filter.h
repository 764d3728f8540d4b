// The seccomp filter of sandboxed commands, as a BPF program bwrap loads with `--seccomp FD`.
// Everything is allowed except what lets a command reach past its sandbox or the kernel's
// attack surface most exposed to it: tracing other processes, mounts, namespaces (new ones via
// unshare/clone flags, joining via setns), kernel modules, kexec, reboot, swap, bpf,
// perf_event_open, the kernel keyring, userfaultfd, file handles, raw I/O ports, accounting and
// quotas. Denied calls fail with EPERM; clone3 fails with ENOSYS so libc falls back to clone,
// whose flags the filter can inspect. Only the native architecture is allowed: a syscall of
// another ABI (i386 int 0x80, x32) kills the process, so it cannot bypass the rules.
#pragma once

#include "core/status.h"

namespace agentd::sandbox::bwrap {

// A sealed memfd (O_CLOEXEC) holding the exported program. Internal when libseccomp fails.
Result<int> BuildSeccompFilterFd();

}  // namespace agentd::sandbox::bwrap
