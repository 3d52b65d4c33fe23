#include "meta/space_allocator.h"

#include <algorithm>
#include <memory>

#include <glog/logging.h>

#include "common/layout.h"
#include "meta/keys.h"

namespace scalefs::meta {

Status SpaceAllocator::Load(rocksdb::DB* db) {
  pairs_.clear();
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix(1, kFreeTag);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    uint32_t pair;
    uint64_t off, len;
    if (!ParseFreeKey(it->key().ToStringView(), &pair, &off) ||
        !DecodeU64(it->value().ToStringView(), &len)) {
      return Status::IoError("malformed free-space record");
    }
    PairSpace& ps = pairs_[pair];
    ps.ranges[off] = len;
    ps.free += len;
  }
  // Pairs with no free range left still exist.
  const std::string pprefix(1, kPairTag);
  for (it->Seek(pprefix); it->Valid() && it->key().starts_with(pprefix); it->Next()) {
    uint32_t pair;
    if (ParsePairKey(it->key().ToStringView(), &pair)) pairs_[pair];
  }
  return it->status().ok() ? Status::OK() : Status::IoError(it->status().ToString());
}

void SpaceAllocator::AddPair(uint32_t pair, uint64_t capacity, rocksdb::WriteBatch* batch) {
  PairSpace& ps = pairs_[pair];
  ps.ranges.clear();
  ps.free = 0;
  if (capacity == 0) return;
  ps.ranges[0] = capacity;
  ps.free = capacity;
  batch->Put(FreeKey(pair, 0), EncodeU64(capacity));
}

void SpaceAllocator::Take(uint32_t pair, PairSpace* ps,
                          std::map<uint64_t, uint64_t>::iterator it, uint64_t off,
                          uint64_t len, rocksdb::WriteBatch* batch) {
  const uint64_t start = it->first;
  const uint64_t end = it->first + it->second;
  DCHECK(off >= start && off + len <= end);
  ps->ranges.erase(it);
  batch->Delete(FreeKey(pair, start));
  if (off > start) {
    ps->ranges[start] = off - start;
    batch->Put(FreeKey(pair, start), EncodeU64(off - start));
  }
  if (off + len < end) {
    ps->ranges[off + len] = end - off - len;
    batch->Put(FreeKey(pair, off + len), EncodeU64(end - off - len));
  }
  ps->free -= len;
}

Result<std::vector<SpaceAllocator::Run>> SpaceAllocator::Allocate(
    uint32_t pair, uint64_t bytes, uint64_t hint, rocksdb::WriteBatch* batch) {
  auto pit = pairs_.find(pair);
  if (pit == pairs_.end()) return Status::Invalid("no pair " + std::to_string(pair));
  PairSpace& ps = pit->second;
  if (draining_.count(pair)) {
    return Status::NoSpace("pair " + std::to_string(pair) + " is draining");
  }
  if (bytes % kBlockSize != 0) return Status::Invalid("allocation not block aligned");
  if (ps.free < bytes) {
    return Status::NoSpace("pair " + std::to_string(pair) + " has " + std::to_string(ps.free) +
                           " bytes free, " + std::to_string(bytes) + " needed");
  }
  std::vector<Run> runs;
  uint64_t left = bytes;
  // 1. Right at the hint: the file continues contiguously.
  if (hint != kNoHint && left > 0) {
    auto it = ps.ranges.upper_bound(hint);
    if (it != ps.ranges.begin()) {
      --it;
      if (hint < it->first + it->second) {
        uint64_t n = std::min(left, it->first + it->second - hint);
        Take(pair, &ps, it, hint, n, batch);
        runs.push_back({hint, n});
        left -= n;
      }
    }
  }
  // 2. One range that holds the rest (first fit keeps the low end dense).
  if (left > 0) {
    for (auto it = ps.ranges.begin(); it != ps.ranges.end(); ++it) {
      if (it->second >= left) {
        uint64_t off = it->first;
        Take(pair, &ps, it, off, left, batch);
        runs.push_back({off, left});
        left = 0;
        break;
      }
    }
  }
  // 3. Fragmented: the lowest ranges until done (free >= bytes guarantees it).
  while (left > 0) {
    auto it = ps.ranges.begin();
    CHECK(it != ps.ranges.end());
    uint64_t off = it->first;
    uint64_t n = std::min(left, it->second);
    Take(pair, &ps, it, off, n, batch);
    runs.push_back({off, n});
    left -= n;
  }
  return runs;
}

void SpaceAllocator::Free(uint32_t pair, uint64_t dev_offset, uint64_t length,
                          rocksdb::WriteBatch* batch) {
  if (length == 0) return;
  PairSpace& ps = pairs_[pair];
  uint64_t start = dev_offset;
  uint64_t end = dev_offset + length;
  auto next = ps.ranges.lower_bound(start);
  if (next != ps.ranges.begin()) {
    auto prev = std::prev(next);
    CHECK_LE(prev->first + prev->second, start) << "double free on pair " << pair;
    if (prev->first + prev->second == start) {
      start = prev->first;
      batch->Delete(FreeKey(pair, prev->first));
      ps.ranges.erase(prev);
    }
  }
  if (next != ps.ranges.end()) {
    CHECK_GE(next->first, end) << "double free on pair " << pair;
    if (next->first == end) {
      end = next->first + next->second;
      batch->Delete(FreeKey(pair, next->first));
      ps.ranges.erase(next);
    }
  }
  ps.ranges[start] = end - start;
  batch->Put(FreeKey(pair, start), EncodeU64(end - start));
  ps.free += length;
}

uint64_t SpaceAllocator::FreeBytes(uint32_t pair) const {
  auto it = pairs_.find(pair);
  return it == pairs_.end() ? 0 : it->second.free;
}

void SpaceAllocator::SetDraining(uint32_t pair, bool draining) {
  if (draining) {
    draining_.insert(pair);
  } else {
    draining_.erase(pair);
  }
}

uint64_t SpaceAllocator::Allocatable(uint32_t pair) const {
  if (draining_.count(pair)) return 0;
  return FreeBytes(pair);
}

void SpaceAllocator::RemovePair(uint32_t pair, rocksdb::WriteBatch* batch) {
  auto it = pairs_.find(pair);
  if (it == pairs_.end()) return;
  for (const auto& [off, len] : it->second.ranges) batch->Delete(FreeKey(pair, off));
  pairs_.erase(it);
  draining_.erase(pair);
}

std::vector<SpaceAllocator::Run> SpaceAllocator::FreeRanges(uint32_t pair) const {
  std::vector<Run> out;
  auto it = pairs_.find(pair);
  if (it == pairs_.end()) return out;
  for (const auto& [off, len] : it->second.ranges) out.push_back({off, len});
  return out;
}

}  // namespace scalefs::meta
