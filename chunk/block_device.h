// The member's device: an image file or a block device, addressed in bytes.
// Every request is bounds-checked here so no caller can touch bytes outside it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chunk/aligned_buffer_pool.h"
#include "common/status.h"

namespace scalefs {

class BlockDevice {
 public:
  // Opens `path` read-write. If it does not exist and create_size > 0, creates
  // it as a sparse file of create_size bytes (a preallocated image for tests
  // and the loopback cluster). With direct_io, large aligned reads and
  // writes bypass the page cache (O_DIRECT) where the file system allows it.
  static Result<std::unique_ptr<BlockDevice>> Open(const std::string& path, uint64_t create_size,
                                                   bool direct_io = true);
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
  // Aligned reads and writes of kMinDirectIo or more go through O_DIRECT
  // when the device was opened for it: filling page cache costs more CPU
  // than the whole rest of a large transfer (on a VM, a fresh page per
  // 4 KiB faults in the host), and a member rarely reads again what it
  // moved. Smaller ones go through the page cache, where a write answers at
  // once and reads of small files ride readahead; the kernel keeps the two
  // coherent. Sync makes both durable.
  static constexpr uint64_t kMinDirectIo = 128 << 10;
  Status Write(uint64_t offset, std::string_view data);
  // True when large aligned transfers bypass the page cache.
  bool direct_io() const { return direct_fd_ >= 0; }
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
  // Opens direct_fd_ when the file system takes O_DIRECT at this path.
  void OpenDirect();
  // True when [offset, offset+length) goes to direct_fd_.
  bool Direct(uint64_t offset, uint64_t length) const;
  Status WriteDirect(uint64_t offset, std::string_view data);
  Status ReadDirect(uint64_t offset, uint64_t length, std::string* out) const;

  const std::string path_;
  const int fd_;
  const uint64_t size_;
  bool created_ = false;
  int direct_fd_ = -1;
  uint32_t direct_offset_align_ = 0;  // offsets and lengths of direct I/O
  uint32_t direct_mem_align_ = 0;     // their buffers
  // Buffers of direct I/O, in 1 MiB steps, 16 kept: the member serves a few
  // large transfers at a time, and kept buffers stay touched.
  static constexpr size_t kBufferGranule = 1 << 20, kBuffersKept = 16;
  std::unique_ptr<AlignedBufferPool> buffers_;
};

// Parses "4096", "64K", "512M", "1G", "2T" (powers of 1024) into bytes.
Result<uint64_t> ParseByteSize(std::string_view text);

}  // namespace scalefs
