#include "chunk/checksum_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/layout.h"

namespace scalefs {

Result<std::unique_ptr<ChecksumStore>> ChecksumStore::Open(const std::string& path,
                                                           uint64_t device_size) {
  const uint64_t blocks = (device_size + kBlockSize - 1) / kBlockSize;
  const uint64_t bytes = blocks * sizeof(uint64_t);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open checksum file " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = Status::FromErrno(errno, "stat checksum file " + path);
    ::close(fd);
    return s;
  }
  // Sparse zeros: no checksums. A device that grew gets entries for its new
  // blocks; one that shrank keeps only its own.
  if (static_cast<uint64_t>(st.st_size) != bytes && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    Status s = Status::FromErrno(errno, "size checksum file " + path);
    ::close(fd);
    return s;
  }
  void* map = nullptr;
  if (bytes > 0) {
    map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      Status s = Status::FromErrno(errno, "map checksum file " + path);
      ::close(fd);
      return s;
    }
  }
  return std::unique_ptr<ChecksumStore>(
      new ChecksumStore(path, fd, blocks, static_cast<uint64_t*>(map)));
}

ChecksumStore::~ChecksumStore() {
  if (words_ != nullptr) ::munmap(words_, blocks_ * sizeof(uint64_t));
  ::close(fd_);
}

ChecksumStore::Slots ChecksumStore::Get(uint64_t block) const {
  if (block >= blocks_) return {};
  const uint64_t w = std::atomic_ref<uint64_t>(words_[block]).load(std::memory_order_acquire);
  return {static_cast<uint32_t>(w), static_cast<uint32_t>(w >> 32)};
}

void ChecksumStore::Set(uint64_t block, Slots slots) {
  if (block >= blocks_) return;
  std::atomic_ref<uint64_t>(words_[block])
      .store(uint64_t{slots.a} | (uint64_t{slots.b} << 32), std::memory_order_release);
}

Status ChecksumStore::Sync() {
  if (words_ == nullptr) return Status::OK();
  if (::msync(words_, blocks_ * sizeof(uint64_t), MS_SYNC) != 0) {
    return Status::FromErrno(errno, "msync checksum file " + path_);
  }
  return Status::OK();
}

}  // namespace scalefs
