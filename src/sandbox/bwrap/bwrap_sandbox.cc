#include "sandbox/bwrap/bwrap_sandbox.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/ids.h"
#include "sandbox/bwrap/seccomp_filter.h"

namespace agentd::sandbox::bwrap {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

constexpr char kMetaFile[] = "sandbox.json";

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

Status WriteFileAtomic(const fs::path& path, const std::string& text, mode_t mode) {
  const fs::path tmp = path.string() + ".tmp";
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) return Internal("Cannot create a sandbox file: " + ErrnoText(errno));
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("Cannot write a sandbox file: " + ErrnoText(errno));
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0) {
    return Internal("Cannot write a sandbox file: " + ErrnoText(errno));
  }
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Internal("Cannot write a sandbox file: " + ErrnoText(errno));
  }
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Internal("Cannot read a sandbox file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The generated /etc: a `sandbox` user of the sandbox's uid and nothing of the host.
Status WriteEtc(const fs::path& etc, uint32_t uid, uint32_t gid) {
  std::error_code ec;
  fs::create_directories(etc, ec);
  if (ec) return Internal("Cannot create the sandbox: " + ec.message());
  const std::string u = std::to_string(uid);
  const std::string g = std::to_string(gid);
  const std::pair<const char*, std::string> files[] = {
      {"passwd", "sandbox:x:" + u + ":" + g + ":sandbox:/workspace:/bin/sh\n" +
                     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
      {"group", "sandbox:x:" + g + ":\nnogroup:x:65534:\n"},
      {"hostname", "sandbox\n"},
      {"hosts", "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n"},
      {"nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"},
  };
  for (const auto& [name, text] : files) {
    AGENTD_RETURN_IF_ERROR(WriteFileAtomic(etc / name, text, 0644));
  }
  return Status::Ok();
}

// Host /etc pieces that programs need and that say nothing about the host's users or name.
constexpr const char* kHostEtc[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",    "/etc/alternatives",
    "/etc/localtime",   "/etc/ssl",        "/etc/ca-certificates", "/etc/mime.types",
    "/etc/magic",       "/etc/timezone",   "/etc/bash.bashrc",     "/etc/inputrc",
};

struct ChildSpec {
  std::vector<std::string> args;
  int stdin_fd = -1;
  int out_fd = -1;
  int err_fd = -1;      // exec failure: errno is written here
  int seccomp_fd = -1;  // inherited by bwrap (it reads the filter before starting the command)
  std::vector<std::pair<int, rlim_t>> limits;
};

// After fork in a multithreaded process: async-signal-safe calls only.
[[noreturn]] void ExecChild(const ChildSpec& spec, char* const* argv) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) {
    sigaction(sig, &dfl, nullptr);
  }
  setpgid(0, 0);
  if (dup2(spec.stdin_fd, 0) < 0 || dup2(spec.out_fd, 1) < 0 || dup2(spec.out_fd, 2) < 0) {
    const int e = errno;
    (void)!write(spec.err_fd, &e, sizeof e);
    _exit(127);
  }
  // Asio does not open every descriptor with O_CLOEXEC; none of the server's may leak in.
  syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  if (spec.seccomp_fd >= 0 && fcntl(spec.seccomp_fd, F_SETFD, 0) != 0) {
    const int e = errno;
    (void)!write(spec.err_fd, &e, sizeof e);
    _exit(127);
  }
  for (const auto& [resource, value] : spec.limits) {
    struct rlimit rl {
      value, value
    };
    setrlimit(resource, &rl);
  }
  char* const envp[] = {nullptr};
  execve(argv[0], argv, envp);
  const int e = errno;
  (void)!write(spec.err_fd, &e, sizeof e);
  _exit(127);
}

// Kills and reaps a started bwrap unless it was reaped already. Killing bwrap's process group
// ends bwrap; the sandbox's PID-namespace init (bwrap's child, which --die-with-parent also
// ties to it) is killed directly, and with it every process of the namespace.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() { KillAndReap(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool reaped() const { return reaped_; }
  int status() const { return status_; }

  // True once the process has exited (and is reaped).
  bool TryReap() {
    if (reaped_) return true;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
    }
    return reaped_;
  }

  void KillAndReap() {
    if (reaped_) return;
    std::ifstream children("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) +
                           "/children");
    pid_t child = 0;
    while (children >> child) ::kill(child, SIGKILL);
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    status_ = st;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
};

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

class BwrapSandboxManager final : public SandboxManager {
 public:
  BwrapSandboxManager(BwrapOptions options, Fd seccomp_filter)
      : options_(std::move(options)),
        as_root_(::geteuid() == 0),
        seccomp_filter_(std::move(seccomp_filter)) {}

  Result<SandboxInfo> Ensure(const std::string& project_id) override {
    AGENTD_RETURN_IF_ERROR(ValidateProjectId(project_id));
    std::lock_guard lock(mu_);
    AGENTD_ASSIGN_OR_RETURN(Fd root_lock, LockRoot());
    AGENTD_ASSIGN_OR_RETURN(std::optional<SandboxInfo> existing, Load(project_id));
    if (existing) return *std::move(existing);

    const fs::path dir = options_.root / project_id;
    std::error_code ec;
    fs::create_directories(dir / "workspace", ec);
    if (ec) return Internal("Cannot create the sandbox: " + ec.message());
    uint32_t uid = ::getuid();
    uint32_t gid = ::getgid();
    if (as_root_) {
      AGENTD_ASSIGN_OR_RETURN(uid, AllocateUid());
      gid = uid;
      if (::chown((dir / "workspace").c_str(), uid, gid) != 0) {
        return Internal("Cannot create the sandbox: " + ErrnoText(errno));
      }
    }
    AGENTD_RETURN_IF_ERROR(WriteEtc(dir / "etc", uid, gid));
    SandboxInfo info;
    info.sandbox_id = NewUuid();
    info.project_id = project_id;
    info.workspace = dir / "workspace";
    info.uid = uid;
    info.gid = gid;
    info.created = true;
    const nlohmann::json meta = {{"sandbox_id", info.sandbox_id}, {"uid", uid}, {"gid", gid}};
    AGENTD_RETURN_IF_ERROR(WriteFileAtomic(dir / kMetaFile, meta.dump() + "\n", 0644));
    return info;
  }

  Result<std::optional<SandboxInfo>> Find(const std::string& project_id) override {
    AGENTD_RETURN_IF_ERROR(ValidateProjectId(project_id));
    return Load(project_id);
  }

  Status Remove(const std::string& project_id) override {
    AGENTD_RETURN_IF_ERROR(ValidateProjectId(project_id));
    const fs::path dir = options_.root / project_id;
    // Renamed away under the lock first, so a concurrent Ensure sees either the whole sandbox or
    // none, never a half-deleted one. The name cannot be a project id (those have no dot).
    const fs::path doomed = options_.root / (".removed-" + NewUuid());
    {
      std::lock_guard lock(mu_);
      AGENTD_ASSIGN_OR_RETURN(Fd root_lock, LockRoot());
      if (::rename(dir.c_str(), doomed.c_str()) != 0) {
        if (errno == ENOENT) return Status::Ok();
        return Internal("Cannot remove the sandbox: " + ErrnoText(errno));
      }
    }
    std::error_code ec;
    fs::remove_all(doomed, ec);
    if (ec) return Internal("Cannot remove the sandbox: " + ec.message());
    return Status::Ok();
  }

  asio::awaitable<Result<CommandResult>> Run(const std::string& project_id,
                                             std::vector<std::string> argv,
                                             CommandOptions options) override;

 private:
  // flock on <root>/.lock: other server processes may share the root. Held while the Fd lives.
  Result<Fd> LockRoot() {
    Fd lock_fd(::open((options_.root / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (lock_fd.get() < 0) return Internal("Cannot lock the sandboxes: " + ErrnoText(errno));
    while (::flock(lock_fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return Internal("Cannot lock the sandboxes: " + ErrnoText(errno));
    }
    return lock_fd;
  }

  Result<std::optional<SandboxInfo>> Load(const std::string& project_id) {
    const fs::path dir = options_.root / project_id;
    std::error_code ec;
    if (!fs::exists(dir / kMetaFile, ec)) return std::optional<SandboxInfo>();
    AGENTD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(dir / kMetaFile));
    try {
      const nlohmann::json meta = nlohmann::json::parse(text);
      SandboxInfo info;
      info.sandbox_id = meta.at("sandbox_id").get<std::string>();
      info.uid = meta.at("uid").get<uint32_t>();
      info.gid = meta.at("gid").get<uint32_t>();
      info.project_id = project_id;
      info.workspace = dir / "workspace";
      return std::optional<SandboxInfo>(std::move(info));
    } catch (const nlohmann::json::exception&) {
      return Internal("A sandbox's metadata is damaged");
    }
  }

  // REQUIRES: the root's lock is held.
  Result<uint32_t> AllocateUid() {
    const fs::path counter = options_.root / "next_uid";
    uint32_t next = options_.first_uid;
    std::error_code ec;
    if (fs::exists(counter, ec)) {
      AGENTD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(counter));
      try {
        next = static_cast<uint32_t>(std::stoul(text));
      } catch (const std::exception&) {
        return Internal("The sandbox uid counter is damaged");
      }
    }
    if (next < options_.first_uid || next >= 0xFFFF0000u) {
      return Internal("The sandbox uid range is exhausted");
    }
    AGENTD_RETURN_IF_ERROR(WriteFileAtomic(counter, std::to_string(next + 1) + "\n", 0600));
    return next;
  }

  // A descriptor of the filter with an offset of its own (bwrap reads to EOF, and commands run
  // concurrently); -1 without a filter.
  Result<Fd> OpenSeccompFilter() const {
    if (seccomp_filter_.get() < 0) return Fd();
    Fd fd(::open(fmt::format("/proc/self/fd/{}", seccomp_filter_.get()).c_str(),
                 O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Unavailable("Cannot start the command: no seccomp filter");
    return fd;
  }

  std::vector<std::string> BwrapArgs(const SandboxInfo& info, const std::string& cwd,
                                     std::vector<std::string> argv, int seccomp_fd) const {
    const fs::path dir = options_.root / info.project_id;
    std::vector<std::string> a = {options_.bwrap_path};
    if (seccomp_fd >= 0) a.insert(a.end(), {"--seccomp", std::to_string(seccomp_fd)});
    if (as_root_) {
      // No user namespace: the command's uid must be a real host uid for RLIMIT_NPROC.
      a.insert(a.end(), {"--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                         "--unshare-cgroup-try"});
    } else {
      a.insert(a.end(), {"--unshare-all", "--uid", std::to_string(info.uid), "--gid",
                         std::to_string(info.gid)});
    }
    a.insert(a.end(), {"--die-with-parent", "--new-session", "--hostname", "sandbox"});
    a.insert(a.end(), {"--ro-bind", "/usr", "/usr"});
    for (const char* link : {"/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin"}) {
      std::error_code ec;
      const fs::path p(link);
      if (fs::is_symlink(p, ec)) {
        a.insert(a.end(), {"--symlink", fs::read_symlink(p, ec).string(), link});
      } else if (fs::is_directory(p, ec)) {
        a.insert(a.end(), {"--ro-bind", link, link});
      }
    }
    // Otherwise bwrap makes /etc 0700 and only root could read it.
    a.insert(a.end(), {"--perms", "0755", "--dir", "/etc"});
    for (const char* etc : kHostEtc) a.insert(a.end(), {"--ro-bind-try", etc, etc});
    for (const char* name : {"passwd", "group", "hostname", "hosts", "nsswitch.conf"}) {
      a.insert(a.end(), {"--ro-bind", (dir / "etc" / name).string(), std::string("/etc/") + name});
    }
    a.insert(a.end(), {"--proc",
                       "/proc",
                       "--dev",
                       "/dev",
                       "--perms",
                       "1777",
                       "--size",
                       std::to_string(options_.tmp_bytes),
                       "--tmpfs",
                       "/tmp",
                       "--bind",
                       info.workspace.string(),
                       "/workspace",
                       "--remount-ro",
                       "/",
                       "--chdir",
                       cwd,
                       "--clearenv",
                       "--setenv",
                       "PATH",
                       "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",
                       "--setenv",
                       "HOME",
                       "/workspace",
                       "--setenv",
                       "LANG",
                       "C.UTF-8",
                       "--setenv",
                       "TERM",
                       "dumb",
                       "--setenv",
                       "USER",
                       "sandbox",
                       "--"});
    if (as_root_) {
      a.insert(a.end(), {options_.setpriv_path, "--reuid=" + std::to_string(info.uid),
                         "--regid=" + std::to_string(info.gid), "--clear-groups", "--inh-caps=-all",
                         "--bounding-set=-all", "--"});
    }
    for (std::string& s : argv) a.push_back(std::move(s));
    return a;
  }

  std::vector<std::pair<int, rlim_t>> Limits() const {
    std::vector<std::pair<int, rlim_t>> l = {
        {RLIMIT_CPU, static_cast<rlim_t>(options_.cpu_seconds)},
        {RLIMIT_AS, static_cast<rlim_t>(options_.memory_bytes)},
        {RLIMIT_FSIZE, static_cast<rlim_t>(options_.max_file_bytes)},
        {RLIMIT_NOFILE, static_cast<rlim_t>(options_.max_open_files)},
        {RLIMIT_CORE, 0},
    };
    if (as_root_) l.emplace_back(RLIMIT_NPROC, static_cast<rlim_t>(options_.max_processes));
    return l;
  }

  const BwrapOptions options_;
  const bool as_root_;
  const Fd seccomp_filter_;  // sealed memfd of the BPF program; -1 when options_.seccomp is off
  std::mutex mu_;            // serialises Ensure and Remove here (flock across processes)
};

// GCC 12 reports a false -Wmismatched-new-delete on these coroutines' frames (Asio's awaitable
// frame has a matching operator new/delete pair; the warning depends on frame layout).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Reads the merged output until EOF, keeping the first `cap` bytes.
asio::awaitable<void> ReadOutput(asio::posix::stream_descriptor& out, size_t cap,
                                 CommandResult& result) {
  std::vector<char> buf(16384);
  for (;;) {
    auto [ec, n] =
        co_await out.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
    if (n > 0) {
      const size_t room = cap > result.output.size() ? cap - result.output.size() : 0;
      result.output.append(buf.data(), std::min(room, n));
      if (n > room) result.truncated = true;
    }
    if (ec) co_return;  // EOF: every process of the sandbox has closed it
  }
}

asio::awaitable<void> WaitExit(asio::posix::stream_descriptor& pidfd, Child& child) {
  while (!child.TryReap()) {
    co_await pidfd.async_wait(asio::posix::descriptor_base::wait_read, asio::use_awaitable);
  }
}

// A socket rather than a pipe: writes use MSG_NOSIGNAL, so a command that exits without
// reading its input gives EPIPE and not a SIGPIPE to the server.
asio::awaitable<void> WriteInput(asio::local::stream_protocol::socket* in,
                                 const std::string& data) {
  if (in == nullptr) co_return;
  auto [ec, n] =
      co_await asio::async_write(*in, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
  (void)n;
  if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
  boost::system::error_code ignored;
  in->close(ignored);
}

enum class Outcome { kExited, kTimedOut, kCancelled };

// Kept apart from Run with reference parameters only: GCC 12 destroys a by-value coroutine
// parameter twice when an exception is caught in the same frame.
asio::awaitable<Outcome> Supervise(asio::posix::stream_descriptor& out, size_t cap,
                                   CommandResult& result, asio::posix::stream_descriptor& pidfd,
                                   Child& child, asio::local::stream_protocol::socket* in,
                                   const std::string& input, asio::steady_timer& timer) {
  using namespace asio::experimental::awaitable_operators;
  try {
    auto r = co_await (
        (ReadOutput(out, cap, result) && WaitExit(pidfd, child) && WriteInput(in, input)) ||
        timer.async_wait(asio::use_awaitable));
    co_return r.index() == 1 ? Outcome::kTimedOut : Outcome::kExited;
  } catch (const boost::system::system_error&) {
    co_return Outcome::kCancelled;
  }
}

asio::awaitable<Result<CommandResult>> BwrapSandboxManager::Run(const std::string& project_id,
                                                                std::vector<std::string> argv,
                                                                CommandOptions options) {
  if (argv.empty()) co_return InvalidArgument("Empty command");
  if (options.cwd.empty() || options.cwd[0] != '/') {
    co_return InvalidArgument("The working directory must be an absolute path");
  }
  Result<SandboxInfo> info = Ensure(project_id);
  if (!info.ok()) co_return info.status();

  auto timeout = options.timeout.count() > 0 ? options.timeout : options_.default_timeout;
  timeout = std::min(timeout, options_.max_timeout);
  const size_t cap =
      options.output_cap_bytes > 0 ? options.output_cap_bytes : options_.output_cap_bytes;

  Result<Fd> seccomp_fd = OpenSeccompFilter();
  if (!seccomp_fd.ok()) co_return seccomp_fd.status();
  ChildSpec spec;
  spec.seccomp_fd = seccomp_fd->get();
  spec.args = BwrapArgs(*info, options.cwd, std::move(argv), spec.seccomp_fd);
  spec.limits = Limits();
  std::vector<char*> cargv;
  for (std::string& s : spec.args) cargv.push_back(s.data());
  cargv.push_back(nullptr);

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) co_return Unavailable("Cannot start the command");
  Fd out_r(p[0]), out_w(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) co_return Unavailable("Cannot start the command");
  Fd err_r(p[0]), err_w(p[1]);
  Fd in_child, in_parent;
  if (options.stdin_data.empty()) {
    in_child = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  } else {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
      in_child = Fd(sv[0]);
      in_parent = Fd(sv[1]);
      ::shutdown(sv[0], SHUT_WR);
    }
  }
  if (in_child.get() < 0) co_return Unavailable("Cannot start the command");
  spec.stdin_fd = in_child.get();
  spec.out_fd = out_w.get();
  spec.err_fd = err_w.get();

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) co_return Unavailable("Cannot start the command");
  if (pid == 0) ExecChild(spec, cargv.data());
  Child child(pid);
  out_w.Reset();
  err_w.Reset();
  in_child.Reset();
  seccomp_fd->Reset();
  int exec_errno = 0;
  ssize_t n;
  while ((n = ::read(err_r.get(), &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  if (n > 0) co_return Unavailable("Cannot start the command: " + ErrnoText(exec_errno));

  auto ex = co_await asio::this_coro::executor;
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) co_return Unavailable("Cannot watch the command: " + ErrnoText(errno));
  asio::posix::stream_descriptor pid_desc(ex, pidfd.release());
  asio::posix::stream_descriptor out_desc(ex, out_r.release());
  std::optional<asio::local::stream_protocol::socket> in_sock;
  if (in_parent.get() >= 0) {
    in_sock.emplace(ex, asio::local::stream_protocol(), in_parent.release());
  }
  asio::steady_timer timer(ex, timeout);

  CommandResult result;
  const Outcome outcome =
      co_await Supervise(out_desc, cap, result, pid_desc, child, in_sock ? &*in_sock : nullptr,
                         options.stdin_data, timer);
  result.timed_out = outcome == Outcome::kTimedOut;
  const bool cancelled = outcome == Outcome::kCancelled;
  child.KillAndReap();
  result.exit_code = ExitCode(child.status());
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (cancelled) co_return Status(StatusCode::kCancelled, "Command cancelled");
  co_return result;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

Result<std::unique_ptr<SandboxManager>> NewBwrapSandboxManager(BwrapOptions options) {
  std::error_code ec;
  fs::create_directories(options.root, ec);
  if (ec) {
    return Status(StatusCode::kFailedPrecondition, "Cannot create the sandboxes directory " +
                                                       options.root.string() + ": " + ec.message());
  }
  if (::access(options.bwrap_path.c_str(), X_OK) != 0) {
    return Status(StatusCode::kFailedPrecondition,
                  "bubblewrap is not executable at " + options.bwrap_path);
  }
  if (::geteuid() == 0 && ::access(options.setpriv_path.c_str(), X_OK) != 0) {
    return Status(StatusCode::kFailedPrecondition,
                  "setpriv is not executable at " + options.setpriv_path);
  }
  Fd seccomp_filter;
  if (options.seccomp) {
    Result<int> fd = BuildSeccompFilterFd();
    if (!fd.ok()) return Status(StatusCode::kFailedPrecondition, fd.status().message());
    seccomp_filter = Fd(*fd);
  }
  return std::unique_ptr<SandboxManager>(
      new BwrapSandboxManager(std::move(options), std::move(seccomp_filter)));
}

}  // namespace agentd::sandbox::bwrap
