#include "core/json.h"

#include <gtest/gtest.h>

namespace agentd {
namespace {

TEST(Json, InvalidUtf8IsReplacedNotThrown) {
  nlohmann::json j = {{"prompt", std::string("ok \xff\xfe end")}};
  std::string text;
  ASSERT_NO_THROW(text = ToJsonText(j));
  EXPECT_NE(text.find("ok "), std::string::npos);
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
}

TEST(Json, IsValidUtf8AcceptsTextAndRejectsMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

}  // namespace
}  // namespace agentd
