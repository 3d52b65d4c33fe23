// The FUSE low-level operations of a scalefs mount. FUSE inode numbers are
// meta's (root is 1 on both sides), so lookup counts need no table and
// forget does nothing.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/worker_pool.h"
#include "fsd/client_metrics.h"
#include "fsd/file_locks.h"
#include "fsd/fill_gate.h"
#include "fsd/lookup_cache.h"
#include "fsd/meta_client.h"
#include "fsd/open_file.h"
#include "fsd/pair_client.h"

namespace scalefs {

struct FuseTimeouts {
  double attr = 1.0;
  double entry = 1.0;
};

class ScalefsFuse {
 public:
  // A small read that misses the page cache fetches the `read_block`-aligned
  // block around it and hands the rest of the block to the kernel's page
  // cache (see FillGate), as MooseFS reads whole 64 KiB blocks: a random
  // reader then finds its neighbours cached. 0 reads only what is asked.
  ScalefsFuse(MetaClient* meta, ChunkPool* pool, FuseTimeouts timeouts, uint64_t read_block = 0);

  // The operation table; each op finds this object as the session userdata.
  static const fuse_lowlevel_ops& Ops();

  MetaClient* meta() { return meta_; }
  ChunkPool* pool() { return pool_; }
  OpenFileTable& files() { return files_; }
  LookupCache& lookups() { return lookups_; }
  FileLocks& locks() { return locks_; }
  // The mount's session at meta (0 before it has one).
  uint64_t session_id() const { return meta_->calls() ? meta_->calls()->session() : 0; }
  // This client was granted a lock on `ino`: what other clients wrote under
  // their locks must be read now, so every cache of the file goes (the
  // cached extent map, the kernel's pages and attr), as NFS clients do.
  void Revalidate(uint64_t ino);
  const FuseTimeouts& timeouts() const { return timeouts_; }
  FillGate& fills() { return fills_; }
  WorkerPool& early_reads() { return early_reads_; }
  // Bytes read at open and not yet served (EarlyRead) are held within a
  // budget, so thousands of open, unread handles cannot grow the client.
  bool ReserveEarly(uint64_t bytes);
  void ReturnEarly(uint64_t bytes) { early_bytes_.fetch_sub(bytes); }
  uint64_t read_block() const { return read_block_; }
  // The session page-cache fills are sent on; fills are off until it is set.
  void set_session(fuse_session* se) { session_ = se; }
  fuse_session* session() const { return session_; }
  // Where the operations are timed (fsd/fuse_op_timing.h); null: nowhere.
  void set_metrics(ClientMetrics* metrics) { metrics_ = metrics; }
  ClientMetrics* metrics() const { return metrics_; }

  // struct stat of meta's attr, corrected by this client's uncommitted writes.
  struct stat ToStat(meta::Attr attr);
  fuse_entry_param ToEntry(const meta::Attr& attr);

  // Lists parent into the lookup cache (see LookupCache).
  void ListForLookups(uint64_t parent);

  // An attr fresh from meta that the kernel is about to ask for: a
  // directory's after this client changed it (create, mkdir), as the kernel
  // drops its cached attr then and asks again at once (permission check of
  // the next create); a file's at open, as open makes the kernel drop it
  // (close-to-open). Answered here once, within the attr timeout; any other
  // change by this client forgets it.
  void RememberAttr(const meta::Attr& attr);
  // This client changes `ino` (or names in it): the lookup cache and any
  // remembered attr of it are no longer to be trusted.
  void Changed(uint64_t ino) {
    lookups_.Changed(ino);
    ForgetAttr(ino);
  }
  std::optional<meta::Attr> TakeAttr(uint64_t ino);
  void ForgetAttr(uint64_t ino);
  // An unlink or a rename over a name took a link from an inode fsd may not
  // know by number: no remembered attr may answer with its old nlink.
  void ForgetAllAttrs();

 private:
  MetaClient* const meta_;
  ChunkPool* const pool_;
  const FuseTimeouts timeouts_;
  const uint64_t read_block_;
  fuse_session* session_ = nullptr;
  ClientMetrics* metrics_ = nullptr;
  FillGate fills_;
  OpenFileTable files_;
  LookupCache lookups_;
  FileLocks locks_;
  WorkerPool early_reads_{4};  // see EarlyRead
  std::atomic<uint64_t> early_bytes_{0};
  std::mutex fresh_mu_;
  std::map<uint64_t, std::pair<meta::Attr, std::chrono::steady_clock::time_point>> fresh_attrs_;
};

}  // namespace scalefs
