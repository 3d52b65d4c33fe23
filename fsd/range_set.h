// A set of byte ranges of one file, kept merged and sorted. fsd uses it for
// the blocks it wrote but has not committed yet and for the parts of a file
// whose extent map it has fetched.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace scalefs {

struct ByteSpan {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const ByteSpan&) const = default;
};

class RangeSet {
 public:
  void Add(uint64_t offset, uint64_t length);
  void Remove(uint64_t offset, uint64_t length);
  // True when every byte of [offset, offset+length) is in the set.
  bool Contains(uint64_t offset, uint64_t length) const;
  // The parts of [offset, offset+length) that are in the set, sorted.
  std::vector<ByteSpan> Intersect(uint64_t offset, uint64_t length) const;
  // The parts of [offset, offset+length) that are not in the set, sorted.
  std::vector<ByteSpan> Missing(uint64_t offset, uint64_t length) const;
  std::vector<ByteSpan> Spans() const;
  uint64_t bytes() const { return bytes_; }
  bool empty() const { return spans_.empty(); }
  void Clear() { spans_.clear(); bytes_ = 0; }

 private:
  std::map<uint64_t, uint64_t> spans_;  // start -> end, disjoint, not adjacent
  uint64_t bytes_ = 0;
};

}  // namespace scalefs
