// What this client knows about an inode it has open: the cached extent map,
// the blocks it wrote but has not committed to meta yet, and the size those
// writes imply. Shared by all handles of the inode on this client.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "fsd/io_plan.h"
#include "fsd/meta_client.h"
#include "fsd/pair_client.h"
#include "fsd/range_set.h"

namespace scalefs {

// Uncommitted data beyond this is committed while writing, so a client crash
// loses little and meta's size does not lag far behind.
inline constexpr uint64_t kCommitThreshold = 64 << 20;

class OpenFile {
 public:
  OpenFile(uint64_t ino, MetaClient* meta, ChunkPool* pool);

  uint64_t ino() const { return ino_; }

  // Close-to-open: forget the cached extent map, take meta's current attr.
  // `extents` (meta's map of [0, window) with the attr, fetched when the
  // allocation epoch was `epoch`) seeds the cache unless this client changed
  // allocations since.
  void Refresh(const meta::Attr& attr, const meta::ExtentsReply* extents = nullptr,
               uint64_t window = 0, uint64_t epoch = 0);
  // Fills `out` with the bytes of [offset, offset+size) clipped to the size.
  Status Read(uint64_t offset, uint64_t size, std::string* out);
  // Data reaches both members of its pair before this returns; meta learns
  // about it at the next Commit.
  Status Write(uint64_t offset, std::string_view data);
  // Tells meta about the blocks written since the last commit; with `trim`
  // also gives back the space allocated ahead and not written (close).
  Status Commit(bool trim = false);
  // Commit, after making the touched pairs durable (fdatasync on both members).
  Status Sync();
  // SetAttr with set_size (and whatever else `req` sets), after committing and
  // zeroing the tail of the new last block.
  Result<meta::AttrReply> Truncate(const meta::SetAttrRequest& req);
  Result<meta::AttrReply> Fallocate(uint64_t offset, uint64_t length, bool keep_size);
  // Meta's attr corrected by what this client wrote and did not commit.
  void AdjustAttr(meta::Attr* attr);

 private:
  Status CommitLocked(bool trim = false);
  bool BlockWrittenLocked(uint64_t block, const ExtentRecord& ext) const;
  void InsertExtents(const meta::ExtentsReply& rep, uint64_t offset, uint64_t length);

  const uint64_t ino_;
  MetaClient* const meta_;
  ChunkPool* const pool_;

  // Writers, truncate and commit hold it exclusively, readers shared.
  std::shared_mutex io_mu_;
  // Guards the fields below for short sections (readers fill the cache).
  mutable std::mutex mu_;
  ExtentCache cache_;
  RangeSet local_written_;   // blocks this client wrote (committed or not)
  RangeSet pending_;         // blocks written and not committed
  std::set<uint32_t> touched_pairs_;  // written to since the last Sync
  RangeSet ahead_;           // allocated ahead of a sequential writer, not written yet
  uint64_t meta_size_ = 0;
  uint64_t local_size_ = 0;  // end of the uncommitted writes, 0 if none
  int64_t last_write_ns_ = 0;
};

// Bumped after every allocation change this client makes (Allocate,
// truncate, trim), so an extent map fetched before one is not cached.
uint64_t AllocationEpoch();

// How much a sequential writer allocates beyond its write at most.
inline constexpr uint64_t kMaxAllocateAhead = 16 << 20;
// A map of this much of a file comes with open.
inline constexpr uint64_t kOpenExtentWindow = 16 << 20;

// The OpenFile of each inode this client has open, with a count of handles.
class OpenFileTable {
 public:
  OpenFileTable(MetaClient* meta, ChunkPool* pool) : meta_(meta), pool_(pool) {}
  // One more handle on `attr.ino`; refreshes an existing state (close-to-open).
  std::shared_ptr<OpenFile> Acquire(const meta::Attr& attr,
                                    const meta::ExtentsReply* extents = nullptr,
                                    uint64_t window = 0, uint64_t epoch = 0);
  // One handle less; the state goes away with the last one.
  void Release(uint64_t ino);
  // The state of an inode with open handles, or null.
  std::shared_ptr<OpenFile> Find(uint64_t ino);

 private:
  MetaClient* const meta_;
  ChunkPool* const pool_;
  std::mutex mu_;
  std::map<uint64_t, std::pair<std::shared_ptr<OpenFile>, int>> files_;
};

// Zeroes the bytes of the block holding `size` from `size` on, when that
// block is written, so a later extension reads zeros there.
Status ZeroTailBlock(MetaClient* meta, ChunkPool* pool, uint64_t ino, uint64_t size);

std::vector<ExtentRecord> ToRecords(const meta::ExtentsReply& rep);
int64_t NowNs();

}  // namespace scalefs
