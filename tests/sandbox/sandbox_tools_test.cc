#include "sandbox/tools/sandbox_tools.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/ids.h"
#include "sandbox/bwrap/bwrap_sandbox.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace agentd::sandbox::tools {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using agent::ToolResult;
using nlohmann::json;
using namespace std::chrono_literals;

asio::awaitable<void> StoreInto(agent::Tool& tool, json args, std::optional<ToolResult>& out) {
  auto run = tool.Run(args);
  out.emplace(co_await std::move(run));
}

class SandboxToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "agentd-tooltest-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    bwrap::BwrapOptions o;
    o.root = dir_ / "sandboxes";
    o.default_timeout = 10s;
    o.first_uid = 310000 + static_cast<uint32_t>(::getpid() % 1000) * 100;
    auto m = bwrap::NewBwrapSandboxManager(o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
    provider_ = NewSandboxToolProvider(*manager_, {.read_cap_bytes = 1000});
    project_ = NewUuid();
    auto info = manager_->Ensure(project_);
    ASSERT_TRUE(info.ok());
    workspace_ = info->workspace;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ToolResult Call(const std::string& name, json args) {
    auto tool = provider_->Make(name, {.project_id = project_});
    EXPECT_NE(tool, nullptr) << name;
    asio::io_context io;
    std::optional<ToolResult> out;
    asio::co_spawn(io, StoreInto(*tool, std::move(args), out), asio::detached);
    io.run();
    return std::move(*out);
  }

  fs::path dir_;
  std::unique_ptr<SandboxManager> manager_;
  std::unique_ptr<agent::ToolProvider> provider_;
  std::string project_;
  fs::path workspace_;
};

TEST_F(SandboxToolsTest, NamesAndSchemasMatchTheSpec) {
  EXPECT_EQ(provider_->Names(),
            (std::vector<std::string>{"execute_command", "list_files", "read_file", "write_file",
                                      "str_replace", "delete_file"}));
  auto exec = provider_->Make("execute_command", {.project_id = project_})->Schema();
  EXPECT_EQ(exec.parameters["required"], json({"command"}));
  EXPECT_TRUE(exec.parameters["properties"].contains("timeout_s"));
  auto replace = provider_->Make("str_replace", {.project_id = project_})->Schema();
  EXPECT_EQ(replace.parameters["required"], json({"path", "old_str", "new_str"}));
  EXPECT_EQ(provider_->Make("nope", {.project_id = project_}), nullptr);
}

TEST_F(SandboxToolsTest, WriteReadRoundTripWithUnicode) {
  const std::string text = "héllo wörld ✓ 日本語\n";
  auto w = Call("write_file", {{"path", "dir/sub/a.txt"}, {"content", text}});
  ASSERT_TRUE(w.success) << w.error;
  EXPECT_EQ(w.details, json({{"path", "dir/sub/a.txt"}}));
  auto r = Call("read_file", {{"path", "/workspace/dir/sub/a.txt"}});
  ASSERT_TRUE(r.success) << r.error;
  EXPECT_EQ(r.output, text);
  EXPECT_EQ(r.details["path"], "/workspace/dir/sub/a.txt");
}

TEST_F(SandboxToolsTest, PathEscapesAreRefused) {
  ASSERT_EQ(::symlink("/etc", (workspace_ / "etc_link").c_str()), 0);
  ASSERT_EQ(::symlink("..", (workspace_ / "up").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/passwd", (workspace_ / "pw").c_str()), 0);
  for (std::string p : {"../../etc/passwd", "/etc/passwd", "/workspace/../x", "etc_link/passwd",
                        "up/x", "pw", "/workspacex/y"}) {
    auto r = Call("read_file", {{"path", p}});
    EXPECT_FALSE(r.success) << p;
    EXPECT_EQ(r.error, "Path escapes /workspace: " + p) << p;
    auto w = Call("write_file", {{"path", p}, {"content", "x"}});
    EXPECT_FALSE(w.success) << p;
    EXPECT_EQ(w.error, "Path escapes /workspace: " + p) << p;
  }
  for (std::string p : {"etc_link/hostname", "up/sandbox.json", "/etc/hostname"}) {
    auto d = Call("delete_file", {{"path", p}});
    EXPECT_FALSE(d.success) << p;
    EXPECT_EQ(d.error, "Path escapes /workspace: " + p) << p;
  }
  EXPECT_TRUE(fs::exists("/etc/hostname"));
  EXPECT_TRUE(fs::exists(workspace_.parent_path() / "sandbox.json"));
  auto l = Call("list_files", {{"path", "up"}});
  EXPECT_FALSE(l.success);
  // Deleting a symlink itself only removes the link.
  auto d = Call("delete_file", {{"path", "etc_link"}});
  EXPECT_TRUE(d.success) << d.error;
  EXPECT_TRUE(fs::exists("/etc/passwd"));
}

TEST_F(SandboxToolsTest, StrReplaceNeedsExactlyOneMatch) {
  ASSERT_TRUE(Call("write_file", {{"path", "f.txt"}, {"content", "a b a c"}}).success);
  auto none = Call("str_replace", {{"path", "f.txt"}, {"old_str", "zz"}, {"new_str", "y"}});
  EXPECT_FALSE(none.success);
  EXPECT_NE(none.error.find("0 matches"), std::string::npos) << none.error;
  auto two = Call("str_replace", {{"path", "f.txt"}, {"old_str", "a"}, {"new_str", "y"}});
  EXPECT_FALSE(two.success);
  EXPECT_NE(two.error.find("occurs 2 times"), std::string::npos) << two.error;
  auto one = Call("str_replace", {{"path", "f.txt"}, {"old_str", "b"}, {"new_str", "BB"}});
  EXPECT_TRUE(one.success) << one.error;
  EXPECT_EQ(one.details, json({{"path", "f.txt"}}));
  EXPECT_EQ(Call("read_file", {{"path", "f.txt"}}).output, "a BB a c");
}

TEST_F(SandboxToolsTest, DeleteAndListFiles) {
  ASSERT_TRUE(Call("write_file", {{"path", "one.txt"}, {"content", "1"}}).success);
  ASSERT_TRUE(Call("write_file", {{"path", "sub/two.txt"}, {"content", "22"}}).success);
  auto l = Call("list_files", json::object());
  ASSERT_TRUE(l.success) << l.error;
  EXPECT_EQ(l.output, "file one.txt (1 bytes)\ndir  sub/\n");
  auto d = Call("delete_file", {{"path", "one.txt"}});
  EXPECT_TRUE(d.success) << d.error;
  EXPECT_FALSE(fs::exists(workspace_ / "one.txt"));
  auto again = Call("delete_file", {{"path", "one.txt"}});
  EXPECT_FALSE(again.success);
  EXPECT_NE(again.error.find("No such file"), std::string::npos);
}

TEST_F(SandboxToolsTest, ReadRefusesBinaryAndCutsLongFiles) {
  {
    std::ofstream out(workspace_ / "bin.dat", std::ios::binary);
    out << std::string("\x00\x01\x02\xff", 4);
  }
  auto b = Call("read_file", {{"path", "bin.dat"}});
  EXPECT_FALSE(b.success);
  EXPECT_NE(b.error.find("Binary file"), std::string::npos);
  ASSERT_TRUE(
      Call("write_file", {{"path", "long.txt"}, {"content", std::string(5000, 'x')}}).success);
  auto r = Call("read_file", {{"path", "long.txt"}});
  ASSERT_TRUE(r.success);
  EXPECT_EQ(r.output.substr(0, 1000), std::string(1000, 'x'));
  EXPECT_NE(r.output.find("[file cut"), std::string::npos);
}

TEST_F(SandboxToolsTest, CommandSeesAndChangesFilesWrittenByTools) {
  ASSERT_TRUE(Call("write_file", {{"path", "src/x.txt"}, {"content", "from tool"}}).success);
  auto e = Call("execute_command",
                {{"command", "cat src/x.txt; echo ' and command' >> src/x.txt; exit 4"}});
  ASSERT_TRUE(e.success) << e.error;
  EXPECT_EQ(e.details["command"], "cat src/x.txt; echo ' and command' >> src/x.txt; exit 4");
  EXPECT_EQ(e.details["exit_code"], 4);
  EXPECT_EQ(e.details["timed_out"], false);
  EXPECT_EQ(e.details["truncated"], false);
  EXPECT_EQ(e.details["output"], "from tool");
  EXPECT_NE(e.output.find("Exit code: 4"), std::string::npos);
  EXPECT_EQ(Call("read_file", {{"path", "src/x.txt"}}).output, "from tool and command\n");
}

TEST_F(SandboxToolsTest, CommandTimeoutIsReported) {
  auto e = Call("execute_command", {{"command", "sleep 30"}, {"timeout_s", 1}});
  ASSERT_TRUE(e.success) << e.error;
  EXPECT_EQ(e.details["timed_out"], true);
  EXPECT_NE(e.output.find("timed out"), std::string::npos);
}

TEST_F(SandboxToolsTest, BadArgumentsAreToolErrors) {
  EXPECT_FALSE(Call("execute_command", json::object()).success);
  EXPECT_FALSE(Call("read_file", json::object()).success);
  EXPECT_FALSE(Call("write_file", {{"path", "a"}}).success);
  EXPECT_FALSE(Call("str_replace", {{"path", "a"}, {"old_str", ""}, {"new_str", "b"}}).success);
}

}  // namespace
}  // namespace agentd::sandbox::tools
