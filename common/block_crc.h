// CRC32C (Castagnoli, as iSCSI, ext4 and 3FS use it) of the 4 KiB blocks a
// device is addressed in: the checksum a client computes as it writes, a
// member checks and stores beside the data, and every read checks again.
// ISA-L's hardware-accelerated crc32_iscsi computes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace scalefs {

// The standard CRC32C of `data` ("123456789" -> 0xE3069283).
uint32_t Crc32c(std::string_view data);

// CRC32C of `data`, which starts at device offset `dev_offset`, cut at the
// device's 4 KiB block boundaries: one per block touched; the first and last
// may cover part of their block only. The form writes carry on the wire.
std::vector<uint32_t> PieceCrcs(uint64_t dev_offset, std::string_view data);

// Checks `data` (from device offset `dev_offset`) against the PieceCrcs its
// sender computed: the device offset of the first piece that does not
// match, or of `data`'s start when the count is wrong; nullopt when all do.
std::optional<uint64_t> FirstMismatch(uint64_t dev_offset, std::string_view data,
                                      const uint32_t* crcs, size_t count);

}  // namespace scalefs
