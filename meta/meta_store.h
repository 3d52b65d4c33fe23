// The namespace, extent maps and pair registry of scalefs over RocksDB, as a
// set of operations (after 3FS's meta server): each mutation is one function
// that reads and changes records in a Txn (meta/txn.h), and one driver,
// Mutate, runs it: under the mutation mutex, as one WriteBatch (a crash never
// leaves half an operation), with the reply of a session's call stored in
// the same batch (a retried call is answered with it, never done twice),
// synced by group commit (WalSyncer) before anyone hears of it. Reads go
// straight to RocksDB, whose batches are atomic to readers, and wait for a
// pending sync of what they saw.
//
// The operations live by concern: namespace_ops.cc (names, links, orphans),
// attr_ops.cc (attributes, truncate, xattrs), extent_ops.cc (allocation,
// commit, release), pair_ops.cc (the pair registry); this file has the
// driver. Files unlinked while some session holds them open are kept as
// orphans until the last close (SessionTable knows the opens).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "common/status.h"
#include "meta/chunk_prober.h"
#include "meta/session_table.h"
#include "meta/store_records.h"
#include "meta/space_allocator.h"
#include "meta/wal_syncer.h"
#include "proto/meta.pb.h"

namespace scalefs::meta {

class Txn;

struct ExtentList {
  std::vector<Extent> extents;  // sorted by file_offset, unclipped
  Attr attr;
};

struct DirPage {
  std::vector<DirEntry> entries;
  bool more = false;
};

class MetaStore {
 public:
  static constexpr std::chrono::milliseconds kDefaultLease{30000};

  // Opens (creating if needed) the DB at `path`; creates the root directory
  // on first open. Fails when another process holds the DB. `lease`: how
  // long a session lives without renewal.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path,
                                                 ChunkProber prober = ChunkProber(),
                                                 std::chrono::milliseconds lease = kDefaultLease);
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // ---- reads ----
  Result<InodeRecord> Lookup(uint64_t parent, const std::string& name);
  Result<InodeRecord> GetAttr(uint64_t ino);
  Result<std::string> ReadLink(uint64_t ino);
  // Regular files of 1 to extents_max_size bytes come with their extent maps.
  Result<DirPage> ReadDir(uint64_t ino, const std::string& after, uint32_t limit,
                          uint64_t extents_max_size = 0);
  Result<std::string> GetXattr(uint64_t ino, const std::string& name);
  // The virtual xattr scalefs.layout (meta/layout_ops.cc).
  Result<std::string> LayoutXattr(uint64_t ino);
  Result<std::vector<std::string>> ListXattr(uint64_t ino);
  StatFsReply StatFs();
  Result<ExtentList> GetExtents(uint64_t ino, uint64_t offset, uint64_t length);

  // ---- mutations: one batch each, replayed by (session, seq) ----
  Status SetAttr(const SetAttrRequest& req, AttrReply* reply);
  // reply: the new inode, the parent after the change, the preallocated space.
  Status MakeNode(const MakeNodeRequest& req, AttrReply* reply);
  Status Link(const LinkRequest& req, AttrReply* reply);
  // reply: the parent after the change. The last link of a file a session
  // holds open (or any, while a restarted meta waits for reclaims) leaves
  // the inode as an orphan: readable and writable through its handles until
  // the last close.
  Status Unlink(const UnlinkRequest& req, AttrReply* reply);
  Status Rename(const RenameRequest& req, Empty* reply);
  Status SetXattr(const SetXattrRequest& req, Empty* reply);
  Status RemoveXattr(const XattrRequest& req, Empty* reply);
  // Extents covering [offset, offset+length), allocating the holes as
  // unwritten extents (one stripe unit never spans two records).
  Status Allocate(const AllocateRequest& req, ExtentsReply* reply);
  // The data of `written` reached both members: those blocks read back what
  // was written from now on. Ranges are rounded out to whole blocks, so the
  // client must have written whole blocks (zero-filled) into unwritten ones.
  // Then frees the unwritten extents inside `trim` that lie at or past the
  // end of file (space the client allocated ahead and did not use), if the
  // file's alloc_gen is still req.alloc_gen().
  Status Commit(const CommitRequest& req, AttrReply* reply);
  // Files whose last handle on a client closed (ReleaseRequest): the
  // session's opens end, orphans nobody holds open any more are deleted,
  // and unwritten space past each end goes back; in one change that does
  // not wait for its sync.
  Status Release(const ReleaseRequest& req);
  // Deletes the orphans among `inos` (every orphan when `all`) that no
  // session holds open: their last session ended, or the grace period after
  // a restart did. Not synced on its own either.
  Status CollectOrphans(const std::vector<uint64_t>& inos, bool all = false);
  size_t orphan_count();

  // ---- the pair registry ----
  // Probes both members, joins them into a new pair and makes its space free.
  Result<Pair> PairAdd(const std::string& name, const std::string& address_a,
                       const std::string& address_b);
  std::vector<Pair> PairList();
  // Runs `change` on pair `id` under the mutation lock; when it returns true
  // the changed record is written in one synced batch. Returns the pair as
  // it is afterwards (for PairAuthority's grants).
  Result<Pair> UpdatePair(uint32_t id, const std::function<bool(Pair*)>& change);
  // Meta's own address, handed to members at join so they can ask for grants.
  void set_listen_address(std::string address) { listen_address_ = std::move(address); }

  // Marks pair `name` draining: no new allocation there, layouts naming it
  // refused; a rebalance then moves its extents off (pair_ops.cc).
  Result<Pair> PairDrain(const std::string& name);
  // Forgets an empty pair; Busy while it holds any block (pair_ops.cc).
  Status PairRemove(const std::string& name);

  // ---- moves of extents between pairs (rebalance_ops.cc, protocol there) ----
  Status MoveBegin(const MoveBeginRequest& req, MoveBeginReply* reply);
  Status MoveCommit(const MoveCommitRequest& req, MoveCommitReply* reply);
  // Abandons the moves of `inos` (every move when `all`): their target
  // space is freed kMoveQuarantine later.
  Status AbandonMoves(const std::vector<uint64_t>& inos, bool all);
  // Frees the target space of moves abandoned long enough ago (the session
  // keeper's clock calls it every second).
  Status ReapMoves();
  size_t move_count();
  // The progress a mover reports (answered with stop_requested when
  // RequestStop was called); Busy when another mover reported recently.
  Result<RebalanceProgress> ReportProgress(const RebalanceProgress& p);
  RebalanceProgress Progress();
  void RequestStop();

  FsckReply Fsck();

  SessionTable& sessions() { return sessions_; }
  rocksdb::DB* db() { return db_.get(); }
  // How many log syncs group commit made (each covers one or more mutations).
  uint64_t wal_syncs() const { return wal_.syncs(); }

 private:
  class MutationLock;
  class DurableRead;
  MetaStore(std::unique_ptr<rocksdb::DB> db, ChunkProber prober, std::chrono::milliseconds lease);
  Status Init();
  Status ApplyLocked(Txn* txn);
  // Undoes the in-memory side of a mutation that failed before its write.
  Status AbandonLocked(const Txn& txn, Status s);
  // The driver of every mutation: a call numbered by a known session that
  // was answered before gets its stored reply; otherwise `op(txn)` runs and
  // fills `reply`, which goes into the same batch as the change.
  template <typename Reply, typename Op>
  Status Mutate(const CallId& call, Reply* reply, Op&& op);

  // The operations, each filling its reply from inside the Txn.
  Status DoSetAttr(Txn* txn, const SetAttrRequest& req, AttrReply* reply);
  Status DoMakeNode(Txn* txn, const MakeNodeRequest& req, AttrReply* reply);
  Status DoLink(Txn* txn, const LinkRequest& req, AttrReply* reply);
  Status DoUnlink(Txn* txn, const UnlinkRequest& req, AttrReply* reply);
  Status DoRename(Txn* txn, const RenameRequest& req);
  Status DoSetXattr(Txn* txn, const SetXattrRequest& req);
  Status DoRemoveXattr(Txn* txn, const XattrRequest& req);
  Status DoAllocate(Txn* txn, const AllocateRequest& req, ExtentsReply* reply);
  Status DoCommit(Txn* txn, const CommitRequest& req, AttrReply* reply);

  // Layouts (layout_ops.cc): a new file's from its directory's default
  // (empty: every pair); the scalefs.layout text; a directory's default set
  // from that text (EINVAL for what a filesystem cannot lay out).
  Layout NewFileLayout(uint64_t ino, const Layout& dir) const;
  std::string LayoutTextLocked(const InodeRecord& rec) const;
  Status SetDirLayoutLocked(InodeRecord* dir, const std::string& text);
  // Frees the unwritten extents of `ino` in `ranges` at or past its end of
  // file, in `cur` (loaded into orig/cur as needed) and in free space.
  Status FreeUnwrittenPastEof(Txn* txn, uint64_t ino, InodeRecord* rec,
                              const std::vector<ByteRange>& ranges, ExtentMap* orig,
                              ExtentMap* cur);
  // FreeUnwrittenPastEof for one FileRelease, written into txn; a file that
  // is gone, not regular, or at another alloc_gen is skipped.
  Status GiveBackLocked(Txn* txn, const FileRelease& t);
  // Space for `bytes` of a stripe unit the layout puts on `pair`: there if it
  // has room, else on the pairs that have (see the comment inside). Takes the
  // space in txn's batch.
  struct PlacedRun {
    uint32_t pair;
    uint64_t dev_offset;
    uint64_t length;
  };
  Result<std::vector<PlacedRun>> PlaceLocked(Txn* txn, uint32_t pair, uint64_t bytes,
                                             uint64_t hint);
  // Allocates the holes of [start, end) (block-aligned) in `cur`, a file's
  // extent map loaded over that range, as unwritten extents; the space
  // changes go into txn's batch. Returns the bytes allocated.
  Result<uint64_t> AllocateHoles(Txn* txn, const Layout& layout, uint64_t start, uint64_t end,
                                 ExtentMap* cur);
  // Drops one link of `ino` (a dentry went away): at zero the inode is
  // deleted, or kept as an orphan while a session may hold it open.
  Status DropLink(Txn* txn, uint64_t ino);
  // Deletes the inode with its xattrs and extents, freeing their space.
  Status DeleteInode(Txn* txn, uint64_t ino);
  Status CheckNotAncestor(Txn* txn, uint64_t dir, uint64_t start);
  // Marks a move abandoned in txn (its space freed later, see ReapMoves).
  void RetireMoveLocked(Txn* txn, uint64_t ino, const std::string& why);
  Result<uint32_t> PairIdLocked(const std::string& name) const;

  std::unique_ptr<rocksdb::DB> db_;
  WalSyncer wal_;
  ChunkProber prober_;
  SessionTable sessions_;
  std::mutex mu_;        // serializes mutations and guards the members below
  std::mutex pair_mu_;   // one PairAdd at a time (it talks to chunk servers unlocked)
  SpaceAllocator space_;
  std::map<uint32_t, Pair> pairs_;
  uint64_t next_ino_ = 2;
  uint32_t next_pair_ = 1;
  uint64_t inode_count_ = 0;
  std::set<uint64_t> orphans_;            // unlinked inodes kept for their open handles
  std::map<uint64_t, uint64_t> acked_;    // session -> replies forgotten up to
  std::string listen_address_;
  std::map<uint64_t, MoveRecord> moves_;  // by ino: begun, or abandoned and not freed yet
  std::mutex progress_mu_;                // guards the three below
  RebalanceProgress progress_;
  std::chrono::steady_clock::time_point progress_at_;
  bool stop_requested_ = false;
};

}  // namespace scalefs::meta
