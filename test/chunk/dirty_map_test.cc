#include "chunk/dirty_map.h"

#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace scalefs {
namespace {

class DirtyMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dirty_map_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DirtyMapTest, ActivityLogBecomesOutOfSyncAfterRestart) {
  const std::string path = dir_ + "/m";
  {
    auto m = DirtyMap::Open(path, 20);
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE((*m)->BeginWrite(3, 4).ok());
    (*m)->EndWrite(3, 4);
    ASSERT_TRUE((*m)->MarkOutOfSync(17).ok());
    EXPECT_EQ((*m)->OutOfSyncCount(), 1u);
    // The activity log (the whole group of regions 0-15 around the write)
    // is part of what the peer must take.
    const std::string bits = (*m)->DirtyBits();
    EXPECT_EQ(static_cast<uint8_t>(bits[0]), 0xff);
    EXPECT_EQ(static_cast<uint8_t>(bits[1]), 0xff);
    EXPECT_EQ(static_cast<uint8_t>(bits[2]) & 0x0f, 0x02);  // 17 only, not 16, 18, 19
  }
  auto m = DirtyMap::Open(path, 20);
  ASSERT_TRUE(m.ok());
  std::vector<uint64_t> expect;
  for (uint64_t r = 0; r < DirtyMap::kActivityGroup; ++r) expect.push_back(r);
  expect.push_back(17);
  EXPECT_EQ((*m)->OutOfSyncRegions(), expect);
  EXPECT_EQ(DirtyMap::Open(path, 21).status().code(), Status::Code::kInvalid);
}

TEST_F(DirtyMapTest, IdleRegionsLeaveTheActivityLogAfterASync) {
  auto m = DirtyMap::Open(dir_ + "/m", 8);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE((*m)->BeginWrite(1, 1).ok());
  ASSERT_TRUE((*m)->BeginWrite(2, 2).ok());
  (*m)->EndWrite(1, 1);  // region 2 still in flight
  const uint64_t epoch = (*m)->StartSyncEpoch();
  ASSERT_TRUE((*m)->ClearIdle(epoch).ok());
  EXPECT_EQ(static_cast<uint8_t>((*m)->DirtyBits()[0]), 0x04);
  (*m)->EndWrite(2, 2);
  ASSERT_TRUE((*m)->MergeOutOfSync(std::string(1, '\xff')).ok());
  EXPECT_EQ((*m)->OutOfSyncCount(), 8u);
  ASSERT_TRUE((*m)->ClearAllOutOfSync().ok());
  EXPECT_EQ((*m)->OutOfSyncCount(), 0u);
}

}  // namespace
}  // namespace scalefs
