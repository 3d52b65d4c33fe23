// FUSE operations on open files: open, create, read, write, flush, fsync,
// release, fallocate.

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/layout.h"
#include "fsd/early_read.h"
#include "fsd/fuse_op_handlers.h"
#include "fsd/fuse_op_util.h"
#include "fsd/io_plan.h"

namespace scalefs::fuse_op {

namespace {

// The bytes read at open, once, if no change of this client came since;
// gives their room in the budget back either way.
std::optional<std::string> TakeEarly(ScalefsFuse* self, FileHandle* h) {
  std::optional<std::string> out;
  {
    std::lock_guard lock(h->early_mu);
    if (!h->early) return std::nullopt;
    out.swap(h->early);
  }
  self->ReturnEarly(out->size());
  if (h->file->changes() != h->early_changes) return std::nullopt;
  return out;
}

bool Writable(const fuse_file_info* fi) { return (fi->flags & O_ACCMODE) != O_RDONLY; }

// What an open asks meta for (MAY_READ 4, MAY_WRITE 2), as the kernel's
// may_open derives it: O_TRUNC writes too.
uint32_t OpenAccess(int flags) {
  uint32_t access = 0;
  if ((flags & O_ACCMODE) != O_WRONLY) access |= 4;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) access |= 2;
  return access;
}

// Space this client's closed files still hold (their releases wait in the
// ReleaseQueue) goes back before an ENOSPC is believed, as ext4 commits its
// journal and tries again.
template <typename Op>
Status RetryAfterReleases(ScalefsFuse* self, Op op) {
  Status s = op();
  if (s.code() == Status::Code::kNoSpace && self->files().FlushReleases()) s = op();
  return s;
}

// Hands `data`, read at file offset `offset`, to the kernel's page cache.
void Store(ScalefsFuse* self, fuse_ino_t ino, uint64_t offset, std::string_view data) {
  if (data.empty()) return;
  fuse_bufvec v = FUSE_BUFVEC_INIT(data.size());
  v.buf[0].mem = const_cast<char*>(data.data());
  int err = fuse_lowlevel_notify_store(self->session(), ino, offset, &v, FUSE_BUF_NO_SPLICE);
  // ENOENT: the kernel dropped the inode meanwhile; nothing to fill.
  if (err != 0 && err != -ENOENT)
    LOG(WARNING) << "page-cache fill of inode " << ino << " at " << offset << ": "
                 << strerror(-err);
}

}  // namespace

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ScalefsFuse* self = Self(req);
  const bool writer = Writable(fi);
  if (writer) {
    self->fills().BeginWrite(ino);
  } else {
    self->fills().Fence(ino);
  }
  // Only with no other handle of this client open: one could hold writes
  // meta does not know of yet, so its answer could not vouch for the bytes.
  std::optional<EarlyRead> early;
  uint64_t reserved = 0;
  if (!writer && !(fi->flags & O_DIRECT) && !self->files().Find(ino)) {
    auto listed = self->lookups().FindListedFile(ino);
    if (listed && self->ReserveEarly(listed->attr.size())) {
      reserved = listed->attr.size();
      early.emplace(ino, std::move(*listed), self->meta(), self->pool(), &self->early_reads());
    }
  }
  // One call brings the attr and the start of the extent map, so a small
  // file is read without another meta call, and registers the open with
  // this client's session (meta keeps the data of an unlinked file that is
  // open somewhere).
  const bool first = !self->files().Find(ino);
  std::shared_ptr<OpenFile> file = self->files().Acquire(ino);
  const MapStamp stamp = file->Stamp();
  auto r = self->meta()->GetExtents(ino, 0, kOpenExtentWindow, self->session_id(),
                                    OpenAccess(fi->flags));
  if (r.ok() && S_ISDIR(r->attr().mode())) r = Status::IsDir("open of directory");
  if (!r.ok()) {
    self->files().Release(ino);
    if (writer) self->fills().EndWrite(ino);
    self->ReturnEarly(reserved);
    return ReplyError(req, r.status());
  }
  file->Refresh(r->attr(), &r.value(), kOpenExtentWindow, stamp);
  auto* h = new FileHandle(std::move(file), writer);
  if (early) {
    // Every change of this client marks the lookup cache before it counts in
    // changes(): counted first, a change since the listing is either seen
    // here or later by OpRead.
    h->early_changes = h->file->changes();
    if (self->lookups().FindListedFile(ino)) h->early = early->Take(*r);
    if (!h->early) self->ReturnEarly(reserved);
  }
  fi->fh = reinterpret_cast<uint64_t>(h);
  fi->keep_cache = 0;  // close-to-open: drop pages another client may have changed
  // O_DIRECT: every read and write of this handle reaches fsd, uncached.
  if (fi->flags & O_DIRECT) fi->direct_io = 1;
  if (first) {
    // Close-to-open for the size too: the kernel may hold this file's attr
    // from before another client wrote it, and it reads no further than that
    // size until the attr times out. Dropped (before the open returns, or a
    // read could come first), the attr is asked for again when a read goes
    // past it, and answered from RememberAttr. Dropping attrs only takes no
    // lock the kernel holds during an open.
    self->RememberAttr(r->attr());
    int err = fuse_lowlevel_notify_inval_inode(self->session(), ino, -1, 0);
    if (err != 0 && err != -ENOENT) {
      LOG(WARNING) << "dropping the kernel's attr of inode " << ino << ": " << strerror(-err);
    }
  }
  if (fuse_reply_open(req, fi) != 0) {
    self->files().Release(ino);
    if (writer) self->fills().EndWrite(ino);
    TakeEarly(self, h);
    delete h;
  }
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  if (NameTooLong(req, name)) return;
  const fuse_ctx* ctx = fuse_req_ctx(req);
  meta::MakeNodeRequest m;
  m.set_parent(parent);
  m.set_name(name);
  m.set_mode(S_IFREG | (mode & 07777));
  m.set_uid(ctx->uid);
  m.set_gid(ctx->gid);
  m.set_umask(ctx->umask);
  const bool writer = Writable(fi);
  if (writer) m.set_preallocate(kCreatePreallocate);
  m.set_open(true);  // the handle this create returns
  Self(req)->Changed(parent);
  Self(req)->lookups().NameChanged(parent, name);
  auto r = Self(req)->meta()->MakeNode(m);
  Self(req)->lookups().NameChanged(parent, name);
  if (!r.ok()) return ReplyError(req, r.status());
  if (r->has_parent_attr()) Self(req)->RememberAttr(r->parent_attr());
  const uint64_t ino = r->attr().ino();
  if (writer) Self(req)->fills().BeginWrite(ino);
  std::shared_ptr<OpenFile> file = Self(req)->files().Acquire(ino);
  file->Refresh(r->attr());
  auto* h = new FileHandle(std::move(file), writer);
  if (writer) h->file->Preallocated(*r);
  fi->fh = reinterpret_cast<uint64_t>(h);
  fi->keep_cache = 0;
  if (fi->flags & O_DIRECT) fi->direct_io = 1;
  fuse_entry_param e = Self(req)->ToEntry(r->attr());
  if (fuse_reply_create(req, &e, fi) != 0) {
    Self(req)->files().Release(ino);
    if (writer) Self(req)->fills().EndWrite(ino);
    delete h;
  }
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ScalefsFuse* self = Self(req);
  FileHandle* h = File(fi);
  OpenFile* file = h->file.get();
  if (std::optional<std::string> early = TakeEarly(self, h)) {
    const std::string_view all(*early);
    const uint64_t from = std::min<uint64_t>(off, all.size());
    fuse_reply_buf(req, all.data() + from, std::min<uint64_t>(size, all.size() - from));
    return;
  }
  const uint64_t block = self->read_block();
  // A page-cache read (page aligned, cached handle) smaller than a block.
  const bool fill = block > 0 && size < block && !fi->direct_io && off % kBlockSize == 0 &&
                    self->session() != nullptr && self->fills().BeginFill(ino);
  std::string buf;
  if (!fill) {
    Status s = file->Read(off, size, &buf);
    if (!s.ok()) return ReplyError(req, s);
    fuse_reply_buf(req, buf.data(), buf.size());
    return;
  }
  const ByteSpan span = FillSpan(off, size, block);
  const uint64_t start = span.offset;
  Status s = file->Read(start, span.length, &buf);  // clipped to the size
  if (!s.ok()) {
    self->fills().EndFill(ino);
    return ReplyError(req, s);
  }
  const std::string_view all(buf);
  const uint64_t head = std::min<uint64_t>(off - start, all.size());
  const uint64_t tail = std::min<uint64_t>(head + size, all.size());
  // The asked pages stay locked in the kernel until this reply; the rest of
  // the block is stored after it, so the two never wait for each other.
  fuse_reply_buf(req, all.data() + head, tail - head);
  Store(self, ino, start, all.substr(0, head));
  Store(self, ino, start + tail, all.substr(tail));
  self->fills().EndFill(ino);
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  Self(req)->Changed(ino);
  // O_DIRECT and O_SYNC writes go through; buffered ones are written behind.
  const bool through = fi->direct_io || (fi->flags & (O_DIRECT | O_SYNC | O_DSYNC)) != 0;
  Status s = RetryAfterReleases(Self(req), [&] {
    return File(fi)->file->Write(off, std::string_view(buf, size), through);
  });
  if (!s.ok()) return ReplyError(req, s);
  fuse_reply_write(req, size);
}

void OpFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // A close drops the POSIX locks its process holds on the file, after the
  // commit of what this client wrote: whoever locks next reads it.
  const bool locked = Self(req)->locks().MustRelease(ino, fi->lock_owner, /*flock=*/false);
  Status s;
  if (File(fi)->writer || locked) {
    Self(req)->Changed(ino);
    // Space allocated ahead and not written goes back with the writes'
    // commit; alone it waits for release, which close does not wait for.
    s = File(fi)->file->Commit(OpenFile::Trim::kWithWrites);
    if (!s.ok()) return ReplyError(req, s);
  }
  if (locked) s = Self(req)->locks().ReleaseOwner(ino, fi->lock_owner, /*flock=*/false);
  if (!s.ok()) return ReplyError(req, s);
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info* fi) {
  Self(req)->Changed(ino);
  Status s = File(fi)->file->Sync();
  if (!s.ok()) return ReplyError(req, s);
  fuse_reply_err(req, 0);
}

void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FileHandle* h = File(fi);
  Self(req)->Changed(ino);
  // What is left to give back goes to the ReleaseQueue with the last handle.
  Status s = h->file->Commit(OpenFile::Trim::kWithWrites);
  // Unlinked meanwhile: the inode took its space with it.
  if (s.code() == Status::Code::kNotFound) s = Status::OK();
  if (!s.ok()) LOG(ERROR) << "commit at close of inode " << ino << ": " << s.ToString();
  // The last close of an open file drops its flock lock and its OFD locks.
  FileLocks& locks = Self(req)->locks();
  if (fi->flock_release) {
    Status u = locks.ReleaseOwner(ino, fi->lock_owner, /*flock=*/true);
    if (!u.ok()) LOG(ERROR) << u.ToString();
  }
  {
    std::lock_guard lock(h->owners_mu);
    for (uint64_t owner : h->lock_owners) {
      Status u = locks.ReleaseOwner(ino, owner, /*flock=*/false);
      if (!u.ok()) LOG(ERROR) << u.ToString();
    }
  }
  Self(req)->files().Release(ino);
  if (h->writer) Self(req)->fills().EndWrite(ino);
  TakeEarly(Self(req), h);
  delete h;
  fuse_reply_err(req, s.errno_value());
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  if ((mode & ~FALLOC_FL_KEEP_SIZE) != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
  if (offset < 0 || length <= 0) return (void)fuse_reply_err(req, EINVAL);
  Self(req)->Changed(ino);
  const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  Status s = RetryAfterReleases(Self(req), [&] {
    if (fi != nullptr && fi->fh != 0) return File(fi)->file->Fallocate(offset, length, keep_size).status();
    return Self(req)->meta()->Allocate(ino, offset, length, !keep_size).status();
  });
  if (!s.ok()) return ReplyError(req, s);
  fuse_reply_err(req, 0);
}

}  // namespace scalefs::fuse_op
