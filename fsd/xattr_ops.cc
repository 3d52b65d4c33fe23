// FUSE operations on extended attributes; POSIX ACLs are the system.posix_acl_*
// ones, which meta keeps in step with the mode.

#include <glog/logging.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstring>
#include <string>
#include <string_view>

#include "fsd/caller.h"
#include "fsd/fuse_op_handlers.h"
#include "fsd/fuse_op_util.h"

namespace scalefs::fuse_op {

namespace {

// File capabilities are not stored: see OpGetXattr.
constexpr std::string_view kCapabilityXattr = "security.capability";
// Meta keeps the mode in step with it (meta/posix_acl.h).
constexpr std::string_view kAclAccessXattr = "system.posix_acl_access";

}  // namespace

void OpSetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  if (std::string_view(name) == kCapabilityXattr) return (void)fuse_reply_err(req, EOPNOTSUPP);
  Self(req)->Changed(ino);
  if (strlen(name) > XATTR_NAME_MAX) return (void)fuse_reply_err(req, ERANGE);
  // An access ACL sets the mode, and clears setgid for a caller outside the
  // file's group without CAP_FSETID, which meta cannot tell.
  bool kill_sgid = false;
  if (std::string_view(name) == kAclAccessXattr) {
    auto r = Self(req)->meta()->GetAttr(ino);
    if (!r.ok()) return ReplyError(req, r.status());
    kill_sgid = (r->attr().mode() & S_ISGID) != 0 && !InGroupOrCapable(req, r->attr().gid());
  }
  Status s = Self(req)->meta()->SetXattr(ino, name, std::string(value, size), flags, kill_sgid);
  if (!s.ok() && s.code() != Status::Code::kExists && s.code() != Status::Code::kNoData) {
    LOG(WARNING) << s.ToString();
  }
  fuse_reply_err(req, s.errno_value());
}

void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  if (strlen(name) > XATTR_NAME_MAX) return (void)fuse_reply_err(req, ERANGE);
  // The kernel asks before every write whether the file has capabilities to
  // drop; scalefs stores none (as NFS), so that costs no meta call.
  if (std::string_view(name) == kCapabilityXattr) return (void)fuse_reply_err(req, ENODATA);
  auto r = Self(req)->meta()->GetXattr(ino, name);
  if (!r.ok()) {
    if (r.status().code() == Status::Code::kNoData) return (void)fuse_reply_err(req, ENODATA);
    return ReplyError(req, r.status());
  }
  if (size == 0) return (void)fuse_reply_xattr(req, r->size());
  if (r->size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, r->data(), r->size());
}

void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = Self(req)->meta()->ListXattr(ino);
  if (!r.ok()) return ReplyError(req, r.status());
  std::string list;
  for (const std::string& n : *r) {
    list += n;
    list.push_back('\0');
  }
  if (size == 0) return (void)fuse_reply_xattr(req, list.size());
  if (list.size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, list.data(), list.size());
}

void OpRemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Self(req)->Changed(ino);
  Status s = Self(req)->meta()->RemoveXattr(ino, name);
  if (!s.ok() && s.code() != Status::Code::kNoData) LOG(WARNING) << s.ToString();
  fuse_reply_err(req, s.errno_value());
}

}  // namespace scalefs::fuse_op
