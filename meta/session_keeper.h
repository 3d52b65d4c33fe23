// The clock of meta's sessions: every second it ends the sessions whose
// lease ran out (their locks go, waiters are granted, their orphans are
// deleted) and, after a restart, ends the grace period once every stored
// session reclaimed or expired (new locks are granted again, and orphans
// nobody reclaimed are deleted).
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/lock_table.h"
#include "meta/meta_store.h"

namespace scalefs::meta {

// Hands the locks granted to waiters to their sessions' streams.
void PostGrants(LockTable* locks, SessionTable* sessions);

class SessionKeeper {
 public:
  // Starts in grace when the store's sessions are in it.
  SessionKeeper(MetaStore* store, LockTable* locks);
  ~SessionKeeper();
  SessionKeeper(const SessionKeeper&) = delete;
  SessionKeeper& operator=(const SessionKeeper&) = delete;

  // One round of the clock (the thread calls it every second).
  void Tick();
  // A session ended (expired or closed): its locks and its orphans go.
  void Ended(uint64_t session, const std::vector<uint64_t>& open_inos);

 private:
  MetaStore* const store_;
  LockTable* const locks_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool grace_ = false;
  std::thread thread_;
};

}  // namespace scalefs::meta
