#include "meta/permission_check.h"

#include <linux/fs.h>
#include <sys/stat.h>

#include <string>

namespace scalefs::meta {

namespace {

std::string Who(const Identity& who) {
  return "uid " + std::to_string(who.uid) + " (root squashed)";
}

bool StartsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

// generic_permission without capabilities: the owner class by uid; else, with
// an access ACL, posix_acl_permission (named users and groups masked by
// MASK, a matching group that does not allow denies); else group or other.
bool Permits(const Attr& attr, const std::optional<PosixAcl>& acl, const Identity& who,
             uint32_t mask) {
  const uint32_t mode = attr.mode();
  if (who.uid == attr.uid()) return (((mode >> 6) & 7) & mask) == mask;
  if (!acl || acl->empty()) {
    const uint32_t bits = who.gid == attr.gid() ? (mode >> 3) & 7 : mode & 7;
    return (bits & mask) == mask;
  }
  uint32_t acl_mask = 7;
  for (const AclEntry& e : acl->entries()) {
    if (e.tag == kAclMask) acl_mask = e.perm;
  }
  bool group_found = false;
  for (const AclEntry& e : acl->entries()) {
    switch (e.tag) {
      case kAclUser:
        if (e.id == who.uid) return ((e.perm & acl_mask) & mask) == mask;
        break;
      case kAclGroupObj:
      case kAclGroup: {
        const uint32_t gid = e.tag == kAclGroupObj ? attr.gid() : e.id;
        if (gid == who.gid) {
          group_found = true;
          if ((e.perm & mask) == mask) return ((e.perm & acl_mask) & mask) == mask;
        }
        break;
      }
      case kAclOther:
        return !group_found && (e.perm & mask) == mask;
      default:
        break;
    }
  }
  return false;
}

Result<std::optional<PermissionCheck::Node>> PermissionCheck::Read(uint64_t ino) const {
  Result<InodeRecord> r = store_->GetAttr(ino);
  if (!r.ok()) {
    if (r.status().code() == Status::Code::kNotFound) return std::optional<Node>();
    return r.status();
  }
  Node n{r->attr(), std::nullopt};
  Result<std::string> acl = store_->GetXattr(ino, std::string(kAclAccessXattr));
  if (acl.ok()) {
    Result<PosixAcl> parsed = PosixAcl::Parse(*acl);
    if (!parsed.ok()) return parsed.status().Annotate("access ACL of inode " + std::to_string(ino));
    n.acl = std::move(*parsed);
  } else if (acl.status().code() != Status::Code::kNoData) {
    return acl.status();
  }
  return std::optional<Node>(std::move(n));
}

Status PermissionCheck::Require(const Node& node, uint32_t mask, const Identity& who,
                                const char* what) const {
  if (Permits(node.attr, node.acl, who, mask)) return Status::OK();
  return Status(Status::Code::kAccess, Who(who) + " may not " + what + " inode " +
                                           std::to_string(node.attr.ino()));
}

Status PermissionCheck::Require(uint64_t ino, uint32_t mask, const Identity& who,
                                const char* what) const {
  Result<std::optional<Node>> n = Read(ino);
  if (!n.ok()) return n.status();
  if (!n->has_value()) return Status::OK();
  return Require(**n, mask, who, what);
}

Status PermissionCheck::MayRemoveEntry(const Node& dir, uint64_t dir_ino, const std::string& name,
                                       const Identity& who) const {
  if (!(dir.attr.mode() & S_ISVTX) || dir.attr.uid() == who.uid) return Status::OK();
  Result<InodeRecord> entry = store_->Lookup(dir_ino, name);
  if (!entry.ok()) {
    return entry.status().code() == Status::Code::kNotFound ? Status::OK() : entry.status();
  }
  if (entry->attr().uid() == who.uid) return Status::OK();
  return Status::Permission(Who(who) + " may not remove '" + name +
                            "' from sticky directory inode " + std::to_string(dir_ino) +
                            ": it owns neither");
}

Status PermissionCheck::Lookup(LookupRequest* req, const Identity& who) const {
  return Require(req->parent(), kMayExec, who, "search directory");
}

Status PermissionCheck::ReadDir(ReadDirRequest* req, const Identity& who) const {
  return Require(req->ino(), kMayRead, who, "list directory");
}

Status PermissionCheck::MakeNode(MakeNodeRequest* req, const Identity& who) const {
  req->set_uid(who.uid);
  req->set_gid(who.gid);
  return Require(req->parent(), kMayWrite | kMayExec, who, "create in directory");
}

Status PermissionCheck::Link(LinkRequest* req, const Identity& who) const {
  if (Status s = Require(req->new_parent(), kMayWrite | kMayExec, who, "link into directory");
      !s.ok()) {
    return s;
  }
  // fs.protected_hardlinks, Debian's default: a link to a file one does not
  // own needs read and write on it.
  Result<std::optional<Node>> src = Read(req->ino());
  if (!src.ok()) return src.status();
  if (!src->has_value() || (*src)->attr.uid() == who.uid) return Status::OK();
  const uint32_t mode = (*src)->attr.mode();
  if (S_ISREG(mode) && !(mode & S_ISUID) && !((mode & S_ISGID) && (mode & S_IXGRP)) &&
      Permits((*src)->attr, (*src)->acl, who, kMayRead | kMayWrite)) {
    return Status::OK();
  }
  return Status::Permission(Who(who) + " may not hard-link inode " + std::to_string(req->ino()) +
                            ", which it does not own (protected_hardlinks)");
}

Status PermissionCheck::Unlink(UnlinkRequest* req, const Identity& who) const {
  Result<std::optional<Node>> dir = Read(req->parent());
  if (!dir.ok()) return dir.status();
  if (!dir->has_value()) return Status::OK();
  if (Status s = Require(**dir, kMayWrite | kMayExec, who, "remove from directory"); !s.ok()) {
    return s;
  }
  return MayRemoveEntry(**dir, req->parent(), req->name(), who);
}

Status PermissionCheck::Rename(RenameRequest* req, const Identity& who) const {
  Result<std::optional<Node>> from = Read(req->parent());
  if (!from.ok()) return from.status();
  Result<std::optional<Node>> to = Read(req->new_parent());
  if (!to.ok()) return to.status();
  if (!from->has_value() || !to->has_value()) return Status::OK();
  if (Status s = Require(**from, kMayWrite | kMayExec, who, "rename out of directory"); !s.ok()) {
    return s;
  }
  if (Status s = Require(**to, kMayWrite | kMayExec, who, "rename into directory"); !s.ok()) {
    return s;
  }
  if (Status s = MayRemoveEntry(**from, req->parent(), req->name(), who); !s.ok()) return s;
  // The entry replaced (or, for RENAME_EXCHANGE, moved back) leaves its directory too.
  if (Status s = MayRemoveEntry(**to, req->new_parent(), req->new_name(), who); !s.ok()) return s;
  if (req->parent() == req->new_parent()) return Status::OK();
  // A directory moved to another parent has its ".." rewritten: it must be writable.
  auto moved_dir_writable = [&](uint64_t parent, const std::string& name) -> Status {
    Result<InodeRecord> e = store_->Lookup(parent, name);
    if (!e.ok()) return e.status().code() == Status::Code::kNotFound ? Status::OK() : e.status();
    if (!S_ISDIR(e->attr().mode())) return Status::OK();
    return Require(e->attr().ino(), kMayWrite, who, "move directory");
  };
  if (Status s = moved_dir_writable(req->parent(), req->name()); !s.ok()) return s;
  if (req->flags() & RENAME_EXCHANGE) return moved_dir_writable(req->new_parent(), req->new_name());
  return Status::OK();
}

Status PermissionCheck::SetAttr(SetAttrRequest* req, const Identity& who) const {
  Result<std::optional<Node>> n = Read(req->ino());
  if (!n.ok()) return n.status();
  if (!n->has_value()) return Status::OK();
  const Node& node = **n;
  const bool owner = node.attr.uid() == who.uid;
  const std::string ino = " inode " + std::to_string(req->ino());
  if (req->set_uid() && (!owner || req->uid() != node.attr.uid())) {
    return Status::Permission(Who(who) + " may not chown" + ino);
  }
  if (req->set_gid() && (!owner || (req->gid() != node.attr.gid() && req->gid() != who.gid))) {
    return Status::Permission(Who(who) + " may not chgrp" + ino + " to " +
                              std::to_string(req->gid()));
  }
  if (req->set_mode()) {
    if (!owner) return Status::Permission(Who(who) + " may not chmod" + ino + ", which it does not own");
    // setattr_prepare: outside the file's group, setgid cannot be set.
    const uint32_t gid = req->set_gid() ? req->gid() : node.attr.gid();
    if (gid != who.gid) req->set_mode(req->mode() & ~uint32_t{S_ISGID});
  }
  if (req->set_size()) {
    if (Status s = Require(node, kMayWrite, who, "truncate"); !s.ok()) return s;
  }
  const bool to_now = (!req->set_atime() || req->atime_ns() == -1) &&
                      (!req->set_mtime() || req->mtime_ns() == -1);
  if ((req->set_atime() || req->set_mtime()) && !owner) {
    if (!to_now) return Status::Permission(Who(who) + " may not set the times of" + ino);
    if (Status s = Require(node, kMayWrite, who, "touch"); !s.ok()) return s;
  }
  return Status::OK();
}

Status PermissionCheck::XattrChange(uint64_t ino, const std::string& name,
                                    const Identity& who) const {
  Result<std::optional<Node>> n = Read(ino);
  if (!n.ok()) return n.status();
  if (!n->has_value()) return Status::OK();
  const Node& node = **n;
  const std::string on = " on inode " + std::to_string(ino);
  if (IsAclXattr(name)) {
    if (node.attr.uid() == who.uid) return Status::OK();
    return Status::Permission(Who(who) + " may not set the ACL" + on + ", which it does not own");
  }
  if (StartsWith(name, "user.")) {
    const uint32_t mode = node.attr.mode();
    if (!S_ISREG(mode) && !S_ISDIR(mode)) {
      return Status::Permission("user xattrs are for files and directories only" + on);
    }
    if (S_ISDIR(mode) && (mode & S_ISVTX) && node.attr.uid() != who.uid) {
      return Status::Permission(Who(who) + " may not set user xattrs of sticky directory" + on);
    }
    return Require(node, kMayWrite, who, "set xattrs of");
  }
  // trusted.* and security.* need CAP_SYS_ADMIN.
  return Status::Permission(Who(who) + " may not change xattr '" + name + "'" + on);
}

Status PermissionCheck::SetXattr(SetXattrRequest* req, const Identity& who) const {
  return XattrChange(req->ino(), req->name(), who);
}

Status PermissionCheck::RemoveXattr(XattrRequest* req, const Identity& who) const {
  return XattrChange(req->ino(), req->name(), who);
}

Status PermissionCheck::GetXattr(XattrRequest* req, const Identity& who) const {
  const std::string& name = req->name();
  const std::string on = " on inode " + std::to_string(req->ino());
  // As xattr_permission: trusted.* is hidden without CAP_SYS_ADMIN.
  if (StartsWith(name, "trusted.")) return Status::NoData("no xattr '" + name + "'" + on);
  if (!StartsWith(name, "user.")) return Status::OK();
  Result<std::optional<Node>> n = Read(req->ino());
  if (!n.ok()) return n.status();
  if (!n->has_value()) return Status::OK();
  const uint32_t mode = (*n)->attr.mode();
  if (!S_ISREG(mode) && !S_ISDIR(mode)) return Status::NoData("no xattr '" + name + "'" + on);
  return Require(**n, kMayRead, who, "read xattrs of");
}

Status PermissionCheck::Open(ExtentsRequest* req, const Identity& who) const {
  if (req->open_session() == 0) return Status::OK();
  // A client that names no access is held to reading.
  uint32_t mask = req->open_access() & (kMayRead | kMayWrite);
  if (mask == 0) mask = kMayRead;
  return Require(req->ino(), mask, who, mask == kMayRead ? "open for reading"
                                        : mask == kMayWrite ? "open for writing"
                                                            : "open for reading and writing");
}

}  // namespace scalefs::meta
