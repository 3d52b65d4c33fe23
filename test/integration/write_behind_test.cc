// Buffered writes return once queued and travel to the pair in the
// background (fsd/open_file.h, write-behind). What a user relies on: reads
// and later writes see them in order, fsync and close wait for them, and a
// transfer that fails is reported by fsync and never turns into committed
// blocks holding someone else's bytes.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
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

ClusterOptions OnePair() {
  ClusterOptions o;
  o.pairs = 1;
  o.device_size = 256ull << 20;
  return o;
}

// The file as a second client, mounted afresh, reads it.
Result<std::string> ReadAsAnotherClient(Cluster& c, const std::string& name) {
  const std::string other = c.state_dir() + "/mnt2";
  Status s = c.MountAt(other, "client2");
  if (!s.ok()) return s;
  auto back = ReadFile(other + "/" + name);
  s = c.UnmountAt(other, "client2");
  if (back.ok() && !s.ok()) return s;
  return back;
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
    if (round % 100 == 99) {
      ASSERT_EQ(ReadAll(fd, model.size() + 1), model) << "round " << round;
    }
  }
  ASSERT_SYS(close(fd));
  // Another client sees exactly the model after the close.
  auto back = ReadAsAnotherClient(c, "f");
  ASSERT_OK(back.status());
  EXPECT_TRUE(*back == model) << "another client read different bytes";
  EXPECT_EQ(c.Cli({"fsck"}), 0);
}

TEST(WriteBehind, AFailedTransferIsReportedAndNeverCommitted) {
  Cluster c(OnePair());
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

// Small buffered writes go out in batches (chunk WriteBatch). A member
// SIGKILLed while they flow and restarted: the writer sees no error, every
// byte it wrote is read back, and the members end byte-identical.
TEST(WriteBehind, BatchedSmallWritesSurviveAMemberKill) {
  const ClusterOptions o = OnePair();
  Cluster c(o);
  ASSERT_OK(c.Start());
  ASSERT_OK(WaitPairHealthy(c, 0, 30));
  constexpr size_t kSize = 32 << 20;
  const std::string path = c.mnt() + "/f";
  ASSERT_OK(WritePatternFile(path, 3, kSize));
  std::string model = PatternBytes(3, 0, kSize);

  int fd = open(path.c_str(), O_RDWR);
  ASSERT_SYS(fd);
  std::atomic<int> done{0};
  std::string error;
  std::thread writer([&] {
    std::mt19937_64 rng(9);
    for (int i = 0; i < 30000; ++i, done = i) {
      const size_t off = (rng() % (kSize / 4096)) * 4096 + (i % 3 == 0 ? 100 : 0);
      const std::string data = PatternBytes(1000 + i, off, i % 3 == 0 ? 1000 : 4096);
      if (pwrite(fd, data.data(), data.size(), off) != static_cast<ssize_t>(data.size())) {
        error = "pwrite " + std::to_string(i) + ": " + strerror(errno);
        return;
      }
      model.replace(off, data.size(), data);
    }
    if (fsync(fd) != 0) error = std::string("fsync: ") + strerror(errno);
  });
  while (done < 8000 && error.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  c.Kill("pair0b");
  while (done < 16000 && error.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_OK(c.StartDaemon("pair0b"));
  writer.join();
  ASSERT_EQ(error, "");
  ASSERT_SYS(close(fd));
  ASSERT_OK(WaitPairHealthy(c, 0, 120));
  ASSERT_OK(ReplicasIdentical(c, 0, o.device_size));
  auto back = ReadAsAnotherClient(c, "f");
  ASSERT_OK(back.status());
  EXPECT_TRUE(*back == model) << "the file differs from what was written";
}

}  // namespace
}  // namespace scalefs::test
