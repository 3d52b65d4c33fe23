// What sessions give applications at the store: a retried call is answered
// as the first time (also after a restart), and a file unlinked while a
// session holds it open keeps its data until the last close, its session's
// end, or the end of the grace period after a restart.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <thread>

#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/prefix_iterator.h"
#include "meta_test_util.h"
#include "store_calls.h"

namespace scalefs::meta {
namespace {

using Code = Status::Code;
using namespace ::scalefs::meta::testing;  // the store_calls.h shapes
constexpr auto kLease = std::chrono::milliseconds(400);

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    pair_ = std::make_unique<FakePair>(64 << 20, 64 << 20);
    ASSERT_TRUE(store_->PairAdd("p", pair_->a.address(), pair_->b.address()).ok());
  }
  void Reopen() {
    store_.reset();
    auto r = MetaStore::Open(dir_.path(), ChunkProber(), kLease);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r.value());
  }
  uint64_t NewSession() {
    OpenSessionRequest req;
    req.mutable_info()->set_host("test");
    auto r = store_->sessions().Open(req);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->session() : 0;
  }
  CallId Call(uint64_t session, uint64_t seq, uint64_t acked = 0) {
    CallId c;
    c.set_session(session);
    c.set_seq(seq);
    c.set_acked(acked);
    return c;
  }
  // A file with `bytes` written, created by `session` (open when `open`).
  uint64_t WrittenFile(const std::string& name, uint64_t bytes, uint64_t session = 0,
                       bool open = false) {
    MakeNodeRequest req;
    req.set_parent(1);
    req.set_name(name);
    req.set_mode(S_IFREG | 0644);
    req.set_open(open);
    *req.mutable_call() = Call(session, 1000 + ++calls_);
    AttrReply r;
    EXPECT_TRUE(store_->MakeNode(req, &r).ok());
    const uint64_t ino = r.attr().ino();
    EXPECT_TRUE(Allocate(store_.get(), ino, 0, bytes, false).ok());
    ByteRange w;
    w.set_length(bytes);
    EXPECT_TRUE(Commit(store_.get(), ino, {w}, bytes, 0).ok());
    return ino;
  }
  uint64_t FreeBytes() { return store_->StatFs().free_blocks() * 4096; }
  Status Release(uint64_t session, uint64_t ino, uint64_t trim_from = 0) {
    ReleaseRequest req;
    req.set_session(session);
    FileRelease* f = req.add_files();
    f->set_ino(ino);
    if (trim_from != 0) {
      ByteRange* r = f->add_ranges();
      r->set_offset(trim_from);
      r->set_length(1 << 20);
      f->set_alloc_gen(store_->GetAttr(ino)->attr().alloc_gen());
    }
    return store_->Release(req);
  }
  void ExpectClean() {
    FsckReply r = store_->Fsck();
    for (const auto& p : r.problems()) ADD_FAILURE() << p;
  }

  TempDir dir_;
  std::unique_ptr<MetaStore> store_;
  std::unique_ptr<FakePair> pair_;
  int calls_ = 0;
};

TEST_F(SessionStoreTest, ARetriedCallGetsItsFirstAnswerAlsoAfterARestart) {
  const uint64_t s = NewSession();
  MakeNodeRequest mk;
  mk.set_parent(1);
  mk.set_name("d");
  mk.set_mode(S_IFDIR | 0755);
  *mk.mutable_call() = Call(s, 1);
  AttrReply first, again;
  ASSERT_TRUE(store_->MakeNode(mk, &first).ok());
  ASSERT_TRUE(store_->MakeNode(mk, &again).ok()) << "a retried mkdir is not EEXIST";
  EXPECT_EQ(again.attr().ino(), first.attr().ino());
  const uint64_t files = store_->StatFs().files();
  Reopen();
  ASSERT_TRUE(store_->MakeNode(mk, &again).ok()) << "nor after a restart";
  EXPECT_EQ(again.attr().ino(), first.attr().ino());
  EXPECT_EQ(store_->StatFs().files(), files) << "one directory made";
  // The same request with a new number is a new call.
  *mk.mutable_call() = Call(s, 2);
  EXPECT_EQ(store_->MakeNode(mk, &again).code(), Code::kExists);
  // A retried unlink is not ENOENT.
  UnlinkRequest un;
  un.set_parent(1);
  un.set_name("d");
  un.set_directory(true);
  *un.mutable_call() = Call(s, 3);
  AttrReply r;
  ASSERT_TRUE(store_->Unlink(un, &r).ok());
  ASSERT_TRUE(store_->Unlink(un, &r).ok());
  *un.mutable_call() = Call(s, 4);
  EXPECT_EQ(store_->Unlink(un, &r).code(), Code::kNotFound);
  // Without a session, nothing is replayed.
  mk.clear_call();
  ASSERT_TRUE(store_->MakeNode(mk, &r).ok());
  EXPECT_EQ(store_->MakeNode(mk, &r).code(), Code::kExists);
  ExpectClean();
}

TEST_F(SessionStoreTest, RepliesTheClientAcknowledgedAreForgotten) {
  const uint64_t s = NewSession();
  MakeNodeRequest mk;
  mk.set_parent(1);
  mk.set_mode(S_IFREG | 0644);
  AttrReply r;
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    mk.set_name("f" + std::to_string(seq));
    *mk.mutable_call() = Call(s, seq, seq - 1);
    ASSERT_TRUE(store_->MakeNode(mk, &r).ok());
  }
  int stored = 0;
  PrefixIterator it(store_->db(), rocksdb::ReadOptions(), ReplyPrefix(s));
  for (it.Seek(); it.Valid(); it.Next()) stored++;
  EXPECT_EQ(stored, 1) << "only the reply the client has not acknowledged is kept";
}

TEST_F(SessionStoreTest, AnUnlinkedOpenFileKeepsItsDataUntilTheLastClose) {
  const uint64_t a = NewSession(), b = NewSession();
  const uint64_t before = FreeBytes();
  const uint64_t f = WrittenFile("f", 1 << 20, a, /*open=*/true);
  ASSERT_TRUE(store_->sessions().AddOpen(b, f).ok());
  ASSERT_TRUE(Unlink(store_.get(), 1, "f", false).ok());
  EXPECT_EQ(store_->Lookup(1, "f").status().code(), Code::kNotFound);
  auto attr = store_->GetAttr(f);
  ASSERT_TRUE(attr.ok()) << "the handles still reach the inode";
  EXPECT_EQ(attr->attr().nlink(), 0u);
  EXPECT_EQ(store_->GetExtents(f, 0, 0)->extents.size(), 1u);
  // Still writable: more space, committed.
  ASSERT_TRUE(Allocate(store_.get(), f, 1 << 20, 1 << 20, true).ok());
  EXPECT_EQ(store_->Fsck().orphans(), 1u);
  ExpectClean();
  ASSERT_TRUE(Release(a, f, 2 << 20).ok());
  ASSERT_TRUE(store_->GetAttr(f).ok()) << "b still has it open";
  // b's close also gives back space past the end: the orphan goes whole.
  ASSERT_TRUE(Release(b, f, 1 << 20).ok());
  EXPECT_EQ(store_->GetAttr(f).status().code(), Code::kNotFound);
  EXPECT_EQ(FreeBytes(), before);
  EXPECT_EQ(store_->orphan_count(), 0u);
  ExpectClean();
}

TEST_F(SessionStoreTest, AFileNobodyHasOpenIsDeletedAtOnce) {
  const uint64_t before = FreeBytes();
  WrittenFile("f", 1 << 20);
  ASSERT_TRUE(Unlink(store_.get(), 1, "f", false).ok());
  EXPECT_EQ(FreeBytes(), before);
  EXPECT_EQ(store_->orphan_count(), 0u);
}

TEST_F(SessionStoreTest, AnEndedSessionsOrphansGo) {
  const uint64_t s = NewSession();
  const uint64_t before = FreeBytes();
  const uint64_t f = WrittenFile("f", 1 << 20, s, true);
  ASSERT_TRUE(Unlink(store_.get(), 1, "f", false).ok());
  auto inos = store_->sessions().Close(s);
  ASSERT_TRUE(inos.ok());
  ASSERT_TRUE(store_->CollectOrphans(*inos).ok());
  EXPECT_EQ(store_->GetAttr(f).status().code(), Code::kNotFound);
  EXPECT_EQ(FreeBytes(), before);
  ExpectClean();
}

TEST_F(SessionStoreTest, AfterARestartOrphansWaitForTheGracePeriod) {
  const uint64_t s = NewSession();
  const uint64_t kept = WrittenFile("kept", 1 << 20, s, true);
  const uint64_t dropped = WrittenFile("dropped", 1 << 20, s, true);
  ASSERT_TRUE(Unlink(store_.get(), 1, "kept", false).ok());
  ASSERT_TRUE(Unlink(store_.get(), 1, "dropped", false).ok());
  Reopen();  // opens live in memory: gone with the old meta
  ASSERT_TRUE(store_->sessions().InGrace());
  ASSERT_TRUE(store_->GetAttr(kept).ok());
  ASSERT_TRUE(store_->GetAttr(dropped).ok());
  // In grace, any last unlink leaves an orphan: who has it open is not known yet.
  const uint64_t other = WrittenFile("other", 4096);
  ASSERT_TRUE(Unlink(store_.get(), 1, "other", false).ok());
  EXPECT_TRUE(store_->GetAttr(other).ok());
  // The session comes back with what it still holds open.
  ASSERT_TRUE(store_->sessions().AddOpen(s, kept).ok());
  store_->sessions().Reclaimed(s);
  EXPECT_FALSE(store_->sessions().InGrace());
  ASSERT_TRUE(store_->CollectOrphans({}, /*all=*/true).ok());
  EXPECT_TRUE(store_->GetAttr(kept).ok());
  EXPECT_EQ(store_->GetAttr(dropped).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->GetAttr(other).status().code(), Code::kNotFound);
  ExpectClean();
}

TEST_F(SessionStoreTest, ALeaseRunsOutWithoutRenewals) {
  const uint64_t s = NewSession();
  const uint64_t f = WrittenFile("f", 4096, s, true);
  std::this_thread::sleep_for(kLease / 2);
  ASSERT_TRUE(store_->sessions().KeepAlive(s).ok());
  std::this_thread::sleep_for(kLease / 2 + std::chrono::milliseconds(50));
  EXPECT_TRUE(store_->sessions().Expire().empty()) << "renewed half way";
  std::this_thread::sleep_for(kLease);
  auto ended = store_->sessions().Expire();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].session, s);
  EXPECT_EQ(ended[0].inos, std::vector<uint64_t>{f});
  EXPECT_EQ(store_->sessions().KeepAlive(s).code(), Code::kNotFound);
}

}  // namespace
}  // namespace scalefs::meta
