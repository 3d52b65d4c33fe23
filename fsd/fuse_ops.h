// The FUSE low-level operations of a scalefs mount. FUSE inode numbers are
// meta's (root is 1 on both sides), so lookup counts need no table and
// forget does nothing.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

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
  ScalefsFuse(MetaClient* meta, ChunkPool* pool, FuseTimeouts timeouts);

  // The operation table; each op finds this object as the session userdata.
  static const fuse_lowlevel_ops& Ops();

  MetaClient* meta() { return meta_; }
  ChunkPool* pool() { return pool_; }
  OpenFileTable& files() { return files_; }
  LookupCache& lookups() { return lookups_; }
  const FuseTimeouts& timeouts() const { return timeouts_; }

  // struct stat of meta's attr, corrected by this client's uncommitted writes.
  struct stat ToStat(meta::Attr attr);
  fuse_entry_param ToEntry(const meta::Attr& attr);

  // Lists parent into the lookup cache (see LookupCache).
  void ListForLookups(uint64_t parent);

  // A directory's attr as meta returned it after this client changed the
  // directory (create, mkdir): the kernel drops its cached attr then and asks
  // again at once (permission check of the next create). Answered here once,
  // within the attr timeout; any other change by this client forgets it.
  void RememberDirAttr(const meta::Attr& attr);
  std::optional<meta::Attr> TakeDirAttr(uint64_t ino);
  void ForgetDirAttr(uint64_t ino);

 private:
  MetaClient* const meta_;
  ChunkPool* const pool_;
  const FuseTimeouts timeouts_;
  OpenFileTable files_;
  LookupCache lookups_;
  std::mutex dir_mu_;
  std::map<uint64_t, std::pair<meta::Attr, std::chrono::steady_clock::time_point>> dir_attrs_;
};

}  // namespace scalefs
