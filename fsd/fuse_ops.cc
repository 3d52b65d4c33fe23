#include "fsd/fuse_ops.h"

#include <glog/logging.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/layout.h"
#include "fsd/early_read.h"
#include "fsd/fuse_op_handlers.h"
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

timespec ToTimespec(int64_t ns) {
  timespec t;
  t.tv_sec = ns / 1000000000;
  t.tv_nsec = ns % 1000000000;
  if (t.tv_nsec < 0) { t.tv_nsec += 1000000000; t.tv_sec -= 1; }
  return t;
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

using namespace fuse_op;

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

void ScalefsFuse::ForgetAllAttrs() {
  std::lock_guard lock(fresh_mu_);
  fresh_attrs_.clear();
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
