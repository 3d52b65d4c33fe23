#include "fsd/io_plan.h"

#include <algorithm>

#include "common/layout.h"

namespace scalefs {

void ExtentCache::Insert(const std::vector<ExtentRecord>& records, uint64_t offset,
                         uint64_t length) {
  for (const ExtentRecord& r : records) {
    // Drop cached records overlapping the new one; what they covered beyond
    // it is no longer known.
    auto it = records_.lower_bound(r.file_offset);
    if (it != records_.begin()) {
      auto prev = std::prev(it);
      if (prev->second.end() > r.file_offset) it = prev;
    }
    while (it != records_.end() && it->first < r.end()) {
      known_.Remove(it->second.file_offset, it->second.length);
      it = records_.erase(it);
    }
  }
  for (const ExtentRecord& r : records) {
    records_[r.file_offset] = r;
    known_.Add(r.file_offset, r.length);
  }
  known_.Add(offset, length);
}

void ExtentCache::MarkWritten(uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  std::vector<ExtentRecord> touched;
  auto it = records_.upper_bound(offset);
  if (it != records_.begin() && std::prev(it)->second.end() > offset) --it;
  for (; it != records_.end() && it->first < end; ++it) {
    if (!it->second.written) touched.push_back(it->second);
  }
  // Split at the range's ends, as meta's commit does.
  for (const ExtentRecord& r : touched) {
    records_.erase(r.file_offset);
    const uint64_t ws = std::max(r.file_offset, offset), we = std::min(r.end(), end);
    if (r.file_offset < ws) {
      records_[r.file_offset] = {r.file_offset, ws - r.file_offset, r.pair, r.dev_offset, false};
    }
    records_[ws] = {ws, we - ws, r.pair, r.dev_offset + (ws - r.file_offset), true};
    if (we < r.end()) {
      records_[we] = {we, r.end() - we, r.pair, r.dev_offset + (we - r.file_offset), false};
    }
  }
}

void ExtentCache::Clear() {
  records_.clear();
  known_.Clear();
}

std::vector<MappedPiece> ExtentCache::Map(uint64_t offset, uint64_t length) const {
  std::vector<MappedPiece> out;
  const uint64_t end = offset + length;
  uint64_t cur = offset;
  auto it = records_.upper_bound(offset);
  if (it != records_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end() > offset) it = prev;
  }
  for (; it != records_.end() && it->first < end; ++it) {
    const ExtentRecord& r = it->second;
    if (r.file_offset > cur) {
      out.push_back({cur, r.file_offset - cur, std::nullopt});
      cur = r.file_offset;
    }
    const uint64_t e = std::min(end, r.end());
    if (e > cur) {
      out.push_back({cur, e - cur, r});
      cur = e;
    }
  }
  if (cur < end) out.push_back({cur, end - cur, std::nullopt});
  return out;
}

bool ExtentCache::Allocated(uint64_t offset, uint64_t length) const {
  for (const MappedPiece& p : Map(offset, length)) {
    if (!p.extent) return false;
  }
  return true;
}

std::string WritePiece::Bytes(uint64_t from, uint64_t len) const {
  std::string out;
  out.reserve(len);
  const uint64_t end = from + len;
  const uint64_t data_end = head_zeros + data.size();
  if (from < head_zeros) out.append(std::min(end, head_zeros) - from, '\0');
  if (end > head_zeros && from < data_end) {
    const uint64_t s = std::max(from, head_zeros), e = std::min(end, data_end);
    out.append(data.substr(s - head_zeros, e - s));
  }
  if (end > data_end) out.append(end - std::max(from, data_end), '\0');
  return out;
}

std::vector<WritePiece> PlanWrite(uint64_t offset, std::string_view data,
                                  const std::vector<MappedPiece>& map,
                                  const BlockWritten& written) {
  std::vector<WritePiece> out;
  for (const MappedPiece& p : map) {
    const ExtentRecord& ext = *p.extent;
    WritePiece w;
    w.pair = ext.pair;
    w.data = data.substr(p.file_offset - offset, p.length);
    const uint64_t head_block = RoundDown(p.file_offset, kBlockSize);
    if (head_block != p.file_offset && head_block >= ext.file_offset &&
        !written(head_block, ext)) {
      w.head_zeros = p.file_offset - head_block;
    }
    const uint64_t end = p.file_offset + p.length;
    const uint64_t tail_block = RoundDown(end, kBlockSize);
    if (tail_block != end && RoundUp(end, kBlockSize) <= ext.end() &&
        !written(tail_block, ext)) {
      w.tail_zeros = RoundUp(end, kBlockSize) - end;
    }
    w.file_offset = p.file_offset - w.head_zeros;
    w.dev_offset = ext.dev_offset + (w.file_offset - ext.file_offset);
    out.push_back(w);
  }
  return out;
}

std::vector<ReadPiece> PlanRead(uint64_t offset, uint64_t length,
                                const std::vector<MappedPiece>& map,
                                const RangeSet& local_written) {
  std::vector<ReadPiece> out;
  auto add_zeros = [&](uint64_t file_off, uint64_t len) {
    if (len == 0) return;
    if (!out.empty() && out.back().zeros &&
        out.back().buf_offset + out.back().length == file_off - offset) {
      out.back().length += len;
      return;
    }
    out.push_back({file_off - offset, len, true, 0, 0});
  };
  auto add_data = [&](const MappedPiece& p, uint64_t file_off, uint64_t len) {
    out.push_back({file_off - offset, len, false, p.extent->pair,
                   p.extent->dev_offset + (file_off - p.extent->file_offset)});
  };
  for (const MappedPiece& p : map) {
    if (!p.extent) {
      add_zeros(p.file_offset, p.length);
    } else if (p.extent->written) {
      add_data(p, p.file_offset, p.length);
    } else {
      uint64_t cur = p.file_offset;
      for (const ByteSpan& s : local_written.Intersect(p.file_offset, p.length)) {
        add_zeros(cur, s.offset - cur);
        add_data(p, s.offset, s.length);
        cur = s.end();
      }
      add_zeros(cur, p.file_offset + p.length - cur);
    }
  }
  return out;
}

std::vector<DevicePart> SplitByRegion(uint64_t dev_offset, uint64_t length) {
  std::vector<DevicePart> out;
  uint64_t cur = dev_offset;
  const uint64_t end = dev_offset + length;
  while (cur < end) {
    const uint64_t region = cur / kDeviceRegion;
    const uint64_t e = std::min(end, (region + 1) * kDeviceRegion);
    out.push_back({cur, e - cur, static_cast<int>(region % 2)});
    cur = e;
  }
  return out;
}

ByteSpan FillSpan(uint64_t offset, uint64_t size, uint64_t block) {
  const uint64_t start = RoundDown(offset, block);
  return {start, RoundUp(offset + size, block) - start};
}

}  // namespace scalefs
