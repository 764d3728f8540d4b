// How a user message's attachments reach the model (runs/run_uploads.h).
#include "runs/run_uploads.h"

#include <gtest/gtest.h>

namespace agentd::runs {
namespace {

TEST(RenderAttachments, TextAttachmentsBecomeTaggedBlocksAndOthersNothing) {
  const nlohmann::json metadata = {
      {"attachments",
       {{{"name", "a \"b\".txt"},
         {"path", "/workspace/uploads/a \"b\".txt"},
         {"mime_type", "text/plain"},
         {"text", "hello"},
         {"text_truncated", false}},
        {{"name", "pic.png"}, {"path", "/workspace/uploads/pic.png"}, {"mime_type", "image/png"}},
        {{"name", "r.pdf"},
         {"path", "/workspace/uploads/r.pdf"},
         {"mime_type", "application/pdf"},
         {"text", "page"},
         {"text_truncated", true}}}}};
  EXPECT_EQ(RenderAttachments(metadata),
            "\n\n<attachment name=\"a &quot;b&quot;.txt\" path=\"/workspace/uploads/a "
            "&quot;b&quot;.txt\" type=\"text/plain\">\nhello\n</attachment>"
            "\n\n<attachment name=\"r.pdf\" path=\"/workspace/uploads/r.pdf\" "
            "type=\"application/pdf\" truncated=\"true\">\npage\n</attachment>");
}

TEST(RenderAttachments, NoAttachmentsRenderNothing) {
  EXPECT_EQ(RenderAttachments(nlohmann::json::object()), "");
  EXPECT_EQ(RenderAttachments({{"attachments", "not a list"}}), "");
  EXPECT_EQ(RenderAttachments(nullptr), "");
}

TEST(AttachUploads, PromptGetsOneReferenceLinePerFileAndMetadataTheAttachments) {
  PlacedUploads placed;
  files::StoredFile f;
  f.name = "report.pdf";
  f.path = "/workspace/uploads/report.pdf";
  f.size = 1258291;
  f.sha256 = "abc";
  f.type.mime_type = "application/pdf";
  placed.files.push_back(f);
  store::Message m;
  m.content = {{"role", "user"}, {"content", "read it"}};
  AttachUploads(placed, m);
  EXPECT_EQ(m.content["content"], "read it\n[Attached: report.pdf (1.2 MB) -> uploads/report.pdf]");
  ASSERT_EQ(m.metadata["attachments"].size(), 1u);
  EXPECT_EQ(m.metadata["attachments"][0]["sha256"], "abc");
  EXPECT_EQ(UploadsResponse(placed)[0]["path"], "/workspace/uploads/report.pdf");
}

}  // namespace
}  // namespace agentd::runs
