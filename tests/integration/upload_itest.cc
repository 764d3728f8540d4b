// File uploads through POST /agent/start against the real server and real bubblewrap: bytes
// stored exactly, safe names, collision suffixes, 413 refusals that leave nothing behind (also
// for a client still sending), and extracted text (PDF via pdftotext in the sandbox, plain
// text) reaching the model in the user message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/ids.h"
#include "support/itest_api.h"
#include "support/test_files.h"

namespace agentd::testing {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxFileBytes = 1 << 20;

// The free tier's file limits made small, so the refusals are quick to reach.
constexpr char kUploadConfig[] = R"(
[tiers.free]
max_file_bytes = 1048576
files_per_request = 3
)";

class UploadItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    AgentdProcess::Options options;
    options.extra_config = kUploadConfig;
    StartSharedServer(options);
  }
  static void TearDownTestSuite() { StopSharedServer(); }

  static fs::path DataDir() { return server()->data_dir(); }

  // Every regular file under the sandboxes' workspaces and the upload spool.
  static size_t UploadedFileCount() {
    size_t n = 0;
    for (const fs::path& dir : {DataDir() / "sandboxes", DataDir() / "tmp" / "uploads"}) {
      if (!fs::exists(dir)) continue;
      for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const std::string p = e.path().string();
        if (e.is_regular_file() && (p.find("/workspace/") != std::string::npos ||
                                    p.find("/tmp/uploads/") != std::string::npos)) {
          ++n;
        }
      }
    }
    return n;
  }
  static size_t SandboxCount() {
    size_t n = 0;
    if (!fs::exists(DataDir() / "sandboxes")) return 0;
    for (const auto& e : fs::directory_iterator(DataDir() / "sandboxes")) n += e.is_directory();
    return n;
  }

  static std::string ReadFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  static fs::path UploadsOf(const std::string& project_id) {
    return DataDir() / "sandboxes" / project_id / "workspace" / "uploads";
  }

  static Response StartWithFiles(const Api& a, const Fields& fields,
                                 const std::vector<Part>& files) {
    std::vector<Part> parts;
    for (const auto& [k, v] : fields) parts.push_back({k, v, "", ""});
    parts.insert(parts.end(), files.begin(), files.end());
    return a.http().PostMultipart("/agent/start", a.Auth(), parts);
  }

  static nlohmann::json Usage(const Api& a) {
    Response r = a.Get("/limits");
    EXPECT_EQ(r.status, 200) << r.body;
    return At(r.Json(), {"usage"});
  }

  // The stored messages of a thread.
  static nlohmann::json Messages(const Api& a, const std::string& thread_id) {
    Response r = a.Get("/threads/" + thread_id + "/messages");
    EXPECT_EQ(r.status, 200) << r.body;
    return At(r.Json(), {"messages"});
  }

  static std::string AssistantText(const Api& a, const std::string& thread_id) {
    std::string text;
    for (const auto& m : Messages(a, thread_id)) {
      if (m.value("type", "") == "assistant") text += StrAt(m, {"content", "content"});
    }
    return text;
  }

  static void ExpectNothingLeftBehind(const Api& a, const Response& r, const char* reason,
                                      size_t files_before, size_t sandboxes_before) {
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_EQ(StrAt(r.Json(), {"detail", "error_code"}), reason) << r.body;
    const nlohmann::json usage = Usage(a);
    EXPECT_EQ(usage.value("threads", -1), 0) << usage;
    EXPECT_EQ(usage.value("projects", -1), 0) << usage;
    EXPECT_EQ(usage.value("running_runs", -1), 0) << usage;
    EXPECT_EQ(UploadedFileCount(), files_before);
    EXPECT_EQ(SandboxCount(), sandboxes_before);
  }
};

TEST_F(UploadItest, BinaryBytesAreStoredExactlyWithTheirSha256) {
  Api a = NewUser();
  const std::string blob = RandomBytes(300000);
  ASSERT_NE(blob.find('\0'), std::string::npos);
  Response r = StartWithFiles(a, {{"prompt", "keep this"}},
                              {{"files", blob, "blob.bin", "application/octet-stream"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json j = r.Json();
  ASSERT_TRUE(j["files"].is_array() && j["files"].size() == 1) << r.body;
  const nlohmann::json& f = j["files"][0];
  EXPECT_EQ(f["name"], "blob.bin");
  EXPECT_EQ(f["path"], "/workspace/uploads/blob.bin");
  EXPECT_EQ(f["size"], blob.size());
  EXPECT_EQ(f["sha256"], Sha256Hex(blob));
  EXPECT_EQ(f["mime_type"], "application/octet-stream");
  EXPECT_TRUE(j["sandbox_id"].is_string() && !Str(j["sandbox_id"]).empty()) << r.body;
  EXPECT_EQ(ReadFile(UploadsOf(Str(j["project_id"])) / "blob.bin"), blob);
  EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(j["agent_run_id"])), "completed"));
}

TEST_F(UploadItest, NamesAreSanitisedInTheResponseAndOnDisk) {
  Api a = NewUser();
  Response r = StartWithFiles(
      a, {{"prompt", "names"}},
      {{"files", "1", "../../x", ""}, {"files", "2", "a/b", ""}, {"files", "3", "..", ""}});
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json files = r.Json()["files"];
  ASSERT_EQ(files.size(), 3u) << r.body;
  EXPECT_EQ(files[0]["name"], "x");
  EXPECT_EQ(files[1]["name"], "b");
  EXPECT_EQ(files[2]["name"], "file");
  const fs::path uploads = UploadsOf(Str(r.Json()["project_id"]));
  EXPECT_EQ(ReadFile(uploads / "x"), "1");
  EXPECT_EQ(ReadFile(uploads / "b"), "2");
  EXPECT_EQ(ReadFile(uploads / "file"), "3");
  EXPECT_FALSE(fs::exists(DataDir() / "sandboxes" / "x"));
  EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(r.Json()["agent_run_id"])), "completed"));

  Response ctl =
      StartWithFiles(a, {{"prompt", "control"}}, {{"files", "4", "tab\there\x01.txt", ""}});
  ASSERT_EQ(ctl.status, 200) << ctl.body;
  EXPECT_EQ(ctl.Json()["files"][0]["name"], "tabhere.txt") << ctl.body;
  EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(ctl.Json()["agent_run_id"])), "completed"));
}

TEST_F(UploadItest, SecondUploadOfTheSameNameInTheThreadGetsASuffix) {
  Api a = NewUser();
  Response first =
      StartWithFiles(a, {{"prompt", "one"}}, {{"files", "first", "report.txt", "text/plain"}});
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string thread_id = Str(first.Json()["thread_id"]);
  ASSERT_TRUE(EndsWithTerminal(a.Finish(Str(first.Json()["agent_run_id"])), "completed"));
  Response second = StartWithFiles(a, {{"prompt", "two"}, {"thread_id", thread_id}},
                                   {{"files", "second", "report.txt", "text/plain"}});
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.Json()["project_id"], first.Json()["project_id"]);
  EXPECT_EQ(second.Json()["sandbox_id"], first.Json()["sandbox_id"]);
  EXPECT_EQ(second.Json()["files"][0]["name"], "report (1).txt") << second.body;
  EXPECT_EQ(second.Json()["files"][0]["path"], "/workspace/uploads/report (1).txt");
  const fs::path uploads = UploadsOf(Str(first.Json()["project_id"]));
  EXPECT_EQ(ReadFile(uploads / "report.txt"), "first");
  EXPECT_EQ(ReadFile(uploads / "report (1).txt"), "second");
  EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(second.Json()["agent_run_id"])), "completed"));

  // A start without files reports the project's existing sandbox.
  Response third = a.Start({{"prompt", "three"}, {"thread_id", thread_id}});
  ASSERT_EQ(third.status, 200) << third.body;
  EXPECT_EQ(third.Json()["sandbox_id"], first.Json()["sandbox_id"]);
  EXPECT_FALSE(third.Json().contains("files"));
  EXPECT_TRUE(EndsWithTerminal(a.Finish(Str(third.Json()["agent_run_id"])), "completed"));
}

TEST_F(UploadItest, TooLargeIs413AndLeavesNothingBehind) {
  Api a = NewUser();
  const size_t files_before = UploadedFileCount();
  const size_t sandboxes_before = SandboxCount();
  Response r = StartWithFiles(a, {{"prompt", "big"}},
                              {{"files", "small", "ok.txt", ""},
                               {"files", std::string(kMaxFileBytes + 1, 'x'), "big.txt", ""}});
  ExpectNothingLeftBehind(a, r, "FILE_TOO_LARGE", files_before, sandboxes_before);
  EXPECT_EQ(At(r.Json(), {"detail", "limit"}), kMaxFileBytes) << r.body;
}

TEST_F(UploadItest, TooManyIs413AndLeavesNothingBehind) {
  Api a = NewUser();
  const size_t files_before = UploadedFileCount();
  const size_t sandboxes_before = SandboxCount();
  std::vector<Part> files;
  for (int i = 0; i < 4; ++i) files.push_back({"files", "x", "f" + std::to_string(i), ""});
  Response r = StartWithFiles(a, {{"prompt", "many"}}, files);
  ExpectNothingLeftBehind(a, r, "TOO_MANY_FILES", files_before, sandboxes_before);
  EXPECT_EQ(At(r.Json(), {"detail", "limit"}), 3) << r.body;
}

TEST_F(UploadItest, ChecksBeforeFilesAnswerFirstWhenTheBodyIsReadWhole) {
  Api a = NewUser();
  Response r = StartWithFiles(a, {{"prompt", "x"}, {"thread_id", NewUuid()}},
                              {{"files", std::string(kMaxFileBytes + 1, 'x'), "big.txt", ""}});
  EXPECT_EQ(r.status, 404) << "thread is checked before the file limits: " << r.body;
  Response bad = StartWithFiles(a, {{"prompt", "x"}, {"model_name", "no/such-model"}},
                                {{"files", std::string(kMaxFileBytes + 1, 'x'), "big.txt", ""}});
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(UploadItest, NoCreditsIs402BeforeTheFileLimit) {
  Api a = NewUser();
  CommandResult set = RunAgentdCommand(
      {"account", "set", a.user(), "--credits", "0", "--data-dir", server()->data_dir()});
  ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
  Response r = StartWithFiles(a, {{"prompt", "x"}},
                              {{"files", std::string(kMaxFileBytes + 1, 'x'), "big.txt", ""}});
  EXPECT_EQ(r.status, 402) << r.body;
  EXPECT_EQ(StrAt(r.Json(), {"detail", "error_code"}), "INSUFFICIENT_CREDITS") << r.body;
}

TEST_F(UploadItest, ClientStillSendingAHugeBodyReadsThe413) {
  Api a = NewUser();
  const size_t files_before = UploadedFileCount();
  const size_t sandboxes_before = SandboxCount();
  // Larger than the limit plus the 16 MiB drain bound: the server answers before the end.
  const std::string huge(40u << 20, 'z');
  Response r = StartWithFiles(a, {{"prompt", "huge"}}, {{"files", huge, "huge.bin", ""}});
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(r.Header("Connection").value_or(""), "close") << "the rest of the body was not read";
  ExpectNothingLeftBehind(a, r, "FILE_TOO_LARGE", files_before, sandboxes_before);
  EXPECT_EQ(a.Get("/health").status, 200) << "the server is fine afterwards";
}

TEST_F(UploadItest, PdfTextReachesTheAgent) {
  Api a = NewUser();
  Response r = StartWithFiles(a, {{"prompt", "read the attachment"}},
                              {{"files", TinyPdf("Hello from a PDF"), "report.pdf", ""}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["files"][0]["mime_type"], "application/pdf");
  const std::string thread_id = Str(r.Json()["thread_id"]);
  const StreamResult s = a.Finish(Str(r.Json()["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_NE(ChunkText(s.events).find("Hello from a PDF"), std::string::npos) << ChunkText(s.events);
  EXPECT_NE(AssistantText(a, thread_id).find("Hello from a PDF"), std::string::npos);

  const nlohmann::json messages = Messages(a, thread_id);
  ASSERT_FALSE(messages.empty());
  const nlohmann::json& user = messages[0];
  ASSERT_EQ(user.value("type", ""), "user");
  EXPECT_EQ(StrAt(user, {"content", "content"}),
            "read the attachment\n[Attached: report.pdf (" +
                std::to_string(TinyPdf("Hello from a PDF").size()) + " B) -> uploads/report.pdf]");
  const nlohmann::json attachment = At(user, {"metadata", "attachments"})[0];
  EXPECT_EQ(attachment.value("path", ""), "/workspace/uploads/report.pdf");
  EXPECT_NE(attachment.value("text", "").find("Hello from a PDF"), std::string::npos) << attachment;
  EXPECT_EQ(attachment.value("text_truncated", true), false);
}

TEST_F(UploadItest, TextFileContentReachesTheAgentInChatMode) {
  Api a = NewUser();
  Response r = StartWithFiles(a, {{"prompt", "summarise"}, {"mode", "chat"}},
                              {{"files", "The secret word is pineapple.\n", "notes.md", ""}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["files"][0]["mime_type"], "text/plain");
  const StreamResult s = a.Finish(Str(r.Json()["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(s, "completed"));
  const std::string echoed = ChunkText(s.events);
  EXPECT_NE(echoed.find("The secret word is pineapple."), std::string::npos) << echoed;
  EXPECT_NE(echoed.find("<attachment name=\"notes.md\" path=\"/workspace/uploads/notes.md\""),
            std::string::npos)
      << echoed;
}

// The bytes the agent's command reads are the bytes sent: sha256sum inside the sandbox
// prints the same digest the test computed and the reply listed.
TEST_F(UploadItest, BinaryRoundTripThroughTheAgentHasTheSameSha256) {
  Api a = NewUser();
  const std::string blob = RandomBytes(200000, 7);
  Response r = StartWithFiles(
      a,
      {{"prompt", "/tool execute_command {\"command\":\"sha256sum uploads/blob.bin\"}"},
       {"mode", "code"}},
      {{"files", blob, "blob.bin", ""}});
  ASSERT_EQ(r.status, 200) << r.body;
  const StreamResult s = a.Finish(Str(r.Json()["agent_run_id"]));
  ASSERT_TRUE(EndsWithTerminal(s, "completed"));
  EXPECT_EQ(Str(r.Json()["files"][0]["sha256"]), Sha256Hex(blob));
  const auto tools = OfType(s.events, "tool");
  ASSERT_EQ(tools.size(), 1u) << Describe(s.events);
  const nlohmann::json result = At(tools[0].json, {"metadata", "result"});
  EXPECT_EQ(result.value("exit_code", -1), 0) << tools[0].data;
  EXPECT_NE(result.value("output", "").find(Sha256Hex(blob) + "  uploads/blob.bin"),
            std::string::npos)
      << tools[0].data;
}

// The sandbox's commands own the workspace: one that turns uploads/ into a symlink to a host
// folder must not make the server (often root) write there on the next upload.
TEST_F(UploadItest, UploadsSymlinkedOutOfTheWorkspaceAreRefusedAndTheHostIsUntouched) {
  Api a = NewUser();
  auto first = a.StartOk(
      {{"prompt", "/tool execute_command {\"command\":\"rm -rf uploads && ln -s /etc uploads\"}"}});
  ASSERT_TRUE(EndsWithTerminal(a.Finish(Str(first["agent_run_id"])), "completed"));
  const std::string name = "agentd-escape-" + NewUuid() + ".txt";
  Response r = StartWithFiles(a, {{"prompt", "here"}, {"thread_id", Str(first["thread_id"])}},
                              {{"files", "owned", name, "text/plain"}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("/workspace/uploads is not a folder"), std::string::npos) << r.body;
  EXPECT_FALSE(std::filesystem::exists("/etc/" + name));
  // Nothing of the refused start stays: the thread has no second run.
  Response runs = a.Get("/thread/" + Str(first["thread_id"]) + "/agent-runs");
  EXPECT_EQ(runs.Json()["agent_runs"].size(), 1u) << runs.body;
}

}  // namespace
}  // namespace agentd::testing
