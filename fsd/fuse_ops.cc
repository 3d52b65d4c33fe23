#include "fsd/fuse_ops.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/file.h>
#include <sys/xattr.h>

#include <algorithm>
#include <limits>
#include <set>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/layout.h"
#include "fsd/caller.h"
#include "fsd/early_read.h"
#include "fsd/fuse_op_timing.h"

namespace scalefs {

namespace {
// Directories larger than this are listed only this far for lookups.
constexpr size_t kMaxListedForLookups = 16384;
// Bytes read at open and not yet served, over all handles (ReserveEarly).
constexpr uint64_t kEarlyBudget = 32 << 20;
}  // namespace

bool ScalefsFuse::ReserveEarly(uint64_t bytes) {
  if (early_bytes_.fetch_add(bytes) + bytes <= kEarlyBudget) return true;
  early_bytes_.fetch_sub(bytes);
  return false;
}

ScalefsFuse::ScalefsFuse(MetaClient* meta, ChunkPool* pool, FuseTimeouts timeouts,
                         uint64_t read_block)
    : meta_(meta),
      pool_(pool),
      timeouts_(timeouts),
      read_block_(read_block),
      files_(meta, pool),
      lookups_(std::min(timeouts.attr, timeouts.entry), kMaxListedForLookups),
      locks_(meta) {}

namespace {

// The per-handle state behind fuse_file_info::fh.
struct FileHandle {
  FileHandle(std::shared_ptr<OpenFile> f, bool w) : file(std::move(f)), writer(w) {}
  std::shared_ptr<OpenFile> file;
  bool writer = false;  // holds FillGate::BeginWrite until release
  // The whole file as read at open (EarlyRead), good while file->changes()
  // is still early_changes; the first read takes it (TakeEarly).
  std::mutex early_mu;
  std::optional<std::string> early;
  uint64_t early_changes = 0;
  // The POSIX lock owners that locked through this handle: an OFD lock's
  // owner is the open file, whose locks go when it is released.
  std::mutex owners_mu;
  std::set<uint64_t> lock_owners;
};

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

// A directory listing taken at opendir, so offsets stay stable.
struct DirHandle {
  meta::Attr self;
  uint64_t parent = 1;
  std::vector<meta::DirEntry> entries;
};

ScalefsFuse* Self(fuse_req_t req) { return static_cast<ScalefsFuse*>(fuse_req_userdata(req)); }
FileHandle* File(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }
DirHandle* Dir(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

void ReplyError(fuse_req_t req, const Status& s) {
  if (s.code() == Status::Code::kNotFound) {
    VLOG(1) << s.ToString();
  } else {
    LOG(WARNING) << s.ToString();
  }
  fuse_reply_err(req, s.errno_value());
}

// File capabilities are not stored: see OpGetXattr.
constexpr std::string_view kCapabilityXattr = "security.capability";
// Meta keeps the mode in step with it (meta/posix_acl.h).
constexpr std::string_view kAclAccessXattr = "system.posix_acl_access";

bool NameTooLong(fuse_req_t req, const char* name) {
  if (strlen(name) <= kMaxNameLength) return false;
  fuse_reply_err(req, ENAMETOOLONG);
  return true;
}

timespec ToTimespec(int64_t ns) {
  timespec t;
  t.tv_sec = ns / 1000000000;
  t.tv_nsec = ns % 1000000000;
  if (t.tv_nsec < 0) { t.tv_nsec += 1000000000; t.tv_sec -= 1; }
  return t;
}

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

// ---- operations ----

void OpInit(void* userdata, fuse_conn_info* conn) {
  conn->max_write = 1 << 20;
  // The mount raises its bdi's readahead to --readahead_kb; this caps it.
  conn->max_readahead = 8 << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->time_gran = 1;
  // POSIX ACLs: the kernel checks them (the mount has default_permissions),
  // reading system.posix_acl_access for callers that do not own the file
  // (cached as long as the attr), and leaves the umask to meta, which applies
  // it where no default ACL of the parent decides instead. The umask sent
  // along is the caller's either way (a kernel without DONT_MASK applied it
  // already, and twice is the same). Locks go to this process and on to
  // meta, which holds them cluster-wide.
  const unsigned want = FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_READDIRPLUS |
                        FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_ASYNC_DIO |
                        FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK |
                        FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS;
  conn->want |= want & conn->capable;
  // Several clients share files: no writeback cache, and O_TRUNC comes as a
  // setattr; the kernel clears setuid bits itself.
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV |
                  FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  LOG(INFO) << "FUSE connection: protocol " << conn->proto_major << "." << conn->proto_minor
            << ", max_write " << conn->max_write << ", want 0x" << std::hex << conn->want;
}

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
      Status s = ZeroTailBlock(self->meta(), self->pool(), ino, attr->st_size);
      r = s.ok() ? self->meta()->SetAttr(m) : Result<meta::AttrReply>(s);
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

// Space this client's closed files still hold (their releases wait in the
// ReleaseQueue) goes back before an ENOSPC is believed, as ext4 commits its
// journal and tries again.
template <typename Op>
Status RetryAfterReleases(ScalefsFuse* self, Op op) {
  Status s = op();
  if (s.code() == Status::Code::kNoSpace && self->files().FlushReleases()) s = op();
  return s;
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
  if (s.ok() && parent_attr.ino() == parent) {
    Self(req)->RememberAttr(parent_attr);
  } else {
    Self(req)->ForgetAttr(parent);
  }
  fuse_reply_err(req, s.errno_value());
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
  const uint64_t epoch = AllocationEpoch();
  auto r = self->meta()->GetExtents(ino, 0, kOpenExtentWindow, self->session_id());
  if (r.ok() && S_ISDIR(r->attr().mode())) r = Status::IsDir("open of directory");
  if (!r.ok()) {
    self->files().Release(ino);
    if (writer) self->fills().EndWrite(ino);
    self->ReturnEarly(reserved);
    return ReplyError(req, r.status());
  }
  file->Refresh(r->attr(), &r.value(), kOpenExtentWindow, epoch);
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
  const bool locked = Self(req)->locks().Holds(ino, fi->lock_owner, /*flock=*/false);
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

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  MetaClient* meta = Self(req)->meta();
  auto attr = meta->GetAttr(ino);
  if (!attr.ok()) return ReplyError(req, attr.status());
  if (!S_ISDIR(attr->attr().mode())) return (void)fuse_reply_err(req, ENOTDIR);
  auto entries = meta->ReadDirAll(ino);
  if (!entries.ok()) return ReplyError(req, entries.status());
  auto* d = new DirHandle;
  d->self = attr->attr();
  d->parent = ino == FUSE_ROOT_ID || attr->attr().parent() == 0 ? FUSE_ROOT_ID
                                                                 : attr->attr().parent();
  d->entries = std::move(*entries);
  fi->fh = reinterpret_cast<uint64_t>(d);
  if (fuse_reply_open(req, fi) != 0) delete d;
}

void ReadDir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  ScalefsFuse* self = Self(req);
  DirHandle* d = Dir(fi);
  std::string buf(size, '\0');
  size_t pos = 0;
  const size_t count = d->entries.size() + 2;
  for (size_t i = static_cast<size_t>(off); i < count; ++i) {
    const char* name;
    meta::Attr attr;
    if (i == 0) {
      name = ".";
      attr = d->self;
    } else if (i == 1) {
      name = "..";
      attr.set_ino(d->parent);
      attr.set_mode(S_IFDIR);
    } else {
      name = d->entries[i - 2].name().c_str();
      attr = d->entries[i - 2].attr();
    }
    size_t n;
    if (plus) {
      fuse_entry_param e = self->ToEntry(attr);
      if (i < 2) {
        // The kernel does not instantiate "." and "..": no attr to cache.
        e.attr_timeout = 0;
        e.entry_timeout = 0;
      }
      n = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name, &e, i + 1);
    } else {
      struct stat st {};
      st.st_ino = attr.ino();
      st.st_mode = attr.mode();
      n = fuse_add_direntry(req, buf.data() + pos, size - pos, name, &st, i + 1);
    }
    if (n > size - pos) break;
    pos += n;
  }
  fuse_reply_buf(req, buf.data(), pos);
}

void OpReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, size, off, fi, false);
}
void OpReadDirPlus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, size, off, fi, true);
}

void OpReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete Dir(fi);
  fuse_reply_err(req, 0);
}

void OpFsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  // Meta syncs every mutation before it answers.
  fuse_reply_err(req, 0);
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  auto r = Self(req)->meta()->StatFs();
  if (!r.ok()) return ReplyError(req, r.status());
  const uint64_t bs = r->block_size() ? r->block_size() : kBlockSize;
  struct statvfs st {};
  st.f_bsize = kBlockSize;
  st.f_frsize = kBlockSize;
  st.f_blocks = r->total_blocks() * bs / kBlockSize;
  st.f_bfree = r->free_blocks() * bs / kBlockSize;
  st.f_bavail = st.f_bfree;
  // Inodes are not a limited resource: report as many free as free blocks.
  st.f_ffree = std::max<uint64_t>(st.f_bfree, 1 << 20);
  st.f_files = r->files() + st.f_ffree;
  st.f_favail = st.f_ffree;
  st.f_namemax = kMaxNameLength;
  fuse_reply_statfs(req, &st);
}

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

void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  // Mounted with default_permissions: the kernel checks modes and ACLs;
  // this only answers whether the inode exists.
  auto r = Self(req)->meta()->GetAttr(ino);
  fuse_reply_err(req, r.ok() ? 0 : r.status().errno_value());
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

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetAttr;
  ops.setattr = OpSetAttr;
  ops.readlink = OpReadLink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpenDir;
  ops.readdir = OpReadDir;
  ops.readdirplus = OpReadDirPlus;
  ops.releasedir = OpReleaseDir;
  ops.fsyncdir = OpFsyncDir;
  ops.statfs = OpStatFs;
  ops.setxattr = OpSetXattr;
  ops.getxattr = OpGetXattr;
  ops.listxattr = OpListXattr;
  ops.removexattr = OpRemoveXattr;
  ops.access = OpAccess;
  ops.create = OpCreate;
  ops.fallocate = OpFallocate;
  ops.getlk = OpGetLk;
  ops.setlk = OpSetLk;
  ops.flock = OpFlock;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& ScalefsFuse::Ops() {
  static const fuse_lowlevel_ops ops = TimedOps(MakeOps());
  return ops;
}

struct stat ScalefsFuse::ToStat(meta::Attr attr) {
  if (S_ISREG(attr.mode())) {
    if (std::shared_ptr<OpenFile> f = files_.Find(attr.ino())) f->AdjustAttr(&attr);
  }
  struct stat st {};
  st.st_ino = attr.ino();
  st.st_mode = attr.mode();
  st.st_nlink = attr.nlink();
  st.st_uid = attr.uid();
  st.st_gid = attr.gid();
  st.st_size = attr.size();
  st.st_blocks = attr.blocks();
  st.st_blksize = kDefaultStripeUnit;
  st.st_rdev = attr.rdev();
  st.st_atim = ToTimespec(attr.atime_ns());
  st.st_mtim = ToTimespec(attr.mtime_ns());
  st.st_ctim = ToTimespec(attr.ctime_ns());
  return st;
}

void ScalefsFuse::RememberAttr(const meta::Attr& attr) {
  if (timeouts_.attr <= 0) return;
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(timeouts_.attr));
  std::lock_guard lock(fresh_mu_);
  if (fresh_attrs_.size() > 4096) fresh_attrs_.clear();
  fresh_attrs_[attr.ino()] = {attr, until};
}

std::optional<meta::Attr> ScalefsFuse::TakeAttr(uint64_t ino) {
  std::lock_guard lock(fresh_mu_);
  auto it = fresh_attrs_.find(ino);
  if (it == fresh_attrs_.end()) return std::nullopt;
  std::optional<meta::Attr> out;
  if (std::chrono::steady_clock::now() < it->second.second) out = it->second.first;
  fresh_attrs_.erase(it);
  return out;
}

void ScalefsFuse::ForgetAttr(uint64_t ino) {
  std::lock_guard lock(fresh_mu_);
  fresh_attrs_.erase(ino);
}

void ScalefsFuse::Revalidate(uint64_t ino) {
  // No fill fetched before this may land after the pages are dropped.
  fills_.Fence(ino);
  lookups_.Changed(ino);
  ForgetAttr(ino);
  if (std::shared_ptr<OpenFile> f = files_.Find(ino)) {
    auto r = meta_->GetAttr(ino);
    if (r.ok()) {
      f->Refresh(r->attr());
    } else {
      LOG(WARNING) << "revalidating inode " << ino << " after a lock: " << r.status().ToString();
    }
  }
  if (session_ == nullptr) return;
  int err = fuse_lowlevel_notify_inval_inode(session_, ino, 0, 0);
  if (err != 0 && err != -ENOENT) {
    LOG(WARNING) << "dropping the kernel's cache of inode " << ino << ": " << strerror(-err);
  }
}

void ScalefsFuse::ListForLookups(uint64_t parent) {
  const LookupCache::Clock::time_point taken = LookupCache::Clock::now();
  auto entries = meta_->ReadDirAll(parent, lookups_.max_entries_per_dir(), kEarlyReadMaxSize);
  if (!entries.ok()) {
    VLOG(1) << "listing directory " << parent << " for lookups: " << entries.status().ToString();
    return lookups_.Fill(parent, taken, {}, /*ok=*/false);
  }
  lookups_.Fill(parent, taken, std::move(*entries));
}

fuse_entry_param ScalefsFuse::ToEntry(const meta::Attr& attr) {
  fuse_entry_param e{};
  e.ino = attr.ino();
  e.generation = attr.generation();
  e.attr = ToStat(attr);
  e.attr_timeout = timeouts_.attr;
  e.entry_timeout = timeouts_.entry;
  return e;
}

}  // namespace scalefs
