#include "fsd/range_set.h"

#include <gtest/gtest.h>

namespace scalefs {

TEST(RangeSetTest, AddMergesOverlappingAndAdjacent) {
  RangeSet s;
  s.Add(0, 4096);
  s.Add(8192, 4096);
  EXPECT_EQ(s.Spans().size(), 2u);
  s.Add(4096, 4096);
  ASSERT_EQ(s.Spans().size(), 1u);
  EXPECT_EQ(s.Spans()[0], (ByteSpan{0, 12288}));
  EXPECT_EQ(s.bytes(), 12288u);
  s.Add(100, 200);
  EXPECT_EQ(s.bytes(), 12288u);
}

TEST(RangeSetTest, ContainsAndMissing) {
  RangeSet s;
  s.Add(4096, 8192);
  EXPECT_TRUE(s.Contains(4096, 4096));
  EXPECT_TRUE(s.Contains(8192, 4096));
  EXPECT_FALSE(s.Contains(0, 4096));
  EXPECT_FALSE(s.Contains(8192, 8192));
  auto m = s.Missing(0, 16384);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], (ByteSpan{0, 4096}));
  EXPECT_EQ(m[1], (ByteSpan{12288, 4096}));
  auto in = s.Intersect(0, 16384);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0], (ByteSpan{4096, 8192}));
}

TEST(RangeSetTest, RemoveSplits) {
  RangeSet s;
  s.Add(0, 16384);
  s.Remove(4096, 4096);
  ASSERT_EQ(s.Spans().size(), 2u);
  EXPECT_EQ(s.bytes(), 12288u);
  s.Remove(12288, ~0ull - 12288);
  ASSERT_EQ(s.Spans().size(), 2u);
  EXPECT_EQ(s.Spans()[1], (ByteSpan{8192, 4096}));
  s.Clear();
  EXPECT_TRUE(s.empty());
}

}  // namespace scalefs
