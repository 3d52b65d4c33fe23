// FUSE lock operations: getlk, setlk (POSIX and OFD locks) and flock.

#include <fcntl.h>
#include <sys/file.h>

#include <cstdint>
#include <limits>

#include "fsd/fuse_op_handlers.h"
#include "fsd/fuse_op_util.h"

namespace scalefs::fuse_op {

namespace {

// ---- locks, held cluster-wide by meta (see FileLocks) ----

constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

meta::FileLock LockOf(fuse_ino_t ino, uint64_t owner, const struct flock& l) {
  meta::FileLock f;
  f.set_ino(ino);
  f.set_owner(owner);
  f.set_pid(l.l_pid > 0 ? static_cast<uint32_t>(l.l_pid) : 0);
  f.set_type(static_cast<uint32_t>(l.l_type));
  f.set_start(static_cast<uint64_t>(l.l_start));
  f.set_end(l.l_len == 0 ? kToEnd : static_cast<uint64_t>(l.l_start + l.l_len - 1));
  return f;
}

void OnLockInterrupt(fuse_req_t req, void* data) {
  Self(req)->locks().Interrupt(reinterpret_cast<uintptr_t>(data));
}

void LockOp(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, meta::FileLock want, bool wait) {
  ScalefsFuse* self = Self(req);
  // What this client wrote under the lock reaches meta before anyone else
  // can take it (an unlock, a downgrade): committed first.
  Status s = File(fi)->file->Commit();
  if (!s.ok()) return ReplyError(req, s);
  const bool taking = want.type() != F_UNLCK;
  const uint64_t id = self->locks().NextId();
  if (wait) fuse_req_interrupt_func(req, OnLockInterrupt, reinterpret_cast<void*>(id));
  self->locks().Set(id, std::move(want), wait, [self, req, ino, taking](int err) {
    if (err == 0 && taking) self->Revalidate(ino);
    fuse_reply_err(req, err);
  });
}

}  // namespace

void OpGetLk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock) {
  auto r = Self(req)->locks().Test(LockOf(ino, fi->lock_owner, *lock));
  if (!r.ok()) return ReplyError(req, r.status());
  struct flock out = *lock;
  out.l_whence = SEEK_SET;
  if (!r.value()) {
    out.l_type = F_UNLCK;
  } else {
    const meta::FileLock& c = **r;
    out.l_type = static_cast<short>(c.type());
    out.l_start = static_cast<off_t>(c.start());
    out.l_len = c.end() == kToEnd ? 0 : static_cast<off_t>(c.end() - c.start() + 1);
    out.l_pid = static_cast<pid_t>(c.pid());
  }
  fuse_reply_lock(req, &out);
}

void OpSetLk(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, struct flock* lock, int sleep) {
  FileHandle* h = File(fi);
  {
    std::lock_guard l(h->owners_mu);
    h->lock_owners.insert(fi->lock_owner);
  }
  LockOp(req, ino, fi, LockOf(ino, fi->lock_owner, *lock), sleep != 0);
}

void OpFlock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
  meta::FileLock want;
  want.set_ino(ino);
  want.set_owner(fi->lock_owner);
  want.set_flock(true);
  want.set_pid(fuse_req_ctx(req)->pid);
  want.set_type((op & LOCK_UN) ? F_UNLCK : (op & LOCK_EX) ? F_WRLCK : F_RDLCK);
  want.set_start(0);
  want.set_end(kToEnd);
  LockOp(req, ino, fi, std::move(want), (op & LOCK_NB) == 0);
}

}  // namespace scalefs::fuse_op
