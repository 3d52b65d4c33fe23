// The semantics applications rely on from flock and fcntl locks, held by meta.
#include "common/lock_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <limits>

namespace scalefs {
namespace {

constexpr uint64_t kEnd = std::numeric_limits<uint64_t>::max();

meta::FileLock L(uint64_t session, uint64_t owner, uint32_t type, uint64_t start, uint64_t end,
           bool flock = false, uint64_t ino = 5) {
  meta::FileLock l;
  l.set_ino(ino);
  l.set_session(session);
  l.set_owner(owner);
  l.set_type(type);
  l.set_start(start);
  l.set_end(end);
  l.set_flock(flock);
  return l;
}

meta::LockReply::Outcome Set(LockTable* t, const meta::FileLock& l, bool wait = false) {
  return t->Set(l, wait, false).outcome;
}

TEST(LockTableTest, WriteLocksExcludeOthersAndReadLocksShare) {
  LockTable t;
  EXPECT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd)), meta::LockReply::GRANTED);
  auto a = t.Set(L(2, 20, F_WRLCK, 100, 200), false, false);
  EXPECT_EQ(a.outcome, meta::LockReply::CONFLICT);
  EXPECT_EQ(a.conflict.session(), 1u);
  EXPECT_EQ(Set(&t, L(2, 20, F_RDLCK, 0, 0)), meta::LockReply::CONFLICT);
  EXPECT_EQ(Set(&t, L(1, 10, F_UNLCK, 0, kEnd)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(1, 10, F_RDLCK, 0, kEnd)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_RDLCK, 0, 9)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(3, 30, F_WRLCK, 5, 5)), meta::LockReply::CONFLICT);
  // Another file is another lock.
  EXPECT_EQ(Set(&t, L(3, 30, F_WRLCK, 0, kEnd, false, 6)), meta::LockReply::GRANTED);
}

TEST(LockTableTest, DisjointRangesCoexist) {
  LockTable t;
  EXPECT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, 99)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 100, 199)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 99, 100)), meta::LockReply::CONFLICT);
  EXPECT_EQ(t.Test(L(3, 30, F_RDLCK, 150, 150)).conflict.owner(), 20u);
  EXPECT_EQ(t.Test(L(3, 30, F_RDLCK, 200, kEnd)).outcome, meta::LockReply::GRANTED);
}

TEST(LockTableTest, AnOwnersLocksSplitAndMerge) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, 99)), meta::LockReply::GRANTED);
  // Unlocking the middle leaves two pieces.
  ASSERT_EQ(Set(&t, L(1, 10, F_UNLCK, 40, 59)), meta::LockReply::GRANTED);
  EXPECT_EQ(t.HeldBy(1).size(), 2u);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 40, 59)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_UNLCK, 0, kEnd)), meta::LockReply::GRANTED);
  // Relocking the hole merges the three back into one.
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 40, 59)), meta::LockReply::GRANTED);
  auto held = t.HeldBy(1);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].start(), 0u);
  EXPECT_EQ(held[0].end(), 99u);
  // A read lock inside a write lock splits it in three of two types.
  ASSERT_EQ(Set(&t, L(1, 10, F_RDLCK, 10, 19)), meta::LockReply::GRANTED);
  EXPECT_EQ(t.HeldBy(1).size(), 3u);
  EXPECT_EQ(Set(&t, L(2, 20, F_RDLCK, 10, 19)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_RDLCK, 20, 20)), meta::LockReply::CONFLICT);
}

TEST(LockTableTest, FlockAndPosixLocksNeverConflict) {
  LockTable t;
  EXPECT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd, false)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 21, F_RDLCK, 0, kEnd, true)), meta::LockReply::CONFLICT);
}

TEST(LockTableTest, AWaiterIsGrantedWhenTheHolderUnlocks) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd)), meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, 9), true), meta::LockReply::QUEUED);
  EXPECT_EQ(Set(&t, L(3, 30, F_WRLCK, 5, 20), true), meta::LockReply::QUEUED);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, 9), true), meta::LockReply::QUEUED) << "asked again: one waiter";
  EXPECT_EQ(t.List(5).waiting_size(), 2);
  EXPECT_TRUE(t.TakeGranted().empty());
  ASSERT_EQ(Set(&t, L(1, 10, F_UNLCK, 0, kEnd)), meta::LockReply::GRANTED);
  // In order: the first waiter gets it, the second conflicts with it.
  auto g = t.TakeGranted();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].session(), 2u);
  // The granted request, asked again (its grant message lost), is granted.
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, 9), true), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(2, 20, F_UNLCK, 0, kEnd)), meta::LockReply::GRANTED);
  g = t.TakeGranted();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].session(), 3u);
}

TEST(LockTableTest, CancelEndsAWaitAndSaysWhetherItWasGranted) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd), true), meta::LockReply::QUEUED);
  EXPECT_EQ(t.Cancel(L(2, 20, F_WRLCK, 0, kEnd)).outcome, meta::LockReply::CONFLICT);
  ASSERT_EQ(Set(&t, L(1, 10, F_UNLCK, 0, kEnd)), meta::LockReply::GRANTED);
  EXPECT_TRUE(t.TakeGranted().empty()) << "a cancelled wait is never granted";
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd), true), meta::LockReply::QUEUED);
  ASSERT_EQ(Set(&t, L(1, 10, F_UNLCK, 0, kEnd)), meta::LockReply::GRANTED);
  EXPECT_EQ(t.Cancel(L(2, 20, F_WRLCK, 0, kEnd)).outcome, meta::LockReply::NOT_WAITING);
}

TEST(LockTableTest, AnEndedSessionReleasesEverythingAndWaitersGetIt) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(1, 11, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(2, 20, F_RDLCK, 0, kEnd), true), meta::LockReply::QUEUED);
  t.ReleaseSession(1);
  EXPECT_TRUE(t.HeldBy(1).empty());
  EXPECT_EQ(t.TakeGranted().size(), 1u);
  EXPECT_EQ(Set(&t, L(3, 30, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
}

TEST(LockTableTest, ReleaseOwnerDropsOnlyThatOwnersLocksInItsSpace) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, 9)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(1, 11, F_WRLCK, 10, 19)), meta::LockReply::GRANTED);
  t.ReleaseOwner(1, 10, 5, false);
  auto held = t.HeldBy(1);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, 9)), meta::LockReply::GRANTED);
}

// A closed file's owner waits for nothing more: a wait its client gave up
// on without meta's answer (the call or its cancel failed) would otherwise
// be granted, later, to no one, and the lock stay taken until the session
// ends.
TEST(LockTableTest, ReleaseOwnerEndsThatOwnersWaitsToo) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  ASSERT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd, true), true), meta::LockReply::QUEUED);
  ASSERT_EQ(Set(&t, L(2, 21, F_WRLCK, 0, kEnd, true), true), meta::LockReply::QUEUED);
  t.ReleaseOwner(2, 20, 5, true);
  EXPECT_EQ(t.List(5).waiting_size(), 1) << "only owner 20's wait ends";
  ASSERT_EQ(Set(&t, L(1, 10, F_UNLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  auto g = t.TakeGranted();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].owner(), 21u) << "granted to an owner whose file is closed";
  t.ReleaseOwner(2, 21, 5, true);
  EXPECT_EQ(t.List(5).held_size(), 0);
  EXPECT_EQ(Set(&t, L(3, 30, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
}

// A grant names the request it answers; a held lock names none.
TEST(LockTableTest, AGrantCarriesItsRequestAndTheHeldLockDoesNot) {
  LockTable t;
  ASSERT_EQ(Set(&t, L(1, 10, F_WRLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  meta::FileLock w = L(2, 20, F_WRLCK, 0, kEnd, true);
  w.set_request(7);
  ASSERT_EQ(Set(&t, w, true), meta::LockReply::QUEUED);
  w.set_request(8);  // asked again: the later request is the one waiting
  ASSERT_EQ(Set(&t, w, true), meta::LockReply::QUEUED);
  ASSERT_EQ(Set(&t, L(1, 10, F_UNLCK, 0, kEnd, true)), meta::LockReply::GRANTED);
  auto g = t.TakeGranted();
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].request(), 8u);
  auto held = t.HeldBy(2);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].request(), 0u);
}

// A client's record of its locks hears of a grant to one of its owners
// before it hears of the release by another owner that made it possible.
TEST(LockTableTest, ARecordTakesAGrantBeforeTheReleaseThatAllowedIt) {
  LockTable mine;
  mine.Record(L(0, 10, F_WRLCK, 0, kEnd, true));
  mine.Record(L(0, 11, F_WRLCK, 0, kEnd, true));  // meta granted it after 10's unlock
  mine.Record(L(0, 10, F_UNLCK, 0, kEnd, true));
  auto held = mine.HeldBy(0);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].owner(), 11u);
  // The owner's own locks still split as in Set.
  mine.Record(L(0, 12, F_RDLCK, 0, 99));
  mine.Record(L(0, 12, F_UNLCK, 10, 19));
  EXPECT_EQ(mine.List(5).held_size(), 3);
}

TEST(LockTableTest, DuringGraceOnlyReclaimsAreServed) {
  LockTable t;
  t.set_grace(true);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd)), meta::LockReply::GRACE);
  EXPECT_EQ(t.Set(L(1, 10, F_WRLCK, 0, kEnd), false, true).outcome, meta::LockReply::GRANTED);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd), true), meta::LockReply::GRACE);
  t.set_grace(false);
  EXPECT_EQ(Set(&t, L(2, 20, F_WRLCK, 0, kEnd)), meta::LockReply::CONFLICT) << "the reclaimed lock holds";
}

}  // namespace
}  // namespace scalefs
