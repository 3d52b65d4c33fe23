// The member's device: an image file or a block device, addressed in bytes.
// Every request is bounds-checked here so no caller can touch bytes outside it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace scalefs {

class BlockDevice {
 public:
  // Opens `path` read-write. If it does not exist and create_size > 0, creates
  // it as a sparse file of create_size bytes (a preallocated image for tests
  // and the loopback cluster).
  static Result<std::unique_ptr<BlockDevice>> Open(const std::string& path, uint64_t create_size);
  ~BlockDevice();
  BlockDevice(const BlockDevice&) = delete;
  BlockDevice& operator=(const BlockDevice&) = delete;

  uint64_t size() const { return size_; }
  // True when Open created the image just now: nothing recorded about an
  // earlier device at this path (membership, dirty regions) applies to it.
  bool created() const { return created_; }
  const std::string& path() const { return path_; }

  // OK when [offset, offset+length) lies inside the device and length is at
  // most kMaxIoSize; `what` ("read", "write") names the request in the message.
  Status CheckRange(std::string_view what, uint64_t offset, uint64_t length) const;

  // Replaces *out with `length` bytes at `offset`. Zero length is a no-op.
  Status Read(uint64_t offset, uint64_t length, std::string* out) const;
  Status Write(uint64_t offset, std::string_view data);
  // crc32 (zlib) of each block_size block of [offset, offset+length); the
  // last one may be short. For `scalefs verify`, so larger ranges than one
  // I/O are allowed (up to kMaxChecksumBlocks blocks).
  static constexpr uint64_t kMaxChecksumBlocks = 1 << 18;
  Result<std::vector<uint32_t>> Checksum(uint64_t offset, uint64_t length,
                                         uint32_t block_size) const;
  // fdatasync: everything written so far survives a crash.
  Status Sync();

 private:
  BlockDevice(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

  const std::string path_;
  const int fd_;
  const uint64_t size_;
  bool created_ = false;
};

// Parses "4096", "64K", "512M", "1G", "2T" (powers of 1024) into bytes.
Result<uint64_t> ParseByteSize(std::string_view text);

}  // namespace scalefs
