#include <gtest/gtest.h>

#include "meta/meta_store.h"
#include "meta_test_util.h"

namespace scalefs::meta {
namespace {

using Code = Status::Code;

class MetaPairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = MetaStore::Open(dir_.path(), ChunkProber(std::chrono::milliseconds(500)));
    ASSERT_TRUE(r.ok());
    store_ = std::move(r.value());
  }
  testing::TempDir dir_;
  std::unique_ptr<MetaStore> store_;
};

TEST_F(MetaPairTest, JoinsBothMembersAndPersistsFreeSpace) {
  testing::FakePair p((10 << 20) + 100, 12 << 20);
  auto r = store_->PairAdd("p0", p.a.address(), p.b.address());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->capacity(), 10u << 20);  // the smaller member, whole blocks
  EXPECT_EQ(r->free(), 10u << 20);
  EXPECT_EQ(p.a.last_join().member_index(), 0u);
  EXPECT_EQ(p.b.last_join().member_index(), 1u);
  EXPECT_EQ(p.a.last_join().peer_address(), p.b.address());
  EXPECT_EQ(p.b.last_join().pair_id(), r->id());
  EXPECT_EQ(p.a.last_join().generation(), 1u);
  EXPECT_EQ(p.a.last_join().capacity(), 10u << 20);
  EXPECT_EQ(store_->StatFs().total_blocks(), (10u << 20) / 4096);
  testing::FakePair q(1 << 20, 1 << 20);
  auto r2 = store_->PairAdd("p1", q.a.address(), q.b.address());
  ASSERT_TRUE(r2.ok());
  EXPECT_NE(r2->id(), r->id());
  EXPECT_EQ(store_->PairList().size(), 2u);
  EXPECT_EQ(store_->Fsck().problems_size(), 0);
}

TEST_F(MetaPairTest, RefusesBadNamesAndAddresses) {
  testing::FakePair p(1 << 20, 1 << 20);
  EXPECT_EQ(store_->PairAdd("bad name", p.a.address(), p.b.address()).status().code(),
            Code::kInvalid);
  EXPECT_EQ(store_->PairAdd(std::string(65, 'x'), p.a.address(), p.b.address()).status().code(),
            Code::kInvalid);
  EXPECT_EQ(store_->PairAdd("p", "", p.b.address()).status().code(), Code::kInvalid);
  EXPECT_EQ(store_->PairAdd("p", p.a.address(), p.a.address()).status().code(), Code::kInvalid);
  ASSERT_TRUE(store_->PairAdd("p", p.a.address(), p.b.address()).ok());
  testing::FakePair q(1 << 20, 1 << 20);
  EXPECT_EQ(store_->PairAdd("p", q.a.address(), q.b.address()).status().code(), Code::kExists);
  auto dup = store_->PairAdd("q", q.a.address(), p.b.address());
  EXPECT_EQ(dup.status().code(), Code::kExists);
  EXPECT_NE(dup.status().message().find("already member of pair p"), std::string::npos);
  EXPECT_EQ(q.a.joins(), 0);
}

TEST_F(MetaPairTest, RefusesUnreachableWrongPeerAndJoinedMembers) {
  testing::FakeChunkMember a(1 << 20);
  a.set_peer("127.0.0.1:1");
  auto r = store_->PairAdd("p", a.address(), "127.0.0.1:1");
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("member B at 127.0.0.1:1 unreachable"), std::string::npos)
      << r.status().message();

  testing::FakePair p(1 << 20, 1 << 20);
  p.b.set_peer("10.0.0.9:7700");
  r = store_->PairAdd("p", p.a.address(), p.b.address());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("configured with peer 10.0.0.9:7700, not " + p.a.address()),
            std::string::npos)
      << r.status().message();

  testing::FakePair j(1 << 20, 1 << 20);
  j.a.set_pair_name("other");
  r = store_->PairAdd("p", j.a.address(), j.b.address());
  EXPECT_EQ(r.status().code(), Code::kExists);
  EXPECT_NE(r.status().message().find("already belongs to pair other"), std::string::npos);
  EXPECT_EQ(j.b.joins(), 0);
  EXPECT_TRUE(store_->PairList().empty());

  // A half-finished add (A joined, then B refused) can be retried.
  testing::FakePair h(1 << 20, 1 << 20);
  h.b.set_pair_name("elsewhere");
  EXPECT_EQ(store_->PairAdd("h", h.a.address(), h.b.address()).status().code(), Code::kExists);
  h.a.set_pair_name("h");  // as if A's Join had gone through
  h.a.set_pair_id(1);
  h.b.set_pair_name("");
  EXPECT_TRUE(store_->PairAdd("h", h.a.address(), h.b.address()).ok());
}

}  // namespace
}  // namespace scalefs::meta
