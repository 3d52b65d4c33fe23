// File locks by owner, as meta holds them cluster-wide for the sessions of
// mounted clients (the recipe's GFS2 held them through its lock manager,
// DLM); a client keeps one of its own locks to reclaim them after a meta
// restart.
//
// flock(2) locks and POSIX record locks are separate spaces, as on Linux. In
// one space a lock conflicts with an overlapping lock of another owner when
// either is a write lock; an owner's own locks are replaced, split and merged
// as POSIX says (flock locks are the whole file). A request that conflicts
// either fails or waits in its file's queue; a change that frees a range
// grants the queued requests that no longer conflict, in arrival order, and
// the caller hands those grants to their sessions (TakeGranted).
//
// Locks live in memory. After a meta restart the clients reclaim theirs
// during a grace period (SessionTable decides when it ends), before which
// no new lock is granted, so no lock is ever held twice.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "proto/meta.pb.h"

namespace scalefs {

class LockTable {
 public:
  struct Answer {
    meta::LockReply::Outcome outcome = meta::LockReply::GRANTED;
    meta::FileLock conflict;  // CONFLICT: the lock in the way
  };

  // Takes, changes or (F_UNLCK) drops `want`'s lock. With `wait`, a conflict
  // queues the request (once per owner and file) instead of failing. During
  // the grace period only reclaims are served.
  Answer Set(const meta::FileLock& want, bool wait, bool reclaim);
  // Applies a lock that another table granted (a client's record of what
  // meta says it holds): the owner's own locks change as in Set, and nothing
  // is refused for a conflict, because the granting table already decided
  // (its owners' releases may reach this record after its grants do).
  void Record(const meta::FileLock& granted);
  // F_GETLK: the first lock of another owner that `want` would conflict with.
  Answer Test(const meta::FileLock& want) const;
  // Ends `want`'s wait: CONFLICT when it was queued (and is no more),
  // NOT_WAITING when it was not (granted meanwhile).
  Answer Cancel(const meta::FileLock& want);
  // Drops every lock of (session, owner) on ino in one space, and its
  // queued waits there: a POSIX owner's close of the file, the last close
  // of a flock holder.
  void ReleaseOwner(uint64_t session, uint64_t owner, uint64_t ino, bool flock);
  // Drops everything a session holds or waits for: it ended or expired.
  void ReleaseSession(uint64_t session);
  // The queued requests granted since the last call, for their sessions.
  std::vector<meta::FileLock> TakeGranted();

  void set_grace(bool on);
  bool grace() const;

  meta::LockListReply List(uint64_t ino) const;
  std::vector<meta::FileLock> HeldBy(uint64_t session) const;

 private:
  struct File {
    std::vector<meta::FileLock> held;
    std::deque<meta::FileLock> waiting;
  };
  // The first lock in `f` that `want` conflicts with, or null.
  static const meta::FileLock* ConflictLocked(const File& f, const meta::FileLock& want);
  // Replaces the owner's locks over want's range by `want` (or removes them
  // for F_UNLCK), merging neighbours of the same type.
  static void ApplyLocked(File* f, const meta::FileLock& want);
  static bool SameOwner(const meta::FileLock& a, const meta::FileLock& b);
  void GrantWaitersLocked(uint64_t ino, File* f);
  void EraseIfEmptyLocked(uint64_t ino);

  mutable std::mutex mu_;
  std::map<uint64_t, File> files_;
  std::vector<meta::FileLock> granted_;
  bool grace_ = false;
};

}  // namespace scalefs
