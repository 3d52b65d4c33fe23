#include "fsd/early_read.h"

#include <utility>

#include "common/layout.h"
#include "fsd/open_file.h"

namespace scalefs {

namespace {

std::vector<meta::Extent> Within(const google::protobuf::RepeatedPtrField<meta::Extent>& all,
                                 uint64_t size) {
  std::vector<meta::Extent> out;
  for (const meta::Extent& e : all)
    if (e.file_offset() < size) out.push_back(e);
  return out;
}

}  // namespace

bool SameFileContents(const meta::Attr& a, const std::vector<meta::Extent>& a_extents,
                      const meta::Attr& b, const std::vector<meta::Extent>& b_extents) {
  if (a.ino() != b.ino() || a.size() != b.size() || a.mtime_ns() != b.mtime_ns() ||
      a.ctime_ns() != b.ctime_ns() || a_extents.size() != b_extents.size())
    return false;
  for (size_t i = 0; i < a_extents.size(); ++i) {
    const meta::Extent& x = a_extents[i];
    const meta::Extent& y = b_extents[i];
    if (x.file_offset() != y.file_offset() || x.length() != y.length() || x.pair() != y.pair() ||
        x.dev_offset() != y.dev_offset() || x.written() != y.written())
      return false;
  }
  return true;
}

EarlyRead::EarlyRead(uint64_t ino, LookupCache::ListedFile listed, MetaClient* meta,
                     ChunkPool* chunks, WorkerPool* pool)
    : listed_(std::move(listed)) {
  meta::ExtentsReply map;
  *map.mutable_attr() = listed_.attr;
  for (const meta::Extent& e : listed_.extents) *map.add_extents() = e;
  const uint64_t epoch = AllocationEpoch();
  bytes_ = pool->Submit([ino, map = std::move(map), meta, chunks, epoch]() -> Result<std::string> {
    // A private OpenFile seeded with the listed map: its read plan, zeros for
    // unwritten blocks and member failover, without touching the shared one.
    OpenFile file(ino, meta, chunks);
    const uint64_t size = map.attr().size();
    // A private file never commits: only this client's allocations count.
    file.Refresh(map.attr(), &map, RoundUp(size, kBlockSize), {epoch, 0});
    std::string out;
    Status s = file.Read(0, size, &out);
    if (!s.ok()) return s;
    return out;
  });
}

std::optional<std::string> EarlyRead::Take(const meta::ExtentsReply& current) {
  Result<std::string> r = bytes_.get();
  const uint64_t size = listed_.attr.size();
  if (!r.ok() || r->size() != size ||
      !SameFileContents(listed_.attr, listed_.extents, current.attr(),
                        Within(current.extents(), size)))
    return std::nullopt;
  return std::move(*r);
}

}  // namespace scalefs
