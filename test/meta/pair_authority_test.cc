// Meta's grants: at most one member of a pair writes alone, every change
// bumps the generation, and it all survives a meta restart.
#include <gtest/gtest.h>

#include "meta/meta_store.h"
#include "meta/pair_authority.h"
#include "meta_test_util.h"
#include "store_calls.h"

namespace scalefs::meta {
namespace {

using namespace ::scalefs::meta::testing;  // the store_calls.h shapes

class PairAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    auto r = MetaStore::Open(dir_.path(), ChunkProber(std::chrono::milliseconds(500)));
    ASSERT_TRUE(r.ok());
    store_ = std::move(r.value());
    authority_ = std::make_unique<PairAuthority>(store_.get());
  }
  uint32_t AddPair() {
    auto r = store_->PairAdd("p0", pair_.a.address(), pair_.b.address());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id() : 0;
  }
  GrantReply Request(uint32_t id, uint32_t member, uint64_t gen) {
    GrantRequest req;
    req.set_pair_id(id);
    req.set_member_index(member);
    req.set_generation(gen);
    auto r = authority_->RequestSolo(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GrantReply();
  }
  GrantReply End(uint32_t id, uint32_t member, uint64_t gen) {
    GrantRequest req;
    req.set_pair_id(id);
    req.set_member_index(member);
    req.set_generation(gen);
    auto r = authority_->EndSolo(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GrantReply();
  }

  testing::TempDir dir_;
  testing::FakePair pair_{1 << 20, 1 << 20};
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<PairAuthority> authority_;
};

TEST_F(PairAuthorityTest, OneMemberHoldsTheGrantTheOtherIsOutdated) {
  const uint32_t id = AddPair();
  GrantReply a = Request(id, 0, 1);
  EXPECT_TRUE(a.granted());
  EXPECT_EQ(a.pair().solo(), 1u);
  EXPECT_EQ(a.pair().generation(), 2u);
  // Idempotent for the holder, no new generation.
  GrantReply again = Request(id, 0, 2);
  EXPECT_TRUE(again.granted());
  EXPECT_EQ(again.pair().generation(), 2u);
  // The other member, at the old generation or even the new one, is refused.
  for (uint64_t gen : {1, 2}) {
    GrantReply b = Request(id, 1, gen);
    EXPECT_FALSE(b.granted());
    EXPECT_NE(b.reason().find("member A holds the grant"), std::string::npos) << b.reason();
    EXPECT_NE(b.reason().find("you are outdated"), std::string::npos);
  }
  // Only the holder ends it.
  EXPECT_FALSE(End(id, 1, 2).granted());
  GrantReply end = End(id, 0, 2);
  EXPECT_TRUE(end.granted());
  EXPECT_EQ(end.pair().solo(), 0u);
  EXPECT_EQ(end.pair().generation(), 3u);
  // A member still at a generation from before the grant is stale.
  GrantReply stale = Request(id, 1, 1);
  EXPECT_FALSE(stale.granted());
  EXPECT_NE(stale.reason().find("stale generation 1"), std::string::npos) << stale.reason();
  EXPECT_TRUE(Request(id, 1, 3).granted());
}

TEST_F(PairAuthorityTest, GrantSurvivesRestartAndBadRequestsAreRefused) {
  const uint32_t id = AddPair();
  ASSERT_TRUE(Request(id, 1, 1).granted());
  Open();
  auto p = authority_->PairState(id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->solo(), 2u);
  EXPECT_EQ(p->generation(), 2u);
  EXPECT_EQ(store_->PairList()[0].solo(), 2u);
  EXPECT_FALSE(Request(id, 0, 2).granted());

  GrantRequest bad;
  bad.set_pair_id(id);
  bad.set_member_index(2);
  EXPECT_EQ(authority_->RequestSolo(bad).status().code(), Status::Code::kInvalid);
  bad.set_pair_id(99);
  bad.set_member_index(0);
  EXPECT_EQ(authority_->RequestSolo(bad).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(authority_->PairState(99).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace scalefs::meta
