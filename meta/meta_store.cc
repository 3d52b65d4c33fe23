#include "meta/meta_store.h"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <chrono>
#include <set>

#include <glog/logging.h>

#include <cstdio>  // RENAME_NOREPLACE, RENAME_EXCHANGE
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/prefix_iterator.h"
#include "meta/meta_checker.h"
#include "meta/posix_acl.h"


namespace scalefs::meta {

namespace {

constexpr uint64_t kMaxXattrValue = 64 << 10;
constexpr uint64_t kMaxSymlinkTarget = 4095;
constexpr uint32_t kDefaultReadDirLimit = 1000;
constexpr uint32_t kMaxReadDirLimit = 10000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsDir(const InodeRecord& r) { return S_ISDIR(r.attr().mode()); }
bool IsReg(const InodeRecord& r) { return S_ISREG(r.attr().mode()); }
// The file's stripe unit; files laid out before the unit was stored have the default.
uint64_t UnitOf(const InodeRecord& r) {
  return r.layout().unit() ? r.layout().unit() : kDefaultStripeUnit;
}
std::string Quote(const std::string& name) { return "'" + name + "'"; }
std::string InoStr(uint64_t ino) { return "inode " + std::to_string(ino); }

Status ValidateName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return Status::Invalid("invalid name " + Quote(name));
  }
  if (name.size() > kMaxNameLength) {
    return Status::NameTooLong("name of " + std::to_string(name.size()) + " bytes");
  }
  return Status::OK();
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  return Status::IoError(what + ": " + s.ToString());
}

Result<InodeRecord> ReadInode(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t ino) {
  std::string v;
  rocksdb::Status s = db->Get(ro, InodeKey(ino), &v);
  if (s.IsNotFound()) return Status::NotFound("no inode " + std::to_string(ino));
  if (!s.ok()) return FromRocks(s, "read " + InoStr(ino));
  InodeRecord rec;
  if (!rec.ParseFromString(v)) return Status::IoError("corrupt " + InoStr(ino));
  return rec;
}

struct DentryValue {
  uint64_t ino = 0;
  uint32_t mode = 0;
};

// NotFound when the name is absent.
Result<DentryValue> ReadDentry(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                               uint64_t parent, const std::string& name) {
  std::string v;
  rocksdb::Status s = db->Get(ro, DentryKey(parent, name), &v);
  if (s.IsNotFound()) {
    return Status::NotFound("no entry " + Quote(name) + " in directory " + std::to_string(parent));
  }
  if (!s.ok()) return FromRocks(s, "read entry " + Quote(name));
  DentryValue d;
  if (!DecodeDentry(v, &d.ino, &d.mode)) return Status::IoError("corrupt entry " + Quote(name));
  return d;
}

bool DirIsEmpty(rocksdb::DB* db, uint64_t ino) {
  PrefixIterator it(db, rocksdb::ReadOptions(), DentryPrefix(ino));
  it.Seek();
  return !it.Valid();
}

using ExtentMap = std::map<uint64_t, Extent>;  // file_offset -> extent

// Extents of `ino` whose file_offset lies in [lo, hi); hi == 0 means no end.
// Records already in `seen` are not loaded again (they may have been split).
// The unwritten records of `map` overlapping [start, end); records begin at
// or after `from` (an extent never starts before its stripe unit).
std::vector<Extent> UnwrittenOverlapping(const ExtentMap& map, uint64_t from, uint64_t start,
                                         uint64_t end) {
  std::vector<Extent> found;
  for (auto it = map.lower_bound(from); it != map.end() && it->first < end; ++it) {
    if (it->first + it->second.length() > start && !it->second.written()) found.push_back(it->second);
  }
  return found;
}

Status LoadExtents(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t ino, uint64_t lo,
                   uint64_t hi, ExtentMap* seen, ExtentMap* out) {
  PrefixIterator it(db, ro, ExtentPrefix(ino));
  for (it.Seek(ExtentKey(ino, lo)); it.Valid(); it.Next()) {
    uint64_t key_ino, off;
    if (!ParseExtentKey(it.key().ToStringView(), &key_ino, &off)) {
      return Status::IoError("corrupt extent key of " + InoStr(ino));
    }
    if (hi != 0 && off >= hi) break;
    if (seen != nullptr && seen->count(off)) continue;
    Extent e;
    if (!e.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()))) {
      return Status::IoError("corrupt extent of " + InoStr(ino));
    }
    if (seen != nullptr) (*seen)[off] = e;
    (*out)[off] = e;
  }
  return FromRocks(it.status(), "read extents");
}

// Joins neighbours contiguous in file and device with the same state, never
// across a stripe unit (the unit decides the pair; keep records unit-local).
void MergeExtents(ExtentMap* m, uint64_t unit) {
  auto it = m->begin();
  while (it != m->end()) {
    auto next = std::next(it);
    if (next == m->end()) break;
    Extent& a = it->second;
    const Extent& b = next->second;
    if (a.file_offset() + a.length() == b.file_offset() && a.pair() == b.pair() &&
        a.dev_offset() + a.length() == b.dev_offset() && a.written() == b.written() &&
        a.file_offset() / unit == b.file_offset() / unit) {
      a.set_length(a.length() + b.length());
      m->erase(next);
    } else {
      it = next;
    }
  }
}

// Puts the difference between the loaded records and the changed ones.
void WriteExtentDiff(uint64_t ino, const ExtentMap& orig, const ExtentMap& cur,
                     rocksdb::WriteBatch* batch) {
  for (const auto& [off, e] : orig) {
    if (!cur.count(off)) batch->Delete(ExtentKey(ino, off));
  }
  for (const auto& [off, e] : cur) {
    auto o = orig.find(off);
    if (o != orig.end() && o->second.SerializeAsString() == e.SerializeAsString()) continue;
    batch->Put(ExtentKey(ino, off), e.SerializeAsString());
  }
}

Extent MakeExtent(uint64_t file_offset, uint64_t length, uint32_t pair, uint64_t dev_offset,
                  bool written) {
  Extent e;
  e.set_file_offset(file_offset);
  e.set_length(length);
  e.set_pair(pair);
  e.set_dev_offset(dev_offset);
  e.set_written(written);
  return e;
}

std::vector<Extent> Overlapping(const ExtentMap& m, uint64_t start, uint64_t end) {
  std::vector<Extent> out;
  for (const auto& [off, e] : m) {
    if (off < end && off + e.length() > start) out.push_back(e);
  }
  return out;
}

bool ValidPairName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

// The records one mutation reads and changes. Inodes are loaded once and
// written at the end, so an operation touching the same inode twice (rename
// within one directory) sees its own changes.
class MetaStore::Txn {
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

MetaStore::MetaStore(std::unique_ptr<rocksdb::DB> db, ChunkProber prober)
    : db_(std::move(db)), wal_(db_.get()), prober_(prober) {}

MetaStore::~MetaStore() = default;

Result<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path, ChunkProber prober) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return Status::IoError("cannot open metadata DB " + path + ": " + s.ToString());
  std::unique_ptr<MetaStore> store(new MetaStore(std::unique_ptr<rocksdb::DB>(raw), prober));
  Status st = store->Init();
  if (!st.ok()) return st;
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
  if (!it->status().ok()) return FromRocks(it->status(), "scan");
  return space_.Load(db_.get());
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

// Undoes the in-memory side of a mutation that failed before its write.
namespace {
Status Abandon(SpaceAllocator* space, rocksdb::DB* db, bool space_changed, Status s) {
  if (space_changed) {
    Status r = space->Load(db);
    if (!r.ok()) LOG(ERROR) << "reload free space: " << r.ToString();
  }
  return s;
}
}  // namespace

Layout MetaStore::NewFileLayout(uint64_t ino) const {
  Layout l;
  l.set_unit(kDefaultStripeUnit);
  std::vector<uint32_t> ids;
  for (const auto& [id, p] : pairs_) ids.push_back(id);
  if (ids.empty()) return l;
  // Rotating by ino spreads small files (one unit each) over all pairs.
  const size_t shift = ino % ids.size();
  for (size_t i = 0; i < ids.size(); i++) l.add_pairs(ids[(i + shift) % ids.size()]);
  return l;
}

Result<InodeRecord> MetaStore::Lookup(uint64_t parent, const std::string& name) {
  DurableRead durable(this);
  rocksdb::ReadOptions ro;
  Result<InodeRecord> dir = ReadInode(db_.get(), ro, parent);
  if (!dir.ok()) return dir;
  if (!IsDir(*dir)) return Status::NotDir(InoStr(parent) + " is not a directory");
  if (name == ".") return dir;
  if (name == "..") return ReadInode(db_.get(), ro, dir->attr().parent());
  Status s = ValidateName(name);
  if (!s.ok()) return s;
  Result<DentryValue> d = ReadDentry(db_.get(), ro, parent, name);
  if (!d.ok()) return d.status();
  return ReadInode(db_.get(), ro, d->ino);
}

Result<InodeRecord> MetaStore::GetAttr(uint64_t ino) {
  DurableRead durable(this);
  return ReadInode(db_.get(), rocksdb::ReadOptions(), ino);
}

Result<InodeRecord> MetaStore::SetAttr(const SetAttrRequest& req) {
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(req.ino());
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  Attr* a = rec->mutable_attr();
  const int64_t now = NowNs();
  if (req.set_mode()) {
    a->set_mode((a->mode() & S_IFMT) | (req.mode() & 07777));
    // A stored access ACL follows the new mode (posix_acl_chmod).
    std::string acl;
    const std::string key = XattrKey(req.ino(), kAclAccessXattr);
    rocksdb::Status gs = db_->Get(rocksdb::ReadOptions(), key, &acl);
    if (!gs.ok() && !gs.IsNotFound()) return FromRocks(gs, "read ACL of " + InoStr(req.ino()));
    if (gs.ok()) {
      Result<std::string> changed = ChmodAclXattr(acl, a->mode());
      if (!changed.ok()) return changed.status().Annotate(InoStr(req.ino()));
      txn.batch.Put(key, *changed);
    }
  }
  if (req.set_uid()) a->set_uid(req.uid());
  if (req.set_gid()) a->set_gid(req.gid());
  if (req.set_size()) {
    if (IsDir(*rec)) return Status::IsDir(InoStr(req.ino()) + " is a directory");
    if (!IsReg(*rec)) return Status::Invalid(InoStr(req.ino()) + " is not a regular file");
    if (req.size() < a->size()) {
      // Free whole blocks past the new end; the partial last block stays.
      const uint64_t cut = RoundUp(req.size(), kBlockSize);
      const uint64_t unit = UnitOf(*rec);
      ExtentMap orig;
      Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), req.ino(), RoundDown(cut, unit),
                             0, nullptr, &orig);
      if (!s.ok()) return s;
      ExtentMap cur = orig;
      uint64_t freed = 0;
      for (auto it = cur.begin(); it != cur.end();) {
        Extent& e = it->second;
        if (e.file_offset() + e.length() <= cut) {
          ++it;
          continue;
        }
        txn.space_changed = true;
        if (e.file_offset() >= cut) {
          space_.Free(e.pair(), e.dev_offset(), e.length(), &txn.batch);
          freed += e.length();
          it = cur.erase(it);
        } else {
          const uint64_t keep = cut - e.file_offset();
          space_.Free(e.pair(), e.dev_offset() + keep, e.length() - keep, &txn.batch);
          freed += e.length() - keep;
          e.set_length(keep);
          ++it;
        }
      }
      WriteExtentDiff(req.ino(), orig, cur, &txn.batch);
      a->set_blocks(a->blocks() - std::min<uint64_t>(a->blocks(), freed / 512));
      a->set_alloc_gen(a->alloc_gen() + 1);
    }
    if (req.size() != a->size()) a->set_mtime_ns(now);
    a->set_size(req.size());
  }
  if (req.set_atime()) a->set_atime_ns(req.atime_ns() == -1 ? now : req.atime_ns());
  if (req.set_mtime()) a->set_mtime_ns(req.mtime_ns() == -1 ? now : req.mtime_ns());
  a->set_ctime_ns(now);
  InodeRecord out = *rec;
  Status s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  return out;
}

Result<InodeRecord> MetaStore::MakeNode(const MakeNodeRequest& req, Attr* parent_out,
                                        std::vector<Extent>* prealloc_out) {
  Status s = ValidateName(req.name());
  if (!s.ok()) return s;
  uint32_t type = req.mode() & S_IFMT;
  if (type == 0) type = S_IFREG;
  switch (type) {
    case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFIFO:
    case S_IFSOCK: case S_IFCHR: case S_IFBLK: break;
    default: return Status::Invalid("unknown file type " + std::to_string(type));
  }
  if (type == S_IFLNK) {
    if (req.symlink_target().empty()) return Status::NotFound("empty symlink target");
    if (req.symlink_target().size() > kMaxSymlinkTarget) {
      return Status::NameTooLong("symlink target too long");
    }
  }
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> pr = txn.Dir(req.parent());
  if (!pr.ok()) return pr.status();
  InodeRecord* parent = *pr;
  Result<DentryValue> existing = ReadDentry(db_.get(), rocksdb::ReadOptions(), req.parent(),
                                            req.name());
  if (existing.ok()) {
    return Status::Exists(Quote(req.name()) + " exists in directory " +
                          std::to_string(req.parent()));
  }
  if (existing.status().code() != Status::Code::kNotFound) return existing.status();

  // The parent's default ACL or else the umask decides the permissions (posix_acl_create).
  std::string parent_acl;
  rocksdb::Status gs =
      db_->Get(rocksdb::ReadOptions(), XattrKey(req.parent(), kAclDefaultXattr), &parent_acl);
  if (!gs.ok() && !gs.IsNotFound()) {
    return FromRocks(gs, "read default ACL of " + InoStr(req.parent()));
  }
  Result<InheritedAcl> inherited =
      InheritAcl(gs.ok() ? &parent_acl : nullptr, type | (req.mode() & 07777), req.umask());
  if (!inherited.ok()) return inherited.status().Annotate(InoStr(req.parent()));

  const uint64_t ino = next_ino_++;
  txn.batch.Put(std::string(kNextInoKey), EncodeU64(next_ino_));
  const int64_t now = NowNs();
  InodeRecord* rec = txn.Create(ino);
  txn.inode_delta++;
  Attr* a = rec->mutable_attr();
  a->set_ino(ino);
  a->set_mode(inherited->mode);
  if (!inherited->access.empty()) txn.batch.Put(XattrKey(ino, kAclAccessXattr), inherited->access);
  if (!inherited->default_acl.empty()) {
    txn.batch.Put(XattrKey(ino, kAclDefaultXattr), inherited->default_acl);
  }
  a->set_nlink(type == S_IFDIR ? 2 : 1);
  a->set_uid(req.uid());
  a->set_gid(req.gid());
  a->set_rdev(req.rdev());
  a->set_atime_ns(now);
  a->set_mtime_ns(now);
  a->set_ctime_ns(now);
  a->set_generation(1);
  if (type == S_IFDIR) {
    a->set_parent(req.parent());
    parent->mutable_attr()->set_nlink(parent->attr().nlink() + 1);
  }
  if (type == S_IFLNK) {
    rec->set_symlink_target(req.symlink_target());
    a->set_size(req.symlink_target().size());
  }
  ExtentMap prealloc;
  if (type == S_IFREG) {
    a->set_alloc_gen(1);
    *rec->mutable_layout() = NewFileLayout(ino);
    const Layout& layout = rec->layout();
    const uint64_t want = std::min<uint64_t>(RoundUp(req.preallocate(), kBlockSize), layout.unit());
    if (want != 0 && layout.pairs_size() != 0) {
      // A full pair only means the file starts without space, as it would
      // without preallocate: the create itself still succeeds.
      Result<uint64_t> got = AllocateHoles(&txn, layout, 0, want, &prealloc);
      if (!got.ok() && (got.status().code() != Status::Code::kNoSpace || txn.space_changed)) {
        return Abandon(&space_, db_.get(), txn.space_changed, got.status());
      }
      if (got.ok()) {
        a->set_blocks(*got / 512);
        MergeExtents(&prealloc, layout.unit());
        WriteExtentDiff(ino, {}, prealloc, &txn.batch);
      }
    }
  } else if (req.preallocate() != 0) {
    return Status::Invalid("preallocate is for regular files only");
  }
  parent->mutable_attr()->set_mtime_ns(now);
  parent->mutable_attr()->set_ctime_ns(now);
  txn.batch.Put(DentryKey(req.parent(), req.name()), EncodeDentry(ino, a->mode()));
  InodeRecord out = *rec;
  const Attr parent_attr = parent->attr();
  s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  if (parent_out != nullptr) *parent_out = parent_attr;
  if (prealloc_out != nullptr) {
    for (auto& [off, e] : prealloc) prealloc_out->push_back(std::move(e));
  }
  return out;
}

Result<InodeRecord> MetaStore::Link(uint64_t ino, uint64_t new_parent,
                                    const std::string& new_name) {
  Status s = ValidateName(new_name);
  if (!s.ok()) return s;
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (IsDir(*rec)) return Status::Permission("cannot hard-link directory " + InoStr(ino));
  Result<InodeRecord*> pr = txn.Dir(new_parent);
  if (!pr.ok()) return pr.status();
  if (ReadDentry(db_.get(), rocksdb::ReadOptions(), new_parent, new_name).ok()) {
    return Status::Exists(Quote(new_name) + " exists in directory " + std::to_string(new_parent));
  }
  const int64_t now = NowNs();
  rec->mutable_attr()->set_nlink(rec->attr().nlink() + 1);
  rec->mutable_attr()->set_ctime_ns(now);
  (*pr)->mutable_attr()->set_mtime_ns(now);
  (*pr)->mutable_attr()->set_ctime_ns(now);
  txn.batch.Put(DentryKey(new_parent, new_name), EncodeDentry(ino, rec->attr().mode()));
  InodeRecord out = *rec;
  s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  return out;
}

// Deletes the inode with its xattrs and extents, freeing their space.
static Status DeleteInode(rocksdb::DB* db, SpaceAllocator* space, uint64_t ino,
                          rocksdb::WriteBatch* batch, bool* space_changed) {
  PrefixIterator xit(db, rocksdb::ReadOptions(), XattrPrefix(ino));
  for (xit.Seek(); xit.Valid(); xit.Next()) batch->Delete(xit.key());
  if (!xit.status().ok()) return FromRocks(xit.status(), "delete xattrs of " + InoStr(ino));
  PrefixIterator it(db, rocksdb::ReadOptions(), ExtentPrefix(ino));
  for (it.Seek(); it.Valid(); it.Next()) {
    Extent e;
    if (!e.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()))) {
      return Status::IoError("corrupt extent of " + InoStr(ino));
    }
    space->Free(e.pair(), e.dev_offset(), e.length(), batch);
    *space_changed = true;
    batch->Delete(it.key());
  }
  return FromRocks(it.status(), "delete " + InoStr(ino));
}

Status MetaStore::DropLink(Txn* txn, uint64_t ino) {
  Result<InodeRecord*> r = txn->Inode(ino);
  if (!r.ok()) return r.status();
  Attr* a = (*r)->mutable_attr();
  const bool dir = S_ISDIR(a->mode());
  if (!dir && a->nlink() > 1) {
    a->set_nlink(a->nlink() - 1);
    a->set_ctime_ns(NowNs());
    return Status::OK();
  }
  txn->Delete(ino);
  return DeleteInode(db_.get(), &space_, ino, &txn->batch, &txn->space_changed);
}

Status MetaStore::Unlink(uint64_t parent, const std::string& name, bool directory,
                         Attr* parent_out) {
  if (directory && name == "..") return Status::NotEmpty("cannot remove '..'");
  Status s = ValidateName(name);
  if (!s.ok()) return s;
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> pr = txn.Dir(parent);
  if (!pr.ok()) return pr.status();
  Result<DentryValue> d = ReadDentry(db_.get(), rocksdb::ReadOptions(), parent, name);
  if (!d.ok()) return d.status();
  Result<InodeRecord*> cr = txn.Inode(d->ino);
  if (!cr.ok()) return cr.status();
  const bool child_dir = IsDir(**cr);
  if (directory) {
    if (!child_dir) return Status::NotDir(Quote(name) + " is not a directory");
    if (d->ino == kRootIno) return Status::Busy("cannot remove the root directory");
    if (!DirIsEmpty(db_.get(), d->ino)) return Status::NotEmpty(Quote(name) + " is not empty");
    (*pr)->mutable_attr()->set_nlink((*pr)->attr().nlink() - 1);
  } else if (child_dir) {
    return Status::IsDir(Quote(name) + " is a directory");
  }
  s = DropLink(&txn, d->ino);
  if (!s.ok()) return Abandon(&space_, db_.get(), txn.space_changed, s);
  const int64_t now = NowNs();
  (*pr)->mutable_attr()->set_mtime_ns(now);
  (*pr)->mutable_attr()->set_ctime_ns(now);
  txn.batch.Delete(DentryKey(parent, name));
  const Attr parent_attr = (*pr)->attr();
  s = ApplyLocked(&txn);
  if (s.ok() && parent_out != nullptr) *parent_out = parent_attr;
  return s;
}

Status MetaStore::CheckNotAncestor(Txn* txn, uint64_t dir, uint64_t start) {
  uint64_t x = start;
  for (int depth = 0; depth < 100000; depth++) {
    if (x == dir) {
      return Status::Invalid("cannot move directory " + std::to_string(dir) +
                             " into its own subtree");
    }
    if (x == kRootIno) return Status::OK();
    Result<InodeRecord*> r = txn->Inode(x);
    if (!r.ok()) return r.status();
    x = (*r)->attr().parent();
  }
  return Status::IoError("directory parent chain too deep from " + InoStr(start));
}

Status MetaStore::Rename(const RenameRequest& req) {
  const uint32_t flags = req.flags();
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
      ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))) {
    return Status::Invalid("bad rename flags " + std::to_string(flags));
  }
  Status s = ValidateName(req.name());
  if (!s.ok()) return s;
  s = ValidateName(req.new_name());
  if (!s.ok()) return s;
  MutationLock l(this);
  Txn txn(db_.get());
  const uint64_t P = req.parent(), NP = req.new_parent();
  Result<InodeRecord*> pr = txn.Dir(P);
  if (!pr.ok()) return pr.status();
  Result<InodeRecord*> npr = txn.Dir(NP);
  if (!npr.ok()) return npr.status();
  InodeRecord* parent = *pr;
  InodeRecord* new_parent = *npr;  // may equal parent: Txn hands out one record per ino
  rocksdb::ReadOptions ro;
  Result<DentryValue> src = ReadDentry(db_.get(), ro, P, req.name());
  if (!src.ok()) return src.status();
  Result<DentryValue> dst = ReadDentry(db_.get(), ro, NP, req.new_name());
  if (!dst.ok() && dst.status().code() != Status::Code::kNotFound) return dst.status();
  if (P == NP && req.name() == req.new_name()) return Status::OK();
  Result<InodeRecord*> sr = txn.Inode(src->ino);
  if (!sr.ok()) return sr.status();
  InodeRecord* src_rec = *sr;
  const bool src_dir = IsDir(*src_rec);
  const int64_t now = NowNs();
  auto add_nlink = [](InodeRecord* r, int d) {
    r->mutable_attr()->set_nlink(r->attr().nlink() + d);
  };

  if (flags & RENAME_EXCHANGE) {
    if (!dst.ok()) return dst.status();
    Result<InodeRecord*> dr = txn.Inode(dst->ino);
    if (!dr.ok()) return dr.status();
    InodeRecord* dst_rec = *dr;
    const bool dst_dir = IsDir(*dst_rec);
    if (src_dir) {
      s = CheckNotAncestor(&txn, src->ino, NP);
      if (!s.ok()) return s;
    }
    if (dst_dir) {
      s = CheckNotAncestor(&txn, dst->ino, P);
      if (!s.ok()) return s;
    }
    txn.batch.Put(DentryKey(P, req.name()), EncodeDentry(dst->ino, dst_rec->attr().mode()));
    txn.batch.Put(DentryKey(NP, req.new_name()), EncodeDentry(src->ino, src_rec->attr().mode()));
    if (P != NP) {
      if (src_dir) {
        src_rec->mutable_attr()->set_parent(NP);
        add_nlink(parent, -1);
        add_nlink(new_parent, +1);
      }
      if (dst_dir) {
        dst_rec->mutable_attr()->set_parent(P);
        add_nlink(new_parent, -1);
        add_nlink(parent, +1);
      }
    }
    src_rec->mutable_attr()->set_ctime_ns(now);
    dst_rec->mutable_attr()->set_ctime_ns(now);
  } else {
    if (dst.ok()) {
      if (dst->ino == src->ino) return Status::OK();  // two links to one file
      if (flags & RENAME_NOREPLACE) {
        return Status::Exists(Quote(req.new_name()) + " exists in directory " +
                              std::to_string(NP));
      }
    }
    if (src_dir) {
      s = CheckNotAncestor(&txn, src->ino, NP);
      if (!s.ok()) return s;
    }
    if (dst.ok()) {
      Result<InodeRecord*> dr = txn.Inode(dst->ino);
      if (!dr.ok()) return dr.status();
      const bool dst_dir = IsDir(**dr);
      if (src_dir && !dst_dir) return Status::NotDir(Quote(req.new_name()) + " is not a directory");
      if (!src_dir && dst_dir) return Status::IsDir(Quote(req.new_name()) + " is a directory");
      if (dst_dir) {
        if (!DirIsEmpty(db_.get(), dst->ino)) {
          return Status::NotEmpty(Quote(req.new_name()) + " is not empty");
        }
        add_nlink(new_parent, -1);
      }
      s = DropLink(&txn, dst->ino);
      if (!s.ok()) return Abandon(&space_, db_.get(), txn.space_changed, s);
    }
    txn.batch.Delete(DentryKey(P, req.name()));
    txn.batch.Put(DentryKey(NP, req.new_name()), EncodeDentry(src->ino, src_rec->attr().mode()));
    if (src_dir && P != NP) {
      src_rec->mutable_attr()->set_parent(NP);
      add_nlink(parent, -1);
      add_nlink(new_parent, +1);
    }
    src_rec->mutable_attr()->set_ctime_ns(now);
  }
  parent->mutable_attr()->set_mtime_ns(now);
  parent->mutable_attr()->set_ctime_ns(now);
  new_parent->mutable_attr()->set_mtime_ns(now);
  new_parent->mutable_attr()->set_ctime_ns(now);
  return ApplyLocked(&txn);
}

Result<std::string> MetaStore::ReadLink(uint64_t ino) {
  DurableRead durable(this);
  Result<InodeRecord> r = GetAttr(ino);
  if (!r.ok()) return r.status();
  if (!S_ISLNK(r->attr().mode())) return Status::Invalid(InoStr(ino) + " is not a symlink");
  return r->symlink_target();
}

Result<DirPage> MetaStore::ReadDir(uint64_t ino, const std::string& after, uint32_t limit,
                                   uint64_t extents_max_size) {
  DurableRead durable(this);
  if (limit == 0) limit = kDefaultReadDirLimit;
  limit = std::min(limit, kMaxReadDirLimit);
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  DirPage page;
  Status st;
  Result<InodeRecord> dir = ReadInode(db_.get(), ro, ino);
  if (!dir.ok()) {
    st = dir.status();
  } else if (!IsDir(*dir)) {
    st = Status::NotDir(InoStr(ino) + " is not a directory");
  } else {
    const std::string prefix = DentryPrefix(ino);
    PrefixIterator it(db_.get(), ro, prefix);
    const std::string after_key = DentryKey(ino, after);
    for (it.Seek(after.empty() ? prefix : after_key); it.Valid(); it.Next()) {
      if (!after.empty() && it.key() == after_key) continue;
      if (page.entries.size() >= limit) {
        page.more = true;
        break;
      }
      DentryValue d;
      if (!DecodeDentry(it.value().ToStringView(), &d.ino, &d.mode)) continue;
      Result<InodeRecord> child = ReadInode(db_.get(), ro, d.ino);
      if (!child.ok()) {
        LOG(WARNING) << "entry in directory " << ino << " names missing inode " << d.ino;
        continue;
      }
      DirEntry e;
      e.set_name(it.key().ToString().substr(prefix.size()));
      *e.mutable_attr() = child->attr();
      const uint64_t size = child->attr().size();
      if (S_ISREG(child->attr().mode()) && size > 0 && size <= extents_max_size) {
        ExtentMap m;
        st = LoadExtents(db_.get(), ro, d.ino, 0, size, nullptr, &m);
        if (!st.ok()) break;
        for (Extent& x : Overlapping(m, 0, size)) *e.add_extents() = std::move(x);
      }
      page.entries.push_back(std::move(e));
    }
    if (st.ok()) st = FromRocks(it.status(), "read directory");
  }
  db_->ReleaseSnapshot(snap);
  if (!st.ok()) return st;
  return page;
}

Status MetaStore::SetXattr(uint64_t ino, const std::string& name, const std::string& value,
                           uint32_t flags, bool acl_kill_sgid) {
  if (name.empty()) return Status::Invalid("empty xattr name");
  if (name.size() > kMaxNameLength) return Status::Range("xattr name too long");
  if (value.size() > kMaxXattrValue) {
    return Status(static_cast<Status::Code>(E2BIG), "xattr value of " +
                  std::to_string(value.size()) + " bytes exceeds 64 KiB");
  }
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return r.status();
  if (IsAclXattr(name)) {
    // The kernel ignores the flags for ACLs (vfs_set_acl); so does meta.
    Result<AclXattrChange> c = SetAclXattr(name, value, (*r)->attr().mode(), acl_kill_sgid);
    if (!c.ok()) return c.status().Annotate(Quote(name) + " of " + InoStr(ino));
    if (c->value) {
      txn.batch.Put(XattrKey(ino, name), *c->value);
    } else {
      txn.batch.Delete(XattrKey(ino, name));
    }
    (*r)->mutable_attr()->set_mode(c->mode);
    (*r)->mutable_attr()->set_ctime_ns(NowNs());
    return ApplyLocked(&txn);
  }
  std::string old;
  const bool exists = db_->Get(rocksdb::ReadOptions(), XattrKey(ino, name), &old).ok();
  if ((flags & XATTR_CREATE) && exists) {
    return Status::Exists("xattr " + Quote(name) + " exists on " + InoStr(ino));
  }
  if ((flags & XATTR_REPLACE) && !exists) {
    return Status::NoData("no xattr " + Quote(name) + " on " + InoStr(ino));
  }
  txn.batch.Put(XattrKey(ino, name), value);
  (*r)->mutable_attr()->set_ctime_ns(NowNs());
  return ApplyLocked(&txn);
}

Result<std::string> MetaStore::GetXattr(uint64_t ino, const std::string& name) {
  DurableRead durable(this);
  Result<InodeRecord> r = GetAttr(ino);
  if (!r.ok()) return r.status();
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), XattrKey(ino, name), &v);
  if (s.IsNotFound()) return Status::NoData("no xattr " + Quote(name) + " on " + InoStr(ino));
  if (!s.ok()) return FromRocks(s, "read xattr");
  return v;
}

Result<std::vector<std::string>> MetaStore::ListXattr(uint64_t ino) {
  DurableRead durable(this);
  Result<InodeRecord> r = GetAttr(ino);
  if (!r.ok()) return r.status();
  std::vector<std::string> names;
  const std::string prefix = XattrPrefix(ino);
  PrefixIterator it(db_.get(), rocksdb::ReadOptions(), prefix);
  for (it.Seek(); it.Valid(); it.Next()) names.push_back(it.key().ToString().substr(prefix.size()));
  return names;
}

Status MetaStore::RemoveXattr(uint64_t ino, const std::string& name) {
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return r.status();
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), XattrKey(ino, name), &v).ok()) {
    // Removing an ACL there is none of succeeds, as on ext4. The mode stays
    // either way: it is what the access ACL's base entries were.
    if (IsAclXattr(name)) return Status::OK();
    return Status::NoData("no xattr " + Quote(name) + " on " + InoStr(ino));
  }
  txn.batch.Delete(XattrKey(ino, name));
  (*r)->mutable_attr()->set_ctime_ns(NowNs());
  return ApplyLocked(&txn);
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

Result<uint64_t> MetaStore::AllocateHoles(Txn* txn, const Layout& layout, uint64_t start,
                                          uint64_t end, std::map<uint64_t, Extent>* cur) {
  const uint64_t unit = layout.unit();
  const uint64_t width = layout.pairs_size();
  uint64_t allocated = 0;
  for (uint64_t u = start / unit; start < end && u <= (end - 1) / unit; u++) {
    const uint64_t us = std::max(start, u * unit);
    const uint64_t ue = std::min(end, (u + 1) * unit);
    const uint32_t pair = layout.pairs(StripeSlot(u * unit, unit, width));
    uint64_t pos = us;
    while (pos < ue) {
      auto it = cur->upper_bound(pos);
      if (it != cur->begin()) {
        const Extent& prev = std::prev(it)->second;
        if (prev.file_offset() + prev.length() > pos) {
          pos = prev.file_offset() + prev.length();
          continue;
        }
      }
      const uint64_t gap_end = (it != cur->end() && it->first < ue) ? it->first : ue;
      uint64_t hint = SpaceAllocator::kNoHint;
      for (auto b = it; b != cur->begin();) {
        --b;
        if (b->second.pair() == pair) {
          hint = b->second.dev_offset() + b->second.length();
          break;
        }
      }
      Result<std::vector<SpaceAllocator::Run>> runs =
          space_.Allocate(pair, gap_end - pos, hint, &txn->batch);
      if (!runs.ok()) return runs.status();
      txn->space_changed = true;
      for (const auto& run : *runs) {
        (*cur)[pos] = MakeExtent(pos, run.length, pair, run.dev_offset, false);
        pos += run.length;
        allocated += run.length;
      }
    }
  }
  return allocated;
}

Result<ExtentList> MetaStore::Allocate(uint64_t ino, uint64_t offset, uint64_t length,
                                       bool set_size) {
  if (offset + length < offset) return Status::Invalid("range overflows");
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (!IsReg(*rec)) return Status::Invalid(InoStr(ino) + " is not a regular file");
  if (rec->layout().pairs_size() == 0) {
    // Created before any pair existed: lay it out now if it has no data.
    PrefixIterator it(db_.get(), rocksdb::ReadOptions(), ExtentPrefix(ino));
    it.Seek();
    if (it.Valid()) {
      return Status::Invalid(InoStr(ino) + " has extents but no layout");
    }
    if (pairs_.empty()) return Status::NoSpace("no storage pair registered");
    *rec->mutable_layout() = NewFileLayout(ino);
  }
  const Layout& layout = rec->layout();
  const uint64_t unit = layout.unit();
  if (unit == 0 || unit % kBlockSize != 0) return Status::Invalid(InoStr(ino) + " has a bad layout");
  for (uint32_t p : layout.pairs()) {
    if (!pairs_.count(p)) return Status::Invalid(InoStr(ino) + " is laid out on unknown pair " +
                                                 std::to_string(p));
  }
  const uint64_t width = layout.pairs_size();
  const uint64_t start = RoundDown(offset, kBlockSize);
  const uint64_t end = RoundUp(offset + length, kBlockSize);
  // Load one unit per pair before the range too: the hint for contiguity.
  uint64_t lo = RoundDown(start, unit);
  lo = lo >= width * unit ? lo - width * unit : 0;
  const uint64_t hi = RoundUp(end, unit);
  ExtentMap orig, cur;
  Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, lo, hi, nullptr, &orig);
  if (!s.ok()) return s;
  cur = orig;
  Result<uint64_t> allocated = AllocateHoles(&txn, layout, start, end, &cur);
  if (!allocated.ok()) return Abandon(&space_, db_.get(), txn.space_changed, allocated.status());
  MergeExtents(&cur, unit);
  Attr* a = rec->mutable_attr();
  a->set_blocks(a->blocks() + *allocated / 512);
  // Even when nothing was allocated: the caller may now write into unwritten
  // space another client allocated ahead, which must no longer trim it.
  a->set_alloc_gen(a->alloc_gen() + 1);
  if (set_size && offset + length > a->size()) {
    const int64_t now = NowNs();
    a->set_size(offset + length);
    a->set_mtime_ns(now);
    a->set_ctime_ns(now);
  }
  ExtentList out;
  out.extents = Overlapping(cur, start, end);
  out.attr = *a;
  WriteExtentDiff(ino, orig, cur, &txn.batch);
  s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  return out;
}

Result<ExtentList> MetaStore::GetExtents(uint64_t ino, uint64_t offset, uint64_t length) {
  DurableRead durable(this);
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ExtentList out;
  Result<InodeRecord> r = ReadInode(db_.get(), ro, ino);
  Status s = r.status();
  if (s.ok()) {
    out.attr = r->attr();
    const uint64_t unit = UnitOf(*r);
    // length 0: the whole file.
    const uint64_t end = length == 0 || offset + length < offset ? ~uint64_t{0} : offset + length;
    ExtentMap m;
    s = LoadExtents(db_.get(), ro, ino, RoundDown(offset, unit), length == 0 ? 0 : end, nullptr,
                    &m);
    out.extents = Overlapping(m, offset, end);
  }
  db_->ReleaseSnapshot(snap);
  if (!s.ok()) return s;
  return out;
}

Result<InodeRecord> MetaStore::Commit(uint64_t ino, const std::vector<ByteRange>& written,
                                      uint64_t new_size, int64_t mtime_ns,
                                      const std::vector<ByteRange>& trim, uint64_t trim_gen) {
  MutationLock l(this);
  Txn txn(db_.get());
  Result<InodeRecord*> r = txn.Inode(ino);
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (!IsReg(*rec)) return Status::Invalid(InoStr(ino) + " is not a regular file");
  const uint64_t unit = UnitOf(*rec);
  ExtentMap orig, cur;
  for (const ByteRange& br : written) {
    if (br.length() == 0) continue;
    if (br.offset() + br.length() < br.offset()) return Status::Invalid("range overflows");
    const uint64_t start = RoundDown(br.offset(), kBlockSize);
    const uint64_t end = RoundUp(br.offset() + br.length(), kBlockSize);
    Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, RoundDown(start, unit), end,
                           &orig, &cur);
    if (!s.ok()) return s;
    // Every block must be allocated, or the client wrote where nothing was.
    uint64_t pos = start;
    for (auto it = cur.lower_bound(RoundDown(start, unit)); it != cur.end() && pos < end; ++it) {
      const Extent& e = it->second;
      if (e.file_offset() + e.length() <= pos) continue;
      if (e.file_offset() > pos) break;
      pos = e.file_offset() + e.length();
    }
    if (pos < end) {
      return Status::Invalid("commit of " + InoStr(ino) + " range [" + std::to_string(pos) +
                             ", " + std::to_string(end) + ") that has no extent");
    }
    // Split unwritten records at the range ends and mark the middle written.
    const std::vector<Extent> touched = UnwrittenOverlapping(cur, RoundDown(start, unit), start, end);
    for (const Extent& e : touched) {
      const uint64_t es = e.file_offset(), ee = es + e.length();
      const uint64_t ws = std::max(es, start), we = std::min(ee, end);
      cur.erase(es);
      if (es < ws) cur[es] = MakeExtent(es, ws - es, e.pair(), e.dev_offset(), false);
      cur[ws] = MakeExtent(ws, we - ws, e.pair(), e.dev_offset() + (ws - es), true);
      if (we < ee) cur[we] = MakeExtent(we, ee - we, e.pair(), e.dev_offset() + (we - es), false);
    }
  }
  Attr* a = rec->mutable_attr();
  if (new_size > a->size()) a->set_size(new_size);
  Status s;
  if (!trim.empty() && trim_gen == a->alloc_gen()) {
    s = FreeUnwrittenPastEof(&txn, ino, rec, trim, &orig, &cur);
    if (!s.ok()) return Abandon(&space_, db_.get(), txn.space_changed, s);
    a->set_alloc_gen(a->alloc_gen() + 1);
  }
  MergeExtents(&cur, unit);
  WriteExtentDiff(ino, orig, cur, &txn.batch);
  if (mtime_ns != 0) {
    a->set_mtime_ns(mtime_ns);
    a->set_ctime_ns(NowNs());
  }
  InodeRecord out = *rec;
  s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  return out;
}

Status MetaStore::FreeUnwrittenPastEof(Txn* txn, uint64_t ino, InodeRecord* rec,
                                       const std::vector<ByteRange>& ranges,
                                       std::map<uint64_t, Extent>* orig,
                                       std::map<uint64_t, Extent>* cur) {
  const uint64_t unit = UnitOf(*rec);
  Attr* a = rec->mutable_attr();
  uint64_t freed = 0;
  const uint64_t eof = RoundUp(a->size(), kBlockSize);
  for (const ByteRange& br : ranges) {
    if (br.length() == 0 || br.offset() + br.length() < br.offset()) continue;
    const uint64_t start = std::max(RoundUp(br.offset(), kBlockSize), eof);
    const uint64_t end = RoundDown(br.offset() + br.length(), kBlockSize);
    if (start >= end) continue;
    Status s = LoadExtents(db_.get(), rocksdb::ReadOptions(), ino, RoundDown(start, unit), end,
                           orig, cur);
    if (!s.ok()) return s;
    const std::vector<Extent> touched = UnwrittenOverlapping(*cur, RoundDown(start, unit), start, end);
    for (const Extent& e : touched) {
      const uint64_t es = e.file_offset(), ee = es + e.length();
      const uint64_t fs = std::max(es, start), fe = std::min(ee, end);
      cur->erase(es);
      if (es < fs) (*cur)[es] = MakeExtent(es, fs - es, e.pair(), e.dev_offset(), false);
      if (fe < ee) (*cur)[fe] = MakeExtent(fe, ee - fe, e.pair(), e.dev_offset() + (fe - es), false);
      space_.Free(e.pair(), e.dev_offset() + (fs - es), fe - fs, &txn->batch);
      txn->space_changed = true;
      freed += fe - fs;
    }
  }
  if (freed != 0) a->set_blocks(a->blocks() - std::min<uint64_t>(a->blocks(), freed / 512));
  return Status::OK();
}

Status MetaStore::GiveBackLocked(Txn* txn, const FileTrim& t) {
  Result<InodeRecord*> r = txn->Inode(t.ino());
  // Gone (unlinked since) or reused as something else: nothing to give back.
  if (!r.ok() && r.status().code() == Status::Code::kNotFound) return Status::OK();
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (!IsReg(*rec) || rec->attr().alloc_gen() != t.alloc_gen()) return Status::OK();
  rec->mutable_attr()->set_alloc_gen(t.alloc_gen() + 1);
  ExtentMap orig, cur;
  std::vector<ByteRange> ranges(t.ranges().begin(), t.ranges().end());
  Status s = FreeUnwrittenPastEof(txn, t.ino(), rec, ranges, &orig, &cur);
  if (!s.ok()) return s;
  MergeExtents(&cur, UnitOf(*rec));
  WriteExtentDiff(t.ino(), orig, cur, &txn->batch);
  return Status::OK();
}

Status MetaStore::Trim(const std::vector<FileTrim>& files) {
  MutationLock l(this);
  Txn txn(db_.get());
  txn.needs_sync = false;
  for (const FileTrim& t : files) {
    Status s = GiveBackLocked(&txn, t);
    if (!s.ok()) return Abandon(&space_, db_.get(), txn.space_changed, s);
  }
  return ApplyLocked(&txn);
}

Result<Pair> MetaStore::PairAdd(const std::string& name, const std::string& address_a,
                                const std::string& address_b) {
  if (!ValidPairName(name)) {
    return Status::Invalid("pair name " + Quote(name) + " must match [A-Za-z0-9_.-]{1,64}");
  }
  if (address_a.empty() || address_b.empty()) return Status::Invalid("member address is empty");
  if (address_a == address_b) {
    return Status::Invalid("members A and B have the same address " + address_a);
  }
  std::lock_guard<std::mutex> pl(pair_mu_);
  uint32_t id;
  {
    MutationLock l(this);
    for (const auto& [pid, p] : pairs_) {
      if (p.name() == name) return Status::Exists("pair " + Quote(name) + " exists");
      for (const std::string& addr : {address_a, address_b}) {
        if (addr == p.address_a() || addr == p.address_b()) {
          return Status::Exists("address " + addr + " is already member of pair " + p.name());
        }
      }
    }
    id = next_pair_;
  }
  const std::string addrs[2] = {address_a, address_b};
  const char* labels[2] = {"A", "B"};
  chunk::InfoReply info[2];
  for (int i = 0; i < 2; i++) {
    Result<chunk::InfoReply> r = prober_.Info(addrs[i]);
    if (!r.ok()) {
      return Status(r.status().code() == Status::Code::kUnavailable ? Status::Code::kUnavailable
                                                                     : r.status().code(),
                    std::string("member ") + labels[i] + " at " + addrs[i] +
                        " unreachable: " + r.status().message());
    }
    info[i] = *r;
  }
  for (int i = 0; i < 2; i++) {
    const std::string& other = addrs[1 - i];
    if (info[i].peer_address() != other) {
      return Status::Invalid(std::string("member ") + labels[i] + " at " + addrs[i] +
                             " is configured with peer " + info[i].peer_address() + ", not " +
                             other);
    }
    // A member already joined to this very pair id is a retry of an add
    // that failed half-way (meta persists the pair only after both joins).
    const bool retry = info[i].pair_name() == name && info[i].pair_id() == id;
    if (!info[i].pair_name().empty() && !retry) {
      return Status::Exists(std::string("member ") + labels[i] + " at " + addrs[i] +
                            " already belongs to pair " + info[i].pair_name());
    }
  }
  const uint64_t capacity =
      RoundDown(std::min(info[0].device_size(), info[1].device_size()), kBlockSize);
  if (capacity == 0) return Status::Invalid("pair " + Quote(name) + " has no capacity");
  for (int i = 0; i < 2; i++) {
    chunk::JoinRequest jr;
    jr.set_pair_name(name);
    jr.set_pair_id(id);
    jr.set_member_index(i);
    jr.set_peer_address(addrs[1 - i]);
    jr.set_generation(1);
    jr.set_capacity(capacity);
    jr.set_meta_address(listen_address_);
    Status s = prober_.Join(addrs[i], jr);
    if (!s.ok()) {
      return s.Annotate(std::string("join member ") + labels[i] + " at " + addrs[i]);
    }
  }
  Pair p;
  p.set_id(id);
  p.set_name(name);
  p.set_address_a(address_a);
  p.set_address_b(address_b);
  p.set_capacity(capacity);
  p.set_generation(1);
  MutationLock l(this);
  Txn txn(db_.get());
  txn.batch.Put(PairKey(id), p.SerializeAsString());
  txn.batch.Put(std::string(kNextPairKey), EncodeU64(id + 1));
  space_.AddPair(id, capacity, &txn.batch);
  txn.space_changed = true;
  Status s = ApplyLocked(&txn);
  if (!s.ok()) return s;
  next_pair_ = id + 1;
  pairs_[id] = p;
  p.set_free(capacity);
  LOG(INFO) << "added pair " << id << " " << name << " (" << address_a << ", " << address_b
            << "), " << capacity << " bytes";
  return p;
}

std::vector<Pair> MetaStore::PairList() {
  MutationLock l(this);
  std::vector<Pair> out;
  for (const auto& [id, p] : pairs_) {
    out.push_back(p);
    out.back().set_free(space_.FreeBytes(id));
  }
  return out;
}

Result<Pair> MetaStore::UpdatePair(uint32_t id, const std::function<bool(Pair*)>& change) {
  MutationLock l(this);
  auto it = pairs_.find(id);
  if (it == pairs_.end()) return Status::NotFound("no pair with id " + std::to_string(id));
  Pair p = it->second;
  if (change(&p)) {
    Txn txn(db_.get());
    p.clear_free();
    txn.batch.Put(PairKey(id), p.SerializeAsString());
    Status s = ApplyLocked(&txn);
    if (!s.ok()) return s;
    it->second = p;
  }
  p.set_free(space_.FreeBytes(id));
  return p;
}

FsckReply MetaStore::Fsck() {
  DurableRead durable(this);
  return MetaChecker(db_.get()).Check();
}

}  // namespace scalefs::meta
