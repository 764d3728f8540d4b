#include "sandbox/bwrap/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>

namespace agentd::sandbox::bwrap {
namespace {

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

constexpr const char* kDenied[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "swapon",
    "swapoff",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "unshare",
    "setns",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "iopl",
    "ioperm",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWNET,   CLONE_NEWPID,
                                        CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP};

Status Fail(const char* what, int rc) {
  return Internal(std::string("Cannot build the sandbox's seccomp filter: ") + what + " (" +
                  std::to_string(-rc) + ")");
}

}  // namespace

Result<int> BuildSeccompFilterFd() {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Internal("Cannot build the sandbox's seccomp filter: seccomp_init failed");
  int rc = 0;
  for (const char* name : kDenied) {
    const int nr = seccomp_syscall_resolve_name(name);
    // Names this libseccomp does not know for the native arch (e.g. newer mount API calls).
    if (nr == __NR_SCMP_ERROR) continue;
    if ((rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0)) != 0) {
      return Fail(name, rc);
    }
  }
  // The clone flags are the first argument on x86-64 and arm64 (the native arches we run on).
  for (uint64_t flag : kNamespaceFlags) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return Fail("clone", rc);
  }
  // clone3 passes its flags in memory the filter cannot read.
  const int clone3 = seccomp_syscall_resolve_name("clone3");
  if (clone3 != __NR_SCMP_ERROR &&
      (rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), clone3, 0)) != 0) {
    return Fail("clone3", rc);
  }

  const int fd = ::memfd_create("agentd-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Internal("Cannot build the sandbox's seccomp filter: memfd_create failed");
  if ((rc = seccomp_export_bpf(ctx.get(), fd)) != 0) {
    ::close(fd);
    return Fail("export", rc);
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    ::close(fd);
    return Internal("Cannot build the sandbox's seccomp filter: sealing failed");
  }
  return fd;
}

}  // namespace agentd::sandbox::bwrap
