// The pure arithmetic of fsd's data path: which extent holds which bytes,
// how a write is cut into chunk requests (zero padded where a block is new),
// and which parts of a read come from a chunk server and which are zeros.
// No RPCs here, so all of it is unit tested.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fsd/range_set.h"

namespace scalefs {

// One record of a file's extent map, as meta returns it.
struct ExtentRecord {
  uint64_t file_offset = 0;
  uint64_t length = 0;
  uint32_t pair = 0;
  uint64_t dev_offset = 0;
  bool written = false;
  uint64_t end() const { return file_offset + length; }
};

// A part of a file range that lies in one extent, or in a hole.
struct MappedPiece {
  uint64_t file_offset = 0;
  uint64_t length = 0;
  std::optional<ExtentRecord> extent;
  uint64_t dev_offset() const { return extent->dev_offset + (file_offset - extent->file_offset); }
};

// The extent map of one file as far as this client fetched it. `known`
// ranges are those meta described (holes included); records are meta's,
// newest wins.
class ExtentCache {
 public:
  // Records meta returned for a query of [offset, offset+length).
  void Insert(const std::vector<ExtentRecord>& records, uint64_t offset, uint64_t length);
  void Clear();
  // The parts of [offset, offset+length) not described by meta yet.
  std::vector<ByteSpan> Unknown(uint64_t offset, uint64_t length) const {
    return known_.Missing(offset, length);
  }
  // What meta does to its map at a commit of [offset, offset+length)
  // (block aligned): the cached unwritten records there become written.
  void MarkWritten(uint64_t offset, uint64_t length);
  // True when every byte of the range lies in a cached extent.
  bool Allocated(uint64_t offset, uint64_t length) const;
  std::vector<MappedPiece> Map(uint64_t offset, uint64_t length) const;
  size_t size() const { return records_.size(); }

 private:
  std::map<uint64_t, ExtentRecord> records_;  // by file_offset, disjoint
  RangeSet known_;
};

// One chunk write: zeros, then data, then zeros, at dev_offset of a pair.
struct WritePiece {
  uint32_t pair = 0;
  uint64_t dev_offset = 0;
  uint64_t file_offset = 0;  // of the first byte, zeros included
  uint64_t head_zeros = 0;
  std::string_view data;
  uint64_t tail_zeros = 0;
  uint64_t length() const { return head_zeros + data.size() + tail_zeros; }
  // Bytes [from, from+len) of the padded piece.
  std::string Bytes(uint64_t from, uint64_t len) const;
};

// True when the block at file offset `block` (4 KiB aligned) holds data that
// must be kept: written in meta or written by this client and not committed.
using BlockWritten = std::function<bool(uint64_t block, const ExtentRecord& extent)>;

// Cuts a write of `data` at file offset `offset` along `map` (every piece must
// have an extent). A partial block that is not written is padded with zeros
// to its block boundaries, so a block never exposes bytes nobody wrote.
std::vector<WritePiece> PlanWrite(uint64_t offset, std::string_view data,
                                  const std::vector<MappedPiece>& map,
                                  const BlockWritten& written);

// A part of a read: zeros, or bytes of a pair device.
struct ReadPiece {
  uint64_t buf_offset = 0;
  uint64_t length = 0;
  bool zeros = true;
  uint32_t pair = 0;
  uint64_t dev_offset = 0;
};

// Plans a read of [offset, offset+length) (already clipped to the size):
// holes and unwritten extents read as zeros unless this client wrote them
// and has not committed them yet (`local_written`, block granular; the
// cache marks committed blocks written).
std::vector<ReadPiece> PlanRead(uint64_t offset, uint64_t length,
                                const std::vector<MappedPiece>& map,
                                const RangeSet& local_written);

// A device range split at the chunk servers' 1 MiB sequencing regions; each
// part also stays within kMaxIoSize.
struct DevicePart {
  uint64_t dev_offset = 0;
  uint64_t length = 0;
  int member = 0;  // the member that sequences this region: region % 2
};
inline constexpr uint64_t kDeviceRegion = 1 << 20;

// The range a page-cache fill reads for a request of [offset, offset+size):
// the `block`-aligned blocks that cover all of it. A request may straddle a
// block boundary, and the reply must hold every byte asked for up to the end
// of file: the kernel takes a short reply as the end of the file and shrinks
// its cached size to it.
ByteSpan FillSpan(uint64_t offset, uint64_t size, uint64_t block);
std::vector<DevicePart> SplitByRegion(uint64_t dev_offset, uint64_t length);

}  // namespace scalefs
