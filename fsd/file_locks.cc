#include "fsd/file_locks.h"

#include <fcntl.h>
#include <glog/logging.h>

#include <limits>

namespace scalefs {

namespace {
// A queued request is asked again this often, in case its grant was lost;
// one refused for a restarted meta's grace period sooner.
constexpr auto kAskQueued = std::chrono::milliseconds(1000);
constexpr auto kAskInGrace = std::chrono::milliseconds(200);
using Clock = std::chrono::steady_clock;
}  // namespace

FileLocks::FileLocks(MetaClient* meta) : meta_(meta) {
  poller_ = std::thread([this] { PollLoop(); });
}

FileLocks::~FileLocks() {
  std::map<uint64_t, Waiter> left;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    left.swap(waiting_);
  }
  cv_.notify_all();
  poller_.join();
  for (auto& [id, w] : left) w.done(EINTR);
}

void FileLocks::Record(const meta::FileLock& lock) {
  meta::FileLock mine = lock;
  mine.set_session(0);
  mine.clear_request();
  // Meta granted it: a release of another owner here that meta saw first
  // may not be recorded yet, so no conflict is checked.
  mine_.Record(mine);
}

void FileLocks::AwaitAskingAgain(const OwnerKey& key) {
  std::unique_lock lock(mu_);
  asked_cv_.wait(lock, [&] { return asking_again_.count(key) == 0; });
}

FileLocks::Next FileLocks::Ask(const meta::FileLock& want, bool wait, int* err, bool owner_gone) {
  meta::LockRequest req;
  *req.mutable_lock() = want;
  req.mutable_lock()->set_session(meta_->calls() ? meta_->calls()->session() : 0);
  req.set_wait(wait);
  req.set_owner_gone(owner_gone);
  auto r = meta_->SetLock(req);
  if (!r.ok()) {
    *err = r.status().errno_value();
    // The wait may have reached meta and be queued there.
    if (wait) {
      std::lock_guard lock(mu_);
      unsettled_.insert(KeyOf(want));
    }
    return Next::kDone;
  }
  switch (r->outcome()) {
    case meta::LockReply::GRANTED:
      Record(want);
      *err = 0;
      return Next::kDone;
    case meta::LockReply::QUEUED:
      return Next::kAskAgainLater;
    case meta::LockReply::GRACE:
      return Next::kAskAgainSoon;
    default:
      *err = EAGAIN;  // F_SETLK's and LOCK_NB's answer to a lock in the way
      return Next::kDone;
  }
}

uint64_t FileLocks::NextId() {
  std::lock_guard lock(mu_);
  return next_id_++;
}

void FileLocks::Set(uint64_t id, meta::FileLock want, bool wait, Done done) {
  AwaitAskingAgain(KeyOf(want));
  if (want.type() == F_UNLCK) {
    int err = 0;
    {
      auto hold = meta_->holdings_gate().Change();
      Ask(want, false, &err);
    }
    done(err);
    return;
  }
  want.set_request(id);
  {
    std::lock_guard lock(mu_);
    // Registered before asking: a grant may arrive on the stream before
    // meta's answer to this call does.
    Waiter& w = waiting_[id];
    w = Waiter{want, wait, std::move(done), std::chrono::steady_clock::time_point::max()};
    w.interrupted = interrupted_early_.erase(id) != 0;
  }
  int err = 0;
  Next next;
  {
    auto hold = meta_->holdings_gate().Change();
    next = Ask(want, wait, &err);
  }
  if (next == Next::kDone) return Finish(id, err);
  std::lock_guard lock(mu_);
  auto it = waiting_.find(id);
  if (it == waiting_.end()) return;  // granted meanwhile
  it->second.next_ask =
      std::chrono::steady_clock::now() + (next == Next::kAskAgainSoon ? kAskInGrace : kAskQueued);
  cv_.notify_all();
}

void FileLocks::Finish(uint64_t id, int err) {
  Done done;
  {
    std::lock_guard lock(mu_);
    auto it = waiting_.find(id);
    if (it == waiting_.end()) return;
    done = std::move(it->second.done);
    waiting_.erase(it);
  }
  done(err);
}

void FileLocks::Interrupt(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = waiting_.find(id);
  if (it == waiting_.end()) {
    if (interrupted_early_.size() >= 64) interrupted_early_.erase(interrupted_early_.begin());
    interrupted_early_.insert(id);
    return;
  }
  it->second.interrupted = true;
  cv_.notify_all();
}

void FileLocks::CancelWait(Waiter w) {
  meta::LockRequest req;
  *req.mutable_lock() = w.want;
  req.mutable_lock()->set_session(meta_->calls() ? meta_->calls()->session() : 0);
  Status failed;
  bool granted = false;
  {
    auto hold = meta_->holdings_gate().Change();
    auto r = meta_->CancelLock(req);
    // Granted before the cancel arrived: the caller holds it.
    granted = r.ok() && r->outcome() == meta::LockReply::NOT_WAITING && w.wait;
    if (granted) Record(w.want);
    if (!r.ok()) failed = r.status();
  }
  if (granted) {
    w.done(0);
    return;
  }
  if (!failed.ok()) {
    LOG(WARNING) << "cancelling a lock wait: " << failed.ToString();
    std::lock_guard lock(mu_);
    unsettled_.insert(KeyOf(w.want));
  }
  w.done(EINTR);
}

void FileLocks::Granted(const meta::FileLock& lock) {
  const uint64_t id = lock.request();
  {
    auto hold = meta_->holdings_gate().Change();
    std::lock_guard l(mu_);
    // Only the request it answers: an owner's next wait (the same owner
    // for the kernel when an open file's address is reused) is another
    // request, queued at meta in its own right.
    auto it = waiting_.find(id);
    if (it == waiting_.end() || KeyOf(it->second.want) != KeyOf(lock)) return;
    Record(it->second.want);
  }
  Finish(id, 0);
}

void FileLocks::PollLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    const auto now = std::chrono::steady_clock::now();
    std::vector<Waiter> cancelled;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (!it->second.interrupted || it->second.next_ask == Clock::time_point::max()) {
        ++it;  // (a request still being asked is cancelled after its answer)
        continue;
      }
      cancelled.push_back(std::move(it->second));
      it = waiting_.erase(it);
    }
    if (!cancelled.empty()) {
      lock.unlock();
      for (Waiter& w : cancelled) CancelWait(std::move(w));
      lock.lock();
      continue;
    }
    std::vector<std::pair<uint64_t, Waiter>> due;
    for (auto& [id, w] : waiting_) {
      if (w.next_ask <= now) {
        due.emplace_back(id, Waiter{w.want, w.wait, nullptr, w.next_ask});
        w.next_ask = std::chrono::steady_clock::time_point::max();  // being asked
        asking_again_.insert(KeyOf(w.want));
      }
    }
    if (due.empty()) continue;
    lock.unlock();
    for (auto& [id, w] : due) {
      int err = 0;
      Next next;
      {
        auto hold = meta_->holdings_gate().Change();
        next = Ask(w.want, w.wait, &err);
      }
      if (next == Next::kDone) Finish(id, err);
      std::lock_guard l(mu_);
      asking_again_.erase(asking_again_.find(KeyOf(w.want)));
      asked_cv_.notify_all();
      auto it = waiting_.find(id);
      if (next != Next::kDone && it != waiting_.end()) {
        it->second.next_ask = std::chrono::steady_clock::now() +
                              (next == Next::kAskAgainSoon ? kAskInGrace : kAskQueued);
      }
    }
    lock.lock();
  }
}

Result<std::optional<meta::FileLock>> FileLocks::Test(meta::FileLock want) {
  meta::LockRequest req;
  want.set_session(meta_->calls() ? meta_->calls()->session() : 0);
  *req.mutable_lock() = want;
  auto r = meta_->TestLock(req);
  if (!r.ok()) return r.status();
  if (r->outcome() != meta::LockReply::CONFLICT) return std::optional<meta::FileLock>();
  return std::optional<meta::FileLock>(r->conflict());
}

bool FileLocks::Holds(uint64_t ino, uint64_t owner, bool flock) const {
  const meta::LockListReply mine = mine_.List(ino);
  for (const meta::FileLock& l : mine.held()) {
    if (l.owner() == owner && l.flock() == flock) return true;
  }
  return false;
}

bool FileLocks::MustRelease(uint64_t ino, uint64_t owner, bool flock) {
  {
    std::lock_guard lock(mu_);
    if (unsettled_.count({ino, owner, flock}) != 0) return true;
  }
  return Holds(ino, owner, flock);
}

Status FileLocks::ReleaseOwner(uint64_t ino, uint64_t owner, bool flock) {
  AwaitAskingAgain({ino, owner, flock});
  if (!MustRelease(ino, owner, flock)) return Status::OK();
  meta::FileLock all;
  all.set_ino(ino);
  all.set_owner(owner);
  all.set_flock(flock);
  all.set_type(F_UNLCK);
  all.set_start(0);
  all.set_end(std::numeric_limits<uint64_t>::max());
  int err = 0;
  {
    // Out of the record first, then meta, with no reclaim between: the
    // reclaim sends meta either both or neither.
    auto hold = meta_->holdings_gate().Change();
    mine_.ReleaseOwner(0, owner, ino, flock);
    Ask(all, false, &err, /*owner_gone=*/true);
  }
  if (err == 0) {
    std::lock_guard lock(mu_);
    unsettled_.erase({ino, owner, flock});
  }
  return err == 0 ? Status::OK()
                  : Status(static_cast<Status::Code>(err), "releasing the locks of owner " +
                                                               std::to_string(owner) +
                                                               " on inode " + std::to_string(ino));
}

std::vector<meta::FileLock> FileLocks::Held() const { return mine_.HeldBy(0); }

}  // namespace scalefs
