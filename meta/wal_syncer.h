// Group commit of meta's RocksDB write-ahead log. A mutation writes its
// batch unsynced under the store's mutex, releases the mutex, and then waits
// here until the log is synced through its write: concurrent mutations share
// one fdatasync instead of queueing one each behind the mutex. Reads wait
// the same way when a write is pending, so no reply ever reports a change
// (or anything that depends on one) before it is durable. RocksDB documents
// Write without sync followed by SyncWAL as durable; the difference to a
// synced Write is only that others may see the change before the sync.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include <rocksdb/db.h>

namespace scalefs::meta {

class WalSyncer {
 public:
  explicit WalSyncer(rocksdb::DB* db) : db_(db) {}

  // A batch up to sequence number `seq` was written (unsynced).
  void Written(uint64_t seq);
  // Returns once the log is synced through every write made before the
  // call; one caller syncs for all that wait meanwhile. A failed sync stops
  // the process: the changes are visible already and cannot be taken back.
  void WaitDurable();

  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

 private:
  rocksdb::DB* const db_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> synced_{0};
  std::atomic<uint64_t> syncs_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool syncing_ = false;
};

}  // namespace scalefs::meta
