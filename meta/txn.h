// The records one mutation of the store reads and changes with the batch
// that writes them (Txn), and the store's two ways of waiting for
// durability. Internal to the store's operations.
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/prefix_iterator.h"
#include "meta/store_records.h"

namespace scalefs::meta {

// The records one mutation reads and changes. Inodes are loaded once and
// written at the end, so an operation touching the same inode twice (rename
// within one directory) sees its own changes.
class Txn {
 public:
  explicit Txn(rocksdb::DB* db) : db_(db) {}

  Result<InodeRecord*> Inode(uint64_t ino) {
    if (deleted_.count(ino)) return Status::NotFound("no inode " + std::to_string(ino));
    auto it = inodes_.find(ino);
    if (it != inodes_.end()) return &it->second;
    Result<InodeRecord> r = ReadInode(db_, rocksdb::ReadOptions(), ino);
    if (!r.ok()) return r.status();
    return &(inodes_[ino] = std::move(r.value()));
  }
  Result<InodeRecord*> Dir(uint64_t ino) {
    Result<InodeRecord*> r = Inode(ino);
    if (r.ok() && !IsDir(**r)) return Status::NotDir(InoStr(ino) + " is not a directory");
    return r;
  }
  InodeRecord* Create(uint64_t ino) { return &inodes_[ino]; }
  void Delete(uint64_t ino) {
    inodes_.erase(ino);
    deleted_.insert(ino);
    batch.Delete(InodeKey(ino));
    inode_delta--;
  }
  // Puts every inode the operation loaded or created.
  void Finish() {
    for (const auto& [ino, rec] : inodes_) batch.Put(InodeKey(ino), rec.SerializeAsString());
    inodes_.clear();
  }

  rocksdb::WriteBatch batch;
  bool space_changed = false;
  int64_t inode_delta = 0;
  // False for a change whose loss in a crash leaves a state as good as it:
  // neither its reply nor a later read waits for its sync (the next synced
  // change covers it, the log being sequential).
  bool needs_sync = true;

 private:
  rocksdb::DB* db_;
  std::map<uint64_t, InodeRecord> inodes_;
  std::set<uint64_t> deleted_;
};

// Holds the mutation mutex; on the way out, with the mutex released, waits
// until the log is synced through every write so far (this one included).
class MetaStore::MutationLock {
 public:
  explicit MutationLock(MetaStore* store) : store_(store), lock_(store->mu_) {}
  ~MutationLock() {
    lock_.unlock();
    store_->wal_.WaitDurable();
  }

 private:
  MetaStore* const store_;
  std::unique_lock<std::mutex> lock_;
};

// A read may see a change whose sync is still pending: it answers only once
// that change is durable.
class MetaStore::DurableRead {
 public:
  explicit DurableRead(MetaStore* store) : store_(store) {}
  ~DurableRead() { store_->wal_.WaitDurable(); }

 private:
  MetaStore* const store_;
};

template <typename Reply, typename Op>
Status MetaStore::Mutate(const CallId& call, Reply* reply, Op&& op) {
  MutationLock l(this);
  // Replies are stored for sessions meta knows; a call of an expired session
  // runs as a new one.
  const bool replayed = call.session() != 0 && sessions_.Known(call.session());
  if (replayed) {
    std::string stored;
    rocksdb::Status g = db_->Get(rocksdb::ReadOptions(), ReplyKey(call.session(), call.seq()),
                                 &stored);
    if (g.ok()) {
      // Asked again (the first reply was lost, or meta restarted since):
      // the same answer, once it is durable (MutationLock waits).
      if (!reply->ParseFromString(stored)) {
        return Status::IoError("corrupt stored reply of session " +
                               std::to_string(call.session()) + " call " +
                               std::to_string(call.seq()));
      }
      return Status::OK();
    }
    if (!g.IsNotFound()) return FromRocks(g, "read stored reply");
  }
  Txn txn(db_.get());
  Status s = op(&txn);
  if (!s.ok()) return AbandonLocked(txn, s);
  if (replayed) {
    txn.batch.Put(ReplyKey(call.session(), call.seq()), reply->SerializeAsString());
    // The client has the answers up to `acked`: forget them, a few per call
    // (point deletes: range tombstones would slow every read of the memtable).
    auto f = acked_.find(call.session());
    if (f == acked_.end()) {
      // The session's first call since this start: whatever is stored.
      const std::string prefix = ReplyPrefix(call.session());
      PrefixIterator it(db_.get(), rocksdb::ReadOptions(), prefix);
      for (it.Seek(); it.Valid(); it.Next()) {
        if (GetBigEndian64(it.key().data() + prefix.size()) > call.acked()) break;
        txn.batch.Delete(it.key());
      }
      acked_[call.session()] = call.acked();
    } else {
      for (int n = 0; f->second < call.acked() && n < 64; ++n) {
        txn.batch.Delete(ReplyKey(call.session(), ++f->second));
      }
    }
  }
  return ApplyLocked(&txn);
}

}  // namespace scalefs::meta
