#include "meta/meta_checker.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta_test_util.h"
#include "store_calls.h"

namespace scalefs::meta {
namespace {

using namespace ::scalefs::meta::testing;  // the store_calls.h shapes

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = MetaStore::Open(dir_.path());
    ASSERT_TRUE(r.ok());
    store_ = std::move(r.value());
    auto p = store_->PairAdd("p1", pair_.a.address(), pair_.b.address());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    MakeNodeRequest req;
    req.set_parent(1);
    req.set_name("f");
    req.set_mode(S_IFREG | 0644);
    f_ = MakeNode(store_.get(), req)->attr().ino();
    ASSERT_TRUE(Allocate(store_.get(), f_, 0, 8192, true).ok());
  }
  bool HasProblem(const std::string& needle) {
    FsckReply r = MetaChecker(store_->db()).Check();
    for (const auto& p : r.problems()) {
      if (p.find(needle) != std::string::npos) return true;
    }
    ADD_FAILURE() << "no problem mentioning '" << needle << "' among " << r.problems_size();
    return false;
  }
  void Put(const std::string& k, const std::string& v) {
    ASSERT_TRUE(store_->db()->Put(rocksdb::WriteOptions(), k, v).ok());
  }

  testing::TempDir dir_;
  testing::FakePair pair_{1 << 20, 1 << 20};
  std::unique_ptr<MetaStore> store_;
  uint64_t f_ = 0;
  uint32_t p_id() { return store_->PairList()[0].id(); }
};

TEST_F(FsckTest, CleanStoreHasNoProblems) {
  FsckReply r = MetaChecker(store_->db()).Check();
  EXPECT_EQ(r.problems_size(), 0) << (r.problems_size() ? r.problems(0) : "");
  EXPECT_EQ(r.inodes(), 2u);
  EXPECT_EQ(r.entries(), 1u);
  EXPECT_EQ(r.extents(), 1u);
  EXPECT_EQ(r.allocated_bytes(), 8192u);
  EXPECT_EQ(r.free_bytes(), (1u << 20) - 8192);
}

TEST_F(FsckTest, FindsDentryToMissingInode) {
  Put(DentryKey(1, "ghost"), EncodeDentry(777, S_IFREG | 0644));
  EXPECT_TRUE(HasProblem("names missing inode 777"));
}

TEST_F(FsckTest, FindsWrongNlinkAndLeakedInode) {
  InodeRecord rec = *store_->GetAttr(f_);
  rec.mutable_attr()->set_nlink(3);
  Put(InodeKey(f_), rec.SerializeAsString());
  EXPECT_TRUE(HasProblem("has nlink 3, expected 1"));
  rec.mutable_attr()->set_ino(50);
  rec.mutable_attr()->set_blocks(0);
  Put(InodeKey(50), rec.SerializeAsString());
  EXPECT_TRUE(HasProblem("inode 50 is unreachable"));
}

TEST_F(FsckTest, FindsBlockOwnedTwiceAndFreeOverlap) {
  Extent e = store_->GetExtents(f_, 0, 0)->extents[0];
  e.set_file_offset(1 << 20);
  Put(ExtentKey(f_, 1 << 20), e.SerializeAsString());
  EXPECT_TRUE(HasProblem("block owned twice"));
  Put(FreeKey(p_id(), 0), EncodeU64(4096));
  EXPECT_TRUE(HasProblem("free range overlaps extent"));
  EXPECT_TRUE(HasProblem("free + allocated"));
  EXPECT_TRUE(HasProblem("blocks"));
}

TEST_F(FsckTest, FindsExtentOutsidePairAndAcrossUnit) {
  Extent e;
  e.set_file_offset((1 << 20) - 4096);
  e.set_length(8192);
  e.set_pair(p_id());
  e.set_dev_offset(1 << 20);
  Put(ExtentKey(f_, e.file_offset()), e.SerializeAsString());
  EXPECT_TRUE(HasProblem("crosses a stripe unit"));
  EXPECT_TRUE(HasProblem("outside pair"));
}

}  // namespace
}  // namespace scalefs::meta
