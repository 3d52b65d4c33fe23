// Keeps a session's reclaim apart from changes of what the session holds.
//
// After a meta restart the client sends meta a snapshot of its open files and
// locks (ClientSession's reclaim). A change that updates this client's record
// and tells meta — an unlock, a close's release, a grant recorded — must not
// straddle that snapshot: an unlock taken out of the record after the
// snapshot but reaching the new meta before the reclaim is undone by the
// reclaim, and meta keeps a lock nobody holds (torture --faults: a flock not
// granted for 30 s after two meta kills). So each such change holds a
// Change() from before it touches the record until meta has answered, and
// the reclaim holds Reclaim() from its snapshot until meta has taken it:
// the snapshot is either wholly before a change (then the change reaches meta
// after the reclaim) or wholly after it.
//
// A waiting reclaim goes first: new changes wait for it, so a stream of
// closes cannot keep it out past meta's grace period. A change must not take
// a second Change() while it holds one.
#pragma once

#include <condition_variable>
#include <mutex>

namespace scalefs {

class HoldingsGate {
 public:
  class [[nodiscard]] ChangeHold {
   public:
    explicit ChangeHold(HoldingsGate* g) : g_(g) {}
    ChangeHold(ChangeHold&& o) noexcept : g_(o.g_) { o.g_ = nullptr; }
    ChangeHold(const ChangeHold&) = delete;
    ChangeHold& operator=(const ChangeHold&) = delete;
    ~ChangeHold() {
      if (g_ != nullptr) g_->EndChange();
    }

   private:
    HoldingsGate* g_;
  };
  class [[nodiscard]] ReclaimHold {
   public:
    explicit ReclaimHold(HoldingsGate* g) : g_(g) {}
    ReclaimHold(const ReclaimHold&) = delete;
    ReclaimHold& operator=(const ReclaimHold&) = delete;
    ~ReclaimHold() { g_->EndReclaim(); }

   private:
    HoldingsGate* g_;
  };

  ChangeHold Change() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !reclaiming_ && reclaims_waiting_ == 0; });
    changes_++;
    return ChangeHold(this);
  }
  ReclaimHold Reclaim() {
    std::unique_lock l(mu_);
    reclaims_waiting_++;
    cv_.wait(l, [&] { return !reclaiming_ && changes_ == 0; });
    reclaims_waiting_--;
    reclaiming_ = true;
    return ReclaimHold(this);
  }

 private:
  void EndChange() {
    std::lock_guard l(mu_);
    if (--changes_ == 0) cv_.notify_all();
  }
  void EndReclaim() {
    std::lock_guard l(mu_);
    reclaiming_ = false;
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int changes_ = 0;
  int reclaims_waiting_ = 0;
  bool reclaiming_ = false;
};

}  // namespace scalefs
