#include "meta/space_allocator.h"

#include <gtest/gtest.h>

#include "meta/keys.h"
#include "meta_test_util.h"

namespace scalefs::meta {
namespace {

class SpaceAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.path(), &raw).ok());
    db_.reset(raw);
  }
  void Write(rocksdb::WriteBatch* b) { ASSERT_TRUE(db_->Write(rocksdb::WriteOptions(), b).ok()); }

  testing::TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  SpaceAllocator a_;
};

TEST_F(SpaceAllocatorTest, AllocatesExactBlocksAndPrefersHint) {
  rocksdb::WriteBatch b;
  a_.AddPair(1, 1 << 20, &b);
  auto r = a_.Allocate(1, 4096, SpaceAllocator::kNoHint, &b);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].dev_offset, 0u);
  EXPECT_EQ((*r)[0].length, 4096u);
  auto r2 = a_.Allocate(1, 8192, SpaceAllocator::kNoHint, &b);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ((*r2)[0].dev_offset, 4096u);
  // Free the first block; a hinted allocation continues at 12288, not 0.
  a_.Free(1, 0, 4096, &b);
  auto r3 = a_.Allocate(1, 4096, 12288, &b);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ((*r3)[0].dev_offset, 12288u);
  auto r4 = a_.Allocate(1, 4096, SpaceAllocator::kNoHint, &b);
  EXPECT_EQ((*r4)[0].dev_offset, 0u);  // freed block reused
  EXPECT_EQ(a_.FreeBytes(1), (1u << 20) - 4 * 4096);
  Write(&b);
}

TEST_F(SpaceAllocatorTest, FreeMergesNeighboursAndPersists) {
  rocksdb::WriteBatch b;
  a_.AddPair(3, 16 * 4096, &b);
  auto r = a_.Allocate(3, 16 * 4096, SpaceAllocator::kNoHint, &b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(a_.FreeBytes(3), 0u);
  a_.Free(3, 0, 4096, &b);
  a_.Free(3, 8192, 4096, &b);
  a_.Free(3, 4096, 4096, &b);
  auto ranges = a_.FreeRanges(3);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].length, 3 * 4096u);
  Write(&b);
  SpaceAllocator loaded;
  ASSERT_TRUE(loaded.Load(db_.get()).ok());
  ASSERT_EQ(loaded.FreeRanges(3).size(), 1u);
  EXPECT_EQ(loaded.FreeBytes(3), 3 * 4096u);
}

TEST_F(SpaceAllocatorTest, NoSpaceChangesNothingAndFragmentsAreUsed) {
  rocksdb::WriteBatch b;
  a_.AddPair(1, 8 * 4096, &b);
  auto all = a_.Allocate(1, 8 * 4096, SpaceAllocator::kNoHint, &b);
  ASSERT_TRUE(all.ok());
  a_.Free(1, 0, 4096, &b);
  a_.Free(1, 4 * 4096, 4096, &b);
  auto r = a_.Allocate(1, 3 * 4096, SpaceAllocator::kNoHint, &b);
  EXPECT_EQ(r.status().code(), Status::Code::kNoSpace);
  EXPECT_EQ(a_.FreeBytes(1), 2 * 4096u);
  auto r2 = a_.Allocate(1, 2 * 4096, SpaceAllocator::kNoHint, &b);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->size(), 2u);
  EXPECT_EQ(a_.FreeBytes(1), 0u);
}

}  // namespace
}  // namespace scalefs::meta
