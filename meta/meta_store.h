// The namespace, extent maps and pair registry of scalefs over RocksDB.
// Every mutation is one WriteBatch, so a crash never leaves half an
// operation; one mutex serializes mutations, reads go straight to RocksDB,
// whose batches are atomic to readers. The batches are synced by group
// commit (WalSyncer): no call returns before what it changed or saw is
// durable.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "common/status.h"
#include "meta/chunk_prober.h"
#include "meta/space_allocator.h"
#include "meta/wal_syncer.h"
#include "proto/meta.pb.h"

namespace scalefs::meta {

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
  // Opens (creating if needed) the DB at `path`; creates the root directory
  // on first open. Fails when another process holds the DB.
  static Result<std::unique_ptr<MetaStore>> Open(const std::string& path,
                                                 ChunkProber prober = ChunkProber());
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  Result<InodeRecord> Lookup(uint64_t parent, const std::string& name);
  Result<InodeRecord> GetAttr(uint64_t ino);
  Result<InodeRecord> SetAttr(const SetAttrRequest& req);
  // `parent_out`, when given, receives the parent directory's attr after it.
  // `prealloc_out` receives the extents of req.preallocate, if any were made.
  Result<InodeRecord> MakeNode(const MakeNodeRequest& req, Attr* parent_out = nullptr,
                               std::vector<Extent>* prealloc_out = nullptr);
  Result<InodeRecord> Link(uint64_t ino, uint64_t new_parent, const std::string& new_name);
  // `parent_out`, when given, receives the parent directory's attr after it.
  Status Unlink(uint64_t parent, const std::string& name, bool directory,
                Attr* parent_out = nullptr);
  Status Rename(const RenameRequest& req);
  Result<std::string> ReadLink(uint64_t ino);
  // Regular files of 1 to extents_max_size bytes come with their extent maps.
  Result<DirPage> ReadDir(uint64_t ino, const std::string& after, uint32_t limit,
                          uint64_t extents_max_size = 0);

  // The ACL xattrs (meta/posix_acl.h) are checked and keep the mode in step
  // in the same batch; `acl_kill_sgid` as in SetXattrRequest.
  Status SetXattr(uint64_t ino, const std::string& name, const std::string& value,
                  uint32_t flags, bool acl_kill_sgid = false);
  Result<std::string> GetXattr(uint64_t ino, const std::string& name);
  Result<std::vector<std::string>> ListXattr(uint64_t ino);
  Status RemoveXattr(uint64_t ino, const std::string& name);
  StatFsReply StatFs();

  // Extents covering [offset, offset+length), allocating the holes as
  // unwritten extents (one stripe unit never spans two records).
  Result<ExtentList> Allocate(uint64_t ino, uint64_t offset, uint64_t length, bool set_size);
  Result<ExtentList> GetExtents(uint64_t ino, uint64_t offset, uint64_t length);
  // The data of `written` reached both members: those blocks read back what
  // was written from now on. Ranges are rounded out to whole blocks, so the
  // client must have written whole blocks (zero-filled) into unwritten ones.
  // Then frees the unwritten extents inside `trim` that lie at or past the
  // end of file (space the client allocated ahead and did not use).
  // Gives back unwritten space past the end of each file (TrimRequest), in
  // one change that does not wait for its sync.
  Status Trim(const std::vector<FileTrim>& files);
  // `trim` applies only if the file's alloc_gen is `trim_gen`.
  Result<InodeRecord> Commit(uint64_t ino, const std::vector<ByteRange>& written,
                             uint64_t new_size, int64_t mtime_ns,
                             const std::vector<ByteRange>& trim = {}, uint64_t trim_gen = 0);

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

  FsckReply Fsck();

  rocksdb::DB* db() { return db_.get(); }
  // How many log syncs group commit made (each covers one or more mutations).
  uint64_t wal_syncs() const { return wal_.syncs(); }

 private:
  class Txn;
  class MutationLock;
  class DurableRead;
  explicit MetaStore(std::unique_ptr<rocksdb::DB> db, ChunkProber prober);
  Status Init();
  Status ApplyLocked(Txn* txn);
  Layout NewFileLayout(uint64_t ino) const;
  // Allocates the holes of [start, end) (block-aligned) in `cur`, a file's
  // extent map loaded over that range, as unwritten extents; the space
  // changes go into txn's batch. Returns the bytes allocated.
  // Frees the unwritten extents of `ino` in `ranges` at or past its end of
  // file, in `cur` (loaded into orig/cur as needed) and in free space.
  Status FreeUnwrittenPastEof(Txn* txn, uint64_t ino, InodeRecord* rec,
                              const std::vector<ByteRange>& ranges,
                              std::map<uint64_t, Extent>* orig, std::map<uint64_t, Extent>* cur);
  // FreeUnwrittenPastEof for one FileTrim, written into txn; a file that is
  // gone, not regular, or at another alloc_gen is skipped.
  Status GiveBackLocked(Txn* txn, const FileTrim& t);
  Result<uint64_t> AllocateHoles(Txn* txn, const Layout& layout, uint64_t start, uint64_t end,
                                 std::map<uint64_t, Extent>* cur);
  // Drops one link of `ino` (a dentry went away); deletes it at zero.
  Status DropLink(Txn* txn, uint64_t ino);
  Status CheckNotAncestor(Txn* txn, uint64_t dir, uint64_t start);

  std::unique_ptr<rocksdb::DB> db_;
  WalSyncer wal_;
  ChunkProber prober_;
  std::mutex mu_;        // serializes mutations and guards the members below
  std::mutex pair_mu_;   // one PairAdd at a time (it talks to chunk servers unlocked)
  SpaceAllocator space_;
  std::map<uint32_t, Pair> pairs_;
  uint64_t next_ino_ = 2;
  uint32_t next_pair_ = 1;
  uint64_t inode_count_ = 0;
  std::string listen_address_;
};

}  // namespace scalefs::meta
