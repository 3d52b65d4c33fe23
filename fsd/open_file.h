// What this client knows about an inode it has open: the cached extent map,
// the blocks it wrote but has not committed to meta yet, and the size those
// writes imply. Shared by all handles of the inode on this client.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/worker_pool.h"
#include "fsd/io_plan.h"
#include "fsd/meta_client.h"
#include "fsd/pair_client.h"
#include "fsd/range_set.h"
#include "fsd/release_queue.h"

namespace scalefs {

// Uncommitted data beyond this is committed while writing, so a client crash
// loses little and meta's size does not lag far behind.
inline constexpr uint64_t kCommitThreshold = 64 << 20;
// Buffered writes of one file in flight at most (write-behind, see Write).
inline constexpr uint64_t kWriteBehindBytes = 8 << 20;

// What this client had changed of a file's map when a map was fetched: its
// allocation changes (all files) and the file's commits.
struct MapStamp {
  uint64_t allocations = 0;
  uint64_t commits = 0;
  bool operator==(const MapStamp&) const = default;
};

class OpenFile : public std::enable_shared_from_this<OpenFile> {
 public:
  // `behind` runs the write-behind transfers; null writes everything through.
  OpenFile(uint64_t ino, MetaClient* meta, ChunkPool* pool, WorkerPool* behind = nullptr);

  uint64_t ino() const { return ino_; }

  MapStamp Stamp() const;
  // Close-to-open: forget the cached extent map, take meta's current attr.
  // `extents` (meta's map of [0, window) with the attr, fetched at `stamp`)
  // seeds the cache unless this client changed the map since.
  void Refresh(const meta::Attr& attr, const meta::ExtentsReply* extents = nullptr,
               uint64_t window = 0, MapStamp stamp = {});
  // Fills `out` with the bytes of [offset, offset+size) clipped to the size.
  Status Read(uint64_t offset, uint64_t size, std::string* out);
  // With `through`, the data is on both members of its pair when this
  // returns. Otherwise (buffered I/O) this returns once a copy of the data is
  // queued, as GlusterFS's write-behind does: the transfer runs in the
  // background, at most kWriteBehindBytes per file, in order with every
  // overlapping write and read. A transfer that fails is reported by the
  // next Write or Commit, and its blocks are never committed. Meta learns
  // about the data at the next Commit, which waits for every transfer.
  Status Write(uint64_t offset, std::string_view data, bool through = true);
  // What a commit does with the space allocated ahead and not written.
  enum class Trim {
    kKeep,        // keeps it for later writes
    kWithWrites,  // gives it back if there are writes to commit anyway (close);
                  // otherwise the last handle's release queues it (ReleaseQueue)
  };
  // Tells meta about the blocks written since the last commit, and trims.
  Status Commit(Trim trim = Trim::kKeep);
  // The space meta allocated with this file's create (MakeNode preallocate):
  // the first writes use it without an Allocate call; what they leave is
  // given back by the trimming commit at close.
  void Preallocated(const meta::AttrReply& created);
  // Space allocated ahead and not written: taken out when the last handle
  // goes (for the ReleaseQueue), put back when the file is opened again first.
  // Nothing, once another client's allocation may have taken it over.
  AheadSpace TakeAhead();
  void AddAhead(const AheadSpace& space);
  // Commit, after making the touched pairs durable (fdatasync on both members).
  Status Sync();
  // SetAttr with set_size (and whatever else `req` sets), after committing and
  // zeroing the tail of the new last block.
  Result<meta::AttrReply> Truncate(const meta::SetAttrRequest& req);
  Result<meta::AttrReply> Fallocate(uint64_t offset, uint64_t length, bool keep_size);
  // Counts the writes, truncates and fallocates this client started on the
  // inode: bytes read before a change are stale once it moved.
  uint64_t changes() const { return changes_.load(std::memory_order_acquire); }
  // Meta's attr corrected by what this client wrote and did not commit, and
  // by a newer size this client knows of (its own commit's).
  void AdjustAttr(meta::Attr* attr);

 private:
  Status CommitLocked(Trim trim = Trim::kKeep);
  // Blocks until no write-behind transfer overlaps [begin, end).
  void WaitBehind(uint64_t begin, uint64_t end);
  // Waits for every transfer; the first failure since the last call, with
  // the failed blocks dropped from what this client claims it wrote.
  Status DrainBehind();
  // Starts the transfer of `pieces`, registered in behind_ at `begin`;
  // EndBehind closes it. The bytes the pieces view are copied before it
  // returns.
  void RunBehind(uint64_t begin, const std::vector<WritePiece>& pieces);
  void EndBehind(uint64_t begin, const Status& s);
  bool BlockWrittenLocked(uint64_t block, const ExtentRecord& ext) const;
  // After an Allocate: caches its extents and notes its alloc_gen.
  void InsertExtents(const meta::ExtentsReply& rep, uint64_t offset, uint64_t length);
  // False when [offset, offset+length) has unwritten space at or past the
  // end of file that this client neither allocated ahead nor wrote: another
  // client may have allocated it ahead and trim it at its close, so an
  // Allocate call must take it over first.
  bool OwnsUnwrittenTailLocked(uint64_t offset, uint64_t length) const;

  const uint64_t ino_;
  std::atomic<uint64_t> changes_{0};
  MetaClient* const meta_;
  ChunkPool* const pool_;
  WorkerPool* const behind_pool_;

  // Writers, truncate and commit hold it exclusively, readers shared.
  std::shared_mutex io_mu_;
  // Guards the fields below for short sections (readers fill the cache).
  mutable std::mutex mu_;
  // Meta's map as far as fetched, with this client's commits applied as
  // meta applies them; with pending_ it says which blocks hold data. (A set
  // of every block this client ever wrote kept naming blocks another
  // client's truncate had freed: a new block there was not zero padded and
  // showed what the space held before.)
  ExtentCache cache_;
  RangeSet pending_;         // blocks written and not committed
  std::atomic<uint64_t> commits_{0};  // commits that marked blocks written
  std::set<uint32_t> touched_pairs_;  // written to since the last Sync
  RangeSet ahead_;           // allocated ahead of a sequential writer, not written yet
  // The file's alloc_gen after this client's last allocation change (0: none
  // since ahead_ was last emptied); shared once an allocation change of
  // another client came between two of ours: ahead_ is then never trimmed.
  uint64_t alloc_gen_ = 0;
  bool alloc_shared_ = false;
  // Meta's size as of the newest attr seen (by ctime, which every change
  // sets): an answer meta gave before this client's own commit landed may
  // arrive after it, and must not take the committed bytes away.
  uint64_t meta_size_ = 0;
  int64_t meta_ctime_ = 0;
  // Takes meta's size from `attr` unless an attr seen before is newer.
  void TakeMetaSizeLocked(const meta::Attr& attr);
  uint64_t local_size_ = 0;  // end of the uncommitted writes, 0 if none
  int64_t last_write_ns_ = 0;

  // True when a transfer in flight overlaps [begin, end); behind_mu_ held.
  bool BehindOverlapsLocked(uint64_t begin, uint64_t end) const;

  // Write-behind transfers in flight: block-aligned begin -> end. They never
  // overlap each other: an overlapping write waits before it is queued.
  std::mutex behind_mu_;
  std::condition_variable behind_cv_;
  std::map<uint64_t, uint64_t> behind_;
  uint64_t behind_bytes_ = 0;
  Status behind_error_;    // first failure not reported yet
  RangeSet behind_failed_;  // blocks of failed transfers
};

// Bumped after every allocation change this client makes (Allocate,
// truncate, trim), so an extent map fetched before one is not cached.
uint64_t AllocationEpoch();

// How much space a create for writing asks meta for along with the inode:
// one read block, so a small file's write needs no Allocate call.
inline constexpr uint64_t kCreatePreallocate = 64 << 10;
// How much a sequential writer allocates beyond its write at most.
inline constexpr uint64_t kMaxAllocateAhead = 16 << 20;
// A map of this much of a file comes with open.
inline constexpr uint64_t kOpenExtentWindow = 16 << 20;

// The OpenFile of each inode this client has open, with a count of handles.
class OpenFileTable {
 public:
  OpenFileTable(MetaClient* meta, ChunkPool* pool)
      : meta_(meta), pool_(pool), behind_(32),
        trims_([meta](meta::ReleaseRequest r) {
          r.set_session(meta->calls() != nullptr ? meta->calls()->session() : 0);
          return meta->Release(r);
        }, ReleaseQueue::kDefaultDelay, ReleaseQueue::kDefaultCloseDelay,
        meta != nullptr ? &meta->holdings_gate() : nullptr) {}
  // One more handle on `ino`, taken before its open asks meta: a release of
  // the last other handle then cannot end this client's open at meta after
  // the new open began (the caller refreshes the state with what its open
  // fetched: OpenFile::Refresh).
  std::shared_ptr<OpenFile> Acquire(uint64_t ino);
  // One handle less; the state goes away with the last one, and the file
  // goes to trims() (its open at meta ends, and the space it allocated ahead
  // and did not write goes back).
  void Release(uint64_t ino);
  // The inodes this client holds open at meta: with handles, or with a
  // release not sent yet.
  std::vector<uint64_t> OpenInodes();
  // Sends the queued releases now and waits until meta has them (at
  // unmount, before a name goes, and before an ENOSPC is believed); false
  // if nothing was queued.
  bool FlushReleases() { return trims_.Flush(); }
  // Closed files whose release waits in the queue.
  size_t QueuedReleases() const { return trims_.queued(); }
  // The state of an inode with open handles, or null.
  std::shared_ptr<OpenFile> Find(uint64_t ino);

 private:
  MetaClient* const meta_;
  ChunkPool* const pool_;
  WorkerPool behind_;  // write-behind transfers of every open file
  std::mutex mu_;
  std::map<uint64_t, std::pair<std::shared_ptr<OpenFile>, int>> files_;
  ReleaseQueue trims_;  // last: its destructor sends what is left through meta_
};

// Zeroes the bytes of the block holding `size` from `size` on, when that
// block is written, so a later extension reads zeros there.
Status ZeroTailBlock(MetaClient* meta, ChunkPool* pool, uint64_t ino, uint64_t size);

std::vector<ExtentRecord> ToRecords(const meta::ExtentsReply& rep);
int64_t NowNs();

}  // namespace scalefs
