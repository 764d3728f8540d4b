// files: safe names, collision numbering, the spool writer, type detection and text extraction
// (real libmagic, real temp files; the sandbox is a fake that runs pdftotext's stand-in).
#include "files/upload.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <fstream>

#include "core/ids.h"
#include "core/json.h"
#include "support/test_files.h"

namespace agentd::files {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using agentd::testing::RandomBytes;
using agentd::testing::Sha256Hex;

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("files_test_" + NewUuid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, std::string_view bytes) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  size_t FilesIn(const fs::path& d) const {
    if (!fs::exists(d)) return 0;
    return static_cast<size_t>(std::distance(fs::directory_iterator(d), fs::directory_iterator()));
  }

  fs::path dir_;
};

TEST(SafeFileName, PathsAreCutToTheBaseName) {
  EXPECT_EQ(SafeFileName("../../x"), "x");
  EXPECT_EQ(SafeFileName("a/b"), "b");
  EXPECT_EQ(SafeFileName("a\\b"), "b");
  EXPECT_EQ(SafeFileName("C:\\Users\\me\\report.pdf"), "report.pdf");
  EXPECT_EQ(SafeFileName("/etc/passwd"), "passwd");
}

TEST(SafeFileName, DotsAndEmptyBecomeFile) {
  EXPECT_EQ(SafeFileName(".."), "file");
  EXPECT_EQ(SafeFileName("."), "file");
  EXPECT_EQ(SafeFileName(""), "file");
  EXPECT_EQ(SafeFileName("..."), "file");
  EXPECT_EQ(SafeFileName("a/.."), "file");
  EXPECT_EQ(SafeFileName("dir/"), "file");
  EXPECT_EQ(SafeFileName("   "), "file");
}

TEST(SafeFileName, ControlCharactersAndNulAreDropped) {
  EXPECT_EQ(SafeFileName(std::string("a\0b.txt", 7)), "ab.txt");
  EXPECT_EQ(SafeFileName("new\nline\r\t.txt"), "newline.txt");
  EXPECT_EQ(SafeFileName("del\x7f.txt"), "del.txt");
  EXPECT_EQ(SafeFileName("c1\xc2\x85.txt"), "c1.txt") << "U+0085 (NEL) is a C1 control";
  EXPECT_EQ(SafeFileName(std::string("\0\n", 2)), "file");
}

TEST(SafeFileName, UnicodeIsKeptAndInvalidBytesReplaced) {
  EXPECT_EQ(SafeFileName("résumé 履歴書 📄.pdf"), "résumé 履歴書 📄.pdf");
  EXPECT_EQ(SafeFileName("bad\xff\xfe.txt"), "bad__.txt");
  EXPECT_TRUE(IsValidUtf8(SafeFileName("\xe2\x82")));
}

TEST(SafeFileName, DotfilesKeepTheirLeadingDot) {
  EXPECT_EQ(SafeFileName(".bashrc"), ".bashrc");
  EXPECT_EQ(SafeFileName("x/.env"), ".env");
}

TEST(SafeFileName, LongNamesAreCutTo255BytesOnACharacterKeepingTheExtension) {
  const std::string ascii = SafeFileName(std::string(400, 'a') + ".tar.gz");
  EXPECT_EQ(ascii.size(), 255u);
  EXPECT_TRUE(ascii.ends_with("aaa.gz"));
  std::string wide;
  for (int i = 0; i < 200; ++i) wide += "é";  // 2 bytes each
  const std::string cut = SafeFileName(wide + ".pdf");
  EXPECT_LE(cut.size(), 255u);
  EXPECT_GE(cut.size(), 254u);
  EXPECT_TRUE(cut.ends_with(".pdf"));
  EXPECT_TRUE(IsValidUtf8(cut));
}

TEST(NumberedName, SuffixGoesBeforeTheExtension) {
  EXPECT_EQ(NumberedName("report.pdf", 0), "report.pdf");
  EXPECT_EQ(NumberedName("report.pdf", 1), "report (1).pdf");
  EXPECT_EQ(NumberedName("archive.tar.gz", 2), "archive.tar (2).gz");
  EXPECT_EQ(NumberedName("Makefile", 2), "Makefile (2)");
  EXPECT_EQ(NumberedName(".bashrc", 1), ".bashrc (1)");
  const std::string long_name = NumberedName(std::string(251, 'a') + ".txt", 12);
  EXPECT_EQ(long_name.size(), 255u);
  EXPECT_TRUE(long_name.ends_with("a (12).txt"));
}

TEST(HumanSize, UsesOneDecimalAboveAKilobyte) {
  EXPECT_EQ(HumanSize(532), "532 B");
  EXPECT_EQ(HumanSize(4096), "4.0 KB");
  EXPECT_EQ(HumanSize(1258291), "1.2 MB");
}

using SpoolWriterTest = TempDirTest;

TEST_F(SpoolWriterTest, SizeAndSha256AreExactOverManyChunks) {
  const std::string data = RandomBytes(1 << 20);
  auto writer = SpoolWriter::Open(dir_, "blob.bin", "application/octet-stream", kNoLimit);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  for (size_t off = 0; off < data.size(); off += 7919) {
    ASSERT_TRUE((*writer)->Append(std::string_view(data).substr(off, 7919)).ok());
  }
  auto spooled = (*writer)->Finish();
  ASSERT_TRUE(spooled.ok()) << spooled.status().ToString();
  EXPECT_EQ(spooled->size(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(spooled->sha256(), Sha256Hex(data));
  std::ifstream in(spooled->path(), std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(back, data);
}

TEST_F(SpoolWriterTest, EmptyFileHasTheEmptyHash) {
  auto writer = SpoolWriter::Open(dir_, "empty", "", 10);
  ASSERT_TRUE(writer.ok());
  auto spooled = (*writer)->Finish();
  ASSERT_TRUE(spooled.ok());
  EXPECT_EQ(spooled->size(), 0);
  EXPECT_EQ(spooled->sha256(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(SpoolWriterTest, RefusesPastTheLimitAndLeavesNoFile) {
  auto writer = SpoolWriter::Open(dir_, "big.bin", "", 10);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE((*writer)->Append("0123456789").ok()) << "exactly the limit is accepted";
  Status s = (*writer)->Append("x");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.reason(), "FILE_TOO_LARGE");
  EXPECT_EQ(s.details().value("limit", 0), 10);
  EXPECT_EQ(FilesIn(dir_), 0u) << "the temp file is deleted at once";
  EXPECT_EQ((*writer)->Finish().status().reason(), "FILE_TOO_LARGE");
}

TEST_F(SpoolWriterTest, DestroyingAnUnfinishedWriterOrSpooledFileDeletesTheTempFile) {
  {
    auto writer = SpoolWriter::Open(dir_, "a", "", kNoLimit);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("abc").ok());
    EXPECT_EQ(FilesIn(dir_), 1u);
  }
  EXPECT_EQ(FilesIn(dir_), 0u);
  {
    auto writer = SpoolWriter::Open(dir_, "a", "", kNoLimit);
    ASSERT_TRUE(writer.ok());
    auto spooled = (*writer)->Finish();
    ASSERT_TRUE(spooled.ok());
    SpooledFile moved = std::move(*spooled);
    EXPECT_EQ(FilesIn(dir_), 1u);
  }
  EXPECT_EQ(FilesIn(dir_), 0u);
}

TEST(ToValidUtf8, InvalidBytesBecomeReplacementCharactersAndNulIsDropped) {
  ExtractedText t = ToValidUtf8(std::string("ok\xff\0end", 7), 100);
  EXPECT_EQ(t.text,
            "ok\xEF\xBF\xBD"
            "end");
  EXPECT_FALSE(t.truncated);
  EXPECT_TRUE(IsValidUtf8(t.text));
}

TEST(ToValidUtf8, CapCutsOnACharacterBoundary) {
  ExtractedText t = ToValidUtf8("aé€😀", 6);  // 1 + 2 + 3 + 4 bytes
  EXPECT_EQ(t.text, "aé€");
  EXPECT_TRUE(t.truncated);
  t = ToValidUtf8("aé€😀", 5);
  EXPECT_EQ(t.text, "aé");
  EXPECT_TRUE(IsValidUtf8(t.text));
}

TEST(IsTextLike, TextJsonAndSourceAreTextButImagesAndPdfAreNot) {
  EXPECT_TRUE(IsTextLike("text/plain"));
  EXPECT_TRUE(IsTextLike("text/x-c++"));
  EXPECT_TRUE(IsTextLike("application/json"));
  EXPECT_TRUE(IsTextLike("image/svg+xml"));
  EXPECT_FALSE(IsTextLike("image/png"));
  EXPECT_FALSE(IsTextLike("application/pdf"));
  EXPECT_FALSE(IsTextLike("application/octet-stream"));
}

using TypeDetectorTest = TempDirTest;

TEST_F(TypeDetectorTest, TypeComesFromTheBytesNotTheName) {
  auto detector = TypeDetector::Create();
  ASSERT_TRUE(detector.ok()) << detector.status().ToString();
  DetectedType png = (*detector)->Detect(Write("picture.txt", agentd::testing::TinyPng()));
  EXPECT_EQ(png.mime_type, "image/png");
  EXPECT_EQ(png.width, 3);
  EXPECT_EQ(png.height, 2);
  DetectedType pdf = (*detector)->Detect(Write("doc.bin", agentd::testing::TinyPdf("Hi")));
  EXPECT_EQ(pdf.mime_type, "application/pdf");
  EXPECT_FALSE(pdf.width.has_value());
  DetectedType text = (*detector)->Detect(Write("notes.png", "Grüße aus Köln, ça va?\n"));
  EXPECT_EQ(text.mime_type, "text/plain");
  DetectedType blob = (*detector)->Detect(Write("blob.txt", RandomBytes(4096)));
  EXPECT_EQ(blob.mime_type, "application/octet-stream");
}

// Records Run calls and answers with a canned output.
class FakeSandboxManager final : public sandbox::SandboxManager {
 public:
  explicit FakeSandboxManager(fs::path root) : root_(std::move(root)) {}
  Result<sandbox::SandboxInfo> Ensure(const std::string& project_id) override {
    sandbox::SandboxInfo info;
    info.sandbox_id = "sb-" + project_id;
    info.project_id = project_id;
    info.workspace = root_ / project_id / "workspace";
    info.uid = ::geteuid();
    info.gid = ::getegid();
    fs::create_directories(info.workspace);
    return info;
  }
  Result<std::optional<sandbox::SandboxInfo>> Find(const std::string&) override {
    return std::optional<sandbox::SandboxInfo>();
  }
  Status Remove(const std::string& project_id) override {
    removed.push_back(project_id);
    std::error_code ec;
    fs::remove_all(root_ / project_id, ec);
    return Status::Ok();
  }
  asio::awaitable<Result<sandbox::CommandResult>> Run(const std::string&,
                                                      std::vector<std::string> argv,
                                                      sandbox::CommandOptions options) override {
    last_argv = argv;
    sandbox::CommandResult r;
    r.exit_code = 0;
    r.output = output.substr(0, options.output_cap_bytes);
    r.truncated = output.size() > options.output_cap_bytes;
    co_return r;
  }
  std::vector<std::string> last_argv;
  std::string output;
  std::vector<std::string> removed;

 private:
  fs::path root_;
};

class UploaderTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    sandboxes_ = std::make_unique<FakeSandboxManager>(dir_ / "sandboxes");
    auto detector = TypeDetector::Create();
    ASSERT_TRUE(detector.ok());
    detector_ = std::move(*detector);
    uploader_ = std::make_unique<Uploader>(
        *sandboxes_, *detector_,
        UploaderOptions{.spool_dir = dir_ / "spool", .text_cap_bytes = 16});
  }

  SpooledFile Spool(const std::string& name, std::string_view bytes) {
    auto writer = SpoolWriter::Open(dir_ / "spool", name, "", kNoLimit);
    EXPECT_TRUE(writer.ok());
    EXPECT_TRUE((*writer)->Append(bytes).ok());
    return (*writer)->Finish().value();
  }

  Result<std::vector<StoredFile>> Place(std::vector<SpooledFile> files) {
    auto info = sandboxes_->Ensure("p1");
    auto fut = asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<std::optional<Result<std::vector<StoredFile>>>> {
          co_return co_await uploader_->Place(*info, std::move(files));
        },
        asio::use_future);
    io_.restart();
    io_.run();
    return std::move(*fut.get());
  }

  asio::io_context io_;
  std::unique_ptr<FakeSandboxManager> sandboxes_;
  std::unique_ptr<TypeDetector> detector_;
  std::unique_ptr<Uploader> uploader_;
};

TEST_F(UploaderTest, PlacesUnderSafeUniqueNamesAndEmptiesTheSpool) {
  std::vector<SpooledFile> files;
  files.push_back(Spool("../../x.txt", "first"));
  files.push_back(Spool("a/x.txt", "second"));
  auto placed = Place(std::move(files));
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  ASSERT_EQ(placed->size(), 2u);
  EXPECT_EQ((*placed)[0].name, "x.txt");
  EXPECT_EQ((*placed)[1].name, "x (1).txt");
  EXPECT_EQ((*placed)[1].path, "/workspace/uploads/x (1).txt");
  EXPECT_EQ(FilesIn(dir_ / "spool"), 0u);
  const fs::path uploads = dir_ / "sandboxes" / "p1" / "workspace" / "uploads";
  EXPECT_TRUE(fs::exists(uploads / "x (1).txt"));
  EXPECT_EQ(ReferenceLine((*placed)[0]), "[Attached: x.txt (5 B) -> uploads/x.txt]");
  uploader_->Remove(*sandboxes_->Ensure("p1"), *placed);
  EXPECT_EQ(FilesIn(uploads), 0u);
  EXPECT_TRUE(sandboxes_->removed.empty()) << "a sandbox the start did not create stays";
}

TEST_F(UploaderTest, RemovingForARefusedStartDeletesASandboxItCreated) {
  std::vector<SpooledFile> files;
  files.push_back(Spool("a.txt", "a"));
  auto placed = Place(std::move(files));
  ASSERT_TRUE(placed.ok());
  auto info = sandboxes_->Ensure("p1");
  ASSERT_TRUE(info.ok());
  info->created = true;
  uploader_->Remove(*info, *placed);
  EXPECT_EQ(sandboxes_->removed, std::vector<std::string>{"p1"});
  EXPECT_FALSE(fs::exists(dir_ / "sandboxes" / "p1"));
  EXPECT_TRUE(fs::exists(dir_ / "sandboxes")) << "only the project's own folder";
}

TEST_F(UploaderTest, TextIsExtractedCappedAndValidUtf8) {
  std::vector<SpooledFile> files;
  files.push_back(Spool("long.txt", "0123456789abcdef-and-more\n"));
  files.push_back(Spool("short.json", "{\"a\": 1}\n"));
  files.push_back(Spool("pic.txt", agentd::testing::TinyPng()));
  auto placed = Place(std::move(files));
  ASSERT_TRUE(placed.ok());
  ASSERT_TRUE((*placed)[0].text.has_value());
  EXPECT_EQ((*placed)[0].text->text, "0123456789abcdef");
  EXPECT_TRUE((*placed)[0].text->truncated);
  ASSERT_TRUE((*placed)[1].text.has_value());
  EXPECT_EQ((*placed)[1].text->text, "{\"a\": 1}\n");
  EXPECT_FALSE((*placed)[1].text->truncated);
  EXPECT_FALSE((*placed)[2].text.has_value()) << "images get no text";
  const auto meta = AttachmentJson((*placed)[2]);
  EXPECT_EQ(meta["mime_type"], "image/png");
  EXPECT_EQ(meta["width"], 3);
  EXPECT_FALSE(meta.contains("text"));
}

TEST_F(UploaderTest, PdfTextComesFromPdftotextRunInTheSandbox) {
  sandboxes_->output = "Hello from a PDF, and then a lot more";
  std::vector<SpooledFile> files;
  files.push_back(Spool("doc.pdf", agentd::testing::TinyPdf("Hello from a PDF")));
  auto placed = Place(std::move(files));
  ASSERT_TRUE(placed.ok());
  ASSERT_TRUE((*placed)[0].text.has_value());
  EXPECT_EQ((*placed)[0].text->text, "Hello from a PDF");
  EXPECT_TRUE((*placed)[0].text->truncated);
  ASSERT_FALSE(sandboxes_->last_argv.empty());
  EXPECT_EQ(sandboxes_->last_argv.back(), "/workspace/uploads/doc.pdf")
      << "the sandbox path, never a host path";
}

}  // namespace
}  // namespace agentd::files
