#include "sandbox/tools/sandbox_tools.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentd::sandbox::tools {
namespace {

namespace asio = boost::asio;
using agent::ToolResult;
using nlohmann::json;

constexpr char kWorkspace[] = "/workspace";

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

ToolResult Fail(std::string error, json details = json::object()) {
  ToolResult r;
  r.success = false;
  r.error = std::move(error);
  r.details = std::move(details);
  return r;
}

ToolResult Ok(std::string output, json details) {
  ToolResult r;
  r.success = true;
  r.output = std::move(output);
  r.details = std::move(details);
  return r;
}

// The path relative to the workspace ("" = the workspace itself), lexically normalised, or
// nullopt when it leaves the workspace. Symlinks are left to openat2.
std::optional<std::string> Relative(std::string_view path) {
  std::string_view rest = path;
  if (!rest.empty() && rest[0] == '/') {
    if (rest == kWorkspace) return std::string();
    if (rest.substr(0, sizeof(kWorkspace)) != std::string(kWorkspace) + "/") return std::nullopt;
    rest.remove_prefix(sizeof(kWorkspace));
  }
  std::vector<std::string_view> parts;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

std::string Escapes(std::string_view path) {
  return "Path escapes /workspace: " + std::string(path);
}

std::string OsErrorText(int err, std::string_view path) {
  switch (err) {
    case EXDEV:
    case ELOOP:
      return Escapes(path);
    case ENOENT:
      return "No such file or directory: " + std::string(path);
    case EISDIR:
      return "Is a directory: " + std::string(path);
    case ENOTDIR:
      return "Not a directory: " + std::string(path);
    case EACCES:
    case EPERM:
      return "Permission denied: " + std::string(path);
    case ENOTEMPTY:
      return "Directory not empty: " + std::string(path);
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
      return "No space left for: " + std::string(path);
    default:
      return std::error_code(err, std::generic_category()).message() + ": " + std::string(path);
  }
}

// openat2 confined to the directory `dirfd`: no `..` above it, no absolute or escaping
// symlinks, no /proc magic links. -1 with errno on failure.
int OpenBeneath(int dirfd, const std::string& rel, uint64_t flags, uint64_t mode = 0) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const std::string p = rel.empty() ? "." : rel;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, dirfd, p.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  return static_cast<int>(fd);
}

bool IsText(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) return false;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0) return false;
    if (i + len > s.size()) return true;  // cut mid-character by a cap
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 character.
std::string CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

// Reads up to `limit` bytes; `more` is set when the file has more.
bool ReadUpTo(int fd, size_t limit, std::string& out, bool& more) {
  out.clear();
  more = false;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    const size_t room = limit - std::min(limit, out.size());
    out.append(buf, std::min(room, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) > room) {
      more = true;
      return true;
    }
  }
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

enum class Kind { kExecute, kList, kRead, kWrite, kReplace, kDelete };

struct ToolDef {
  Kind kind;
  const char* name;
};

constexpr ToolDef kTools[] = {
    {Kind::kExecute, "execute_command"}, {Kind::kList, "list_files"},
    {Kind::kRead, "read_file"},          {Kind::kWrite, "write_file"},
    {Kind::kReplace, "str_replace"},     {Kind::kDelete, "delete_file"},
};

json PathParam(const char* what) {
  return {{"type", "string"},
          {"description",
           std::string(what) + " Relative to /workspace, or absolute inside /workspace."}};
}

llm::ToolSchema SchemaOf(Kind kind, const char* name) {
  llm::ToolSchema s;
  s.name = name;
  json props = json::object();
  json required = json::array();
  switch (kind) {
    case Kind::kExecute:
      s.description =
          "Run a shell command (/bin/sh -c) in the project's sandbox, in /workspace. No network. "
          "Returns the exit code and the combined stdout and stderr (long output is cut).";
      props["command"] = {{"type", "string"}, {"description", "The shell command to run."}};
      props["timeout_s"] = {{"type", "integer"},
                            {"minimum", 1},
                            {"description", "Wall-clock limit in seconds (default 60)."}};
      required = {"command"};
      break;
    case Kind::kList:
      s.description = "List a directory of the workspace: names with their type and size.";
      props["path"] = PathParam("Directory to list; default /workspace.");
      break;
    case Kind::kRead:
      s.description = "Read a UTF-8 text file of the workspace (long files are cut).";
      props["path"] = PathParam("File to read.");
      required = {"path"};
      break;
    case Kind::kWrite:
      s.description =
          "Create or overwrite a text file in the workspace with `content` (missing parent "
          "directories are created).";
      props["path"] = PathParam("File to write.");
      props["content"] = {{"type", "string"}, {"description", "The whole new file content."}};
      required = {"path", "content"};
      break;
    case Kind::kReplace:
      s.description =
          "Replace the one occurrence of `old_str` in a text file with `new_str`. Fails when "
          "old_str occurs zero times or more than once (add surrounding lines to make it "
          "unique).";
      props["path"] = PathParam("File to edit.");
      props["old_str"] = {{"type", "string"}, {"description", "Exact text to replace."}};
      props["new_str"] = {{"type", "string"}, {"description", "Replacement text."}};
      required = {"path", "old_str", "new_str"};
      break;
    case Kind::kDelete:
      s.description = "Delete a file (or an empty directory) of the workspace.";
      props["path"] = PathParam("File to delete.");
      required = {"path"};
      break;
  }
  s.parameters = {{"type", "object"},
                  {"properties", std::move(props)},
                  {"required", std::move(required)},
                  {"additionalProperties", false}};
  return s;
}

// A string argument; nullopt when absent (and not required) or of the wrong type.
std::optional<std::string> StringArg(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

class SandboxTool final : public agent::Tool {
 public:
  SandboxTool(SandboxManager& sandboxes, const SandboxToolOptions& options, Kind kind,
              const char* name, std::string project_id)
      : sandboxes_(sandboxes),
        options_(options),
        kind_(kind),
        name_(name),
        project_id_(std::move(project_id)) {}

  llm::ToolSchema Schema() const override { return SchemaOf(kind_, name_); }

  asio::awaitable<ToolResult> Run(const json& arguments) override {
    if (kind_ == Kind::kExecute) {
      auto command = StringArg(arguments, "command");
      if (!command || command->empty()) {
        co_return Fail("execute_command needs a non-empty string `command`");
      }
      std::chrono::milliseconds timeout{0};
      if (auto it = arguments.find("timeout_s"); it != arguments.end() && !it->is_null()) {
        if (!it->is_number() || it->get<double>() <= 0) {
          co_return Fail("timeout_s must be a positive number of seconds");
        }
        const double capped =
            std::min(it->get<double>(), static_cast<double>(options_.max_command_timeout.count()));
        timeout = std::chrono::milliseconds(static_cast<int64_t>(capped * 1000));
      }
      // Made outside the co_await: GCC 12 destroys prvalue coroutine arguments twice there.
      auto execute = Execute(std::move(*command), timeout);
      co_return co_await std::move(execute);
    }
    co_return RunFileTool(arguments);
  }

 private:
  asio::awaitable<ToolResult> Execute(std::string command, std::chrono::milliseconds timeout) {
    CommandOptions o;
    o.timeout = timeout;
    std::vector<std::string> argv = {"/bin/sh", "-c", command};
    auto run = sandboxes_.Run(project_id_, std::move(argv), std::move(o));
    Result<CommandResult> r = co_await std::move(run);
    if (!r.ok())
      co_return Fail("Cannot run the command: " + r.status().message(), {{"command", command}});
    std::string text = "Exit code: " + std::to_string(r->exit_code) + "\n";
    if (r->timed_out) text += "The command timed out and was killed.\n";
    text += r->output;
    if (r->truncated) text += "\n[output truncated]";
    json details = {{"command", command},
                    {"exit_code", r->exit_code},
                    {"timed_out", r->timed_out},
                    {"truncated", r->truncated || r->output.size() > options_.event_output_bytes},
                    {"output", CutUtf8(r->output, options_.event_output_bytes)}};
    ToolResult result = Ok(std::move(text), std::move(details));
    // A failed command is still a successful tool call: the model reads the exit code.
    co_return result;
  }

  ToolResult RunFileTool(const json& args) {
    std::string path = kWorkspace;
    if (auto p = StringArg(args, "path")) {
      path = *p;
    } else if (kind_ != Kind::kList || args.contains("path")) {
      return Fail(std::string(name_) + " needs a string `path`");
    }
    json details = {{"path", path}};
    std::optional<std::string> rel = Relative(path);
    if (!rel) return Fail(Escapes(path), details);
    Result<SandboxInfo> info = sandboxes_.Ensure(project_id_);
    if (!info.ok()) return Fail("The sandbox is unavailable: " + info.status().message(), details);
    Fd root(::open(info->workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) return Fail("The workspace is unavailable", details);
    ToolResult r;
    switch (kind_) {
      case Kind::kList:
        r = List(root.get(), *rel, path);
        break;
      case Kind::kRead:
        r = Read(root.get(), *rel, path);
        break;
      case Kind::kWrite: {
        auto content = StringArg(args, "content");
        if (!content) return Fail("write_file needs a string `content`", details);
        r = Write(root.get(), *rel, path, *content, *info);
        break;
      }
      case Kind::kReplace: {
        auto old_str = StringArg(args, "old_str");
        auto new_str = StringArg(args, "new_str");
        if (!old_str || !new_str) {
          return Fail("str_replace needs string `old_str` and `new_str`", details);
        }
        r = Replace(root.get(), *rel, path, *old_str, *new_str);
        break;
      }
      case Kind::kDelete:
        r = Delete(root.get(), *rel, path);
        break;
      case Kind::kExecute:
        break;
    }
    r.details = std::move(details);
    return r;
  }

  ToolResult List(int root, const std::string& rel, const std::string& path) {
    Fd dir(OpenBeneath(root, rel, O_RDONLY | O_DIRECTORY));
    if (dir.get() < 0) return Fail(OsErrorText(errno, path));
    const int fd = ::dup(dir.get());
    DIR* d = fd < 0 ? nullptr : ::fdopendir(fd);
    if (d == nullptr) {
      if (fd >= 0) ::close(fd);
      return Fail(OsErrorText(errno, path));
    }
    std::vector<std::string> lines;
    size_t total = 0;
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      ++total;
      if (lines.size() >= options_.max_list_entries) continue;
      struct stat st {};
      if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        lines.push_back("dir  " + name + "/");
      } else if (S_ISREG(st.st_mode)) {
        lines.push_back("file " + name + " (" + std::to_string(st.st_size) + " bytes)");
      } else if (S_ISLNK(st.st_mode)) {
        lines.push_back("link " + name);
      } else {
        lines.push_back("other " + name);
      }
    }
    ::closedir(d);
    std::sort(lines.begin(), lines.end(),
              [](const std::string& a, const std::string& b) { return a.substr(5) < b.substr(5); });
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    if (total > lines.size()) {
      out += "[" + std::to_string(total - lines.size()) + " more entries not shown]\n";
    }
    if (total == 0) out = "(empty directory)\n";
    return Ok(std::move(out), {});
  }

  ToolResult Read(int root, const std::string& rel, const std::string& path) {
    Fd fd(OpenBeneath(root, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) return Fail(OsErrorText(errno, path));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Fail(S_ISDIR(st.st_mode) ? OsErrorText(EISDIR, path) : "Not a regular file: " + path);
    }
    std::string text;
    bool more = false;
    if (!ReadUpTo(fd.get(), options_.read_cap_bytes, text, more)) {
      return Fail(OsErrorText(errno, path));
    }
    if (!IsText(text)) {
      return Fail("Binary file (not UTF-8 text), not shown: " + path + " (" +
                  std::to_string(st.st_size) + " bytes)");
    }
    if (more) {
      text = CutUtf8(text, options_.read_cap_bytes);
      text += "\n[file cut: showing the first " + std::to_string(text.size()) + " of " +
              std::to_string(st.st_size) + " bytes]";
    }
    return Ok(std::move(text), {});
  }

  // Creates the missing parent directories of `rel`, each confined like every lookup.
  int MakeParents(int root, const std::string& rel, const SandboxInfo& info) {
    size_t pos = 0;
    while ((pos = rel.find('/', pos)) != std::string::npos) {
      const std::string dir = rel.substr(0, pos);
      ++pos;
      Fd existing(OpenBeneath(root, dir, O_PATH | O_DIRECTORY));
      if (existing.get() >= 0) continue;
      if (errno != ENOENT) return errno;
      const size_t slash = dir.rfind('/');
      const std::string parent = slash == std::string::npos ? "" : dir.substr(0, slash);
      const std::string name = slash == std::string::npos ? dir : dir.substr(slash + 1);
      Fd parent_fd(OpenBeneath(root, parent, O_PATH | O_DIRECTORY));
      if (parent_fd.get() < 0) return errno;
      if (::mkdirat(parent_fd.get(), name.c_str(), 0755) != 0 && errno != EEXIST) return errno;
      if (::geteuid() == 0) {
        (void)::fchownat(parent_fd.get(), name.c_str(), info.uid, info.gid, AT_SYMLINK_NOFOLLOW);
      }
    }
    return 0;
  }

  ToolResult Write(int root, const std::string& rel, const std::string& path,
                   const std::string& content, const SandboxInfo& info) {
    if (rel.empty()) return Fail(OsErrorText(EISDIR, path));
    if (content.size() > options_.max_edit_bytes) {
      return Fail("Content too large: " + std::to_string(content.size()) + " bytes (limit " +
                  std::to_string(options_.max_edit_bytes) + ")");
    }
    if (const int err = MakeParents(root, rel, info); err != 0) {
      return Fail(OsErrorText(err, path));
    }
    Fd fd(OpenBeneath(root, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NONBLOCK, 0644));
    if (fd.get() < 0) return Fail(OsErrorText(errno, path));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Fail("Not a regular file: " + path);
    }
    if (::geteuid() == 0) (void)::fchown(fd.get(), info.uid, info.gid);
    if (!WriteAll(fd.get(), content)) return Fail(OsErrorText(errno, path));
    return Ok("Wrote " + std::to_string(content.size()) + " bytes to " + path, {});
  }

  ToolResult Replace(int root, const std::string& rel, const std::string& path,
                     const std::string& old_str, const std::string& new_str) {
    if (old_str.empty()) return Fail("old_str must not be empty");
    Fd fd(OpenBeneath(root, rel, O_RDWR | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) return Fail(OsErrorText(errno, path));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Fail("Not a regular file: " + path);
    }
    std::string text;
    bool more = false;
    if (!ReadUpTo(fd.get(), options_.max_edit_bytes, text, more)) {
      return Fail(OsErrorText(errno, path));
    }
    if (more) return Fail("File too large to edit: " + path);
    if (!IsText(text)) return Fail("Binary file (not UTF-8 text), not edited: " + path);
    size_t count = 0;
    size_t at = std::string::npos;
    for (size_t pos = text.find(old_str); pos != std::string::npos;
         pos = text.find(old_str, pos + old_str.size())) {
      if (count++ == 0) at = pos;
    }
    if (count == 0) return Fail("old_str was not found in " + path + " (0 matches)");
    if (count > 1) {
      return Fail("old_str occurs " + std::to_string(count) + " times in " + path +
                  "; it must occur exactly once (include more surrounding text)");
    }
    text.replace(at, old_str.size(), new_str);
    if (text.size() > options_.max_edit_bytes) return Fail("Result too large: " + path);
    if (::ftruncate(fd.get(), 0) != 0 || ::lseek(fd.get(), 0, SEEK_SET) != 0 ||
        !WriteAll(fd.get(), text)) {
      return Fail(OsErrorText(errno, path));
    }
    return Ok("Replaced 1 occurrence in " + path, {});
  }

  ToolResult Delete(int root, const std::string& rel, const std::string& path) {
    if (rel.empty()) return Fail("Cannot delete /workspace itself");
    const size_t slash = rel.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    Fd dir(OpenBeneath(root, parent, O_PATH | O_DIRECTORY));
    if (dir.get() < 0) return Fail(OsErrorText(errno, path));
    struct stat st {};
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(OsErrorText(errno, path));
    }
    const int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
    if (::unlinkat(dir.get(), name.c_str(), flags) != 0) return Fail(OsErrorText(errno, path));
    return Ok("Deleted " + path, {});
  }

  SandboxManager& sandboxes_;
  const SandboxToolOptions& options_;
  const Kind kind_;
  const char* const name_;
  const std::string project_id_;
};

class SandboxToolProvider final : public agent::ToolProvider {
 public:
  SandboxToolProvider(SandboxManager& sandboxes, SandboxToolOptions options)
      : sandboxes_(sandboxes), options_(options) {}

  std::vector<std::string> Names() const override {
    std::vector<std::string> names;
    for (const ToolDef& t : kTools) names.emplace_back(t.name);
    return names;
  }

  std::unique_ptr<agent::Tool> Make(std::string_view name,
                                    const agent::ToolContext& context) override {
    for (const ToolDef& t : kTools) {
      if (name == t.name) {
        return std::make_unique<SandboxTool>(sandboxes_, options_, t.kind, t.name,
                                             context.project_id);
      }
    }
    return nullptr;
  }

 private:
  SandboxManager& sandboxes_;
  const SandboxToolOptions options_;
};

}  // namespace

std::unique_ptr<agent::ToolProvider> NewSandboxToolProvider(SandboxManager& sandboxes,
                                                            SandboxToolOptions options) {
  return std::make_unique<SandboxToolProvider>(sandboxes, options);
}

}  // namespace agentd::sandbox::tools
