#include "chunk/member_state.h"

#include <stdlib.h>

#include <fstream>

#include <gtest/gtest.h>

namespace scalefs {
namespace {

class MemberStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chunk_ms_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/dev.state";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  static Membership Pair0(uint64_t generation = 1) {
    Membership m;
    m.pair_name = "pair0";
    m.pair_id = 7;
    m.member_index = 1;
    m.peer_address = "127.0.0.1:7001";
    m.generation = generation;
    m.capacity = 1 << 30;
    return m;
  }
  std::string dir_, path_;
};

TEST_F(MemberStateTest, FirstStartIsUnjoinedWithNewUuid) {
  auto st = MemberState::Open(path_);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_FALSE((*st)->membership().joined());
  EXPECT_EQ((*st)->device_uuid().size(), 36u);
  EXPECT_EQ((*st)->CheckJoined().code(), Status::Code::kStale);
  EXPECT_EQ((*st)->CheckJoined().message(), "not a member of a pair yet");
  // The uuid survives a restart.
  const std::string uuid = (*st)->device_uuid();
  auto again = MemberState::Open(path_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->device_uuid(), uuid);
}

TEST_F(MemberStateTest, JoinPersistsAndIsIdempotent) {
  auto st = MemberState::Open(path_);
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->Join(Pair0()).ok());
  EXPECT_TRUE((*st)->Join(Pair0()).ok());
  EXPECT_TRUE((*st)->CheckJoined().ok());
  auto again = MemberState::Open(path_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->membership(), Pair0());
  EXPECT_EQ((*again)->device_uuid(), (*st)->device_uuid());
}

TEST_F(MemberStateTest, OtherPairRefusedNewerGenerationAccepted) {
  auto st = MemberState::Open(path_);
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->Join(Pair0(3)).ok());
  Membership other = Pair0(3);
  other.pair_name = "pair1";
  other.pair_id = 8;
  Status s = (*st)->Join(other);
  EXPECT_EQ(s.code(), Status::Code::kExists);
  EXPECT_EQ(s.message(), "already member of pair pair0");
  EXPECT_EQ((*st)->Join(Pair0(2)).code(), Status::Code::kStale);
  Membership moved = Pair0(3);
  moved.capacity = 1 << 20;
  EXPECT_EQ((*st)->Join(moved).code(), Status::Code::kExists);
  EXPECT_TRUE((*st)->Join(Pair0(4)).ok());
  EXPECT_EQ((*st)->membership().generation, 4u);
}

TEST_F(MemberStateTest, CorruptFileIsAnError) {
  std::ofstream(path_) << "device_uuid=x\ngeneration=abc\n";
  EXPECT_EQ(MemberState::Open(path_).status().code(), Status::Code::kInvalid);
}

}  // namespace
}  // namespace scalefs
