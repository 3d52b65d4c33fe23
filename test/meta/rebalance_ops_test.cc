// The move protocol of meta/rebalance_ops.cc and pair drain/remove of
// meta/pair_ops.cc, on a store with fake members: a switch moves the map and
// frees the old space in one change; an open, a change of the file or a
// restart during the move abandons it and leaves the old map; fsck is clean
// at every step.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/layout.h"
#include "meta/meta_store.h"
#include "meta_test_util.h"
#include "store_calls.h"

namespace scalefs::meta {
namespace {

using namespace ::scalefs::meta::testing;
using Code = Status::Code;
constexpr uint64_t kMiB = 1 << 20;

class RebalanceOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    p1_ = AddPair("p1", 64 * kMiB);
    p2_ = AddPair("p2", 64 * kMiB);
    MakeNodeRequest req;
    req.set_parent(1);
    req.set_name("f");
    req.set_mode(S_IFREG | 0644);
    auto r = MakeNode(store_.get(), req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ino_ = r->attr().ino();
    ASSERT_TRUE(Allocate(store_.get(), ino_, 0, 4 * kMiB, true).ok());
    ByteRange all;
    all.set_length(4 * kMiB);
    ASSERT_TRUE(Commit(store_.get(), ino_, {all}, 4 * kMiB, 0).ok());
    p3_ = AddPair("p3", 64 * kMiB);
  }
  void Reopen() {
    store_.reset();
    auto r = MetaStore::Open(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r.value());
  }
  uint32_t AddPair(const std::string& name, uint64_t size) {
    fakes_.push_back(std::make_unique<FakePair>(size, size));
    auto r = store_->PairAdd(name, fakes_.back()->a.address(), fakes_.back()->b.address());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id() : 0;
  }
  uint64_t Free(uint32_t pair) {
    for (const Pair& p : store_->PairList()) {
      if (p.id() == pair) return p.free();
    }
    return 0;
  }
  std::vector<Extent> Map() {
    auto r = store_->GetExtents(ino_, 0, 0);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->extents : std::vector<Extent>();
  }
  uint64_t OnPair(uint32_t pair) {
    uint64_t n = 0;
    for (const Extent& e : Map()) n += e.pair() == pair ? e.length() : 0;
    return n;
  }
  MoveBeginReply Begin(uint32_t from, uint32_t to) {
    MoveBeginRequest req;
    req.set_from_pair(from);
    req.set_to_pair(to);
    MoveBeginReply reply;
    Status s = store_->MoveBegin(req, &reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return reply;
  }
  MoveCommitReply CommitMove() {
    MoveCommitRequest req;
    req.set_ino(ino_);
    MoveCommitReply reply;
    Status s = store_->MoveCommit(req, &reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return reply;
  }
  void ExpectClean() {
    FsckReply r = store_->Fsck();
    for (const auto& p : r.problems()) ADD_FAILURE() << p;
  }
  uint64_t Session() {
    OpenSessionRequest req;
    req.mutable_info()->set_host("test");
    auto r = store_->sessions().Open(req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->session() : 0;
  }

  TempDir dir_;
  std::unique_ptr<MetaStore> store_;
  std::vector<std::unique_ptr<FakePair>> fakes_;
  uint32_t p1_ = 0, p2_ = 0, p3_ = 0;
  uint64_t ino_ = 0;
};

TEST_F(RebalanceOpsTest, SwitchMovesTheMapAndFreesTheOldSpaceInOneChange) {
  const uint64_t on_p1 = OnPair(p1_);
  ASSERT_EQ(on_p1, 2 * kMiB);  // units 0 and 2, or 1 and 3
  const uint64_t free1 = Free(p1_), free3 = Free(p3_);
  const uint64_t gen = store_->GetAttr(ino_)->attr().alloc_gen();
  MoveBeginReply b = Begin(p1_, p3_);
  ASSERT_TRUE(b.found());
  EXPECT_EQ(b.move().ino(), ino_);
  // The target space is the move's until the switch: allocated, not leaked.
  EXPECT_EQ(Free(p3_), free3 - on_p1);
  EXPECT_EQ(store_->Fsck().moves(), 1u);
  ExpectClean();
  EXPECT_EQ(OnPair(p1_), on_p1);  // nothing switched yet
  MoveCommitReply c = CommitMove();
  EXPECT_TRUE(c.switched()) << c.reason();
  EXPECT_EQ(c.bytes(), on_p1);
  EXPECT_EQ(OnPair(p1_), 0u);
  EXPECT_EQ(OnPair(p3_), on_p1);
  EXPECT_EQ(Free(p1_), free1 + on_p1);
  EXPECT_EQ(Free(p3_), free3 - on_p1);
  for (const Extent& e : Map()) EXPECT_TRUE(e.written());
  EXPECT_EQ(store_->GetAttr(ino_)->attr().alloc_gen(), gen + 1);
  EXPECT_EQ(store_->Fsck().moves(), 0u);
  ExpectClean();
  // Nothing is left on p1 to move.
  EXPECT_FALSE(Begin(p1_, p3_).found());
}

TEST_F(RebalanceOpsTest, AFileHeldOpenIsNotMovedAndAnOpenCancelsAMove) {
  const uint64_t s = Session();
  ASSERT_TRUE(store_->sessions().AddOpen(s, ino_).ok());
  MoveBeginReply b = Begin(p1_, p3_);
  EXPECT_FALSE(b.found());
  EXPECT_EQ(b.skipped_busy(), 1u);
  store_->sessions().DropOpen(s, ino_);
  const std::vector<Extent> before = Map();
  ASSERT_TRUE(Begin(p1_, p3_).found());
  // An open after MoveBegin: the opener reads the old map, the switch is refused.
  ASSERT_TRUE(store_->sessions().AddOpen(s, ino_).ok());
  MoveCommitReply c = CommitMove();
  EXPECT_FALSE(c.switched());
  EXPECT_NE(c.reason().find("opened during its move"), std::string::npos) << c.reason();
  const std::vector<Extent> after = Map();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); i++) {
    EXPECT_EQ(after[i].SerializeAsString(), before[i].SerializeAsString());
  }
  // The abandoned move keeps its space (quarantined) and fsck knows it.
  EXPECT_EQ(store_->Fsck().moves(), 1u);
  ExpectClean();
}

TEST_F(RebalanceOpsTest, AChangeOfTheFileDuringTheMoveAbandonsIt) {
  ASSERT_TRUE(Begin(p1_, p3_).found());
  // A client that committed without an open (its map, not the move's).
  ByteRange r;
  r.set_length(4096);
  ASSERT_TRUE(Commit(store_.get(), ino_, {r}, 0, 12345).ok());
  MoveCommitReply c = CommitMove();
  EXPECT_FALSE(c.switched());
  EXPECT_NE(c.reason().find("changed during its move"), std::string::npos) << c.reason();
  EXPECT_EQ(OnPair(p3_), 0u);
  ExpectClean();
}

TEST_F(RebalanceOpsTest, AMetaRestartAbandonsTheMoveAndFsckStaysClean) {
  ASSERT_TRUE(Begin(p1_, p3_).found());
  Reopen();
  EXPECT_EQ(store_->Fsck().moves(), 1u);
  ExpectClean();
  MoveCommitReply c = CommitMove();
  EXPECT_FALSE(c.switched());
  EXPECT_NE(c.reason().find("abandoned"), std::string::npos) << c.reason();
  EXPECT_EQ(OnPair(p1_), 2 * kMiB);
  // Until its abandoned move's space is freed (30 s), the file waits.
  MoveBeginReply again = Begin(p1_, p2_);
  EXPECT_FALSE(again.found());
  EXPECT_EQ(again.skipped_busy(), 1u);
  ExpectClean();
}

TEST_F(RebalanceOpsTest, DrainingPairTakesNothingNewAndRemoveWaitsUntilItIsEmpty) {
  EXPECT_EQ(store_->PairDrain("ghost").status().code(), Code::kNotFound);
  ASSERT_TRUE(store_->PairDrain("p1").ok());
  EXPECT_EQ(store_->PairDrain("p1").status().code(), Code::kBusy);
  MoveBeginRequest onto;
  onto.set_from_pair(p2_);
  onto.set_to_pair(p1_);
  MoveBeginReply ignored;
  EXPECT_EQ(store_->MoveBegin(onto, &ignored).code(), Code::kInvalid);
  // The file laid out on p1 grows elsewhere.
  const uint64_t free1 = Free(p1_);
  ASSERT_TRUE(Allocate(store_.get(), ino_, 4 * kMiB, 4 * kMiB, true).ok());
  EXPECT_EQ(Free(p1_), free1);
  EXPECT_EQ(store_->PairRemove("p1").code(), Code::kBusy);
  EXPECT_EQ(store_->PairRemove("ghost").code(), Code::kNotFound);
  ASSERT_TRUE(Begin(p1_, p3_).found());
  ASSERT_TRUE(CommitMove().switched());
  const uint64_t total = store_->StatFs().total_blocks();
  ASSERT_TRUE(store_->PairRemove("p1").ok());
  EXPECT_EQ(store_->StatFs().total_blocks(), total - 64 * kMiB / kBlockSize);
  EXPECT_EQ(store_->PairList().size(), 2u);
  // Still laid out on the removed pair: it grows on the others.
  EXPECT_TRUE(Allocate(store_.get(), ino_, 8 * kMiB, 4 * kMiB, true).ok());
  ExpectClean();
  Reopen();
  EXPECT_EQ(store_->PairList().size(), 2u);
  ExpectClean();
}

}  // namespace
}  // namespace scalefs::meta
