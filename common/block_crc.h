// CRC32C (Castagnoli, as iSCSI, ext4 and 3FS use it) of the 4 KiB blocks a
// device is addressed in: the checksum a client computes as it writes, a
// member checks and stores beside the data, and every read checks again.
// ISA-L's hardware-accelerated crc32_iscsi computes it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace scalefs {

// The standard CRC32C of `data` ("123456789" -> 0xE3069283).
uint32_t Crc32c(std::string_view data);

// CRC32C of `data`, which starts at device offset `dev_offset`, cut at the
// device's 4 KiB block boundaries: one per block touched; the first and last
// may cover part of their block only. The form writes carry on the wire.
std::vector<uint32_t> PieceCrcs(uint64_t dev_offset, std::string_view data);

}  // namespace scalefs
