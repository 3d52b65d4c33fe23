// Reads a small file at open from the extent map a fresh directory listing
// gave (LookupCache::FindListedFile), while the open asks meta for the
// current attr and map, as close-to-open requires. The two calls overlap
// instead of following each other, and the first read of the handle needs
// no call at all. The bytes are used only if meta's answer matches the
// listing (size, mtime, ctime and every extent); otherwise they are dropped.
#pragma once

#include <cstdint>
#include <future>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/worker_pool.h"
#include "fsd/lookup_cache.h"
#include "fsd/meta_client.h"
#include "fsd/pair_client.h"

namespace scalefs {

// Files up to this size are listed with their extents and read at open.
inline constexpr uint64_t kEarlyReadMaxSize = 64 << 10;

class EarlyRead {
 public:
  // Starts reading the listed file's bytes on `pool`.
  EarlyRead(uint64_t ino, LookupCache::ListedFile listed, MetaClient* meta, ChunkPool* chunks,
            WorkerPool* pool);
  // The file's bytes, if `current` (meta's reply at open) is what was
  // listed and the read succeeded; waits for the read.
  std::optional<std::string> Take(const meta::ExtentsReply& current);

 private:
  const LookupCache::ListedFile listed_;
  std::future<Result<std::string>> bytes_;
};

// Whether two replies agree on everything a read of [0, attr.size) depends on.
bool SameFileContents(const meta::Attr& a, const std::vector<meta::Extent>& a_extents,
                      const meta::Attr& b, const std::vector<meta::Extent>& b_extents);

}  // namespace scalefs
