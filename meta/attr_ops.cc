// The attribute operations of MetaStore: setattr (chmod, chown, utimes and
// truncate, which frees the blocks past the new end) and extended attributes,
// POSIX ACLs among them (meta/posix_acl.h keeps them and the mode in step).
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/meta_store.h"
#include "meta/posix_acl.h"
#include "meta/prefix_iterator.h"
#include "meta/txn.h"

namespace scalefs::meta {

Status MetaStore::SetAttr(const SetAttrRequest& req, AttrReply* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoSetAttr(txn, req, reply); });
}

Status MetaStore::DoSetAttr(Txn* txn, const SetAttrRequest& req, AttrReply* reply) {
  if (req.set_size() && req.size() > kMaxFileSize) {
    return Status(Status::Code::kTooBig, "size " + std::to_string(req.size()) +
                                             " is more than a file can hold");
  }
  Result<InodeRecord*> r = txn->Inode(req.ino());
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
      txn->batch.Put(key, *changed);
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
        txn->space_changed = true;
        if (e.file_offset() >= cut) {
          space_.Free(e.pair(), e.dev_offset(), e.length(), &txn->batch);
          freed += e.length();
          it = cur.erase(it);
        } else {
          const uint64_t keep = cut - e.file_offset();
          space_.Free(e.pair(), e.dev_offset() + keep, e.length() - keep, &txn->batch);
          freed += e.length() - keep;
          e.set_length(keep);
          ++it;
        }
      }
      WriteExtentDiff(req.ino(), orig, cur, &txn->batch);
      a->set_blocks(a->blocks() - std::min<uint64_t>(a->blocks(), freed / 512));
      a->set_alloc_gen(a->alloc_gen() + 1);
    }
    if (req.size() != a->size()) a->set_mtime_ns(now);
    a->set_size(req.size());
  }
  if (req.set_atime()) a->set_atime_ns(req.atime_ns() == -1 ? now : req.atime_ns());
  if (req.set_mtime()) a->set_mtime_ns(req.mtime_ns() == -1 ? now : req.mtime_ns());
  a->set_ctime_ns(now);
  *reply->mutable_attr() = rec->attr();
  *reply->mutable_layout() = rec->layout();
  return Status::OK();
}


Status MetaStore::SetXattr(const SetXattrRequest& req, Empty* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoSetXattr(txn, req); });
}

Status MetaStore::DoSetXattr(Txn* txn, const SetXattrRequest& req) {
  const uint64_t ino = req.ino();
  const std::string& name = req.name();
  const std::string& value = req.value();
  const uint32_t flags = req.flags();
  if (name.empty()) return Status::Invalid("empty xattr name");
  if (name.size() > kMaxNameLength) return Status::Range("xattr name too long");
  if (value.size() > kMaxXattrValue) {
    return Status(static_cast<Status::Code>(E2BIG), "xattr value of " +
                  std::to_string(value.size()) + " bytes exceeds 64 KiB");
  }
  Result<InodeRecord*> r = txn->Inode(ino);
  if (!r.ok()) return r.status();
  if (name == kLayoutXattr) return SetDirLayoutLocked(*r, value);
  if (IsAclXattr(name)) {
    // The kernel ignores the flags for ACLs (vfs_set_acl); so does meta.
    Result<AclXattrChange> c =
        SetAclXattr(name, value, (*r)->attr().mode(), req.acl_kill_sgid());
    if (!c.ok()) return c.status().Annotate(Quote(name) + " of " + InoStr(ino));
    if (c->value) {
      txn->batch.Put(XattrKey(ino, name), *c->value);
    } else {
      txn->batch.Delete(XattrKey(ino, name));
    }
    (*r)->mutable_attr()->set_mode(c->mode);
    (*r)->mutable_attr()->set_ctime_ns(NowNs());
    return Status::OK();
  }
  std::string old;
  const bool exists = db_->Get(rocksdb::ReadOptions(), XattrKey(ino, name), &old).ok();
  if ((flags & XATTR_CREATE) && exists) {
    return Status::Exists("xattr " + Quote(name) + " exists on " + InoStr(ino));
  }
  if ((flags & XATTR_REPLACE) && !exists) {
    return Status::NoData("no xattr " + Quote(name) + " on " + InoStr(ino));
  }
  txn->batch.Put(XattrKey(ino, name), value);
  (*r)->mutable_attr()->set_ctime_ns(NowNs());
  return Status::OK();
}

Result<std::string> MetaStore::GetXattr(uint64_t ino, const std::string& name) {
  if (name == kLayoutXattr) return LayoutXattr(ino);
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

Status MetaStore::RemoveXattr(const XattrRequest& req, Empty* reply) {
  return Mutate(req.call(), reply, [&](Txn* txn) { return DoRemoveXattr(txn, req); });
}

Status MetaStore::DoRemoveXattr(Txn* txn, const XattrRequest& req) {
  const uint64_t ino = req.ino();
  const std::string& name = req.name();
  Result<InodeRecord*> r = txn->Inode(ino);
  if (!r.ok()) return r.status();
  if (name == kLayoutXattr) {
    // A directory goes back to the cluster's default; a file's stays.
    if (!S_ISDIR((*r)->attr().mode())) {
      return Status::Invalid("a file's layout is fixed when it is made (" + InoStr(ino) + ")");
    }
    (*r)->clear_layout();
    (*r)->mutable_attr()->set_ctime_ns(NowNs());
    return Status::OK();
  }
  std::string v;
  if (!db_->Get(rocksdb::ReadOptions(), XattrKey(ino, name), &v).ok()) {
    // Removing an ACL there is none of succeeds, as on ext4. The mode stays
    // either way: it is what the access ACL's base entries were.
    if (IsAclXattr(name)) return Status::OK();
    return Status::NoData("no xattr " + Quote(name) + " on " + InoStr(ino));
  }
  txn->batch.Delete(XattrKey(ino, name));
  (*r)->mutable_attr()->set_ctime_ns(NowNs());
  return Status::OK();
}

}  // namespace scalefs::meta
