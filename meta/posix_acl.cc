#include "meta/posix_acl.h"

#include <sys/stat.h>

namespace scalefs::meta {

namespace {

constexpr uint32_t kAclXattrVersion = 2;
constexpr size_t kHeaderSize = 4;  // posix_acl_xattr_header: a_version
constexpr size_t kEntrySize = 8;   // posix_acl_xattr_entry: e_tag, e_perm, e_id
constexpr uint16_t kPermBits = 07;

uint16_t GetLe16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | u[1] << 8);
}
uint32_t GetLe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 | uint32_t{u[3]} << 24;
}
void PutLe16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void PutLe32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; i++) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// posix_acl_valid: the entries in tag order, one of each base entry, and a
// MASK whenever there are named entries.
Status Validate(const std::vector<AclEntry>& entries) {
  enum State { kWantUserObj, kInUsers, kInGroups, kWantOther, kDone };
  State state = kWantUserObj;
  bool needs_mask = false;
  for (const AclEntry& e : entries) {
    if (e.perm & ~kPermBits) {
      return Status::Invalid("ACL entry with permission bits " + std::to_string(e.perm));
    }
    const State before = state;
    bool in_order = false;
    switch (e.tag) {
      case kAclUserObj:
        in_order = state == kWantUserObj;
        state = kInUsers;
        break;
      case kAclUser:
        in_order = state == kInUsers;
        needs_mask = true;
        break;
      case kAclGroupObj:
        in_order = state == kInUsers;
        state = kInGroups;
        break;
      case kAclGroup:
        in_order = state == kInGroups;
        needs_mask = true;
        break;
      case kAclMask:
        in_order = state == kInGroups;
        state = kWantOther;
        break;
      case kAclOther:
        in_order = state == kWantOther || (state == kInGroups && !needs_mask);
        state = kDone;
        break;
      default:
        return Status::Invalid("ACL entry with unknown tag " + std::to_string(e.tag));
    }
    if (!in_order) {
      const bool no_mask = e.tag == kAclOther && before == kInGroups;
      return Status::Invalid("ACL entry with tag " + std::to_string(e.tag) +
                             (no_mask ? ": named entries without a mask entry"
                                      : " out of order or repeated"));
    }
  }
  if (state != kDone) return Status::Invalid("ACL without its user, group and other entries");
  return Status::OK();
}

// The permission bits (rwx) of mode for one class: shift 6 owner, 3 group, 0 other.
uint16_t Bits(uint32_t mode, int shift) { return static_cast<uint16_t>((mode >> shift) & 07); }

}  // namespace

Result<PosixAcl> PosixAcl::Parse(std::string_view xattr) {
  if (xattr.size() < kHeaderSize) return Status::Invalid("ACL xattr shorter than its header");
  if (GetLe32(xattr.data()) != kAclXattrVersion) {
    return Status::NotSupported("ACL xattr version " + std::to_string(GetLe32(xattr.data())));
  }
  if ((xattr.size() - kHeaderSize) % kEntrySize != 0) {
    return Status::Invalid("ACL xattr of " + std::to_string(xattr.size()) +
                           " bytes is no whole number of entries");
  }
  PosixAcl acl;
  for (size_t off = kHeaderSize; off < xattr.size(); off += kEntrySize) {
    AclEntry e;
    e.tag = GetLe16(xattr.data() + off);
    e.perm = GetLe16(xattr.data() + off + 2);
    e.id = kAclUndefinedId;
    if (e.tag == kAclUser || e.tag == kAclGroup) {
      e.id = GetLe32(xattr.data() + off + 4);
      // (uid_t)-1 is no user: the kernel cannot map it either.
      if (e.id == kAclUndefinedId) return Status::Invalid("named ACL entry without an id");
    }
    acl.entries_.push_back(e);
  }
  if (acl.entries_.empty()) return acl;
  Status s = Validate(acl.entries_);
  if (!s.ok()) return s;
  return acl;
}

PosixAcl PosixAcl::FromMode(uint32_t mode) {
  PosixAcl acl;
  acl.entries_ = {{kAclUserObj, Bits(mode, 6), kAclUndefinedId},
                  {kAclGroupObj, Bits(mode, 3), kAclUndefinedId},
                  {kAclOther, Bits(mode, 0), kAclUndefinedId}};
  return acl;
}

std::string PosixAcl::Serialize() const {
  std::string out;
  out.reserve(kHeaderSize + kEntrySize * entries_.size());
  PutLe32(&out, kAclXattrVersion);
  for (const AclEntry& e : entries_) {
    PutLe16(&out, e.tag);
    PutLe16(&out, e.perm);
    PutLe32(&out, e.tag == kAclUser || e.tag == kAclGroup ? e.id : kAclUndefinedId);
  }
  return out;
}

bool PosixAcl::EquivalentToMode() const {
  for (const AclEntry& e : entries_) {
    if (e.tag == kAclUser || e.tag == kAclGroup || e.tag == kAclMask) return false;
  }
  return true;
}

uint32_t PosixAcl::ModeOf(uint32_t mode) const {
  uint32_t bits = 0;
  for (const AclEntry& e : entries_) {
    switch (e.tag) {
      case kAclUserObj: bits |= uint32_t{e.perm} << 6; break;
      case kAclGroupObj: bits |= uint32_t{e.perm} << 3; break;
      // Comes after GROUP_OBJ (Validate) and stands for the group class.
      case kAclMask: bits = (bits & ~070u) | uint32_t{e.perm} << 3; break;
      case kAclOther: bits |= e.perm; break;
      default: break;
    }
  }
  return (mode & ~0777u) | bits;
}

void PosixAcl::Chmod(uint32_t mode) {
  AclEntry* group = nullptr;
  AclEntry* mask = nullptr;
  for (AclEntry& e : entries_) {
    switch (e.tag) {
      case kAclUserObj: e.perm = Bits(mode, 6); break;
      case kAclGroupObj: group = &e; break;
      case kAclMask: mask = &e; break;
      case kAclOther: e.perm = Bits(mode, 0); break;
      default: break;
    }
  }
  if (mask != nullptr) {
    mask->perm = Bits(mode, 3);
  } else if (group != nullptr) {
    group->perm = Bits(mode, 3);
  }
}

void PosixAcl::CreateMasq(uint32_t* mode) {
  AclEntry* group = nullptr;
  AclEntry* mask = nullptr;
  uint32_t allowed = *mode;
  for (AclEntry& e : entries_) {
    switch (e.tag) {
      case kAclUserObj:
        e.perm &= Bits(allowed, 6);
        allowed = (allowed & ~0700u) | (allowed & uint32_t{e.perm} << 6);
        break;
      case kAclGroupObj: group = &e; break;
      case kAclMask: mask = &e; break;
      case kAclOther:
        e.perm &= Bits(allowed, 0);
        allowed = (allowed & ~07u) | (allowed & e.perm);
        break;
      default: break;
    }
  }
  // The mask stands for the group class when there is one, as in ModeOf.
  AclEntry* g = mask != nullptr ? mask : group;
  if (g != nullptr) {
    g->perm &= Bits(allowed, 3);
    allowed = (allowed & ~070u) | (allowed & uint32_t{g->perm} << 3);
  }
  *mode &= allowed;
}

Result<AclXattrChange> SetAclXattr(std::string_view name, std::string_view value, uint32_t mode,
                                   bool kill_sgid) {
  // Linux keeps no ACLs on symlinks (their mode is always 0777).
  if (S_ISLNK(mode)) return Status::NotSupported("a symlink has no ACLs");
  Result<PosixAcl> acl = PosixAcl::Parse(value);
  if (!acl.ok()) return acl.status();
  AclXattrChange change;
  change.mode = mode;
  if (name == kAclDefaultXattr) {
    // set_posix_acl: only a directory has a default ACL; removing one from
    // anything else succeeds, there being none.
    if (!S_ISDIR(mode) && !acl->empty()) {
      return Status(Status::Code::kAccess, "a default ACL is for directories only");
    }
    if (!acl->empty()) change.value = acl->Serialize();
    return change;
  }
  if (acl->empty()) return change;
  change.mode = acl->ModeOf(mode);
  if (kill_sgid) change.mode &= ~uint32_t{S_ISGID};
  if (!acl->EquivalentToMode()) change.value = acl->Serialize();
  return change;
}

Result<std::string> ChmodAclXattr(std::string_view stored, uint32_t mode) {
  Result<PosixAcl> acl = PosixAcl::Parse(stored);
  if (!acl.ok()) return Status::IoError("stored access ACL: " + acl.status().message());
  acl->Chmod(mode);
  return acl->Serialize();
}

Result<InheritedAcl> InheritAcl(const std::string* parent_default, uint32_t mode,
                                uint32_t umask) {
  InheritedAcl out;
  out.mode = mode;
  if (S_ISLNK(mode)) return out;
  if (parent_default == nullptr) {
    out.mode &= ~(umask & 0777);
    return out;
  }
  Result<PosixAcl> acl = PosixAcl::Parse(*parent_default);
  if (!acl.ok()) return Status::IoError("stored default ACL: " + acl.status().message());
  if (S_ISDIR(mode)) out.default_acl = *parent_default;
  acl->CreateMasq(&out.mode);
  if (!acl->EquivalentToMode()) out.access = acl->Serialize();
  return out;
}

}  // namespace scalefs::meta
