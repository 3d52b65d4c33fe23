#include "fsd/release_queue.h"

#include <glog/logging.h>

#include <algorithm>
#include <optional>

namespace scalefs {

ReleaseQueue::ReleaseQueue(Sender send, std::chrono::milliseconds delay,
                           std::chrono::milliseconds close_delay, HoldingsGate* gate)
    : send_(std::move(send)),
      gate_(gate),
      delay_(delay),
      close_delay_(std::max(delay, close_delay)),
      thread_([this] { Run(); }) {}

ReleaseQueue::~ReleaseQueue() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Flush();
}

void ReleaseQueue::Add(uint64_t ino, AheadSpace space) {
  bool wake;
  {
    std::lock_guard l(mu_);
    auto [it, fresh] = queued_.try_emplace(ino);
    if (fresh) it->second.since = std::chrono::steady_clock::now();
    AheadSpace& q = it->second.space;
    for (meta::ByteRange& r : space.ranges) q.ranges.push_back(std::move(r));
    q.alloc_gen = space.alloc_gen;
    // A thread on a timed wait looks again by itself: no wakeup per close.
    wake = idle_;
  }
  if (wake) cv_.notify_all();
}

AheadSpace ReleaseQueue::Take(uint64_t ino) {
  std::unique_lock l(mu_);
  landed_.wait(l, [&] { return in_flight_.count(ino) == 0; });
  auto it = queued_.find(ino);
  if (it == queued_.end()) return {};
  AheadSpace out = std::move(it->second.space);
  queued_.erase(it);
  return out;
}

std::chrono::steady_clock::time_point ReleaseQueue::DueLocked(const Entry& e) const {
  return e.since + (e.space.ranges.empty() ? close_delay_ : delay_);
}

std::vector<meta::FileRelease> ReleaseQueue::TakeDueLocked(
    bool all, std::chrono::steady_clock::time_point* next_due) {
  std::vector<meta::FileRelease> out;
  const auto now = std::chrono::steady_clock::now();
  // Once one entry is due, those due within the next delay go with it:
  // closes a moment apart share a call instead of waking the thread twice.
  auto take_until = now;
  for (const auto& [ino, e] : queued_) {
    if (DueLocked(e) <= now) {
      take_until = now + delay_;
      break;
    }
  }
  if (next_due != nullptr) *next_due = now + close_delay_;
  for (auto it = queued_.begin(); it != queued_.end() && out.size() < kMaxFilesPerCall;) {
    const auto due = DueLocked(it->second);
    if (!all && due > take_until) {
      if (next_due != nullptr) *next_due = std::min(*next_due, due);
      ++it;
      continue;
    }
    meta::FileRelease& t = out.emplace_back();
    t.set_ino(it->first);
    t.set_alloc_gen(it->second.space.alloc_gen);
    for (meta::ByteRange& r : it->second.space.ranges) *t.add_ranges() = std::move(r);
    in_flight_[it->first]++;
    it = queued_.erase(it);
  }
  return out;
}

void ReleaseQueue::Send(const std::vector<meta::FileRelease>& batch) {
  meta::ReleaseRequest req;
  for (const meta::FileRelease& t : batch) *req.add_files() = t;
  std::optional<HoldingsGate::ChangeHold> hold;
  if (gate_ != nullptr) hold.emplace(gate_->Change());
  Status s = send_(req);
  // Lost, the opens end with the session and the space stays allocated past
  // the end of the files, as when a client dies before it closes them; fsck
  // does not mind.
  if (!s.ok()) {
    LOG(WARNING) << "releasing " << batch.size() << " closed files: " << s.ToString();
  }
  std::lock_guard l(mu_);
  for (const meta::FileRelease& t : batch) {
    auto it = in_flight_.find(t.ino());
    if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  }
  landed_.notify_all();
}

bool ReleaseQueue::Flush() {
  bool sent = false;
  for (;;) {
    std::vector<meta::FileRelease> batch;
    {
      std::unique_lock l(mu_);
      batch = TakeDueLocked(/*all=*/true);
      if (batch.empty()) {
        // A call the thread has out counts as queued: it lands first.
        if (!in_flight_.empty()) sent = true;
        landed_.wait(l, [&] { return in_flight_.empty(); });
        return sent;
      }
    }
    Send(batch);
    sent = true;
  }
}

size_t ReleaseQueue::queued() const {
  std::lock_guard l(mu_);
  return queued_.size();
}

std::vector<uint64_t> ReleaseQueue::Pending() const {
  std::lock_guard l(mu_);
  std::vector<uint64_t> out;
  for (const auto& [ino, e] : queued_) out.push_back(ino);
  for (const auto& [ino, n] : in_flight_) out.push_back(ino);
  return out;
}

void ReleaseQueue::Run() {
  std::unique_lock l(mu_);
  while (!stop_) {
    if (queued_.empty()) {
      idle_ = true;
      cv_.wait(l);
      idle_ = false;
      continue;
    }
    std::chrono::steady_clock::time_point next_due;
    std::vector<meta::FileRelease> batch = TakeDueLocked(/*all=*/false, &next_due);
    if (batch.empty()) {
      // Add() wakes an idle thread only; the earliest entry is due then.
      cv_.wait_until(l, std::min(next_due, std::chrono::steady_clock::now() + delay_));
      continue;
    }
    l.unlock();
    Send(batch);
    l.lock();
  }
}

}  // namespace scalefs
