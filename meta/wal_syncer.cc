#include "meta/wal_syncer.h"

#include <glog/logging.h>

#include <algorithm>

namespace scalefs::meta {

void WalSyncer::Written(uint64_t seq) {
  uint64_t cur = written_.load(std::memory_order_relaxed);
  while (cur < seq && !written_.compare_exchange_weak(cur, seq, std::memory_order_release)) {
  }
}

void WalSyncer::WaitDurable() {
  const uint64_t target = written_.load(std::memory_order_acquire);
  if (synced_.load(std::memory_order_acquire) >= target) return;
  std::unique_lock l(mu_);
  while (synced_.load(std::memory_order_acquire) < target) {
    if (syncing_) {
      cv_.wait(l);
      continue;
    }
    // Lead: everything written so far is in the log file already (RocksDB
    // appends before Write returns); one sync covers it all.
    syncing_ = true;
    const uint64_t through = written_.load(std::memory_order_acquire);
    l.unlock();
    rocksdb::Status s = db_->SyncWAL();
    l.lock();
    syncing_ = false;
    if (!s.ok()) LOG(FATAL) << "syncing meta's write-ahead log failed: " << s.ToString();
    syncs_.fetch_add(1, std::memory_order_relaxed);
    synced_.store(std::max(synced_.load(std::memory_order_relaxed), through),
                  std::memory_order_release);
    cv_.notify_all();
  }
}

}  // namespace scalefs::meta
