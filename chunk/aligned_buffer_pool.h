// Aligned buffers for O_DIRECT, kept for reuse. On a VM, memory the process
// has not touched before costs a host fault per page, and glibc hands
// aligned blocks out of fresh heap: a buffer allocated per request cost more
// than the transfer it served (and a member's resident memory grew to 300 MiB).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

namespace scalefs {

class AlignedBufferPool {
 public:
  // Buffers are multiples of `granule` bytes aligned to `alignment`; at most
  // `max_kept` wait for reuse, the rest are freed.
  AlignedBufferPool(size_t alignment, size_t granule, size_t max_kept)
      : alignment_(alignment), granule_(granule), max_kept_(max_kept) {}
  ~AlignedBufferPool() {
    for (auto& [p, n] : free_) std::free(p);
  }
  AlignedBufferPool(const AlignedBufferPool&) = delete;
  AlignedBufferPool& operator=(const AlignedBufferPool&) = delete;

  // A buffer back to the pool when it goes out of scope.
  class Buffer {
   public:
    Buffer(AlignedBufferPool* pool, char* data, size_t capacity)
        : pool_(pool), data_(data), capacity_(capacity) {}
    Buffer(Buffer&& o) noexcept : pool_(o.pool_), data_(std::exchange(o.data_, nullptr)),
                                  capacity_(o.capacity_) {}
    Buffer& operator=(Buffer&&) = delete;
    ~Buffer() {
      if (data_ != nullptr) pool_->Put(data_, capacity_);
    }
    // Null when memory ran out.
    char* data() const { return data_; }

   private:
    AlignedBufferPool* pool_;
    char* data_;
    size_t capacity_;
  };

  Buffer Get(size_t size) {
    const size_t capacity = std::max<size_t>(1, (size + granule_ - 1) / granule_) * granule_;
    {
      std::lock_guard lock(mu_);
      // The smallest kept buffer that fits.
      auto best = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second >= capacity && (best == free_.end() || it->second < best->second)) best = it;
      }
      if (best != free_.end()) {
        Buffer b(this, best->first, best->second);
        free_.erase(best);
        return b;
      }
    }
    void* p = nullptr;
    if (::posix_memalign(&p, alignment_, capacity) != 0) p = nullptr;
    return Buffer(this, static_cast<char*>(p), capacity);
  }

 private:
  void Put(char* data, size_t capacity) {
    {
      std::lock_guard lock(mu_);
      if (free_.size() < max_kept_) {
        free_.emplace_back(data, capacity);
        return;
      }
    }
    std::free(data);
  }

  const size_t alignment_, granule_, max_kept_;
  std::mutex mu_;
  std::vector<std::pair<char*, size_t>> free_;
};

}  // namespace scalefs
