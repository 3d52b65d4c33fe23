#include "fsd/trim_queue.h"

#include <glog/logging.h>

namespace scalefs {

TrimQueue::TrimQueue(Sender send, std::chrono::milliseconds delay)
    : send_(std::move(send)), delay_(delay), thread_([this] { Run(); }) {}

TrimQueue::~TrimQueue() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Flush();
}

void TrimQueue::Add(uint64_t ino, AheadSpace space) {
  if (space.ranges.empty()) return;
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

AheadSpace TrimQueue::Take(uint64_t ino) {
  std::unique_lock l(mu_);
  landed_.wait(l, [&] { return in_flight_.count(ino) == 0; });
  auto it = queued_.find(ino);
  if (it == queued_.end()) return {};
  AheadSpace out = std::move(it->second.space);
  queued_.erase(it);
  return out;
}

std::vector<meta::FileTrim> TrimQueue::TakeDueLocked(bool all) {
  std::vector<meta::FileTrim> out;
  const auto now = std::chrono::steady_clock::now();
  for (auto it = queued_.begin(); it != queued_.end() && out.size() < kMaxFilesPerCall;) {
    if (!all && now - it->second.since < delay_) {
      ++it;
      continue;
    }
    meta::FileTrim& t = out.emplace_back();
    t.set_ino(it->first);
    t.set_alloc_gen(it->second.space.alloc_gen);
    for (meta::ByteRange& r : it->second.space.ranges) *t.add_ranges() = std::move(r);
    in_flight_[it->first]++;
    it = queued_.erase(it);
  }
  return out;
}

void TrimQueue::Send(const std::vector<meta::FileTrim>& batch) {
  meta::TrimRequest req;
  for (const meta::FileTrim& t : batch) *req.add_files() = t;
  Status s = send_(req);
  // Lost, the space stays allocated past the end of the files, as when a
  // client dies before it closes them; fsck does not mind.
  if (!s.ok()) {
    LOG(WARNING) << "giving back unwritten space of " << batch.size()
                 << " files: " << s.ToString();
  }
  std::lock_guard l(mu_);
  for (const meta::FileTrim& t : batch) {
    auto it = in_flight_.find(t.ino());
    if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  }
  landed_.notify_all();
}

void TrimQueue::Flush() {
  for (;;) {
    std::vector<meta::FileTrim> batch;
    {
      std::lock_guard l(mu_);
      batch = TakeDueLocked(/*all=*/true);
    }
    if (batch.empty()) return;
    Send(batch);
  }
}

size_t TrimQueue::queued() const {
  std::lock_guard l(mu_);
  return queued_.size();
}

void TrimQueue::Run() {
  std::unique_lock l(mu_);
  while (!stop_) {
    if (queued_.empty()) {
      idle_ = true;
      cv_.wait(l);
      idle_ = false;
      continue;
    }
    std::vector<meta::FileTrim> batch = TakeDueLocked(/*all=*/false);
    if (batch.empty()) {
      cv_.wait_for(l, delay_);
      continue;
    }
    l.unlock();
    Send(batch);
    l.lock();
  }
}

}  // namespace scalefs
