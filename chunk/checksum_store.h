// The member's checksum area: a file beside the device (DEVICE.crc) with one
// 8-byte entry per 4 KiB block, two CRC32C slots each. See checked_device.h
// for the protocol that keeps the slots and the data crash-consistent.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace scalefs {

class ChecksumStore {
 public:
  // A block's two slots. A slot holds Encode(crc), so 0 means "no checksum":
  // both 0 is a block never written with one (unwritten extents, or data
  // from before checksums). Settled: both equal, the block's one checksum.
  // Staged: a write was in progress (old, new): the data matches either.
  struct Slots {
    uint32_t a = 0, b = 0;
    bool none() const { return a == 0 && b == 0; }
    bool settled() const { return a == b; }
  };
  // CRC32C 0 is stored as 0xFFFFFFFF (sharing it with that value), keeping
  // 0 free for "none".
  static uint32_t Encode(uint32_t crc) { return crc == 0 ? 0xFFFFFFFFu : crc; }

  // Opens (creating or resizing as needed) the file at `path` for a device of
  // `device_size` bytes and maps it. A new file holds no checksums.
  static Result<std::unique_ptr<ChecksumStore>> Open(const std::string& path,
                                                     uint64_t device_size);
  ~ChecksumStore();
  ChecksumStore(const ChecksumStore&) = delete;
  ChecksumStore& operator=(const ChecksumStore&) = delete;

  uint64_t blocks() const { return blocks_; }
  const std::string& path() const { return path_; }

  // One entry is read and written as one 8-byte word, so a reader never sees
  // half of an update. The mapping is the page cache: an entry set before the
  // data's pwrite is in the file before the data, whatever kills the process.
  Slots Get(uint64_t block) const;
  void Set(uint64_t block, Slots slots);
  // msync: every entry set so far survives a crash of the host.
  Status Sync();

 private:
  ChecksumStore(std::string path, int fd, uint64_t blocks, uint64_t* words)
      : path_(std::move(path)), fd_(fd), blocks_(blocks), words_(words) {}

  const std::string path_;
  const int fd_;
  const uint64_t blocks_;
  uint64_t* const words_;  // mmap of the file: blocks_ entries
};

}  // namespace scalefs
