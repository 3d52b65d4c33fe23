#include "chunk/aligned_buffer_pool.h"

#include <cstdint>

#include <gtest/gtest.h>

namespace scalefs {
namespace {

TEST(AlignedBufferPoolTest, BuffersAreAlignedAndReused) {
  AlignedBufferPool pool(512, 1 << 20, 2);
  char* first;
  {
    AlignedBufferPool::Buffer b = pool.Get(4096);
    ASSERT_NE(b.data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 512, 0u);
    b.data()[(1 << 20) - 1] = 'x';  // a whole granule is there
    first = b.data();
  }
  // The kept buffer comes back for any size it fits.
  AlignedBufferPool::Buffer again = pool.Get(1 << 20);
  EXPECT_EQ(again.data(), first);
  // A larger request gets a new, larger buffer.
  AlignedBufferPool::Buffer big = pool.Get((1 << 20) + 1);
  ASSERT_NE(big.data(), nullptr);
  EXPECT_NE(big.data(), first);
  big.data()[(2 << 20) - 1] = 'y';
}

TEST(AlignedBufferPoolTest, TheSmallestFittingBufferIsTaken) {
  AlignedBufferPool pool(4096, 1 << 20, 4);
  char* small;
  char* large;
  {
    AlignedBufferPool::Buffer a = pool.Get(3 << 20);
    AlignedBufferPool::Buffer b = pool.Get(1 << 20);
    large = a.data();
    small = b.data();
  }
  AlignedBufferPool::Buffer x = pool.Get(100);
  EXPECT_EQ(x.data(), small);
  AlignedBufferPool::Buffer y = pool.Get(2 << 20);
  EXPECT_EQ(y.data(), large);
  // A moved buffer goes back once, by its new owner.
  AlignedBufferPool::Buffer z(std::move(y));
  EXPECT_EQ(y.data(), nullptr);
  EXPECT_EQ(z.data(), large);
}

}  // namespace
}  // namespace scalefs
