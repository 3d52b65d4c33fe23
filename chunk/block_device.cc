#include "chunk/block_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "common/layout.h"

namespace scalefs {

Result<std::unique_ptr<BlockDevice>> BlockDevice::Open(const std::string& path,
                                                       uint64_t create_size, bool direct_io) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  bool created = false;
  if (fd < 0 && errno == ENOENT && create_size > 0) {
    created = true;
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno(errno, "create device " + path);
    // Sparse: the image takes disk space only where written.
    if (::ftruncate(fd, static_cast<off_t>(create_size)) != 0) {
      Status s = Status::FromErrno(errno, "size device " + path);
      ::close(fd);
      return s;
    }
  }
  if (fd < 0) return Status::FromErrno(errno, "open device " + path);

  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = Status::FromErrno(errno, "stat device " + path);
    ::close(fd);
    return s;
  }
  uint64_t size = 0;
  if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) {
      Status s = Status::FromErrno(errno, "BLKGETSIZE64 " + path);
      ::close(fd);
      return s;
    }
  } else if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
  } else {
    ::close(fd);
    return Status::Invalid(path + " is neither a regular file nor a block device");
  }
  auto device = std::unique_ptr<BlockDevice>(new BlockDevice(path, fd, size));
  device->created_ = created;
  if (direct_io) device->OpenDirect();
  return device;
}

void BlockDevice::OpenDirect() {
  struct statx st;
  if (::statx(fd_, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st) != 0 ||
      !(st.stx_mask & STATX_DIOALIGN) || st.stx_dio_mem_align == 0) {
    LOG(INFO) << path_ << ": no direct I/O here, everything goes through the page cache";
    return;
  }
  const int fd = ::open(path_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0) {
    LOG(INFO) << path_ << ": cannot open for direct I/O (" << std::strerror(errno)
              << "), everything goes through the page cache";
    return;
  }
  direct_fd_ = fd;
  direct_offset_align_ = st.stx_dio_offset_align;
  direct_mem_align_ = st.stx_dio_mem_align;
  buffers_ = std::make_unique<AlignedBufferPool>(direct_mem_align_, kBufferGranule, kBuffersKept);
  LOG(INFO) << path_ << ": large aligned reads and writes are direct (offset alignment "
            << direct_offset_align_ << ", memory alignment " << direct_mem_align_ << ")";
}

BlockDevice::~BlockDevice() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
  ::close(fd_);
}

Status BlockDevice::CheckRange(std::string_view what, uint64_t offset, uint64_t length) const {
  const std::string w(what);
  if (length > kMaxIoSize) {
    return Status(Status::Code::kTooBig, w + " of " + std::to_string(length) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(kMaxIoSize));
  }
  if (offset + length < offset) {
    return Status::Range(w + " at " + std::to_string(offset) + " of " + std::to_string(length) +
                         " bytes overflows");
  }
  if (offset + length > size_) {
    return Status::Range(w + " [" + std::to_string(offset) + ", " +
                         std::to_string(offset + length) + ") beyond device of " +
                         std::to_string(size_) + " bytes");
  }
  return Status::OK();
}

Status BlockDevice::Read(uint64_t offset, uint64_t length, std::string* out) const {
  Status s = CheckRange("read", offset, length);
  if (!s.ok()) return s;
  if (Direct(offset, length)) return ReadDirect(offset, length, out);
  out->resize(length);
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd_, out->data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "pread " + path_ + " at " + std::to_string(offset + done));
    }
    if (n == 0) {
      // The file shrank under us (image truncated): never return stale bytes.
      return Status::IoError("pread " + path_ + ": unexpected end of device at " +
                             std::to_string(offset + done));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

bool BlockDevice::Direct(uint64_t offset, uint64_t length) const {
  return direct_fd_ >= 0 && length >= kMinDirectIo && offset % direct_offset_align_ == 0 &&
         length % direct_offset_align_ == 0;
}

Status BlockDevice::ReadDirect(uint64_t offset, uint64_t length, std::string* out) const {
  AlignedBufferPool::Buffer buf = buffers_->Get(length);
  if (buf.data() == nullptr) {
    return Status::IoError("no memory for a direct read of " + std::to_string(length) +
                           " bytes from " + path_);
  }
  uint64_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(direct_fd_, buf.data() + done, length - done,
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "direct pread " + path_ + " at " +
                                          std::to_string(offset + done));
    }
    if (n == 0 || (done + n) % direct_offset_align_ != 0) {
      // The image shrank under us: never return stale bytes.
      return Status::IoError("direct pread " + path_ + ": short read at " +
                             std::to_string(offset + done));
    }
    done += static_cast<uint64_t>(n);
  }
  out->assign(buf.data(), length);
  return Status::OK();
}

Status BlockDevice::Write(uint64_t offset, std::string_view data) {
  Status s = CheckRange("write", offset, data.size());
  if (!s.ok()) return s;
  if (Direct(offset, data.size())) return WriteDirect(offset, data);
  uint64_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "pwrite " + path_ + " at " + std::to_string(offset + done));
    }
    if (n == 0) return Status::IoError("pwrite " + path_ + " wrote nothing");
    done += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status BlockDevice::WriteDirect(uint64_t offset, std::string_view data) {
  // The request's bytes sit wherever protobuf put them; O_DIRECT wants an
  // aligned buffer. Copying in user space is cheap next to the page cache.
  std::optional<AlignedBufferPool::Buffer> aligned;
  const char* buf = data.data();
  if (reinterpret_cast<uintptr_t>(buf) % direct_mem_align_ != 0) {
    aligned.emplace(buffers_->Get(data.size()));
    if (aligned->data() == nullptr) {
      return Status::IoError("no memory for a direct write of " + std::to_string(data.size()) +
                             " bytes to " + path_);
    }
    std::memcpy(aligned->data(), data.data(), data.size());
    buf = aligned->data();
  }
  uint64_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(direct_fd_, buf + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "direct pwrite " + path_ + " at " +
                                          std::to_string(offset + done));
    }
    if (n == 0) return Status::IoError("direct pwrite " + path_ + " wrote nothing");
    done += static_cast<uint64_t>(n);
    if (done % direct_offset_align_ != 0) {
      // A short direct write that ends unaligned: finish through the cache.
      return Write(offset + done, data.substr(done));
    }
  }
  return Status::OK();
}

Result<std::vector<uint32_t>> BlockDevice::Checksum(uint64_t offset, uint64_t length,
                                                    uint32_t block_size) const {
  if (block_size == 0 || block_size > kMaxIoSize) {
    return Status::Invalid("checksum block size " + std::to_string(block_size) +
                           " not in [1, " + std::to_string(kMaxIoSize) + "]");
  }
  if (offset + length < offset || offset + length > size_) {
    return Status::Range("checksum [" + std::to_string(offset) + ", " +
                         std::to_string(offset + length) + ") beyond device of " +
                         std::to_string(size_) + " bytes");
  }
  const uint64_t blocks = (length + block_size - 1) / block_size;
  if (blocks > kMaxChecksumBlocks) {
    return Status(Status::Code::kTooBig, "checksum of " + std::to_string(blocks) +
                                             " blocks exceeds the limit of " +
                                             std::to_string(kMaxChecksumBlocks));
  }
  std::vector<uint32_t> crcs;
  crcs.reserve(blocks);
  // Read whole I/O-sized runs of blocks, not one syscall per block.
  const uint64_t run = std::max<uint64_t>(1, kMaxIoSize / block_size) * block_size;
  std::string buf;
  for (uint64_t pos = offset; pos < offset + length;) {
    const uint64_t n = std::min(run, offset + length - pos);
    Status s = Read(pos, n, &buf);
    if (!s.ok()) return s;
    for (uint64_t b = 0; b < n; b += block_size) {
      const uint64_t len = std::min<uint64_t>(block_size, n - b);
      crcs.push_back(static_cast<uint32_t>(
          crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(buf.data() + b),
                static_cast<uInt>(len))));
    }
    pos += n;
  }
  return crcs;
}

Status BlockDevice::Sync() {
  while (::fdatasync(fd_) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "fdatasync " + path_);
  }
  return Status::OK();
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end == text.data()) {
    return Status::Invalid("bad size '" + std::string(text) + "'");
  }
  std::string_view rest(end, text.data() + text.size() - end);
  int shift = 0;
  if (rest == "" || rest == "B") shift = 0;
  else if (rest == "K" || rest == "k" || rest == "KiB") shift = 10;
  else if (rest == "M" || rest == "m" || rest == "MiB") shift = 20;
  else if (rest == "G" || rest == "g" || rest == "GiB") shift = 30;
  else if (rest == "T" || rest == "t" || rest == "TiB") shift = 40;
  else return Status::Invalid("bad size suffix in '" + std::string(text) + "'");
  if (shift > 0 && v > (UINT64_MAX >> shift)) {
    return Status::Invalid("size '" + std::string(text) + "' overflows");
  }
  return v << shift;
}

}  // namespace scalefs
