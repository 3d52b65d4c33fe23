// The member's persistent record of 1 MiB regions whose replicas may differ,
// after DRBD's activity log and sync bitmap. Kept in a small file beside the
// state file (<state>.bitmap): a header, then the activity-log bits, then the
// out-of-sync bits, one bit per region, LSB first.
//
// - Activity log: a region is marked before any write to it is applied, and
//   the bit is on disk (fdatasync) before the write goes ahead. Setting a bit
//   that is already set costs nothing, so a busy region costs one sync. Bits
//   are cleared lazily, after the device was synced while the region was idle
//   (ClearIdle, by the monitor about every second). After a crash the marked regions are the only ones that can
//   differ from the peer.
// - Out of sync: regions this member wrote while its peer did not get the
//   writes (writing alone with meta's grant). Also persisted before the write.
// On open, the activity log of the previous run is folded into out-of-sync.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace scalefs {

class DirtyMap {
 public:
  static constexpr uint64_t kRegionSize = 1 << 20;
  // Regions the activity log marks together (16 MiB).
  static constexpr uint64_t kActivityGroup = 16;

  // Opens or creates the map for a device of `regions` regions. A map made
  // for a different region count is refused (the device changed size).
  static Result<std::unique_ptr<DirtyMap>> Open(const std::string& path, uint64_t regions);
  ~DirtyMap();
  DirtyMap(const DirtyMap&) = delete;
  DirtyMap& operator=(const DirtyMap&) = delete;

  uint64_t regions() const { return regions_; }

  // A write to regions [first, last] starts: marks them in the activity log
  // (durably) and counts it in flight. Pair with EndWrite.
  Status BeginWrite(uint64_t first, uint64_t last);
  void EndWrite(uint64_t first, uint64_t last);
  // Call before syncing the device; after the sync, ClearIdle(epoch) drops
  // the activity-log bits of regions with no write since that point.
  uint64_t StartSyncEpoch();
  Status ClearIdle(uint64_t epoch);

  Status MarkOutOfSync(uint64_t region);
  // Lazily persisted: a bit that survives a crash only costs a resync.
  void ClearOutOfSync(uint64_t region);
  void SetAllOutOfSync();
  // Marks every region whose bit is set in `bits` (the SyncStateReply format).
  Status MergeOutOfSync(const std::string& bits);
  // Out-of-sync plus activity log, as packed bits.
  std::string DirtyBits() const;
  std::vector<uint64_t> OutOfSyncRegions() const;
  uint64_t OutOfSyncCount() const;
  // Drops all out-of-sync bits and persists (a completed resync of this member).
  Status ClearAllOutOfSync();
  bool IsOutOfSync(uint64_t region) const;
  // Writes the lazily changed bits and syncs the file.
  Status Persist();

 private:
  DirtyMap(std::string path, int fd, uint64_t regions);
  // pwrite of the byte holding bit `region` of the table at `table_offset`.
  Status WriteByte(uint64_t table_offset, uint64_t region, bool sync);

  const std::string path_;
  const int fd_;
  const uint64_t regions_;
  mutable std::mutex mu_;
  std::vector<uint8_t> al_, oos_;          // packed bits, guarded by mu_
  std::vector<uint32_t> in_flight_;        // writes running per region
  std::vector<uint64_t> last_write_epoch_; // epoch of the last write per region
  uint64_t epoch_ = 1;
  bool dirty_ = false;                     // in-memory bits not yet on disk
};

}  // namespace scalefs
