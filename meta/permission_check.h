// Permission checks meta makes itself, for the one caller whose identity it
// changes: the root user of a client whose certificate squashes root
// (ClientGrant::root_squash) acts as nobody, 65534:65534 with no other
// groups and no capabilities, as behind an NFS server's root_squash. That
// client's kernel cannot check for it (root passes every check there), so
// meta checks each of its calls the way the kernel's generic_permission,
// may_delete, setattr_prepare and xattr_permission would, against the mode
// and the access ACL. Every other caller was checked by its own kernel
// (default_permissions) with its full list of groups.
//
// What is checked: lookups (search), listings (read), creates, links,
// unlinks and renames (write and search on the directories, the sticky
// bit), attribute and xattr changes (owner or write), and every open (read
// and/or write, ExtentsRequest::open_access): reads and writes of the data
// then go through that open, as in the kernel. The check runs before the
// operation's batch, so a chmod racing a call is seen before or after it,
// as with the kernel's own checks on a client.
#pragma once

#include <cstdint>
#include <optional>

#include "common/status.h"
#include "meta/meta_store.h"
#include "meta/posix_acl.h"

namespace scalefs::meta {

struct Identity {
  uint32_t uid = 0;
  uint32_t gid = 0;
};
inline constexpr Identity kSquashedRoot{65534, 65534};

inline constexpr uint32_t kMayExec = 1;
inline constexpr uint32_t kMayWrite = 2;
inline constexpr uint32_t kMayRead = 4;

// Whether `who` may `mask` (kMayRead | kMayWrite | kMayExec) the inode of
// attr whose access ACL is `acl` (nullopt: none), without capabilities.
bool Permits(const Attr& attr, const std::optional<PosixAcl>& acl, const Identity& who,
             uint32_t mask);

class PermissionCheck {
 public:
  explicit PermissionCheck(MetaStore* store) : store_(store) {}

  // One per operation that needs a check; EACCES or EPERM as Linux answers.
  // A request naming an inode that is not there passes: the operation
  // itself then fails with ENOENT. MakeNode also makes the new inode the
  // identity's, and SetAttr drops a setgid bit it may not set.
  Status Lookup(LookupRequest* req, const Identity& who) const;
  Status ReadDir(ReadDirRequest* req, const Identity& who) const;
  Status MakeNode(MakeNodeRequest* req, const Identity& who) const;
  Status Link(LinkRequest* req, const Identity& who) const;
  Status Unlink(UnlinkRequest* req, const Identity& who) const;
  Status Rename(RenameRequest* req, const Identity& who) const;
  Status SetAttr(SetAttrRequest* req, const Identity& who) const;
  Status SetXattr(SetXattrRequest* req, const Identity& who) const;
  Status RemoveXattr(XattrRequest* req, const Identity& who) const;
  Status GetXattr(XattrRequest* req, const Identity& who) const;
  Status Open(ExtentsRequest* req, const Identity& who) const;

 private:
  struct Node {
    Attr attr;
    std::optional<PosixAcl> acl;
  };
  // nullopt when the inode is not there.
  Result<std::optional<Node>> Read(uint64_t ino) const;
  // EACCES unless `who` may `mask` inode `ino`.
  Status Require(uint64_t ino, uint32_t mask, const Identity& who, const char* what) const;
  Status Require(const Node& node, uint32_t mask, const Identity& who, const char* what) const;
  // may_delete's sticky rule for `name` in directory `dir`: EPERM when the
  // directory is sticky and `who` owns neither it nor the entry.
  Status MayRemoveEntry(const Node& dir, uint64_t dir_ino, const std::string& name,
                        const Identity& who) const;
  Status XattrChange(uint64_t ino, const std::string& name, const Identity& who) const;

  MetaStore* store_;
};

}  // namespace scalefs::meta
