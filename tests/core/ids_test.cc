#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>

#include "core/clock.h"
#include "core/status.h"

namespace agentd {
namespace {

TEST(Ids, NewUuidsAreCanonicalAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = NewUuid();
    EXPECT_TRUE(IsUuid(id)) << id;
    EXPECT_EQ(id, CanonicalUuid(id));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Ids, IsUuidRejectsMalformedIds) {
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("not-a-uuid"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400"));   // short
  EXPECT_FALSE(IsUuid("123e4567e89b-12d3-a456-4266141740000"));  // dash misplaced
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400g"));  // not hex
  EXPECT_TRUE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_EQ(CanonicalUuid("123E4567-E89B-12D3-A456-426614174000"),
            "123e4567-e89b-12d3-a456-426614174000");
}

TEST(Clock, IsoTimeRendersUtcWithMilliseconds) {
  EXPECT_EQ(IsoTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(IsoTime(1796400000123), "2026-12-04T16:00:00.123Z");
}

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  AGENTD_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(Status, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "odd");
}

TEST(Status, ResultFromOkStatusIsAnInternalError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace agentd
