// Free space of every pair, kept in memory for fast allocation and mirrored
// into the caller's WriteBatch so the DB changes atomically with the extent
// records that use (or release) the space.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"

namespace scalefs::meta {

class SpaceAllocator {
 public:
  struct Run {
    uint64_t dev_offset;
    uint64_t length;
  };
  static constexpr uint64_t kNoHint = ~uint64_t{0};

  // Replaces the in-memory state with the free ranges stored in `db`.
  // Also the way to undo changes whose batch was never written.
  Status Load(rocksdb::DB* db);

  // A new pair: all of [0, capacity) is free.
  void AddPair(uint32_t pair, uint64_t capacity, rocksdb::WriteBatch* batch);

  // `bytes` (a multiple of 4 KiB) on `pair`, as few runs as it can: first
  // from `hint` on (to extend the file's previous extent contiguously), then
  // the first free range big enough, then the lowest ranges. ENOSPC with
  // nothing changed when the pair has less free space.
  Result<std::vector<Run>> Allocate(uint32_t pair, uint64_t bytes, uint64_t hint,
                                    rocksdb::WriteBatch* batch);

  // Returns [dev_offset, dev_offset+length) to the pair, merging neighbours.
  void Free(uint32_t pair, uint64_t dev_offset, uint64_t length, rocksdb::WriteBatch* batch);

  uint64_t FreeBytes(uint32_t pair) const;
  // A draining pair (scalefs pair drain) takes no new allocation: Allocate
  // refuses it with ENOSPC and Allocatable says 0, so placement spills to
  // the other pairs; its free space still counts in FreeBytes (and df).
  void SetDraining(uint32_t pair, bool draining);
  bool Draining(uint32_t pair) const { return draining_.count(pair) != 0; }
  // What Allocate may take from `pair`: 0 for a draining or unknown pair.
  uint64_t Allocatable(uint32_t pair) const;
  // Forgets an empty pair (all of its capacity free), deleting its free
  // ranges in `batch` (scalefs pair remove).
  void RemovePair(uint32_t pair, rocksdb::WriteBatch* batch);
  // The free ranges of a pair, for tests and the checker's reports.
  std::vector<Run> FreeRanges(uint32_t pair) const;

 private:
  struct PairSpace {
    std::map<uint64_t, uint64_t> ranges;  // dev_offset -> length
    uint64_t free = 0;
  };
  // Takes [off, off+len) out of the free range that starts at `it`.
  void Take(uint32_t pair, PairSpace* ps, std::map<uint64_t, uint64_t>::iterator it,
            uint64_t off, uint64_t len, rocksdb::WriteBatch* batch);

  std::map<uint32_t, PairSpace> pairs_;
  std::set<uint32_t> draining_;  // in memory: the pair records say it
};

}  // namespace scalefs::meta
