#include "common/lock_table.h"

#include <fcntl.h>

#include <algorithm>
#include <limits>

namespace scalefs {

namespace {

constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

bool Overlap(const meta::FileLock& a, const meta::FileLock& b) {
  return a.start() <= b.end() && b.start() <= a.end();
}

bool Write(const meta::FileLock& l) { return l.type() == F_WRLCK; }

// True when the owner's locks of `want`'s type cover all of want's range
// (a request repeated after its grant was lost on the way).
bool Covered(const std::vector<meta::FileLock>& own, const meta::FileLock& want) {
  uint64_t pos = want.start();
  bool progress = true;
  while (progress) {
    progress = false;
    for (const meta::FileLock& l : own) {
      if (l.type() != want.type() || l.start() > pos || l.end() < pos) continue;
      if (l.end() >= want.end()) return true;
      pos = l.end() + 1;
      progress = true;
    }
  }
  return false;
}

}  // namespace

bool LockTable::SameOwner(const meta::FileLock& a, const meta::FileLock& b) {
  return a.session() == b.session() && a.owner() == b.owner() && a.flock() == b.flock();
}

const meta::FileLock* LockTable::ConflictLocked(const File& f, const meta::FileLock& want) {
  for (const meta::FileLock& l : f.held) {
    if (l.flock() != want.flock() || SameOwner(l, want)) continue;
    if (Overlap(l, want) && (Write(l) || Write(want))) return &l;
  }
  return nullptr;
}

void LockTable::ApplyLocked(File* f, const meta::FileLock& want) {
  std::vector<meta::FileLock> out;
  out.reserve(f->held.size() + 2);
  meta::FileLock merged = want;
  for (const meta::FileLock& l : f->held) {
    if (!SameOwner(l, want)) {
      out.push_back(l);
      continue;
    }
    const bool touches = Overlap(l, want) ||
                         (l.end() != kToEnd && l.end() + 1 == want.start()) ||
                         (want.end() != kToEnd && want.end() + 1 == l.start());
    if (!touches) {
      out.push_back(l);
      continue;
    }
    if (want.type() != F_UNLCK && l.type() == want.type()) {
      // Same type, overlapping or adjacent: one lock.
      merged.set_start(std::min(merged.start(), l.start()));
      merged.set_end(std::max(merged.end(), l.end()));
      continue;
    }
    if (!Overlap(l, want)) {
      out.push_back(l);
      continue;
    }
    // Keep what lies outside want's range.
    if (l.start() < want.start()) {
      meta::FileLock left = l;
      left.set_end(want.start() - 1);
      out.push_back(left);
    }
    if (l.end() > want.end()) {
      meta::FileLock right = l;
      right.set_start(want.end() + 1);
      out.push_back(right);
    }
  }
  merged.clear_request();  // a held lock answers no request any more
  if (want.type() != F_UNLCK) out.push_back(merged);
  f->held = std::move(out);
}

LockTable::Answer LockTable::Set(const meta::FileLock& want, bool wait, bool reclaim) {
  std::lock_guard lock(mu_);
  Answer a;
  if (want.type() == F_UNLCK) {
    auto it = files_.find(want.ino());
    if (it == files_.end()) return a;
    ApplyLocked(&it->second, want);
    GrantWaitersLocked(want.ino(), &it->second);
    EraseIfEmptyLocked(want.ino());
    return a;
  }
  if (grace_ && !reclaim) {
    a.outcome = meta::LockReply::GRACE;
    return a;
  }
  File& f = files_[want.ino()];
  std::vector<meta::FileLock> own;
  for (const meta::FileLock& l : f.held) {
    if (SameOwner(l, want)) own.push_back(l);
  }
  if (Covered(own, want)) return a;
  if (const meta::FileLock* c = ConflictLocked(f, want)) {
    a.outcome = meta::LockReply::CONFLICT;
    a.conflict = *c;
    if (wait && !reclaim) {
      a.outcome = meta::LockReply::QUEUED;
      auto same = std::find_if(f.waiting.begin(), f.waiting.end(),
                               [&](const meta::FileLock& w) { return SameOwner(w, want); });
      if (same == f.waiting.end()) {
        f.waiting.push_back(want);
      } else {
        *same = want;  // the owner asks again, perhaps for another range
      }
    }
    return a;
  }
  ApplyLocked(&f, want);
  // A downgrade or a shrink may free what others wait for.
  GrantWaitersLocked(want.ino(), &f);
  return a;
}

void LockTable::Record(const meta::FileLock& granted) {
  std::lock_guard lock(mu_);
  ApplyLocked(&files_[granted.ino()], granted);
  EraseIfEmptyLocked(granted.ino());
}

LockTable::Answer LockTable::Test(const meta::FileLock& want) const {
  std::lock_guard lock(mu_);
  Answer a;
  auto it = files_.find(want.ino());
  if (it == files_.end()) return a;
  if (const meta::FileLock* c = ConflictLocked(it->second, want)) {
    a.outcome = meta::LockReply::CONFLICT;
    a.conflict = *c;
  }
  return a;
}

LockTable::Answer LockTable::Cancel(const meta::FileLock& want) {
  std::lock_guard lock(mu_);
  Answer a;
  a.outcome = meta::LockReply::NOT_WAITING;
  auto it = files_.find(want.ino());
  if (it == files_.end()) return a;
  auto& q = it->second.waiting;
  auto w = std::find_if(q.begin(), q.end(), [&](const meta::FileLock& l) { return SameOwner(l, want); });
  if (w != q.end()) {
    q.erase(w);
    a.outcome = meta::LockReply::CONFLICT;  // not granted: the wait is over
  }
  EraseIfEmptyLocked(want.ino());
  return a;
}

void LockTable::ReleaseOwner(uint64_t session, uint64_t owner, uint64_t ino, bool flock) {
  meta::FileLock all;
  all.set_ino(ino);
  all.set_session(session);
  all.set_owner(owner);
  all.set_flock(flock);
  all.set_type(F_UNLCK);
  all.set_start(0);
  all.set_end(kToEnd);
  std::lock_guard lock(mu_);
  auto it = files_.find(ino);
  if (it == files_.end()) return;
  std::erase_if(it->second.waiting, [&](const meta::FileLock& w) { return SameOwner(w, all); });
  ApplyLocked(&it->second, all);
  GrantWaitersLocked(ino, &it->second);
  EraseIfEmptyLocked(ino);
}

void LockTable::ReleaseSession(uint64_t session) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> touched;
  for (auto& [ino, f] : files_) {
    const size_t held = f.held.size(), waiting = f.waiting.size();
    std::erase_if(f.held, [&](const meta::FileLock& l) { return l.session() == session; });
    std::erase_if(f.waiting, [&](const meta::FileLock& l) { return l.session() == session; });
    if (f.held.size() != held || f.waiting.size() != waiting) touched.push_back(ino);
  }
  for (uint64_t ino : touched) {
    GrantWaitersLocked(ino, &files_[ino]);
    EraseIfEmptyLocked(ino);
  }
}

void LockTable::GrantWaitersLocked(uint64_t ino, File* f) {
  for (auto it = f->waiting.begin(); it != f->waiting.end();) {
    if (grace_ || ConflictLocked(*f, *it) != nullptr) {
      ++it;
      continue;
    }
    ApplyLocked(f, *it);
    granted_.push_back(*it);
    it = f->waiting.erase(it);
  }
}

void LockTable::EraseIfEmptyLocked(uint64_t ino) {
  auto it = files_.find(ino);
  if (it != files_.end() && it->second.held.empty() && it->second.waiting.empty()) {
    files_.erase(it);
  }
}

std::vector<meta::FileLock> LockTable::TakeGranted() {
  std::lock_guard lock(mu_);
  std::vector<meta::FileLock> out;
  out.swap(granted_);
  return out;
}

void LockTable::set_grace(bool on) {
  std::lock_guard lock(mu_);
  grace_ = on;
  if (on) return;
  // Requests queued on a reclaimed lock while grace held grants back.
  for (auto& [ino, f] : files_) GrantWaitersLocked(ino, &f);
}

bool LockTable::grace() const {
  std::lock_guard lock(mu_);
  return grace_;
}

meta::LockListReply LockTable::List(uint64_t ino) const {
  std::lock_guard lock(mu_);
  meta::LockListReply out;
  for (const auto& [i, f] : files_) {
    if (ino != 0 && i != ino) continue;
    for (const meta::FileLock& l : f.held) *out.add_held() = l;
    for (const meta::FileLock& l : f.waiting) *out.add_waiting() = l;
  }
  return out;
}

std::vector<meta::FileLock> LockTable::HeldBy(uint64_t session) const {
  std::lock_guard lock(mu_);
  std::vector<meta::FileLock> out;
  for (const auto& [ino, f] : files_) {
    for (const meta::FileLock& l : f.held) {
      if (l.session() == session) out.push_back(l);
    }
  }
  return out;
}

}  // namespace scalefs
