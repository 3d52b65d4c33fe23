#include "meta/meta_store.h"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include <cstdio>  // RENAME_NOREPLACE, RENAME_EXCHANGE

#include "common/layout.h"
#include "meta_test_util.h"
#include "store_calls.h"


namespace scalefs::meta {
namespace {

using namespace ::scalefs::meta::testing;  // the store_calls.h shapes

using Code = Status::Code;
constexpr uint64_t kMiB = 1 << 20;

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto r = MetaStore::Open(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r.value());
  }
  uint64_t Mk(uint64_t parent, const std::string& name, uint32_t mode,
              const std::string& target = "") {
    MakeNodeRequest req;
    req.set_parent(parent);
    req.set_name(name);
    req.set_mode(mode);
    req.set_symlink_target(target);
    auto r = MakeNode(store_.get(), req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr().ino() : 0;
  }
  Code MkCode(uint64_t parent, const std::string& name, uint32_t mode) {
    MakeNodeRequest req;
    req.set_parent(parent);
    req.set_name(name);
    req.set_mode(mode);
    return MakeNode(store_.get(), req).status().code();
  }
  Attr A(uint64_t ino) {
    auto r = store_->GetAttr(ino);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr() : Attr();
  }
  Status Ren(uint64_t p, const std::string& n, uint64_t np, const std::string& nn,
             uint32_t flags = 0) {
    RenameRequest req;
    req.set_parent(p);
    req.set_name(n);
    req.set_new_parent(np);
    req.set_new_name(nn);
    req.set_flags(flags);
    return Rename(store_.get(), req);
  }
  void ExpectClean() {
    FsckReply r = store_->Fsck();
    for (const auto& p : r.problems()) ADD_FAILURE() << p;
  }
  // Registers a pair of two fake members with `size` bytes each.
  uint32_t AddPair(const std::string& name, uint64_t size) {
    fakes_.push_back(std::make_unique<testing::FakePair>(size, size));
    auto r = store_->PairAdd(name, fakes_.back()->a.address(), fakes_.back()->b.address());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id() : 0;
  }

  testing::TempDir dir_;
  std::unique_ptr<MetaStore> store_;
  std::vector<std::unique_ptr<testing::FakePair>> fakes_;
};

using NamespaceTest = MetaStoreTest;
using ExtentTest = MetaStoreTest;

TEST_F(NamespaceTest, RootExistsAndMakeNodeErrors) {
  Attr root = A(1);
  EXPECT_EQ(root.mode(), S_IFDIR | 0755u);
  EXPECT_EQ(root.nlink(), 2u);
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  EXPECT_EQ(MkCode(1, "f", S_IFREG | 0644), Code::kExists);
  EXPECT_EQ(MkCode(f, "x", S_IFREG | 0644), Code::kNotDir);
  EXPECT_EQ(MkCode(999, "x", S_IFREG | 0644), Code::kNotFound);
  EXPECT_EQ(MkCode(1, "", S_IFREG), Code::kInvalid);
  EXPECT_EQ(MkCode(1, ".", S_IFREG), Code::kInvalid);
  EXPECT_EQ(MkCode(1, "..", S_IFREG), Code::kInvalid);
  EXPECT_EQ(MkCode(1, "a/b", S_IFREG), Code::kInvalid);
  EXPECT_EQ(MkCode(1, std::string("a\0b", 3), S_IFREG), Code::kInvalid);
  EXPECT_EQ(MkCode(1, std::string(256, 'n'), S_IFREG), Code::kNameTooLong);
  EXPECT_NE(Mk(1, std::string(255, 'n'), S_IFREG), 0u);
  uint64_t d = Mk(1, "d", S_IFDIR | 0700);
  EXPECT_EQ(A(d).nlink(), 2u);
  EXPECT_EQ(A(d).parent(), 1u);
  EXPECT_EQ(A(1).nlink(), 3u);
  uint64_t l = Mk(d, "l", S_IFLNK | 0777, "../f");
  EXPECT_EQ(*store_->ReadLink(l), "../f");
  EXPECT_EQ(A(l).size(), 4u);
  EXPECT_EQ(store_->ReadLink(f).status().code(), Code::kInvalid);
  Mk(1, "fifo", S_IFIFO | 0600);
  auto lk = store_->Lookup(d, "l");
  ASSERT_TRUE(lk.ok());
  EXPECT_EQ(lk->attr().ino(), l);
  EXPECT_EQ(store_->Lookup(d, "nope").status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Lookup(f, "x").status().code(), Code::kNotDir);
  EXPECT_EQ(store_->Lookup(d, "..")->attr().ino(), 1u);
  EXPECT_EQ(store_->GetAttr(12345).status().message(), "no inode 12345");
  ExpectClean();
}

TEST_F(NamespaceTest, LinkUnlinkRmdirAndNlink) {
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  uint64_t d = Mk(1, "d", S_IFDIR | 0755);
  ASSERT_TRUE(Link(store_.get(), f, d, "g").ok());
  EXPECT_EQ(A(f).nlink(), 2u);
  EXPECT_EQ(Link(store_.get(), d, 1, "d2").status().code(), Code::kPermission);
  EXPECT_EQ(Link(store_.get(), f, 1, "d").status().code(), Code::kExists);
  EXPECT_EQ(Unlink(store_.get(), 1, "d", false).code(), Code::kIsDir);
  EXPECT_EQ(Unlink(store_.get(), 1, "f", true).code(), Code::kNotDir);
  EXPECT_EQ(Unlink(store_.get(), 1, "d", true).code(), Code::kNotEmpty);
  EXPECT_EQ(Unlink(store_.get(), 1, "nope", false).code(), Code::kNotFound);
  EXPECT_EQ(Unlink(store_.get(), 1, ".", true).code(), Code::kInvalid);
  EXPECT_EQ(Unlink(store_.get(), 1, "..", true).code(), Code::kNotEmpty);
  ASSERT_TRUE(Unlink(store_.get(), 1, "f", false).ok());
  EXPECT_EQ(A(f).nlink(), 1u);
  ASSERT_TRUE(SetXattr(store_.get(), f, "user.a", "v", 0).ok());
  ASSERT_TRUE(Unlink(store_.get(), d, "g", false).ok());
  EXPECT_EQ(store_->GetAttr(f).status().code(), Code::kNotFound);
  EXPECT_EQ(A(1).nlink(), 3u);
  ASSERT_TRUE(Unlink(store_.get(), 1, "d", true).ok());
  EXPECT_EQ(A(1).nlink(), 2u);
  EXPECT_EQ(store_->StatFs().files(), 1u);
  ExpectClean();
}

TEST_F(NamespaceTest, RenameCases) {
  uint64_t a = Mk(1, "a", S_IFDIR | 0755);
  uint64_t b = Mk(1, "b", S_IFDIR | 0755);
  uint64_t f = Mk(a, "f", S_IFREG | 0644);
  uint64_t g = Mk(b, "g", S_IFREG | 0644);
  // Across directories, over an existing file: g is freed.
  ASSERT_TRUE(Ren(a, "f", b, "g").ok());
  EXPECT_EQ(store_->GetAttr(g).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->Lookup(b, "g")->attr().ino(), f);
  EXPECT_EQ(store_->Lookup(a, "f").status().code(), Code::kNotFound);
  // Onto itself and onto another link of the same file: no-ops.
  ASSERT_TRUE(Ren(b, "g", b, "g").ok());
  ASSERT_TRUE(Link(store_.get(), f, a, "f2").ok());
  ASSERT_TRUE(Ren(b, "g", a, "f2").ok());
  EXPECT_EQ(A(f).nlink(), 2u);
  // Directory into its own subtree.
  uint64_t sub = Mk(a, "sub", S_IFDIR | 0755);
  EXPECT_EQ(Ren(1, "a", sub, "x").code(), Code::kInvalid);
  EXPECT_EQ(Ren(1, "a", a, "x").code(), Code::kInvalid);
  // Type mismatches and non-empty target.
  EXPECT_EQ(Ren(a, "sub", b, "g").code(), Code::kNotDir);
  EXPECT_EQ(Ren(b, "g", a, "sub").code(), Code::kIsDir);
  EXPECT_EQ(Ren(1, "b", 1, "a").code(), Code::kNotEmpty);
  EXPECT_EQ(Ren(1, "nope", 1, "x").code(), Code::kNotFound);
  // Dir moves: nlinks and parent pointer follow.
  ASSERT_TRUE(Ren(a, "sub", b, "sub2").ok());
  EXPECT_EQ(A(sub).parent(), b);
  EXPECT_EQ(A(a).nlink(), 2u);
  EXPECT_EQ(A(b).nlink(), 3u);
  // Dir over an empty dir.
  uint64_t e = Mk(1, "empty", S_IFDIR | 0755);
  ASSERT_TRUE(Ren(b, "sub2", 1, "empty").ok());
  EXPECT_EQ(store_->GetAttr(e).status().code(), Code::kNotFound);
  EXPECT_EQ(A(sub).parent(), 1u);
  EXPECT_EQ(A(1).nlink(), 5u);  // a, b, empty(=sub)
  // NOREPLACE and EXCHANGE.
  EXPECT_EQ(Ren(b, "g", a, "f2", RENAME_NOREPLACE).code(), Code::kOk);  // same inode: no-op
  uint64_t h = Mk(a, "h", S_IFREG | 0644);
  EXPECT_EQ(Ren(a, "h", b, "g", RENAME_NOREPLACE).code(), Code::kExists);
  EXPECT_EQ(Ren(a, "h", b, "none", RENAME_EXCHANGE).code(), Code::kNotFound);
  ASSERT_TRUE(Ren(a, "h", 1, "empty", RENAME_EXCHANGE).ok());
  EXPECT_EQ(store_->Lookup(a, "h")->attr().ino(), sub);
  EXPECT_EQ(store_->Lookup(1, "empty")->attr().ino(), h);
  EXPECT_EQ(A(sub).parent(), a);
  EXPECT_EQ(A(a).nlink(), 3u);
  EXPECT_EQ(A(1).nlink(), 4u);
  EXPECT_EQ(Ren(a, "h", a, "x", RENAME_EXCHANGE | RENAME_NOREPLACE).code(), Code::kInvalid);
  ExpectClean();
}

TEST_F(NamespaceTest, SetAttrReadDirXattrs) {
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  SetAttrRequest req;
  req.set_ino(f);
  req.set_set_mode(true);
  req.set_mode(S_IFDIR | 0600);  // the type bits are ignored
  req.set_set_uid(true);
  req.set_uid(7);
  req.set_set_mtime(true);
  req.set_mtime_ns(123);
  auto r = SetAttr(store_.get(), req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->attr().mode(), S_IFREG | 0600u);
  EXPECT_EQ(r->attr().uid(), 7u);
  EXPECT_EQ(r->attr().mtime_ns(), 123);
  req = SetAttrRequest();
  req.set_ino(1);
  req.set_set_size(true);
  EXPECT_EQ(SetAttr(store_.get(), req).status().code(), Code::kIsDir);

  for (int i = 0; i < 25; i++) Mk(1, "e" + std::to_string(100 + i), S_IFREG | 0644);
  auto p1 = store_->ReadDir(1, "", 10);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->entries.size(), 10u);
  EXPECT_TRUE(p1->more);
  EXPECT_EQ(p1->entries[0].name(), "e100");
  auto p2 = store_->ReadDir(1, p1->entries.back().name(), 100);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->entries.size(), 16u);  // e110..e124 and f
  EXPECT_FALSE(p2->more);
  EXPECT_EQ(p2->entries.back().name(), "f");
  EXPECT_EQ(p2->entries.back().attr().uid(), 7u);
  EXPECT_EQ(store_->ReadDir(f, "", 0).status().code(), Code::kNotDir);

  EXPECT_EQ(store_->GetXattr(f, "user.x").status().code(), Code::kNoData);
  EXPECT_EQ(SetXattr(store_.get(), f, "user.x", "1", XATTR_REPLACE).code(), Code::kNoData);
  ASSERT_TRUE(SetXattr(store_.get(), f, "user.x", "1", XATTR_CREATE).ok());
  EXPECT_EQ(SetXattr(store_.get(), f, "user.x", "2", XATTR_CREATE).code(), Code::kExists);
  ASSERT_TRUE(SetXattr(store_.get(), f, "user.x", "2", XATTR_REPLACE).ok());
  ASSERT_TRUE(SetXattr(store_.get(), f, "user.y", std::string(1000, '\0'), 0).ok());
  EXPECT_EQ(*store_->GetXattr(f, "user.x"), "2");
  EXPECT_EQ(store_->GetXattr(f, "user.y")->size(), 1000u);
  EXPECT_EQ(store_->ListXattr(f)->size(), 2u);
  EXPECT_EQ(SetXattr(store_.get(), f, "user.big", std::string(65537, 'x'), 0).errno_value(), E2BIG);
  EXPECT_EQ(SetXattr(store_.get(), f, std::string(256, 'n'), "v", 0).code(), Code::kRange);
  ASSERT_TRUE(RemoveXattr(store_.get(), f, "user.x").ok());
  EXPECT_EQ(RemoveXattr(store_.get(), f, "user.x").code(), Code::kNoData);
  EXPECT_EQ(store_->ListXattr(f)->size(), 1u);
  EXPECT_EQ(store_->GetXattr(999, "user.x").status().code(), Code::kNotFound);
  ExpectClean();
}

TEST_F(NamespaceTest, AMutationReturnsOnlyAfterItsLogSync) {
  const uint64_t before = store_->wal_syncs();
  const uint64_t f = Mk(1, "f", S_IFREG | 0644);
  EXPECT_EQ(store_->wal_syncs(), before + 1);
  ASSERT_TRUE(store_->Lookup(1, "f").ok());
  ASSERT_TRUE(store_->GetAttr(f).ok());
  EXPECT_EQ(store_->wal_syncs(), before + 1) << "a read with nothing pending syncs nothing";
  EXPECT_EQ(MkCode(1, "f", S_IFREG | 0644), Code::kExists);
  EXPECT_EQ(store_->wal_syncs(), before + 1) << "a refused mutation writes nothing";
  ASSERT_TRUE(Unlink(store_.get(), 1, "f", false).ok());
  EXPECT_EQ(store_->wal_syncs(), before + 2);
}

// Group commit: concurrent mutations share log syncs, and every one of them
// is there afterwards, also after reopening.
TEST_F(NamespaceTest, ConcurrentMutationsShareLogSyncs) {
  constexpr int kThreads = 8, kEach = 40;
  const uint64_t before = store_->wal_syncs();
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        MakeNodeRequest req;
        req.set_parent(1);
        req.set_name("t" + std::to_string(t) + "-" + std::to_string(i));
        req.set_mode(S_IFREG | 0644);
        if (!MakeNode(store_.get(), req).ok()) failed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  const uint64_t syncs = store_->wal_syncs() - before;
  EXPECT_GT(syncs, 0u);
  EXPECT_LT(syncs, uint64_t{kThreads * kEach}) << "no two mutations shared a sync";
  Reopen();
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i)
      EXPECT_TRUE(store_->Lookup(1, "t" + std::to_string(t) + "-" + std::to_string(i)).ok());
  ExpectClean();
}

TEST_F(NamespaceTest, ReopenKeepsEverything) {
  uint32_t p = AddPair("p1", 16 * kMiB);
  uint64_t d = Mk(1, "d", S_IFDIR | 0755);
  uint64_t f = Mk(d, "f", S_IFREG | 0644);
  ASSERT_TRUE(Allocate(store_.get(), f, 0, 3 * 4096, true).ok());
  ASSERT_TRUE(SetXattr(store_.get(), f, "user.k", "v", 0).ok());
  Reopen();
  EXPECT_EQ(store_->Lookup(d, "f")->attr().ino(), f);
  EXPECT_EQ(A(f).size(), 3 * 4096u);
  EXPECT_EQ(*store_->GetXattr(f, "user.k"), "v");
  EXPECT_EQ(store_->GetExtents(f, 0, 0)->extents.size(), 1u);
  auto pairs = store_->PairList();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].id(), p);
  EXPECT_EQ(pairs[0].free(), 16 * kMiB - 3 * 4096);
  EXPECT_EQ(store_->StatFs().files(), 3u);
  EXPECT_GT(Mk(1, "new", S_IFREG | 0644), f);  // inode numbers never reused
  ExpectClean();
}

TEST_F(ExtentTest, SmallFileTakesOneBlockAndFreedBlocksAreReused) {
  EXPECT_EQ(Allocate(store_.get(), Mk(1, "early", S_IFREG | 0644), 0, 1, true).status().code(),
            Code::kNoSpace);
  uint32_t p = AddPair("p1", 16 * kMiB);
  uint64_t early = store_->Lookup(1, "early")->attr().ino();
  ASSERT_TRUE(Allocate(store_.get(), early, 0, 1, false).ok());  // re-laid out over the new pair
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  auto r = Allocate(store_.get(), f, 0, 100, false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->extents.size(), 1u);
  EXPECT_EQ(r->extents[0].length(), 4096u);
  EXPECT_FALSE(r->extents[0].written());
  EXPECT_EQ(r->extents[0].pair(), p);
  EXPECT_EQ(r->attr.blocks(), 8u);
  EXPECT_EQ(r->attr.size(), 0u);
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 2 * 4096);
  auto c = Commit(store_.get(), f, {[] { ByteRange b; b.set_offset(0); b.set_length(100); return b; }()},
                          100, 555);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->attr().size(), 100u);
  EXPECT_EQ(c->attr().mtime_ns(), 555);
  EXPECT_TRUE(store_->GetExtents(f, 0, 4096)->extents[0].written());
  const uint64_t dev = r->extents[0].dev_offset();
  ASSERT_TRUE(Unlink(store_.get(), 1, "f", false).ok());
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 4096);
  uint64_t g = Mk(1, "g", S_IFREG | 0644);
  auto r2 = Allocate(store_.get(), g, 0, 4096, false);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->extents[0].dev_offset(), dev);
  EXPECT_FALSE(r2->extents[0].written());  // reads zeros, never f's bytes
  ExpectClean();
}

TEST_F(ExtentTest, ReadDirGivesTheMapsOfSmallFilesOnlyWhenAsked) {
  AddPair("p1", 16 * kMiB);
  uint64_t d = Mk(1, "d", S_IFDIR | 0755);
  uint64_t small = Mk(d, "small", S_IFREG | 0644);
  uint64_t big = Mk(d, "big", S_IFREG | 0644);
  Mk(d, "empty", S_IFREG | 0644);
  Mk(d, "sub", S_IFDIR | 0755);
  ASSERT_TRUE(Allocate(store_.get(), small, 0, 5000, true).ok());
  ASSERT_TRUE(Allocate(store_.get(), big, 0, 200000, true).ok());
  auto with = store_->ReadDir(d, "", 0, 64 << 10);
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  ASSERT_EQ(with->entries.size(), 4u);
  for (const DirEntry& e : with->entries) {
    if (e.name() == "small") {
      ASSERT_EQ(e.extents_size(), 1);
      EXPECT_EQ(e.extents(0).SerializeAsString(),
                store_->GetExtents(small, 0, 0)->extents[0].SerializeAsString());
    } else {
      EXPECT_EQ(e.extents_size(), 0) << e.name() << ": too big, empty or not a file";
    }
  }
  auto without = store_->ReadDir(d, "", 0);
  ASSERT_TRUE(without.ok());
  for (const DirEntry& e : without->entries)
    EXPECT_EQ(e.extents_size(), 0) << e.name() << ": not asked for";
  ExpectClean();
}

TEST_F(ExtentTest, StripesAcrossPairsMergesAndCommitSplits) {
  uint32_t p1 = AddPair("p1", 64 * kMiB);
  uint32_t p2 = AddPair("p2", 64 * kMiB);
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  auto layout = store_->GetAttr(f)->layout();
  ASSERT_EQ(layout.pairs_size(), 2);
  // Grows in pieces: each piece extends the previous extent contiguously.
  for (uint64_t off = 0; off < 3 * kMiB; off += 256 << 10) {
    ASSERT_TRUE(Allocate(store_.get(), f, off, 256 << 10, true).ok());
  }
  auto all = store_->GetExtents(f, 0, 0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->extents.size(), 3u);  // one per stripe unit
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(all->extents[i].file_offset(), i * kMiB);
    EXPECT_EQ(all->extents[i].length(), kMiB);
    EXPECT_EQ(all->extents[i].pair(), layout.pairs(i % 2));
  }
  EXPECT_EQ(all->attr.size(), 3 * kMiB);
  EXPECT_EQ(all->attr.blocks(), 3 * kMiB / 512);
  EXPECT_NE(p1, p2);
  // Commit the middle of unit 1: it splits in three, then merges back.
  ByteRange mid;
  mid.set_offset(kMiB + 8192);
  mid.set_length(8192);
  ASSERT_TRUE(Commit(store_.get(), f, {mid}, 0, 0).ok());
  auto u1 = store_->GetExtents(f, kMiB, kMiB);
  ASSERT_EQ(u1->extents.size(), 3u);
  EXPECT_FALSE(u1->extents[0].written());
  EXPECT_TRUE(u1->extents[1].written());
  EXPECT_EQ(u1->extents[1].length(), 8192u);
  EXPECT_EQ(u1->extents[1].dev_offset(), u1->extents[0].dev_offset() + 8192);
  ByteRange whole;
  whole.set_offset(kMiB);
  whole.set_length(kMiB);
  ASSERT_TRUE(Commit(store_.get(), f, {whole}, 0, 0).ok());
  EXPECT_EQ(store_->GetExtents(f, kMiB, 1)->extents.size(), 1u);
  // Commit where nothing is allocated.
  ByteRange hole;
  hole.set_offset(5 * kMiB);
  hole.set_length(10);
  EXPECT_EQ(Commit(store_.get(), f, {hole}, 0, 0).status().code(), Code::kInvalid);
  // Allocate returns existing extents unclipped; size never shrinks.
  auto again = Allocate(store_.get(), f, kMiB + 100, 10, true);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->extents.size(), 1u);
  EXPECT_EQ(again->extents[0].file_offset(), kMiB);
  EXPECT_EQ(again->attr.size(), 3 * kMiB);
  EXPECT_EQ(Allocate(store_.get(), 1, 0, 10, false).status().code(), Code::kInvalid);
  ExpectClean();
}

TEST_F(ExtentTest, TruncateFreesBlocksPastTheEnd) {
  AddPair("p1", 16 * kMiB);
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  ASSERT_TRUE(Allocate(store_.get(), f, 0, 2 * kMiB, true).ok());
  SetAttrRequest req;
  req.set_ino(f);
  req.set_set_size(true);
  req.set_size(5000);
  auto r = SetAttr(store_.get(), req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->attr().size(), 5000u);
  EXPECT_EQ(r->attr().blocks(), 8192u / 512);
  auto ext = store_->GetExtents(f, 0, 0);
  ASSERT_EQ(ext->extents.size(), 1u);
  EXPECT_EQ(ext->extents[0].length(), 8192u);
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 8192);
  req.set_size(10 * kMiB);  // truncate up only sets the size
  ASSERT_TRUE(SetAttr(store_.get(), req).ok());
  EXPECT_EQ(store_->GetExtents(f, 0, 0)->extents.size(), 1u);
  EXPECT_EQ(A(f).size(), 10 * kMiB);
  req.set_size(0);
  ASSERT_TRUE(SetAttr(store_.get(), req).ok());
  EXPECT_EQ(store_->GetExtents(f, 0, 0)->extents.size(), 0u);
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB);
  ExpectClean();
}

TEST_F(ExtentTest, NoSpaceLeavesNothingChanged) {
  AddPair("p1", 2 * kMiB);
  AddPair("p2", 1 * kMiB);
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  auto before = store_->PairList();
  auto r = Allocate(store_.get(), f, 0, 6 * kMiB, true);  // needs 3 MiB on one of them
  EXPECT_EQ(r.status().code(), Code::kNoSpace);
  auto after = store_->PairList();
  for (size_t i = 0; i < before.size(); i++) EXPECT_EQ(before[i].free(), after[i].free());
  EXPECT_EQ(store_->GetExtents(f, 0, 0)->extents.size(), 0u);
  EXPECT_EQ(A(f).size(), 0u);
  EXPECT_EQ(A(f).blocks(), 0u);
  ExpectClean();
  Reopen();
  EXPECT_EQ(store_->PairList()[0].free(), before[0].free());
  auto s = store_->StatFs();
  EXPECT_EQ(s.total_blocks(), 3 * kMiB / 4096);
  EXPECT_EQ(s.free_blocks(), 3 * kMiB / 4096);
}

// ENOSPC means the filesystem is full, not one pair: a stripe unit whose
// layout pair is full takes its space where there is room.
TEST_F(ExtentTest, AFullPairSpillsToAnotherAndEveryByteCanBeAllocated) {
  const uint32_t p1 = AddPair("p1", 4 * kMiB);
  const uint32_t p2 = AddPair("p2", 1 * kMiB);
  uint64_t f = Mk(1, "f", S_IFREG | 0644);
  auto r = Allocate(store_.get(), f, 0, 4 * kMiB, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto all = store_->GetExtents(f, 0, 0);
  uint64_t on[3] = {0, 0, 0};
  for (const Extent& e : all->extents) on[e.pair()] += e.length();
  EXPECT_EQ(on[p1] + on[p2], 4 * kMiB);
  EXPECT_EQ(on[p2], 1 * kMiB) << "the small pair gives what it has";
  // A unit larger than any pair's free space is split over the pairs.
  uint64_t g = Mk(1, "g", S_IFREG | 0644);
  ASSERT_EQ(store_->PairList()[0].free() + store_->PairList()[1].free(), 1 * kMiB);
  ASSERT_TRUE(Allocate(store_.get(), g, 0, 1 * kMiB, true).ok());
  EXPECT_EQ(store_->StatFs().free_blocks(), 0u);
  EXPECT_EQ(Allocate(store_.get(), g, kMiB, 4096, true).status().code(), Code::kNoSpace);
  FsckReply fsck = store_->Fsck();
  EXPECT_TRUE(fsck.problems().empty()) << fsck.problems(0);
  EXPECT_GT(fsck.spilled_extents(), 0u);
  ExpectClean();
}

// A create for writing takes its first space in the same change, so a small
// file's first write needs no Allocate; Commit's trim gives back the rest.
TEST_F(ExtentTest, CreateWithPreallocateTakesSpaceInTheSameChangeAndTrimGivesItBack) {
  const uint32_t p = AddPair("p1", 16 * kMiB);
  auto make = [&](const std::string& name, uint32_t mode, uint64_t prealloc,
                  std::vector<Extent>* extents) {
    MakeNodeRequest req;
    req.set_parent(1);
    req.set_name(name);
    req.set_mode(mode);
    req.set_preallocate(prealloc);
    return MakeNode(store_.get(), req, nullptr, extents);
  };
  std::vector<Extent> got;
  auto r = make("f", S_IFREG | 0644, 64 << 10, &got);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const uint64_t f = r->attr().ino();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].file_offset(), 0u);
  EXPECT_EQ(got[0].length(), 64u << 10);
  EXPECT_EQ(got[0].pair(), p);
  EXPECT_FALSE(got[0].written());
  EXPECT_EQ(r->attr().size(), 0u);
  EXPECT_EQ(r->attr().blocks(), (64u << 10) / 512);
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - (64 << 10));
  ExpectClean();
  Reopen();  // one synced change: the inode and its space together
  auto ext = store_->GetExtents(f, 0, 0);
  ASSERT_TRUE(ext.ok());
  ASSERT_EQ(ext->extents.size(), 1u);
  EXPECT_EQ(ext->extents[0].dev_offset(), got[0].dev_offset());

  ByteRange w, t;
  w.set_offset(0);
  w.set_length(4096);
  t.set_offset(0);
  t.set_length(64 << 10);
  EXPECT_EQ(r->attr().alloc_gen(), 1u);
  auto c = Commit(store_.get(), f, {w}, 4096, 0, {t}, r->attr().alloc_gen());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->attr().blocks(), 8u);
  ext = store_->GetExtents(f, 0, 0);
  ASSERT_EQ(ext->extents.size(), 1u);
  EXPECT_EQ(ext->extents[0].length(), 4096u);
  EXPECT_TRUE(ext->extents[0].written());
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 4096);

  // Capped at the stripe unit; refused for anything but a regular file.
  got.clear();
  ASSERT_TRUE(make("big", S_IFREG | 0644, 1ull << 40, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].length(), kDefaultStripeUnit);
  EXPECT_EQ(make("d", S_IFDIR | 0755, 4096, nullptr).status().code(), Code::kInvalid);
  EXPECT_FALSE(store_->Lookup(1, "d").ok());
  ExpectClean();
}

// What creates preallocated and closed files never wrote comes back in bulk;
// written data and files that are gone are left alone.
TEST_F(ExtentTest, TrimFreesUnwrittenSpacePastTheEndOnly) {
  AddPair("p1", 16 * kMiB);
  auto make = [&](const std::string& name) {
    MakeNodeRequest req;
    req.set_parent(1);
    req.set_name(name);
    req.set_mode(S_IFREG | 0644);
    req.set_preallocate(64 << 10);
    auto r = MakeNode(store_.get(), req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr().ino() : 0;
  };
  auto trim = [](uint64_t ino, uint64_t gen = 1) {
    FileRelease t;
    t.set_ino(ino);
    t.set_alloc_gen(gen);
    ByteRange* r = t.add_ranges();
    r->set_offset(0);
    r->set_length(64 << 10);
    return t;
  };
  const uint64_t empty = make("empty"), written = make("written"), gone = make("gone");
  ByteRange w;
  w.set_offset(0);
  w.set_length(8192);
  ASSERT_TRUE(Commit(store_.get(), written, {w}, 8192, 0).ok());
  ASSERT_TRUE(Unlink(store_.get(), 1, "gone", false).ok());
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 2 * (64 << 10));

  ASSERT_TRUE(Trim(store_.get(), {trim(empty), trim(written), trim(gone)}).ok());
  EXPECT_EQ(store_->GetExtents(empty, 0, 0)->extents.size(), 0u);
  EXPECT_EQ(A(empty).blocks(), 0u);
  auto ext = store_->GetExtents(written, 0, 0);
  ASSERT_EQ(ext->extents.size(), 1u);
  EXPECT_EQ(ext->extents[0].length(), 8192u);
  EXPECT_TRUE(ext->extents[0].written());
  EXPECT_EQ(A(written).blocks(), 16u);
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 8192);
  ExpectClean();

  // Giving back twice changes nothing more.
  ASSERT_TRUE(Trim(store_.get(), {trim(empty), trim(written)}).ok());
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 8192);
  Reopen();  // not synced by itself: either state is consistent
  ExpectClean();

  // Another client's Allocate over the space (to write into it) moves the
  // file's alloc_gen on: the creator's trim no longer frees it.
  const uint64_t claimed = make("claimed");
  auto a = Allocate(store_.get(), claimed, 0, 4096, false);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->attr.alloc_gen(), 2u);
  ASSERT_TRUE(Trim(store_.get(), {trim(claimed, 1)}).ok());
  EXPECT_EQ(store_->GetExtents(claimed, 0, 0)->extents.size(), 1u);
  EXPECT_EQ(store_->GetExtents(claimed, 0, 0)->extents[0].length(), 64u << 10);
  ByteRange all;
  all.set_offset(0);
  all.set_length(64 << 10);
  ASSERT_TRUE(Commit(store_.get(), claimed, {}, 0, 0, {all}, 1).ok());  // nor its commit
  EXPECT_EQ(store_->GetExtents(claimed, 0, 0)->extents.size(), 1u);
  ASSERT_TRUE(Trim(store_.get(), {trim(claimed, 2)}).ok());  // the claimer's is applied
  EXPECT_EQ(store_->GetExtents(claimed, 0, 0)->extents.size(), 0u);
  EXPECT_EQ(store_->PairList()[0].free(), 16 * kMiB - 8192);
  ExpectClean();
}

TEST_F(ExtentTest, CreateWithPreallocateOnAFullPairStillCreatesTheFile) {
  AddPair("p1", 1 * kMiB);
  ASSERT_TRUE(Allocate(store_.get(), Mk(1, "all", S_IFREG | 0644), 0, kMiB, true).ok());
  ASSERT_EQ(store_->PairList()[0].free(), 0u);
  MakeNodeRequest req;
  req.set_parent(1);
  req.set_name("f");
  req.set_mode(S_IFREG | 0644);
  req.set_preallocate(4096);
  std::vector<Extent> got;
  auto r = MakeNode(store_.get(), req, nullptr, &got);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(r->attr().blocks(), 0u);
  EXPECT_TRUE(store_->Lookup(1, "f").ok());
  EXPECT_EQ(Allocate(store_.get(), r->attr().ino(), 0, 1, false).status().code(), Code::kNoSpace);
  ExpectClean();
}

TEST_F(ExtentTest, RandomOperationsKeepTheCheckerClean) {
  AddPair("p1", 8 * kMiB);
  AddPair("p2", 8 * kMiB);
  std::mt19937 rng(42);
  std::vector<std::pair<uint64_t, std::string>> dirs = {{1, ""}};
  std::vector<std::pair<uint64_t, std::string>> files;  // (parent, name)
  for (int step = 0; step < 1500; step++) {
    const int op = rng() % 9;
    auto& [dp, dn] = dirs[rng() % dirs.size()];
    const uint64_t parent = dirs[rng() % dirs.size()].first;
    const std::string name = "n" + std::to_string(rng() % 40);
    if (op == 0) {
      MakeNodeRequest req;
      req.set_parent(parent);
      req.set_name(name);
      req.set_mode(S_IFDIR | 0755);
      auto r = MakeNode(store_.get(), req);
      if (r.ok()) dirs.push_back({r->attr().ino(), name});
    } else if (op <= 2) {
      MakeNodeRequest req;
      req.set_parent(parent);
      req.set_name(name);
      req.set_mode(S_IFREG | 0644);
      if (MakeNode(store_.get(), req).ok()) files.push_back({parent, name});
    } else if (op == 3 && !files.empty()) {
      auto& [fp, fn] = files[rng() % files.size()];
      auto l = store_->Lookup(fp, fn);
      if (l.ok()) Allocate(store_.get(), l->attr().ino(), rng() % (3 * kMiB), rng() % kMiB, true);
    } else if (op == 4 && !files.empty()) {
      auto& [fp, fn] = files[rng() % files.size()];
      auto l = store_->Lookup(fp, fn);
      if (l.ok()) {
        SetAttrRequest req;
        req.set_ino(l->attr().ino());
        req.set_set_size(true);
        req.set_size(rng() % (2 * kMiB));
        SetAttr(store_.get(), req);
      }
    } else if (op == 5 && !files.empty()) {
      auto& [fp, fn] = files[rng() % files.size()];
      Unlink(store_.get(), fp, fn, false);
    } else if (op == 6) {
      Ren(dirs[rng() % dirs.size()].first, "n" + std::to_string(rng() % 40), parent, name,
          rng() % 3 == 0 ? RENAME_EXCHANGE : 0);
    } else if (op == 7 && !files.empty()) {
      auto& [fp, fn] = files[rng() % files.size()];
      auto l = store_->Lookup(fp, fn);
      if (l.ok() && S_ISREG(l->attr().mode())) {
        auto e = store_->GetExtents(l->attr().ino(), 0, 0);
        std::vector<ByteRange> w;
        for (const Extent& x : e->extents) {
          if (rng() % 2) {
            ByteRange b;
            b.set_offset(x.file_offset() + 4096 * (rng() % (x.length() / 4096)));
            b.set_length(4096);
            w.push_back(b);
          }
        }
        auto c = Commit(store_.get(), l->attr().ino(), w, 0, 0);
        ASSERT_TRUE(c.ok()) << c.status().ToString();
        Link(store_.get(), l->attr().ino(), parent, name);
      }
    }
    if (op == 8) Unlink(store_.get(), parent, name, true);
    (void)dp;
    (void)dn;
  }
  FsckReply r = store_->Fsck();
  for (const auto& p : r.problems()) ADD_FAILURE() << p;
  EXPECT_GT(r.inodes(), 10u);
  EXPECT_EQ(r.allocated_bytes() + r.free_bytes(), 16 * kMiB);
}

}  // namespace
}  // namespace scalefs::meta
