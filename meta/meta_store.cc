#include "meta/meta_store.h"

#include <sys/stat.h>

#include <glog/logging.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/meta_checker.h"
#include "meta/txn.h"

namespace scalefs::meta {

MetaStore::MetaStore(std::unique_ptr<rocksdb::DB> db, ChunkProber prober,
                     std::chrono::milliseconds lease)
    : db_(std::move(db)), wal_(db_.get()), prober_(prober), sessions_(db_.get(), lease) {}

MetaStore::~MetaStore() = default;

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path, ChunkProber prober,
                                                   std::chrono::milliseconds lease) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return Status::IoError("cannot open metadata DB " + path + ": " + s.ToString());
  std::unique_ptr<MetaStore> store(
      new MetaStore(std::unique_ptr<rocksdb::DB>(raw), prober, lease));
  Status st = store->Init();
  if (!st.ok()) return st;
  st = store->sessions_.Load();
  if (!st.ok()) return st;
  // A move the last meta process did not finish: its mover's copy may be
  // half done, and nothing of it is in the file's map yet (rebalance_ops.cc).
  st = store->AbandonMoves({}, /*all=*/true);
  if (!st.ok()) return st;
  // Orphans whose sessions all ended before this start: nobody can reclaim
  // them. With sessions to wait for, the grace period's end collects them.
  if (!store->sessions_.InGrace()) {
    st = store->CollectOrphans({}, /*all=*/true);
    if (!st.ok()) return st;
  }
  return store;
}

Status MetaStore::Init() {
  std::lock_guard<std::mutex> l(mu_);
  rocksdb::ReadOptions ro;
  std::string v;
  rocksdb::Status s = db_->Get(ro, InodeKey(kRootIno), &v);
  if (s.IsNotFound()) {
    InodeRecord root;
    Attr* a = root.mutable_attr();
    const int64_t now = NowNs();
    a->set_ino(kRootIno);
    a->set_mode(S_IFDIR | 0755);
    a->set_nlink(2);
    a->set_parent(kRootIno);
    a->set_generation(1);
    a->set_atime_ns(now);
    a->set_mtime_ns(now);
    a->set_ctime_ns(now);
    rocksdb::WriteBatch batch;
    batch.Put(InodeKey(kRootIno), root.SerializeAsString());
    batch.Put(std::string(kNextInoKey), EncodeU64(2));
    batch.Put(std::string(kNextPairKey), EncodeU64(1));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status st = FromRocks(db_->Write(wo, &batch), "create root");
    if (!st.ok()) return st;
    LOG(INFO) << "created root directory";
  } else if (!s.ok()) {
    return FromRocks(s, "read root");
  }
  uint64_t n = 0;
  if (db_->Get(ro, std::string(kNextInoKey), &v).ok() && DecodeU64(v, &n)) next_ino_ = n;
  if (db_->Get(ro, std::string(kNextPairKey), &v).ok() && DecodeU64(v, &n)) {
    next_pair_ = static_cast<uint32_t>(n);
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  inode_count_ = 0;
  const std::string iprefix(1, kInodeTag);
  for (it->Seek(iprefix); it->Valid() && it->key().starts_with(iprefix); it->Next()) {
    inode_count_++;
  }
  const std::string pprefix(1, kPairTag);
  for (it->Seek(pprefix); it->Valid() && it->key().starts_with(pprefix); it->Next()) {
    Pair p;
    if (!p.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Status::IoError("corrupt pair record");
    }
    pairs_[p.id()] = p;
  }
  const std::string oprefix(1, kOrphanTag);
  for (it->Seek(oprefix); it->Valid() && it->key().starts_with(oprefix); it->Next()) {
    uint64_t ino;
    if (ParseOrphanKey(it->key().ToStringView(), &ino)) orphans_.insert(ino);
  }
  const std::string mprefix(1, kMoveTag);
  for (it->Seek(mprefix); it->Valid() && it->key().starts_with(mprefix); it->Next()) {
    MoveRecord m;
    if (!m.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return Status::IoError("corrupt move record");
    }
    moves_[m.ino()] = m;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "scan");
  Status st = space_.Load(db_.get());
  if (!st.ok()) return st;
  for (const auto& [id, p] : pairs_) space_.SetDraining(id, p.draining());
  return Status::OK();
}

Status MetaStore::ApplyLocked(Txn* txn) {
  txn->Finish();
  // Unsynced here: MutationLock waits for the group sync once mu_ is free.
  rocksdb::WriteOptions wo;
  Status s = FromRocks(db_->Write(wo, &txn->batch), "write batch");
  if (!s.ok()) {
    LOG(ERROR) << s.ToString();
    if (txn->space_changed) space_.Load(db_.get());
    return s;
  }
  inode_count_ += txn->inode_delta;
  if (txn->needs_sync) wal_.Written(db_->GetLatestSequenceNumber());
  return s;
}

Status MetaStore::AbandonLocked(const Txn& txn, Status s) {
  if (txn.space_changed) {
    Status r = space_.Load(db_.get());
    if (!r.ok()) LOG(ERROR) << "reload free space: " << r.ToString();
  }
  return s;
}

StatFsReply MetaStore::StatFs() {
  MutationLock l(this);
  StatFsReply r;
  r.set_block_size(kBlockSize);
  uint64_t total = 0, free = 0;
  for (const auto& [id, p] : pairs_) {
    total += p.capacity();
    free += space_.FreeBytes(id);
  }
  r.set_total_blocks(total / kBlockSize);
  r.set_free_blocks(free / kBlockSize);
  r.set_files(inode_count_);
  return r;
}

FsckReply MetaStore::Fsck() {
  DurableRead durable(this);
  return MetaChecker(db_.get()).Check();
}

}  // namespace scalefs::meta
