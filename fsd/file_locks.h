// flock(2) and POSIX record locks of this mount, held cluster-wide by meta.
//
// A request goes to meta at once. One that has to wait (F_SETLKW, flock
// without LOCK_NB, or any request while a restarted meta waits for reclaims)
// is answered later and never holds a FUSE thread: when meta's grant arrives
// on the session stream, when asking again finds it granted (a grant lost
// with a broken stream), or when a signal interrupts it (EINTR, after meta
// dropped the wait). What this client holds is kept in a LockTable of its
// own, so it can reclaim its locks after a meta restart.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "common/lock_table.h"
#include "common/status.h"
#include "fsd/meta_client.h"

namespace scalefs {

class FileLocks {
 public:
  // Answers the kernel's request: 0, or the errno to fail it with.
  using Done = std::function<void(int err)>;

  explicit FileLocks(MetaClient* meta);
  ~FileLocks();

  // A number for the next Set, known before it starts, so the caller can
  // register for interrupts first (a request answered from another thread
  // is gone by the time Set returns).
  uint64_t NextId();
  // Takes, changes or (F_UNLCK) drops `want` (its session field is filled
  // in). `done` runs exactly once, perhaps before this returns.
  void Set(uint64_t id, meta::FileLock want, bool wait, Done done);
  // A signal interrupted request `id`: a wait ends with EINTR unless meta
  // granted it meanwhile (then with 0). Never answers on the caller's thread
  // (libfuse calls this with the request locked).
  void Interrupt(uint64_t id);
  // F_GETLK: the lock of another owner in want's way, if any.
  Result<std::optional<meta::FileLock>> Test(meta::FileLock want);
  // Drops every lock `owner` holds on `ino` in one space, and its waits
  // there (a close); asks meta only when MustRelease.
  Status ReleaseOwner(uint64_t ino, uint64_t owner, bool flock);
  // True when this client holds any lock of `owner` on `ino`.
  bool Holds(uint64_t ino, uint64_t owner, bool flock) const;
  // Holds, or a wait of the owner there ended without meta's answer (a call
  // or its cancel failed), so meta may still queue it: a close must tell meta.
  bool MustRelease(uint64_t ino, uint64_t owner, bool flock);

  // Meta granted a lock this client waited for (session stream): it
  // answers the request lock.request() names, if that still waits (asking
  // again may have got the lock first, and the owner may wait again since).
  void Granted(const meta::FileLock& lock);
  // The locks this client holds, for a reclaim.
  std::vector<meta::FileLock> Held() const;

 private:
  struct Waiter {
    meta::FileLock want;
    bool wait = false;
    Done done;
    std::chrono::steady_clock::time_point next_ask;
    bool interrupted = false;
  };
  // Ends an interrupted wait: cancels it at meta, then answers.
  void CancelWait(Waiter w);
  // Sends `want` (a queued wait is meta's under want.request()); what to
  // do next.
  enum class Next { kDone, kAskAgainSoon, kAskAgainLater };
  Next Ask(const meta::FileLock& want, bool wait, int* err, bool owner_gone = false);
  void Finish(uint64_t id, int err);
  void Record(const meta::FileLock& lock);
  void PollLoop();
  // A lock request or a release of an owner waits for the poller's asking
  // again on that owner's behalf: asked before a grant and arriving after
  // its release, it would take the lock again for no one.
  using OwnerKey = std::tuple<uint64_t, uint64_t, bool>;  // ino, owner, flock
  static OwnerKey KeyOf(const meta::FileLock& l) { return {l.ino(), l.owner(), l.flock()}; }
  void AwaitAskingAgain(const OwnerKey& key);

  MetaClient* const meta_;
  LockTable mine_;  // what this client holds, session 0

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Waiter> waiting_;
  uint64_t next_id_ = 1;
  std::set<uint64_t> interrupted_early_;  // interrupted before Set registered them
  std::multiset<OwnerKey> asking_again_;   // the poller's requests in flight
  std::set<OwnerKey> unsettled_;           // see MustRelease
  std::condition_variable asked_cv_;
  bool stop_ = false;
  std::thread poller_;
};

}  // namespace scalefs
