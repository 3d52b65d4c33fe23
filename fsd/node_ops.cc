// FUSE operations on names and inodes: lookup, attrs, making and removing
// nodes, links, rename.

#include <glog/logging.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "common/layout.h"
#include "fsd/fuse_op_handlers.h"
#include "fsd/fuse_op_util.h"

namespace scalefs::fuse_op {

namespace {

int64_t ToNs(const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

void ReplyEntry(fuse_req_t req, const Result<meta::AttrReply>& r) {
  if (!r.ok()) return ReplyError(req, r.status());
  if (r.value().has_parent_attr()) Self(req)->RememberAttr(r.value().parent_attr());
  fuse_entry_param e = Self(req)->ToEntry(r.value().attr());
  fuse_reply_entry(req, &e);
}

void MakeNode(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev,
              const char* target) {
  if (NameTooLong(req, name)) return;
  const fuse_ctx* ctx = fuse_req_ctx(req);
  meta::MakeNodeRequest m;
  m.set_parent(parent);
  m.set_name(name);
  m.set_mode(mode);
  m.set_rdev(rdev);
  // The setgid bit of a parent directory is not honoured: the group is the
  // caller's.
  m.set_uid(ctx->uid);
  m.set_gid(ctx->gid);
  m.set_umask(ctx->umask);  // meta applies it, or the parent's default ACL (OpInit)
  if (target != nullptr) m.set_symlink_target(target);
  Self(req)->Changed(parent);
  Self(req)->lookups().NameChanged(parent, name);
  auto r = Self(req)->meta()->MakeNode(m);
  Self(req)->lookups().NameChanged(parent, name);
  ReplyEntry(req, r);
}

void Remove(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory) {
  if (NameTooLong(req, name)) return;
  Self(req)->Changed(parent);
  // A file this client closed is still open at meta until its release
  // lands; unlinked before that, its space would come back only then.
  Self(req)->files().FlushReleases();
  Self(req)->lookups().NameChanged(parent, name);
  meta::Attr parent_attr;
  Status s = Self(req)->meta()->Unlink(parent, name, directory, &parent_attr);
  Self(req)->lookups().NameChanged(parent, name);
  // The unlinked inode may be open here, its attr remembered with nlink 1.
  Self(req)->ForgetAllAttrs();
  if (s.ok() && parent_attr.ino() == parent) {
    Self(req)->RememberAttr(parent_attr);
  } else {
    Self(req)->ForgetAttr(parent);
  }
  fuse_reply_err(req, s.errno_value());
}

}  // namespace

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (NameTooLong(req, name)) return;
  ScalefsFuse* self = Self(req);
  if (std::optional<LookupCache::Hit> hit = self->lookups().Find(parent, name)) {
    fuse_entry_param e = self->ToEntry(hit->attr);
    e.attr_timeout = std::min(e.attr_timeout, hit->seconds_left);
    e.entry_timeout = std::min(e.entry_timeout, hit->seconds_left);
    return (void)fuse_reply_entry(req, &e);
  }
  auto r = self->meta()->Lookup(parent, name);
  ReplyEntry(req, r);
  // After the reply: the caller goes on while this thread lists.
  if (r.ok() && self->lookups().ShouldList(parent)) self->ListForLookups(parent);
}

void OpForget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }
void OpForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (std::optional<meta::Attr> a = Self(req)->TakeAttr(ino)) {
    struct stat st = Self(req)->ToStat(*a);
    return (void)fuse_reply_attr(req, &st, Self(req)->timeouts().attr);
  }
  auto r = Self(req)->meta()->GetAttr(ino);
  if (!r.ok()) return ReplyError(req, r.status());
  struct stat st = Self(req)->ToStat(r->attr());
  fuse_reply_attr(req, &st, Self(req)->timeouts().attr);
}

void OpSetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  ScalefsFuse* self = Self(req);
  self->Changed(ino);
  meta::SetAttrRequest m;
  m.set_ino(ino);
  if (to_set & FUSE_SET_ATTR_MODE) { m.set_set_mode(true); m.set_mode(attr->st_mode); }
  if (to_set & FUSE_SET_ATTR_UID) { m.set_set_uid(true); m.set_uid(attr->st_uid); }
  if (to_set & FUSE_SET_ATTR_GID) { m.set_set_gid(true); m.set_gid(attr->st_gid); }
  if (to_set & FUSE_SET_ATTR_ATIME) {
    m.set_set_atime(true);
    m.set_atime_ns((to_set & FUSE_SET_ATTR_ATIME_NOW) ? -1 : ToNs(attr->st_atim));
  }
  if (to_set & FUSE_SET_ATTR_MTIME) {
    m.set_set_mtime(true);
    m.set_mtime_ns((to_set & FUSE_SET_ATTR_MTIME_NOW) ? -1 : ToNs(attr->st_mtim));
  }
  Result<meta::AttrReply> r = Status::OK();
  std::shared_ptr<OpenFile> file = self->files().Find(ino);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    m.set_set_size(true);
    m.set_size(attr->st_size);
    self->fills().BeginWrite(ino);
    if (file) {
      r = file->Truncate(m);
    } else {
      // The tail block is written straight to its pair: the file is held
      // open at meta meanwhile (as by a writer, ended by the release that
      // follows), so no move of it (meta/rebalance_ops.cc) is under way:
      // one that was is cancelled, and none begins until the release.
      self->files().Acquire(ino);
      auto held = self->meta()->GetExtents(ino, RoundDown(attr->st_size, kBlockSize), kBlockSize,
                                           self->session_id(), /*open_access=*/2);
      Status s = held.status();
      if (s.ok()) s = ZeroTailBlock(self->meta(), self->pool(), ino, attr->st_size);
      r = s.ok() ? self->meta()->SetAttr(m) : Result<meta::AttrReply>(s);
      self->files().Release(ino);
    }
    self->fills().EndWrite(ino);
  } else {
    // Pending writes first, so meta's mtime does not overtake an explicit one.
    if (file) {
      Status s = file->Commit();
      if (!s.ok()) return ReplyError(req, s);
    }
    r = self->meta()->SetAttr(m);
  }
  if (!r.ok()) return ReplyError(req, r.status());
  struct stat st = self->ToStat(r->attr());
  fuse_reply_attr(req, &st, self->timeouts().attr);
}

void OpReadLink(fuse_req_t req, fuse_ino_t ino) {
  auto r = Self(req)->meta()->ReadLink(ino);
  if (!r.ok()) return ReplyError(req, r.status());
  fuse_reply_readlink(req, r->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  MakeNode(req, parent, name, mode, rdev, nullptr);
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  MakeNode(req, parent, name, S_IFDIR | (mode & 07777), 0, nullptr);
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  MakeNode(req, parent, name, S_IFLNK | 0777, 0, link);
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Remove(req, parent, name, false);
}
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Remove(req, parent, name, true);
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  if (NameTooLong(req, name) || NameTooLong(req, newname)) return;
  Self(req)->Changed(parent);
  Self(req)->Changed(newparent);
  Self(req)->lookups().NameChanged(parent, name);
  Self(req)->lookups().NameChanged(newparent, newname);
  Self(req)->files().FlushReleases();  // as Remove: a replaced file's space
  Status s = Self(req)->meta()->Rename(parent, name, newparent, newname, flags);
  Self(req)->lookups().NameChanged(parent, name);
  Self(req)->lookups().NameChanged(newparent, newname);
  Self(req)->ForgetAttr(parent);
  Self(req)->ForgetAttr(newparent);
  Self(req)->ForgetAllAttrs();  // a replaced target lost a link
  if (!s.ok() && s.code() != Status::Code::kNotFound) LOG(WARNING) << s.ToString();
  fuse_reply_err(req, s.errno_value());
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  if (NameTooLong(req, newname)) return;
  Self(req)->Changed(ino);
  Self(req)->Changed(newparent);
  Self(req)->lookups().NameChanged(newparent, newname);
  auto r = Self(req)->meta()->Link(ino, newparent, newname);
  Self(req)->lookups().NameChanged(newparent, newname);
  ReplyEntry(req, r);
}

void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  // Mounted with default_permissions: the kernel checks modes and ACLs;
  // this only answers whether the inode exists.
  auto r = Self(req)->meta()->GetAttr(ino);
  fuse_reply_err(req, r.ok() ? 0 : r.status().errno_value());
}

}  // namespace scalefs::fuse_op
