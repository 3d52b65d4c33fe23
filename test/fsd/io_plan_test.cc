#include "fsd/io_plan.h"

#include <gtest/gtest.h>

#include "common/layout.h"

namespace scalefs {

namespace {
BlockWritten Never() {
  return [](uint64_t, const ExtentRecord&) { return false; };
}
BlockWritten ByExtent() {
  return [](uint64_t, const ExtentRecord& e) { return e.written; };
}
}  // namespace

TEST(ExtentCacheTest, MapShowsHolesAndExtents) {
  ExtentCache c;
  c.Insert({{4096, 8192, 1, 1 << 20, true}}, 0, 65536);
  auto m = c.Map(0, 16384);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_FALSE(m[0].extent);
  EXPECT_EQ(m[0].length, 4096u);
  ASSERT_TRUE(m[1].extent);
  EXPECT_EQ(m[1].file_offset, 4096u);
  EXPECT_EQ(m[1].length, 8192u);
  EXPECT_FALSE(m[2].extent);
  EXPECT_TRUE(c.Unknown(0, 65536).empty());
  EXPECT_EQ(c.Unknown(0, 70000).size(), 1u);
  EXPECT_FALSE(c.Allocated(0, 8192));
  EXPECT_TRUE(c.Allocated(5000, 100));
}

TEST(ExtentCacheTest, NewerRecordsReplaceOverlappingOnes) {
  ExtentCache c;
  c.Insert({{0, 1 << 20, 0, 0, false}}, 0, 1 << 20);
  // Meta split the extent after a commit of the first block; only that part
  // was asked for, so the rest of the old record is no longer known.
  c.Insert({{0, 4096, 0, 0, true}}, 0, 4096);
  auto m = c.Map(0, 4096);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].extent->written);
  EXPECT_FALSE(c.Unknown(4096, 4096).empty());
  EXPECT_FALSE(c.Allocated(0, 8192));
}

// A commit's blocks become written in the cache as in meta's map, split at
// the range's ends; records already written and those outside are left.
TEST(ExtentCacheTest, MarkWrittenSplitsUnwrittenRecordsAtTheRangeEnds) {
  ExtentCache c;
  c.Insert({{0, 16384, 1, 1 << 20, false}, {16384, 8192, 2, 0, true}, {24576, 8192, 1, 4096, false}},
           0, 32768);
  c.MarkWritten(4096, 24576);  // [4096, 28672)
  auto m = c.Map(0, 32768);
  ASSERT_EQ(m.size(), 5u);
  const struct { uint64_t off, len, dev; uint32_t pair; bool written; } want[] = {
      {0, 4096, 1 << 20, 1, false},      {4096, 12288, (1 << 20) + 4096, 1, true},
      {16384, 8192, 0, 2, true},         {24576, 4096, 4096, 1, true},
      {28672, 4096, 8192, 1, false}};
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(m[i].extent) << i;
    EXPECT_EQ(m[i].file_offset, want[i].off) << i;
    EXPECT_EQ(m[i].length, want[i].len) << i;
    EXPECT_EQ(m[i].dev_offset(), want[i].dev) << i;
    EXPECT_EQ(m[i].extent->pair, want[i].pair) << i;
    EXPECT_EQ(m[i].extent->written, want[i].written) << i;
  }
  EXPECT_TRUE(c.Unknown(0, 32768).empty());
  c.MarkWritten(65536, 4096);  // not cached: nothing to mark
  EXPECT_EQ(c.size(), 5u);
}

TEST(PlanWriteTest, PadsUnwrittenPartialBlocks) {
  std::string data(100, 'x');
  std::vector<MappedPiece> map = {{5000, 100, ExtentRecord{0, 1 << 20, 3, 8 << 20, false}}};
  auto w = PlanWrite(5000, data, map, Never());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].pair, 3u);
  EXPECT_EQ(w[0].file_offset, 4096u);
  EXPECT_EQ(w[0].dev_offset, (8u << 20) + 4096);
  EXPECT_EQ(w[0].head_zeros, 904u);
  EXPECT_EQ(w[0].tail_zeros, 4096u - 904 - 100);
  EXPECT_EQ(w[0].length(), kBlockSize);
  std::string all = w[0].Bytes(0, w[0].length());
  EXPECT_EQ(all, std::string(904, '\0') + data + std::string(3092, '\0'));
  EXPECT_EQ(w[0].Bytes(900, 8), std::string(4, '\0') + "xxxx");
}

TEST(PlanWriteTest, NoPaddingOverWrittenBlocks) {
  std::string data(100, 'x');
  std::vector<MappedPiece> map = {{5000, 100, ExtentRecord{0, 1 << 20, 0, 0, true}}};
  auto w = PlanWrite(5000, data, map, ByExtent());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].head_zeros, 0u);
  EXPECT_EQ(w[0].tail_zeros, 0u);
  EXPECT_EQ(w[0].dev_offset, 5000u);
}

TEST(PlanWriteTest, LocallyWrittenBlockIsNotPadded) {
  std::string data(10, 'y');
  std::vector<MappedPiece> map = {{10, 10, ExtentRecord{0, 4096, 0, 0, false}}};
  auto w = PlanWrite(10, data, map, [](uint64_t block, const ExtentRecord&) { return block == 0; });
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].length(), 10u);
}

TEST(PlanWriteTest, SplitsAcrossExtentsAndPadsOnlyTheEnds) {
  // A write over two stripe units on two pairs.
  const uint64_t unit = 1 << 20;
  std::string data(unit, 'z');
  const uint64_t off = unit - 1000;
  std::vector<MappedPiece> map = {
      {off, 1000, ExtentRecord{0, unit, 0, 0, false}},
      {unit, unit - 1000, ExtentRecord{unit, unit, 1, 4 * unit, false}},
  };
  auto w = PlanWrite(off, data, map, Never());
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].pair, 0u);
  EXPECT_EQ(w[0].head_zeros, kBlockSize - 1000);
  EXPECT_EQ(w[0].tail_zeros, 0u);
  EXPECT_EQ(w[1].pair, 1u);
  EXPECT_EQ(w[1].head_zeros, 0u);
  EXPECT_EQ(w[1].tail_zeros, 1000u);
  EXPECT_EQ(w[1].dev_offset, 4 * unit);
  EXPECT_EQ(w[0].data.size() + w[1].data.size(), data.size());
}

TEST(PlanReadTest, ZerosForHolesAndUnwrittenExceptLocalWrites) {
  std::vector<MappedPiece> map = {
      {0, 4096, std::nullopt},
      {4096, 8192, ExtentRecord{4096, 8192, 2, 1 << 20, false}},
      {12288, 4096, ExtentRecord{12288, 4096, 2, 2 << 20, true}},
  };
  RangeSet local;
  local.Add(8192, 4096);
  auto r = PlanRead(0, 16384, map, local);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].zeros);
  EXPECT_EQ(r[0].length, 8192u);  // hole + unwritten block merged
  EXPECT_FALSE(r[1].zeros);
  EXPECT_EQ(r[1].buf_offset, 8192u);
  EXPECT_EQ(r[1].dev_offset, (1u << 20) + 4096);
  EXPECT_FALSE(r[2].zeros);
  EXPECT_EQ(r[2].dev_offset, 2u << 20);
}

TEST(SplitByRegionTest, CutsAtOneMiBAndPicksTheSequencer) {
  auto p = SplitByRegion((1 << 20) - 4096, (2 << 20));
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].length, 4096u);
  EXPECT_EQ(p[0].member, 0);
  EXPECT_EQ(p[1].dev_offset, 1u << 20);
  EXPECT_EQ(p[1].length, 1u << 20);
  EXPECT_EQ(p[1].member, 1);
  EXPECT_EQ(p[2].member, 0);
  EXPECT_EQ(p[2].length, (1u << 20) - 4096);
}


// A fill covers every byte asked for, also when the request straddles a
// block boundary (the kernel takes a short reply as the end of the file).
TEST(FillSpanTest, CoversTheWholeRequest) {
  constexpr uint64_t kB = 64 << 10;
  EXPECT_EQ(FillSpan(4096, 4096, kB), (ByteSpan{0, kB}));
  EXPECT_EQ(FillSpan(0, kB, kB), (ByteSpan{0, kB}));
  // 32 KiB at 48 KiB: both blocks.
  EXPECT_EQ(FillSpan(48 << 10, 32 << 10, kB), (ByteSpan{0, 2 * kB}));
  EXPECT_EQ(FillSpan(5 * kB - 4096, 8192, kB), (ByteSpan{4 * kB, 2 * kB}));
  for (uint64_t off = 0; off < 3 * kB; off += 4096) {
    for (uint64_t size = 4096; size < kB; size += 4096) {
      const ByteSpan s = FillSpan(off, size, kB);
      EXPECT_LE(s.offset, off);
      EXPECT_GE(s.end(), off + size);
      EXPECT_EQ(s.offset % kB, 0u);
      EXPECT_EQ(s.length % kB, 0u);
    }
  }
}

}  // namespace scalefs
