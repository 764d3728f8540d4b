#include "sandbox/bwrap/bwrap_sandbox.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "core/ids.h"

namespace agentd::sandbox {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "agentd-sbtest-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bwrap::BwrapOptions TestOptions(const fs::path& root) {
  bwrap::BwrapOptions o;
  o.root = root;
  o.default_timeout = 10s;
  o.max_timeout = 20s;
  o.cpu_seconds = 20;
  o.memory_bytes = int64_t{512} * 1024 * 1024;
  o.max_processes = 64;
  o.max_file_bytes = int64_t{64} * 1024 * 1024;
  // A uid range of this test process alone, so leftover checks see only its sandboxes.
  o.first_uid = 300000 + static_cast<uint32_t>(::getpid() % 1000) * 100;
  return o;
}

// Processes of `uid` on the host, from /proc.
int CountProcessesOfUid(uint32_t uid) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream ss(line.substr(4));
        uint32_t real = 0;
        ss >> real;
        if (real == uid) ++count;
        break;
      }
    }
  }
  return count;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

template <typename T>
asio::awaitable<void> StoreInto(asio::awaitable<T> op, std::optional<T>& out) {
  out.emplace(co_await std::move(op));
}

// Runs `op` on a fresh io_context until it completes.
template <typename T>
T RunSync(asio::awaitable<T> op) {
  asio::io_context io;
  std::optional<T> out;
  asio::co_spawn(io, StoreInto(std::move(op), out), asio::detached);
  io.run();
  return std::move(*out);
}

class BwrapSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = bwrap::NewBwrapSandboxManager(TestOptions(dir_.path() / "sandboxes"));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    project_ = NewUuid();
  }

  Result<CommandResult> Run(const std::string& command, CommandOptions options = {},
                            const std::string& project = "") {
    return RunSync(manager_->Run(project.empty() ? project_ : project, {"/bin/sh", "-c", command},
                                 std::move(options)));
  }

  // Runs `command` and cancels it after `after`, as the run service's stop does.
  Result<CommandResult> RunAndCancel(const std::string& command, std::chrono::milliseconds after) {
    return RunSync(CancelAfter(*manager_, project_, command, after));
  }

  static asio::awaitable<Result<CommandResult>> CancelAfter(SandboxManager& manager,
                                                            std::string project,
                                                            std::string command,
                                                            std::chrono::milliseconds after) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, after);
    // The awaitable is made outside the co_await expression: GCC 12 destroys prvalue
    // coroutine arguments made inside one twice.
    auto run = manager.Run(project, {"/bin/sh", "-c", command}, CommandOptions{});
    auto r = co_await (std::move(run) || timer.async_wait(asio::use_awaitable));
    if (r.index() == 0) co_return std::get<0>(std::move(r));
    co_return Status(StatusCode::kCancelled, "cancelled by the test");
  }

  TempDir dir_;
  std::unique_ptr<SandboxManager> manager_;
  std::string project_;
};

TEST_F(BwrapSandboxTest, EchoGivesOutputAndExitCode) {
  auto r = Run("echo hello; echo oops >&2; exit 3");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "hello\noops\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->truncated);
}

TEST_F(BwrapSandboxTest, StdinIsWrittenThenClosed) {
  CommandOptions o;
  o.stdin_data = "line one\nline two\n";
  auto r = Run("wc -l", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "2\n");
  auto empty = Run("cat; echo done");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->output, "done\n");
}

TEST_F(BwrapSandboxTest, PrivateTmpIsWritableAndBounded) {
  auto r = Run("echo hi > /tmp/a && cat /tmp/a && df -k /tmp | tail -1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_EQ(r->output.substr(0, 3), "hi\n") << r->output;
  // The tmpfs is 256 MiB = 262144 KiB by default.
  EXPECT_NE(r->output.find("262144"), std::string::npos) << r->output;
}

TEST_F(BwrapSandboxTest, HostnameAndEtcAreTheSandboxes) {
  auto r = Run("hostname; cat /etc/passwd; test -e /etc/shadow && echo SHADOW; whoami; id -u");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto info = manager_->Find(project_);
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info->has_value());
  EXPECT_EQ(r->output.substr(0, 8), "sandbox\n");
  EXPECT_EQ(r->output.find("root:"), std::string::npos) << r->output;
  EXPECT_EQ(r->output.find("SHADOW"), std::string::npos);
  EXPECT_NE(r->output.find("sandbox:x:" + std::to_string((*info)->uid)), std::string::npos);
  EXPECT_NE(r->output.find("\nsandbox\n" + std::to_string((*info)->uid) + "\n"), std::string::npos)
      << r->output;
  if (::geteuid() == 0) {
    EXPECT_NE((*info)->uid, 0u);
  }
}

TEST_F(BwrapSandboxTest, HostFoldersAndOtherProjectsAreInvisible) {
  const std::string other = NewUuid();
  ASSERT_TRUE(manager_->Ensure(other).ok());
  const std::string cmd = "for p in /root /home '" + dir_.path().string() + "' '" +
                          (dir_.path() / "sandboxes" / other).string() +
                          "' /etc/shadow /var; do test -e \"$p\" && echo \"SEEN $p\"; done; "
                          "ls /; echo end";
  auto r = Run(cmd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.find("SEEN"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("end"), std::string::npos);
}

TEST_F(BwrapSandboxTest, NoNetworkEvenToHostLoopback) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  auto r = Run("if bash -c 'echo hi > /dev/tcp/127.0.0.1/" + std::to_string(port) +
               "' 2>/dev/null; then echo CONNECTED; else echo refused; fi; "
               "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
  ::close(s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "refused\nlo\n");
}

TEST_F(BwrapSandboxTest, WorkspaceWritesAreVisibleOnTheHost) {
  auto r = Run("echo data > /workspace/out.txt && pwd");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "/workspace\n");
  auto info = manager_->Find(project_);
  ASSERT_TRUE(info.ok() && info->has_value());
  std::ifstream in((*info)->workspace / "out.txt");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "data");
}

TEST_F(BwrapSandboxTest, TimeoutKillsTheCommand) {
  CommandOptions o;
  o.timeout = 500ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = Run("sleep 120", o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(took, 1500ms);
}

TEST_F(BwrapSandboxTest, CancellationKillsTheWholeTreeWithinASecond) {
  auto info = manager_->Ensure(project_);
  ASSERT_TRUE(info.ok());
  const auto start = std::chrono::steady_clock::now();
  auto r = RunAndCancel("sleep 120 & sleep 120 & sleep 120", 300ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled);
  EXPECT_LT(took, 1300ms);
  if (::geteuid() == 0) {
    // Namespace teardown is asynchronous; give the kernel a moment, bounded.
    for (int i = 0; i < 100 && CountProcessesOfUid(info->uid) > 0; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(CountProcessesOfUid(info->uid), 0);
  }
}

TEST_F(BwrapSandboxTest, ForkBombIsContained) {
  CommandOptions o;
  o.timeout = 3s;
  auto info = manager_->Ensure(project_);
  ASSERT_TRUE(info.ok());
  auto r = Run("b() { b | b & }; b; sleep 1; echo survived", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto after = Run("echo fine");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->output, "fine\n");
  if (::geteuid() == 0) {
    for (int i = 0; i < 200 && CountProcessesOfUid(info->uid) > 0; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(CountProcessesOfUid(info->uid), 0);
  }
}

TEST_F(BwrapSandboxTest, MemoryHogFails) {
  auto r = Run("python3 -c 'x = bytearray(4 << 30)' 2>&1 || echo FAILED $?");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->output.find("FAILED"), std::string::npos) << r->output;
}

TEST_F(BwrapSandboxTest, OutputCapTruncates) {
  CommandOptions o;
  o.output_cap_bytes = 1000;
  auto r = Run("head -c 100000 /dev/zero | tr '\\0' a; echo", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output.size(), 1000u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->exit_code, 0);
}

TEST_F(BwrapSandboxTest, ConcurrentEnsureGivesOneSandbox) {
  std::vector<std::future<Result<SandboxInfo>>> futures;
  for (int i = 0; i < 8; ++i) {
    futures.push_back(std::async(std::launch::async, [&] { return manager_->Ensure(project_); }));
  }
  std::set<std::string> ids;
  int created = 0;
  for (auto& f : futures) {
    auto info = f.get();
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ids.insert(info->sandbox_id);
    created += info->created ? 1 : 0;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(created, 1);
}

TEST_F(BwrapSandboxTest, BadProjectIdsAreRefused) {
  for (const std::string& id :
       std::vector<std::string>{"", "..", "../x", "a/b", ".", std::string(65, 'a')}) {
    EXPECT_EQ(manager_->Ensure(id).status().code(), StatusCode::kInvalidArgument) << id;
  }
}

TEST_F(BwrapSandboxTest, EachSandboxHasItsOwnUidAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "per-sandbox uids need root";
  auto a = manager_->Ensure(NewUuid());
  auto b = manager_->Ensure(NewUuid());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->uid, b->uid);
  EXPECT_NE(a->uid, 0u);
}

TEST_F(BwrapSandboxTest, SeccompDeniesNamespacesTracingAndMounts) {
  auto r =
      Run("unshare -U true 2>/dev/null; echo unshare_user=$?;"
          "unshare -r true 2>/dev/null; echo unshare_root=$?;"
          "strace -o /dev/null true 2>/dev/null; echo strace=$?;"
          "mount -t tmpfs x /tmp 2>/dev/null; echo mount=$?");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "unshare_user=1\nunshare_root=1\nstrace=1\nmount=32\n") << r->output;
}

TEST_F(BwrapSandboxTest, SeccompGivesEpermAndEnosysForClone3) {
  // Through libc, so the errno comes from the filter and not from a tool's own checks.
  // ptrace(PTRACE_TRACEME) and unshare(CLONE_NEWUSER) succeed for an ordinary process without
  // the filter; clone3 with a zero size is EINVAL without it.
  auto r =
      Run("/usr/bin/python3 -c '\n"
          "import ctypes\n"
          "libc = ctypes.CDLL(None, use_errno=True)\n"
          "def err(rc):\n"
          "    return ctypes.get_errno() if rc == -1 else 0\n"
          "print(err(libc.ptrace(0, 0, 0, 0)), err(libc.unshare(0x10000000)),"
          " err(libc.syscall(435, 0, 0)), err(libc.syscall(321, 0, 0, 0)))\n"
          "'");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "1 1 38 1\n") << "EPERM for ptrace, unshare, bpf; ENOSYS for clone3";
}

TEST_F(BwrapSandboxTest, SeccompFilterIsInstalledOnlyWhenOn) {
  auto on = Run("grep '^Seccomp:' /proc/self/status");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_EQ(on->output, "Seccomp:\t2\n");
  auto options = TestOptions(dir_.path() / "sandboxes");
  options.seccomp = false;
  auto off_manager = bwrap::NewBwrapSandboxManager(options);
  ASSERT_TRUE(off_manager.ok()) << off_manager.status().ToString();
  auto off = RunSync(
      (*off_manager)
          ->Run(project_, {"/bin/sh", "-c", "strace -o /dev/null true; echo strace=$?"}, {}));
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->output, "strace=0\n") << "tracing a child works without the filter";
}

TEST_F(BwrapSandboxTest, OrdinaryCommandsWorkUnderSeccomp) {
  auto r =
      Run("set -e; echo data > f.txt; ls f.txt; cat f.txt; sha256sum f.txt | cut -c1-8;"
          "(echo from-subshell) & wait;"
          "/usr/bin/python3 -c 'import threading; t = threading.Thread(target=print, "
          "args=(\"thread\",));"
          " t.start(); t.join()';"
          "pdftotext -v 2>&1 | head -c 9; echo;"
          "if command -v gcc >/dev/null; then printf 'int main(void){return 7;}' > m.c;"
          " gcc -o m m.c; ./m || echo gcc=$?; else echo gcc=7; fi");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "f.txt\ndata\n6667b2d1\nfrom-subshell\nthread\npdftotext\ngcc=7\n")
      << r->output;
}

TEST_F(BwrapSandboxTest, RemoveDeletesTheSandboxAndEnsureMakesAFreshOne) {
  auto first = manager_->Ensure(project_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto wrote = Run("echo keep > kept.txt");
  ASSERT_TRUE(wrote.ok());
  ASSERT_TRUE(fs::exists(first->workspace / "kept.txt"));
  ASSERT_TRUE(manager_->Remove(project_).ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "sandboxes" / project_));
  auto found = manager_->Find(project_);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  auto second = manager_->Ensure(project_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->created);
  EXPECT_NE(second->sandbox_id, first->sandbox_id);
  EXPECT_FALSE(fs::exists(second->workspace / "kept.txt"));
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir_.path() / "sandboxes")) {
    entries += e.path().filename().string().rfind(".removed", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(entries, 0u) << "nothing of the removed sandbox is left behind";
}

TEST_F(BwrapSandboxTest, RemoveOfAnAbsentProjectIsOkAndBadIdsAreRefused) {
  EXPECT_TRUE(manager_->Remove(NewUuid()).ok());
  ASSERT_TRUE(manager_->Ensure(project_).ok());
  EXPECT_TRUE(manager_->Remove(project_).ok());
  EXPECT_TRUE(manager_->Remove(project_).ok());
  for (const std::string& id : std::vector<std::string>{"", "..", "../x", "a/b", "."}) {
    EXPECT_EQ(manager_->Remove(id).code(), StatusCode::kInvalidArgument) << id;
  }
  EXPECT_TRUE(fs::exists(dir_.path() / "sandboxes")) << "the root stays";
}

}  // namespace
}  // namespace agentd::sandbox
