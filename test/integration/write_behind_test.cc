// Buffered writes return once queued and travel to the pair in the
// background (fsd/open_file.h, write-behind). What a user relies on: reads
// and later writes see them in order, fsync and close wait for them, and a
// transfer that fails is reported by fsync and never turns into committed
// blocks holding someone else's bytes.
#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"
#include "test/integration/pair_util.h"

namespace scalefs::test {
namespace {

std::string ReadAll(int fd, size_t size) {
  std::string out(size, '\0');
  ssize_t n = pread(fd, out.data(), size, 0);
  out.resize(n > 0 ? n : 0);
  return out;
}

TEST(WriteBehind, OverlappingUnalignedWritesAndReadsStayInOrder) {
  Cluster c;
  ASSERT_OK(c.Start());
  const std::string path = c.mnt() + "/f";
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_SYS(fd);
  constexpr size_t kSize = 3 << 20;  // across pairs and stripe units
  std::string model;
  std::mt19937_64 rng(42);
  for (int round = 0; round < 2000; ++round) {
    const size_t off = rng() % kSize;
    const size_t len = 1 + rng() % (round % 10 == 0 ? (1 << 20) : 9000);
    const std::string data = PatternBytes(round, off, len);
    ASSERT_EQ(pwrite(fd, data.data(), len, off), static_cast<ssize_t>(len));
    if (model.size() < off + len) model.resize(off + len, '\0');
    model.replace(off, len, data);
    if (round % 100 == 99) ASSERT_EQ(ReadAll(fd, model.size() + 1), model) << "round " << round;
  }
  ASSERT_SYS(close(fd));
  // Another client sees exactly the model after the close.
  const std::string other = c.state_dir() + "/mnt2";
  ASSERT_OK(c.MountAt(other, "client2"));
  auto back = ReadFile(other + "/f");
  ASSERT_OK(back.status());
  EXPECT_TRUE(*back == model) << "another client read different bytes";
  ASSERT_OK(c.UnmountAt(other, "client2"));
  EXPECT_EQ(c.Cli({"fsck"}), 0);
}

TEST(WriteBehind, AFailedTransferIsReportedAndNeverCommitted) {
  ClusterOptions o;
  o.pairs = 1;
  o.device_size = 256ull << 20;
  Cluster c(o);
  ASSERT_OK(c.Start());
  ASSERT_OK(WaitPairHealthy(c, 0, 30));
  // Fill the device's first blocks with bytes of another file, then free
  // them: a block committed without its write would show them.
  ASSERT_OK(WritePatternFile(c.mnt() + "/old", 7, 8 << 20));
  ASSERT_SYS(unlink((c.mnt() + "/old").c_str()));

  const std::string other = c.state_dir() + "/mnt2";
  ASSERT_OK(c.MountAt(other, "client2", {"--io_timeout_ms=300", "--io_retry_ms=1500"}));
  const std::string path = other + "/f";
  int fd = open(path.c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_SYS(fd);
  const std::string first = PatternBytes(1, 0, 1 << 20);
  ASSERT_EQ(write(fd, first.data(), first.size()), static_cast<ssize_t>(first.size()));
  ASSERT_SYS(fsync(fd));

  c.Kill("pair0a");
  c.Kill("pair0b");
  const std::string second = PatternBytes(2, 1 << 20, 1 << 20);
  // Queued, so it succeeds now; the failure comes with fsync.
  ASSERT_EQ(write(fd, second.data(), second.size()), static_cast<ssize_t>(second.size()));
  EXPECT_ERRNO(EIO, fsync(fd));

  ASSERT_OK(c.StartDaemon("pair0a"));
  ASSERT_OK(c.StartDaemon("pair0b"));
  ASSERT_OK(WaitPairHealthy(c, 0, 60));
  close(fd);
  ASSERT_OK(c.UnmountAt(other, "client2"));

  auto back = ReadFile(c.mnt() + "/f");
  ASSERT_OK(back.status());
  ASSERT_GE(back->size(), first.size());
  EXPECT_TRUE(back->compare(0, first.size(), first) == 0) << "the synced megabyte changed";
  const std::string rest = back->substr(first.size());
  EXPECT_EQ(rest.find_first_not_of('\0'), std::string::npos)
      << "the failed write left non-zero bytes readable";
  EXPECT_EQ(c.Cli({"fsck"}), 0);
}

}  // namespace
}  // namespace scalefs::test
