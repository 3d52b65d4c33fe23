#include "common/block_crc.h"

#include <isa-l/crc.h>

#include <algorithm>

#include "common/layout.h"

namespace scalefs {

uint32_t Crc32c(std::string_view data) {
  // crc32_iscsi takes the running value without the final inversion.
  return ~crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                      static_cast<int>(data.size()), 0xFFFFFFFFu);
}

std::vector<uint32_t> PieceCrcs(uint64_t dev_offset, std::string_view data) {
  std::vector<uint32_t> crcs;
#ifdef SCALEFS_WITHOUT_CHECKSUMS
  // The benchmark's baseline: a write carries none, and a member that gets
  // none stores none (CheckedDevice::Write).
  return crcs;
#endif
  crcs.reserve(data.size() / kBlockSize + 2);
  for (uint64_t pos = 0; pos < data.size();) {
    const uint64_t block_end = RoundDown(dev_offset + pos, kBlockSize) + kBlockSize;
    const uint64_t n = std::min<uint64_t>(data.size() - pos, block_end - (dev_offset + pos));
    crcs.push_back(Crc32c(data.substr(pos, n)));
    pos += n;
  }
  return crcs;
}

std::optional<uint64_t> FirstMismatch(uint64_t dev_offset, std::string_view data,
                                      const uint32_t* crcs, size_t count) {
  const std::vector<uint32_t> got = PieceCrcs(dev_offset, data);
  if (got.size() != count) return dev_offset;
  uint64_t pos = dev_offset;
  for (size_t i = 0; i < count; ++i) {
    if (got[i] != crcs[i]) return pos;
    pos = RoundDown(pos, kBlockSize) + kBlockSize;
  }
  return std::nullopt;
}

}  // namespace scalefs
