#include "meta/session_keeper.h"

#include <glog/logging.h>

namespace scalefs::meta {

void PostGrants(LockTable* locks, SessionTable* sessions) {
  for (const FileLock& l : locks->TakeGranted()) {
    SessionEvent e;
    e.set_kind(SessionEvent::LOCK_GRANTED);
    *e.mutable_lock() = l;
    sessions->Post(l.session(), e);
  }
}

SessionKeeper::SessionKeeper(MetaStore* store, LockTable* locks)
    : store_(store), locks_(locks), grace_(store->sessions().InGrace()) {
  locks_->set_grace(grace_);
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) {
      lock.unlock();
      Tick();
      lock.lock();
    }
  });
}

SessionKeeper::~SessionKeeper() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SessionKeeper::Ended(uint64_t session, const std::vector<uint64_t>& open_inos) {
  locks_->ReleaseSession(session);
  PostGrants(locks_, &store_->sessions());
  Status s = store_->CollectOrphans(open_inos);
  if (!s.ok()) LOG(ERROR) << "deleting orphans of session " << session << ": " << s.ToString();
}

void SessionKeeper::Tick() {
  for (const SessionTable::Ended& e : store_->sessions().Expire()) Ended(e.session, e.inos);
  // The target space of abandoned moves, once quarantined long enough.
  Status r = store_->ReapMoves();
  if (!r.ok()) LOG(ERROR) << "freeing the space of abandoned moves: " << r.ToString();
  if (grace_ && !store_->sessions().InGrace()) {
    grace_ = false;
    locks_->set_grace(false);
    PostGrants(locks_, &store_->sessions());
    Status s = store_->CollectOrphans({}, /*all=*/true);
    if (!s.ok()) LOG(ERROR) << "deleting orphans after the grace period: " << s.ToString();
    LOG(INFO) << "grace period over: " << store_->orphan_count() << " orphans held open";
  }
}

}  // namespace scalefs::meta
