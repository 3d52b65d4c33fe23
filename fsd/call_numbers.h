// Numbers the mutating calls a mounted client makes to meta (meta::CallId):
// a retried call keeps its number, so meta answers it with the reply it
// stored the first time instead of doing it twice. Also tells meta which
// replies it may forget: those of every call below the oldest one still
// waiting for its answer.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

#include "proto/meta.pb.h"

namespace scalefs {

class CallNumbers {
 public:
  // The session the numbers belong to; a new session starts again at 1.
  void Reset(uint64_t session) {
    std::lock_guard lock(mu_);
    session_ = session;
    next_ = 1;
    open_.clear();
  }
  uint64_t session() const {
    std::lock_guard lock(mu_);
    return session_;
  }
  // A number for a new call (session 0 while there is none: not replayed).
  meta::CallId Begin() {
    std::lock_guard lock(mu_);
    meta::CallId id;
    if (session_ == 0) return id;
    id.set_session(session_);
    id.set_seq(next_++);
    open_.insert(id.seq());
    id.set_acked(AckedLocked());
    return id;
  }
  // The call has its final answer (or was given up).
  void End(const meta::CallId& id) {
    std::lock_guard lock(mu_);
    if (id.session() == session_) open_.erase(id.seq());
  }

 private:
  uint64_t AckedLocked() const { return (open_.empty() ? next_ : *open_.begin()) - 1; }

  mutable std::mutex mu_;
  uint64_t session_ = 0;
  uint64_t next_ = 1;
  std::set<uint64_t> open_;  // numbers handed out and not ended
};

}  // namespace scalefs
