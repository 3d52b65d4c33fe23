// The namespace operations of MetaStore: lookups, creates, links, unlinks,
// renames, directory listings, and the orphans an unlink of an open file
// leaves (deleted when their last session lets go of them).
#include <sys/stat.h>

#include <cstdio>  // RENAME_NOREPLACE, RENAME_EXCHANGE

#include <glog/logging.h>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/posix_acl.h"
#include "meta/prefix_iterator.h"
#include "meta/txn.h"

namespace scalefs::meta {

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


Status MetaStore::MakeNode(const MakeNodeRequest& req, AttrReply* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoMakeNode(txn, req, reply); });
}

Status MetaStore::DoMakeNode(Txn* txn, const MakeNodeRequest& req, AttrReply* reply) {
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
  Result<InodeRecord*> pr = txn->Dir(req.parent());
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
  txn->batch.Put(std::string(kNextInoKey), EncodeU64(next_ino_));
  const int64_t now = NowNs();
  InodeRecord* rec = txn->Create(ino);
  txn->inode_delta++;
  Attr* a = rec->mutable_attr();
  a->set_ino(ino);
  a->set_mode(inherited->mode);
  if (!inherited->access.empty()) {
    txn->batch.Put(XattrKey(ino, kAclAccessXattr), inherited->access);
  }
  if (!inherited->default_acl.empty()) {
    txn->batch.Put(XattrKey(ino, kAclDefaultXattr), inherited->default_acl);
  }
  a->set_nlink(type == S_IFDIR ? 2 : 1);
  a->set_uid(req.uid());
  a->set_gid(req.gid());
  a->set_rdev(req.rdev());
  a->set_atime_ns(now);
  a->set_mtime_ns(now);
  a->set_ctime_ns(now);
  a->set_generation(1);
  // Every inode knows the directory it was made in: a client limited to a
  // subdirectory reaches only inodes under it (meta/subtree_view.h).
  a->set_parent(req.parent());
  if (type == S_IFDIR) {
    parent->mutable_attr()->set_nlink(parent->attr().nlink() + 1);
    // A subdirectory takes its parent's default layout, as CephFS's do.
    if (parent->has_layout()) *rec->mutable_layout() = parent->layout();
  }
  if (type == S_IFLNK) {
    rec->set_symlink_target(req.symlink_target());
    a->set_size(req.symlink_target().size());
  }
  ExtentMap prealloc;
  if (type == S_IFREG) {
    a->set_alloc_gen(1);
    *rec->mutable_layout() = NewFileLayout(ino, parent->layout());
    const Layout& layout = rec->layout();
    const uint64_t want = std::min<uint64_t>(RoundUp(req.preallocate(), kBlockSize), layout.unit());
    if (want != 0 && layout.pairs_size() != 0) {
      // A full pair only means the file starts without space, as it would
      // without preallocate: the create itself still succeeds.
      Result<uint64_t> got = AllocateHoles(txn, layout, 0, want, &prealloc);
      if (!got.ok() && (got.status().code() != Status::Code::kNoSpace || txn->space_changed)) {
        return got.status();
      }
      if (got.ok()) {
        a->set_blocks(*got / 512);
        MergeExtents(&prealloc, layout.unit());
        WriteExtentDiff(ino, {}, prealloc, &txn->batch);
      }
    }
  } else if (req.preallocate() != 0) {
    return Status::Invalid("preallocate is for regular files only");
  }
  parent->mutable_attr()->set_mtime_ns(now);
  parent->mutable_attr()->set_ctime_ns(now);
  txn->batch.Put(DentryKey(req.parent(), req.name()), EncodeDentry(ino, a->mode()));
  if (type == S_IFREG && req.open() && req.call().session() != 0) {
    // Created with a handle: open by the session from the start.
    Status o = sessions_.AddOpen(req.call().session(), ino);
    if (!o.ok()) LOG(WARNING) << "create of " << InoStr(ino) << ": " << o.ToString();
  }
  *reply->mutable_attr() = rec->attr();
  *reply->mutable_layout() = rec->layout();
  *reply->mutable_parent_attr() = parent->attr();
  for (auto& [off, e] : prealloc) *reply->add_extents() = std::move(e);
  return Status::OK();
}

Status MetaStore::Link(const LinkRequest& req, AttrReply* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoLink(txn, req, reply); });
}

Status MetaStore::DoLink(Txn* txn, const LinkRequest& req, AttrReply* reply) {
  const uint64_t ino = req.ino(), new_parent = req.new_parent();
  const std::string& new_name = req.new_name();
  Status s = ValidateName(new_name);
  if (!s.ok()) return s;
  Result<InodeRecord*> r = txn->Inode(ino);
  if (!r.ok()) return r.status();
  InodeRecord* rec = *r;
  if (IsDir(*rec)) return Status::Permission("cannot hard-link directory " + InoStr(ino));
  Result<InodeRecord*> pr = txn->Dir(new_parent);
  if (!pr.ok()) return pr.status();
  if (ReadDentry(db_.get(), rocksdb::ReadOptions(), new_parent, new_name).ok()) {
    return Status::Exists(Quote(new_name) + " exists in directory " + std::to_string(new_parent));
  }
  const int64_t now = NowNs();
  rec->mutable_attr()->set_nlink(rec->attr().nlink() + 1);
  rec->mutable_attr()->set_ctime_ns(now);
  (*pr)->mutable_attr()->set_mtime_ns(now);
  (*pr)->mutable_attr()->set_ctime_ns(now);
  if (rec->attr().nlink() == 1) {
    // Linked again while orphaned (linkat of an O_TMPFILE-like handle): a
    // name keeps it now.
    if (orphans_.erase(ino) != 0) txn->batch.Delete(OrphanKey(ino));
  }
  txn->batch.Put(DentryKey(new_parent, new_name), EncodeDentry(ino, rec->attr().mode()));
  *reply->mutable_attr() = rec->attr();
  *reply->mutable_layout() = rec->layout();
  return Status::OK();
}

Status MetaStore::DeleteInode(Txn* txn, uint64_t ino) {
  txn->Delete(ino);
  if (orphans_.erase(ino) != 0) txn->batch.Delete(OrphanKey(ino));
  PrefixIterator xit(db_.get(), rocksdb::ReadOptions(), XattrPrefix(ino));
  for (xit.Seek(); xit.Valid(); xit.Next()) txn->batch.Delete(xit.key());
  if (!xit.status().ok()) return FromRocks(xit.status(), "delete xattrs of " + InoStr(ino));
  PrefixIterator it(db_.get(), rocksdb::ReadOptions(), ExtentPrefix(ino));
  for (it.Seek(); it.Valid(); it.Next()) {
    Extent e;
    if (!e.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()))) {
      return Status::IoError("corrupt extent of " + InoStr(ino));
    }
    space_.Free(e.pair(), e.dev_offset(), e.length(), &txn->batch);
    txn->space_changed = true;
    txn->batch.Delete(it.key());
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
  if (!dir && (sessions_.IsOpen(ino) || sessions_.InGrace())) {
    // Open somewhere (or maybe, while a restarted meta waits for the
    // sessions to say what they hold): the data stays for the handles.
    a->set_nlink(0);
    a->set_ctime_ns(NowNs());
    txn->batch.Put(OrphanKey(ino), "");
    orphans_.insert(ino);
    return Status::OK();
  }
  return DeleteInode(txn, ino);
}

Status MetaStore::Unlink(const UnlinkRequest& req, AttrReply* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoUnlink(txn, req, reply); });
}

Status MetaStore::DoUnlink(Txn* txn, const UnlinkRequest& req, AttrReply* reply) {
  const uint64_t parent = req.parent();
  const std::string& name = req.name();
  const bool directory = req.directory();
  if (directory && name == "..") return Status::NotEmpty("cannot remove '..'");
  Status s = ValidateName(name);
  if (!s.ok()) return s;
  Result<InodeRecord*> pr = txn->Dir(parent);
  if (!pr.ok()) return pr.status();
  Result<DentryValue> d = ReadDentry(db_.get(), rocksdb::ReadOptions(), parent, name);
  if (!d.ok()) return d.status();
  Result<InodeRecord*> cr = txn->Inode(d->ino);
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
  s = DropLink(txn, d->ino);
  if (!s.ok()) return s;
  const int64_t now = NowNs();
  (*pr)->mutable_attr()->set_mtime_ns(now);
  (*pr)->mutable_attr()->set_ctime_ns(now);
  txn->batch.Delete(DentryKey(parent, name));
  *reply->mutable_parent_attr() = (*pr)->attr();
  return Status::OK();
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

Status MetaStore::Rename(const RenameRequest& req, Empty* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoRename(txn, req); });
}

Status MetaStore::DoRename(Txn* txn, const RenameRequest& req) {
  const uint32_t flags = req.flags();
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
      ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))) {
    return Status::Invalid("bad rename flags " + std::to_string(flags));
  }
  Status s = ValidateName(req.name());
  if (!s.ok()) return s;
  s = ValidateName(req.new_name());
  if (!s.ok()) return s;
  const uint64_t P = req.parent(), NP = req.new_parent();
  Result<InodeRecord*> pr = txn->Dir(P);
  if (!pr.ok()) return pr.status();
  Result<InodeRecord*> npr = txn->Dir(NP);
  if (!npr.ok()) return npr.status();
  InodeRecord* parent = *pr;
  InodeRecord* new_parent = *npr;  // may equal parent: Txn hands out one record per ino
  rocksdb::ReadOptions ro;
  Result<DentryValue> src = ReadDentry(db_.get(), ro, P, req.name());
  if (!src.ok()) return src.status();
  Result<DentryValue> dst = ReadDentry(db_.get(), ro, NP, req.new_name());
  if (!dst.ok() && dst.status().code() != Status::Code::kNotFound) return dst.status();
  if (P == NP && req.name() == req.new_name()) return Status::OK();
  Result<InodeRecord*> sr = txn->Inode(src->ino);
  if (!sr.ok()) return sr.status();
  InodeRecord* src_rec = *sr;
  const bool src_dir = IsDir(*src_rec);
  const int64_t now = NowNs();
  auto add_nlink = [](InodeRecord* r, int d) {
    r->mutable_attr()->set_nlink(r->attr().nlink() + d);
  };

  if (flags & RENAME_EXCHANGE) {
    if (!dst.ok()) return dst.status();
    Result<InodeRecord*> dr = txn->Inode(dst->ino);
    if (!dr.ok()) return dr.status();
    InodeRecord* dst_rec = *dr;
    const bool dst_dir = IsDir(*dst_rec);
    if (src_dir) {
      s = CheckNotAncestor(txn, src->ino, NP);
      if (!s.ok()) return s;
    }
    if (dst_dir) {
      s = CheckNotAncestor(txn, dst->ino, P);
      if (!s.ok()) return s;
    }
    txn->batch.Put(DentryKey(P, req.name()), EncodeDentry(dst->ino, dst_rec->attr().mode()));
    txn->batch.Put(DentryKey(NP, req.new_name()), EncodeDentry(src->ino, src_rec->attr().mode()));
    if (P != NP) {
      src_rec->mutable_attr()->set_parent(NP);
      dst_rec->mutable_attr()->set_parent(P);
      if (src_dir) {
        add_nlink(parent, -1);
        add_nlink(new_parent, +1);
      }
      if (dst_dir) {
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
      s = CheckNotAncestor(txn, src->ino, NP);
      if (!s.ok()) return s;
    }
    if (dst.ok()) {
      Result<InodeRecord*> dr = txn->Inode(dst->ino);
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
      s = DropLink(txn, dst->ino);
      if (!s.ok()) return s;
    }
    txn->batch.Delete(DentryKey(P, req.name()));
    txn->batch.Put(DentryKey(NP, req.new_name()), EncodeDentry(src->ino, src_rec->attr().mode()));
    if (P != NP) {
      src_rec->mutable_attr()->set_parent(NP);
      if (src_dir) {
        add_nlink(parent, -1);
        add_nlink(new_parent, +1);
      }
    }
    src_rec->mutable_attr()->set_ctime_ns(now);
  }
  parent->mutable_attr()->set_mtime_ns(now);
  parent->mutable_attr()->set_ctime_ns(now);
  new_parent->mutable_attr()->set_mtime_ns(now);
  new_parent->mutable_attr()->set_ctime_ns(now);
  return Status::OK();
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


Status MetaStore::CollectOrphans(const std::vector<uint64_t>& inos, bool all) {
  MutationLock l(this);
  Txn txn(db_.get());
  // Collected changes need no sync of their own: lost in a crash, the
  // orphans are collected again after the restart.
  txn.needs_sync = false;
  const std::vector<uint64_t> candidates =
      all ? std::vector<uint64_t>(orphans_.begin(), orphans_.end()) : inos;
  size_t deleted = 0;
  for (uint64_t ino : candidates) {
    if (!orphans_.count(ino) || sessions_.IsOpen(ino)) continue;
    Status s = DeleteInode(&txn, ino);
    if (!s.ok()) return AbandonLocked(txn, s);
    deleted++;
  }
  if (deleted == 0) return Status::OK();
  VLOG(1) << "deleted " << deleted << " orphans nobody holds open";
  return ApplyLocked(&txn);
}

size_t MetaStore::orphan_count() {
  std::lock_guard l(mu_);
  return orphans_.size();
}

}  // namespace scalefs::meta
