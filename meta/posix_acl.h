// POSIX ACLs as Linux keeps them in the system.posix_acl_access and
// system.posix_acl_default xattrs, and the rules of fs/posix_acl.c that tie
// an access ACL to the mode. Meta stores ACLs as those xattrs and applies the
// rules in the batch of the change that calls for them (setxattr, chmod,
// create), so the mode and the ACL are never seen out of step. The kernel
// checks permissions against them itself (FUSE_POSIX_ACL).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace scalefs::meta {

inline constexpr std::string_view kAclAccessXattr = "system.posix_acl_access";
inline constexpr std::string_view kAclDefaultXattr = "system.posix_acl_default";

inline bool IsAclXattr(std::string_view name) {
  return name == kAclAccessXattr || name == kAclDefaultXattr;
}

struct AclEntry {
  uint16_t tag = 0;
  uint16_t perm = 0;  // ACL_READ 4 | ACL_WRITE 2 | ACL_EXECUTE 1
  uint32_t id = 0;    // the uid or gid of a named entry; kAclUndefinedId otherwise
};

// Entry tags, as in <linux/posix_acl.h>; an ACL lists them in this order.
inline constexpr uint16_t kAclUserObj = 0x01;
inline constexpr uint16_t kAclUser = 0x02;
inline constexpr uint16_t kAclGroupObj = 0x04;
inline constexpr uint16_t kAclGroup = 0x08;
inline constexpr uint16_t kAclMask = 0x10;
inline constexpr uint16_t kAclOther = 0x20;
inline constexpr uint32_t kAclUndefinedId = 0xffffffff;

class PosixAcl {
 public:
  // Reads an xattr value as the kernel's posix_acl_from_xattr and
  // posix_acl_valid do: EINVAL for a value that is not a whole number of
  // entries, an unknown tag, a permission above 7, or entries out of order
  // (USER_OBJ, USER..., GROUP_OBJ, GROUP..., MASK, OTHER, with exactly one
  // of each base entry and a MASK whenever there are named ones);
  // EOPNOTSUPP for another version than 2. Named entries need not be sorted
  // by id, as the kernel does not ask that either. A header without entries
  // gives an empty ACL: the kernel reads it as "no ACL".
  static Result<PosixAcl> Parse(std::string_view xattr);
  // The three base entries that say what the permission bits of mode say.
  static PosixAcl FromMode(uint32_t mode);

  // The xattr value; base entries carry kAclUndefinedId, as the kernel writes them.
  std::string Serialize() const;

  const std::vector<AclEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // True when the ACL has only the three base entries, so the mode says
  // all of it and nothing needs storing (posix_acl_equiv_mode).
  bool EquivalentToMode() const;
  // mode with its permission bits taken from the ACL: USER_OBJ for the
  // owner, MASK (GROUP_OBJ without one) for the group, OTHER for others.
  // The file type and the setuid, setgid and sticky bits stay.
  uint32_t ModeOf(uint32_t mode) const;
  // chmod of a file with this ACL: USER_OBJ, MASK (or GROUP_OBJ) and OTHER
  // take the new mode's bits; named entries stay (posix_acl_chmod).
  void Chmod(uint32_t mode);
  // A new inode's access ACL from its parent's default ACL: every entry the
  // requested mode does not allow is dropped, and the mode keeps only what
  // the ACL allows (posix_acl_create_masq).
  void CreateMasq(uint32_t* mode);

 private:
  std::vector<AclEntry> entries_;
};

// What setting an ACL xattr does to an inode.
struct AclXattrChange {
  uint32_t mode = 0;                 // the inode's new mode
  std::optional<std::string> value;  // the xattr to store; none: remove it
};

// Setting `name` (an ACL xattr) to `value` on an inode of `mode`, as
// set_posix_acl and posix_acl_update_mode do: the access ACL sets the
// permission bits and is stored only if the mode cannot say it; an empty
// ACL removes the xattr, leaving the mode; `kill_sgid` (the caller is
// neither in the file's group nor holds CAP_FSETID, which only the client
// can tell) clears setgid with an access ACL. A default ACL is for
// directories only (EACCES otherwise, as on Linux) and leaves the mode.
// Symlinks take no ACLs (EOPNOTSUPP).
Result<AclXattrChange> SetAclXattr(std::string_view name, std::string_view value, uint32_t mode,
                                   bool kill_sgid);

// The stored access ACL `stored` after a chmod to `mode` (posix_acl_chmod).
Result<std::string> ChmodAclXattr(std::string_view stored, uint32_t mode);

// What a new inode starts with (posix_acl_create).
struct InheritedAcl {
  uint32_t mode = 0;
  std::string access;       // the access ACL xattr to store, if not empty
  std::string default_acl;  // a new directory's default ACL, if not empty
};

// A new inode of type and permissions `mode` in a directory whose default
// ACL is `parent_default` (nullptr: it has none): with a default ACL
// the inode's access ACL is it masked by mode and a directory inherits it
// as its own default, the umask not applying; without one the mode loses
// the umask's bits. Symlinks keep their mode and take no ACL.
Result<InheritedAcl> InheritAcl(const std::string* parent_default, uint32_t mode,
                                uint32_t umask);

}  // namespace scalefs::meta
