// The sandbox as the agent uses it through the real server (builtin echo calling the code
// tools): confinement of paths and commands, projects apart, and hostile commands contained
// while the server stays healthy.
#include <gtest/gtest.h>

#include "support/itest_api.h"

namespace agentd::testing {
namespace {

class SandboxItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    AgentdProcess::Options options;
    options.extra_config =
        "[sandbox]\ncommand_timeout_ms = 5000\nmemory_bytes = 268435456\nmax_processes = 64\n";
    StartSharedServer(options);
  }
  static void TearDownTestSuite() { StopSharedServer(); }

  struct ToolOutcome {
    bool success = false;
    std::string content;  // what the model was told
    nlohmann::json result;
  };

  // Runs one tool call through the echo model (in `thread_id` when given) and returns its
  // result as the `tool` event showed it.
  static ToolOutcome CallTool(const Api& a, const std::string& tool, const nlohmann::json& args,
                              const std::string& thread_id = "") {
    Fields fields = {{"prompt", "/tool " + tool + " " + args.dump()}};
    if (!thread_id.empty()) fields.push_back({"thread_id", thread_id});
    auto start = a.StartOk(fields);
    last_thread_ = Str(start["thread_id"]);
    const StreamResult s = a.Finish(Str(start["agent_run_id"]));
    EXPECT_TRUE(EndsWithTerminal(s, "completed")) << Describe(s.events);
    const auto tools = OfType(s.events, "tool");
    if (tools.size() != 1) {
      ADD_FAILURE() << "expected one tool event:\n" << Describe(s.events);
      return {};
    }
    const nlohmann::json result = At(tools[0].json, {"metadata", "result"});
    return {result.value("success", false), StrAt(tools[0].json, {"content", "content"}), result};
  }

  static void ExpectHealthy(const Api& a) {
    EXPECT_EQ(a.Get("/health").status, 200);
    auto start = a.StartOk({{"prompt", "still here"}, {"mode", "chat"}});
    EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(start["agent_run_id"])), "completed"));
  }

  static inline std::string last_thread_;
};

TEST_F(SandboxItest, CommandRunsInTheWorkspaceAndEventsCarryCommandAndExitCode) {
  Api a = NewUser();
  const ToolOutcome out =
      CallTool(a, "execute_command", {{"command", "pwd; echo hi > note.txt; exit 3"}});
  EXPECT_FALSE(out.result.is_null());
  EXPECT_EQ(out.result.value("command", ""), "pwd; echo hi > note.txt; exit 3");
  EXPECT_EQ(out.result.value("exit_code", 0), 3);
  EXPECT_NE(out.result.value("output", "").find("/workspace"), std::string::npos) << out.content;
  // The same project's next run sees the file.
  const ToolOutcome read = CallTool(a, "read_file", {{"path", "note.txt"}}, last_thread_);
  EXPECT_TRUE(read.success) << read.content;
  EXPECT_NE(read.content.find("hi"), std::string::npos) << read.content;
}

TEST_F(SandboxItest, PathsOutsideTheWorkspaceAreRefused) {
  Api a = NewUser();
  for (const char* path : {"../../etc/passwd", "/etc/passwd", "/workspace/../etc/hostname"}) {
    const ToolOutcome out = CallTool(a, "read_file", {{"path", path}});
    EXPECT_FALSE(out.success) << path << ": " << out.content;
    EXPECT_NE(out.content.find("escapes /workspace"), std::string::npos) << out.content;
  }
  CallTool(a, "execute_command", {{"command", "ln -s /etc out"}});
  const ToolOutcome out = CallTool(a, "read_file", {{"path", "out/passwd"}}, last_thread_);
  EXPECT_FALSE(out.success) << out.content;
}

TEST_F(SandboxItest, HostFilesAndOtherProjectsAreInvisible) {
  Api a = NewUser("alice");
  Api b = NewUser("bob");
  const ToolOutcome wrote =
      CallTool(a, "write_file", {{"path", "alice-secret.txt"}, {"content", "s3cret"}});
  ASSERT_TRUE(wrote.success) << wrote.content;
  const ToolOutcome looked =
      CallTool(b, "execute_command",
               {{"command",
                 "ls -a /workspace; cat /etc/shadow; ls /root /home; find / -path /proc -prune -o "
                 "-name 'alice-secret*' -print 2>/dev/null"}});
  const std::string output = looked.result.value("output", "");
  EXPECT_EQ(output.find("alice-secret"), std::string::npos) << output;
  EXPECT_EQ(output.find("s3cret"), std::string::npos) << output;
  EXPECT_EQ(output.find("root:"), std::string::npos) << output;
}

TEST_F(SandboxItest, NoNetworkFromACommand) {
  Api a = NewUser();
  // The server itself listens on loopback: not even that is reachable.
  const std::string command =
      "cat /proc/net/dev | tail -n +3 | cut -d: -f1; (exec 3<>/dev/tcp/127.0.0.1/" +
      std::to_string(server()->port()) + ") 2>&1 && echo CONNECTED";
  const ToolOutcome out =
      CallTool(a, "execute_command", {{"command", "bash -c '" + command + "'"}});
  const std::string output = out.result.value("output", "");
  EXPECT_EQ(output.find("CONNECTED"), std::string::npos) << output;
  EXPECT_EQ(output.find("eth"), std::string::npos) << output;
}

TEST_F(SandboxItest, ForkBombIsContainedAndTheServerStaysHealthy) {
  Api a = NewUser();
  const ToolOutcome out =
      CallTool(a, "execute_command", {{"command", "bomb() { bomb | bomb & }; bomb; sleep 2"}});
  EXPECT_FALSE(out.result.is_null()) << out.content;
  ExpectHealthy(a);
}

TEST_F(SandboxItest, MemoryHogIsContainedAndTheServerStaysHealthy) {
  Api a = NewUser();
  const ToolOutcome out =
      CallTool(a, "execute_command",
               {{"command", "head -c 2000000000 /dev/zero | tr -d x | sort > /dev/null"}});
  EXPECT_NE(out.result.value("exit_code", 0), 0) << out.content;
  ExpectHealthy(a);
}

}  // namespace
}  // namespace agentd::testing
