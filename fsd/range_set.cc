#include "fsd/range_set.h"

#include <algorithm>

namespace scalefs {

void RangeSet::Add(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  uint64_t start = offset, end = offset + length;
  auto it = spans_.upper_bound(start);
  if (it != spans_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= start) it = prev;
  }
  while (it != spans_.end() && it->first <= end) {
    start = std::min(start, it->first);
    end = std::max(end, it->second);
    bytes_ -= it->second - it->first;
    it = spans_.erase(it);
  }
  spans_.emplace(start, end);
  bytes_ += end - start;
}

void RangeSet::Remove(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  const uint64_t start = offset, end = offset + length;
  auto it = spans_.upper_bound(start);
  if (it != spans_.begin()) it = std::prev(it);
  while (it != spans_.end() && it->first < end) {
    const uint64_t s = it->first, e = it->second;
    if (e <= start) { ++it; continue; }
    bytes_ -= e - s;
    it = spans_.erase(it);
    if (s < start) { spans_.emplace(s, start); bytes_ += start - s; }
    if (e > end) { spans_.emplace(end, e); bytes_ += e - end; break; }
  }
}

bool RangeSet::Contains(uint64_t offset, uint64_t length) const {
  if (length == 0) return true;
  auto it = spans_.upper_bound(offset);
  if (it == spans_.begin()) return false;
  --it;
  return it->first <= offset && it->second >= offset + length;
}

std::vector<ByteSpan> RangeSet::Intersect(uint64_t offset, uint64_t length) const {
  std::vector<ByteSpan> out;
  const uint64_t end = offset + length;
  auto it = spans_.upper_bound(offset);
  if (it != spans_.begin()) it = std::prev(it);
  for (; it != spans_.end() && it->first < end; ++it) {
    const uint64_t s = std::max(it->first, offset), e = std::min(it->second, end);
    if (s < e) out.push_back({s, e - s});
  }
  return out;
}

std::vector<ByteSpan> RangeSet::Missing(uint64_t offset, uint64_t length) const {
  std::vector<ByteSpan> out;
  uint64_t cur = offset;
  for (const ByteSpan& in : Intersect(offset, length)) {
    if (in.offset > cur) out.push_back({cur, in.offset - cur});
    cur = in.end();
  }
  if (cur < offset + length) out.push_back({cur, offset + length - cur});
  return out;
}

std::vector<ByteSpan> RangeSet::Spans() const {
  std::vector<ByteSpan> out;
  out.reserve(spans_.size());
  for (const auto& [s, e] : spans_) out.push_back({s, e - s});
  return out;
}

}  // namespace scalefs
