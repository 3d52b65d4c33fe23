// A small read that misses the page cache fetches the whole aligned block
// around it and the kernel caches the rest (fsd/fill_gate.h, --read_block_kb).
// What a user relies on: the cached neighbours hold the file's bytes, a local
// write is never hidden behind them, the size never grows from a fill, and
// another client's change is seen at the next open.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kBlock = 64 << 10;  // the mount's default --read_block_kb

class PageFillTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster();
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }
  static std::string Path(const std::string& name) { return cluster_->mnt() + "/" + name; }
  static Cluster* cluster_;
};
Cluster* PageFillTest::cluster_ = nullptr;

std::string PreadAt(int fd, uint64_t off, size_t n) {
  std::string out(n, '\0');
  ssize_t got = pread(fd, out.data(), n, off);
  out.resize(got > 0 ? got : 0);
  return out;
}

// Which pages of [off, off+len) of the file behind `fd` are in the page cache.
std::vector<bool> Resident(int fd, uint64_t off, size_t len) {
  void* m = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, off);
  if (m == MAP_FAILED) return {};
  std::vector<unsigned char> v(len / kPage);
  std::vector<bool> out;
  if (mincore(m, len, v.data()) == 0)
    for (unsigned char c : v) out.push_back(c & 1);
  munmap(m, len);
  return out;
}

TEST_F(PageFillTest, OneSmallReadCachesItsBlockWithTheFilesBytes) {
  constexpr uint64_t kSize = 4 << 20;
  ASSERT_OK(WritePatternFile(Path("f"), 7, kSize));
  const uint64_t block = 9 * kBlock;
  // The kernel sends the writer's RELEASE after close returns, and no fill
  // runs while a writer is open: try a few fresh opens.
  int fd = -1;
  bool filled = false;
  for (int attempt = 0; attempt < 50 && !filled; ++attempt) {
    if (fd >= 0) close(fd);
    fd = open(Path("f").c_str(), O_RDONLY);  // a fresh open drops cached pages
    ASSERT_SYS(fd);
    ASSERT_EQ(Resident(fd, block, kBlock), std::vector<bool>(kBlock / kPage, false));
    // One page in the middle of the block, as a random reader asks.
    ASSERT_SYS(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM));
    ASSERT_EQ(PreadAt(fd, block + 5 * kPage, kPage), PatternBytes(7, block + 5 * kPage, kPage));
    filled = Resident(fd, block, kBlock) == std::vector<bool>(kBlock / kPage, true);
    if (!filled) usleep(20000);
  }
  EXPECT_TRUE(filled) << "the rest of the block was never handed to the page cache";
  // Every cached page holds the file's bytes, and so does every random read.
  EXPECT_TRUE(PreadAt(fd, block, kBlock) == PatternBytes(7, block, kBlock));
  std::mt19937_64 rng(1);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t off = rng() % (kSize / kPage) * kPage;
    ASSERT_TRUE(PreadAt(fd, off, kPage) == PatternBytes(7, off, kPage)) << "offset " << off;
  }
  ASSERT_SYS(close(fd));
}

TEST_F(PageFillTest, AFillNeverGrowsTheSize) {
  constexpr uint64_t kSize = kBlock + 10000;  // the last block is partial
  ASSERT_OK(WritePatternFile(Path("odd"), 8, kSize));
  int fd = open(Path("odd").c_str(), O_RDONLY);
  ASSERT_SYS(fd);
  ASSERT_SYS(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM));
  ASSERT_EQ(PreadAt(fd, kBlock, kPage), PatternBytes(8, kBlock, kPage));
  struct stat st;
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  EXPECT_TRUE(PreadAt(fd, kBlock, kBlock) == PatternBytes(8, kBlock, 10000));
  EXPECT_EQ(PreadAt(fd, kSize, kPage), "");
  // A truncate while the filled pages are cached: they go, the size holds.
  ASSERT_SYS(truncate(Path("odd").c_str(), kBlock + 100));
  ASSERT_SYS(fstat(fd, &st));
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kBlock + 100);
  EXPECT_TRUE(PreadAt(fd, kBlock, kBlock) == PatternBytes(8, kBlock, 100));
  ASSERT_SYS(close(fd));
}

// Readers fill while a writer on another descriptor changes pages of the
// same blocks: every read after a write returned shows that write.
TEST_F(PageFillTest, LocalWritesAreNeverHiddenByFills) {
  constexpr uint64_t kSize = 1 << 20;
  ASSERT_OK(WritePatternFile(Path("rw"), 9, kSize));
  std::atomic<bool> stop{false};
  std::atomic<int> fills{0};
  std::thread reader([&] {
    std::mt19937_64 rng(2);
    while (!stop) {
      int fd = open(Path("rw").c_str(), O_RDONLY);
      if (fd < 0) continue;
      posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
      for (int i = 0; i < 64; ++i) PreadAt(fd, rng() % (kSize / kPage) * kPage, kPage);
      close(fd);
      fills++;
    }
  });
  std::mt19937_64 rng(3);
  for (int round = 0; round < 600; ++round) {
    const uint64_t off = rng() % (kSize / kPage) * kPage;
    const std::string data = PatternBytes(1000 + round, off, kPage);
    int w = open(Path("rw").c_str(), O_WRONLY);
    ASSERT_SYS(w);
    ASSERT_EQ(pwrite(w, data.data(), kPage, off), static_cast<ssize_t>(kPage));
    // Read on a read-only descriptor, while the writer is still open and after.
    int r = open(Path("rw").c_str(), O_RDONLY);
    ASSERT_SYS(r);
    posix_fadvise(r, 0, 0, POSIX_FADV_RANDOM);
    EXPECT_TRUE(PreadAt(r, off, kPage) == data) << "round " << round << " offset " << off;
    ASSERT_SYS(close(w));
    const uint64_t block = off / kBlock * kBlock;
    EXPECT_TRUE(PreadAt(r, block, kBlock).substr(off - block, kPage) == data)
        << "round " << round << " offset " << off << " after the writer closed";
    ASSERT_SYS(close(r));
  }
  stop = true;
  reader.join();
  EXPECT_GT(fills.load(), 0);
}

TEST_F(PageFillTest, AnotherClientsChangeIsSeenAtTheNextOpen) {
  constexpr uint64_t kSize = 1 << 20;
  ASSERT_OK(WritePatternFile(Path("shared"), 10, kSize));
  int fd = open(Path("shared").c_str(), O_RDONLY);
  ASSERT_SYS(fd);
  ASSERT_SYS(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM));
  ASSERT_EQ(PreadAt(fd, 0, kPage), PatternBytes(10, 0, kPage));  // fills [0, kBlock)
  ASSERT_SYS(close(fd));
  const std::string other = cluster_->state_dir() + "/mnt2";
  ASSERT_OK(cluster_->MountAt(other, "client2"));
  const std::string data = PatternBytes(11, 3 * kPage, kPage);
  int w = open((other + "/shared").c_str(), O_WRONLY);
  ASSERT_SYS(w);
  ASSERT_EQ(pwrite(w, data.data(), kPage, 3 * kPage), static_cast<ssize_t>(kPage));
  ASSERT_SYS(close(w));
  ASSERT_OK(cluster_->UnmountAt(other, "client2"));
  fd = open(Path("shared").c_str(), O_RDONLY);
  ASSERT_SYS(fd);
  EXPECT_TRUE(PreadAt(fd, 3 * kPage, kPage) == data);
  ASSERT_SYS(close(fd));
}

}  // namespace
}  // namespace scalefs::test
