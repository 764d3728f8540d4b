#include "support/agentd_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#ifndef AGENTD_BINARY
#error "AGENTD_BINARY must be defined by the build"
#endif

extern char** environ;

namespace agentd::testing {
namespace {

// Environment for a child: ours, with the test secret and without proxies that would
// intercept 127.0.0.1.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("AGENTD_JWT_SECRET=")) continue;
    env.emplace_back(kv);
  }
  env.push_back(std::string("AGENTD_JWT_SECRET=") + kTestJwtSecret);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

void ReadAllFd(int fd, std::string* out) {
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
}

}  // namespace

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult RunAgentdCommand(const std::vector<std::string>& args) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = "pipe failed";
    return result;
  }
  std::vector<std::string> argv_s = {AGENTD_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = ChildEnvironment();
  std::vector<char*> argv = CStrings(argv_s);
  std::vector<char*> envp = CStrings(env_s);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Drain stderr on a thread so neither pipe can fill up and block the child.
  std::thread err_reader([&] { ReadAllFd(err_pipe[0], &result.err); });
  ReadAllFd(out_pipe[0], &result.out);
  err_reader.join();
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::unique_ptr<AgentdProcess> AgentdProcess::Start(const Options& options, std::string* error) {
  std::unique_ptr<AgentdProcess> p(new AgentdProcess());
  if (!p->Launch(options, error)) return nullptr;
  return p;
}

bool AgentdProcess::Launch(const Options& options, std::string* error) {
  run_dir_ = std::make_unique<TempDir>("agentd-itest-run");
  if (options.data_dir.empty()) {
    own_data_dir_ = std::make_unique<TempDir>("agentd-itest-data");
    data_dir_ = own_data_dir_->path();
  } else {
    data_dir_ = options.data_dir;
  }
  const std::string config_path = run_dir_->path() + "/agentd.toml";
  {
    std::ofstream config(config_path);
    config << "[runs]\n"
           << "heartbeat_ms = " << options.heartbeat_ms << "\n"
           << "max_steps = 25\n"
           << options.runs_extra << "\n\n"
           << "[http]\n"
           << "cors_allowed_origins = [\"http://app.example\"]\n\n"
           << options.extra_config << "\n";
  }
  stderr_path_ = run_dir_->path() + "/stderr.log";
  const int err_fd = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int out_pipe[2];
  if (err_fd < 0 || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    *error = std::string("cannot set up server output: ") + std::strerror(errno);
    return false;
  }
  std::vector<std::string> argv_s = {AGENTD_BINARY, "serve",   "--port",   "0",
                                     "--data-dir",  data_dir_, "--config", config_path};
  std::vector<std::string> env_s = ChildEnvironment();
  env_s.insert(env_s.end(), options.env.begin(), options.env.end());
  std::vector<char*> argv = CStrings(argv_s);
  std::vector<char*> envp = CStrings(env_s);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Die with the test binary, whatever happens to it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_fd);
  if (pid < 0) {
    close(out_pipe[0]);
    *error = std::string("fork failed: ") + std::strerror(errno);
    return false;
  }
  pid_ = pid;
  stdout_reader_ = std::thread([this, fd = out_pipe[0]] { ReadStdout(fd); });

  static const std::regex kListening(R"(agentd listening on http://127\.0\.0\.1:(\d+)\r?\n)");
  std::unique_lock lock(mu_);
  std::smatch m;
  const bool ready = cv_.wait_for(lock, options.start_deadline, [&] {
    return std::regex_search(stdout_, m, kListening) || stdout_eof_;
  });
  if (ready && !m.empty()) {
    port_ = std::stoi(m[1].str());
    return true;
  }
  const bool eof = stdout_eof_;
  lock.unlock();
  std::string what;
  if (eof) {
    Reap();
    what = "agentd serve " + DescribeWaitStatus(wait_status_) + " before listening";
  } else {
    what = "agentd serve printed no listening line within " +
           std::to_string(options.start_deadline.count()) + " ms";
    Kill9();
  }
  *error = what + "\n--- stdout ---\n" + Stdout() + "\n--- stderr ---\n" + Stderr();
  return false;
}

void AgentdProcess::ReadStdout(int fd) {
  char buf[4096];
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;  // the owner gave up waiting for EOF
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mu_);
    stdout_.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
  close(fd);
  std::lock_guard lock(mu_);
  stdout_eof_ = true;
  cv_.notify_all();
}

bool AgentdProcess::WaitStdoutEof(std::chrono::milliseconds deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, deadline, [&] { return stdout_eof_; });
}

void AgentdProcess::Reap() {
  if (pid_ > 0) {
    while (waitpid(pid_, &wait_status_, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (stdout_reader_.joinable()) {
    // A process the server started may still hold stdout open; do not wait for it forever.
    if (!WaitStdoutEof(std::chrono::seconds(2))) {
      [[maybe_unused]] ssize_t n = write(wake_pipe_[1], "x", 1);
    }
    stdout_reader_.join();
  }
}

void AgentdProcess::Kill9() {
  if (pid_ > 0) kill(pid_, SIGKILL);
  Reap();
}

std::optional<int> AgentdProcess::Terminate(std::chrono::milliseconds deadline) {
  if (pid_ <= 0) return std::nullopt;
  kill(pid_, SIGTERM);
  // stdout closes when the process exits (the server's children must not inherit it).
  if (!WaitStdoutEof(deadline)) {
    ADD_FAILURE() << "agentd did not exit within " << deadline.count() << " ms of SIGTERM";
    Kill9();
    return std::nullopt;
  }
  Reap();
  if (WIFEXITED(wait_status_)) return WEXITSTATUS(wait_status_);
  return std::nullopt;
}

AgentdProcess::~AgentdProcess() {
  Kill9();
  for (int fd : wake_pipe_) {
    if (fd >= 0) close(fd);
  }
}

std::string AgentdProcess::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string AgentdProcess::Stderr() const { return ReadFile(stderr_path_); }

std::string AgentdProcess::Stdout() const {
  std::lock_guard lock(mu_);
  return stdout_;
}

std::string AgentdProcess::MintToken(const std::string& user) const {
  CommandResult r = RunAgentdCommand({"token", "--user", user});
  // The token is the last whitespace-separated word with two dots.
  std::string token;
  std::istringstream words(r.out);
  for (std::string w; words >> w;) {
    if (std::count(w.begin(), w.end(), '.') == 2) token = w;
  }
  if (r.exit_code != 0 || token.empty()) {
    ADD_FAILURE() << "agentd token --user " << user << " failed (exit " << r.exit_code
                  << ")\nstdout: " << r.out << "\nstderr: " << r.err;
    return "";
  }
  return token;
}

}  // namespace agentd::testing
