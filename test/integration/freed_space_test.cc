// Space a file gave back holds its old bytes until someone writes there: a
// client that takes it for a new block must zero what it does not write, or
// the block shows another file's data (no client reads bytes it did not
// write). Found by scalefs torture's grow fault: its ballast, written and
// deleted, left junk in free space, and a shared file's block read back
// with it after another client's truncate.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

// Writes `byte` into `path` until the file system is full, then removes it:
// every free block then holds `byte`.
void FillFreeSpaceWith(const std::string& path, char byte) {
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  const std::string chunk(1 << 20, byte);
  uint64_t written = 0;
  for (;;) {
    const ssize_t n = write(fd, chunk.data(), chunk.size());
    if (n <= 0) {
      ASSERT_TRUE(n < 0 && errno == ENOSPC) << "write: " << strerror(errno);
      break;
    }
    written += static_cast<uint64_t>(n);
  }
  fsync(fd);  // ENOSPC again, or nothing: the bytes written are on the members
  close(fd);
  ASSERT_GT(written, 32u << 20) << "the file system was full already";
  ASSERT_EQ(unlink(path.c_str()), 0) << strerror(errno);
}

// Open, then read to the end: close-to-open (a stat before the open may show
// an attr the mount cached within its timeout).
std::string OpenAndRead(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
  std::string out;
  char buf[65536];
  ssize_t n;
  while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  if (fd >= 0) close(fd);
  return out;
}

TEST(FreedSpaceTest, ANewBlockAfterAnotherClientsTruncateShowsOnlyZerosAndTheWrite) {
  ClusterOptions options;
  options.device_size = 128ull << 20;
  Cluster cluster(options);
  ASSERT_OK(cluster.Start());
  const std::string a = cluster.mnt(), b = cluster.state_dir() + "/mnt-b";
  ASSERT_OK(cluster.MountAt(b, "client-b"));

  // Client B writes the file's first block and commits; it keeps the file
  // open all along, so its state of the file lives on.
  const int fd = open((b + "/f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  const std::string first(64 << 10, 'x');
  ASSERT_EQ(pwrite(fd, first.data(), first.size(), 0), static_cast<ssize_t>(first.size()));
  ASSERT_EQ(fsync(fd), 0) << strerror(errno);

  // Client A truncates it to nothing (its blocks go back) and fills every
  // free block with junk.
  ASSERT_EQ(truncate((a + "/f").c_str(), 0), 0) << strerror(errno);
  FillFreeSpaceWith(a + "/junk", '\xee');
  ASSERT_FALSE(HasFailure());

  // B, under a lock (which drops its cached map and attrs), writes 10 bytes
  // at offset 100: a new block, in space that holds junk.
  ASSERT_EQ(flock(fd, LOCK_EX), 0) << strerror(errno);
  ASSERT_EQ(pwrite(fd, "0123456789", 10, 100), 10);
  ASSERT_EQ(fsync(fd), 0) << strerror(errno);
  ASSERT_EQ(flock(fd, LOCK_UN), 0);
  ASSERT_EQ(close(fd), 0);

  const std::string want = std::string(100, '\0') + "0123456789";
  for (const std::string& m : {b, a}) {
    const std::string got = OpenAndRead(m + "/f");
    ASSERT_EQ(got.size(), want.size()) << "through " << m;
    EXPECT_EQ(got, want) << "through " << m << ": the first bytes that differ are at "
                         << std::mismatch(want.begin(), want.end(), got.begin()).first -
                                want.begin();
  }
  // And the whole block on the device: past the end too, so that a later
  // extension (truncate up) shows zeros.
  ASSERT_EQ(truncate((a + "/f").c_str(), 4096), 0) << strerror(errno);
  EXPECT_EQ(OpenAndRead(a + "/f"), want + std::string(4096 - want.size(), '\0'));
  ASSERT_OK(cluster.UnmountAt(b, "client-b"));
}

}  // namespace
}  // namespace scalefs::test
