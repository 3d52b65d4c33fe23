// Space accounting: small files take their size, not a stripe unit, and
// never-written regions read as zeros even on blocks a deleted file used.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

uint64_t RoundDownTo(uint64_t v, uint64_t a) { return v / a * a; }

uint64_t UsedBytes(const std::string& mnt) {
  struct statvfs sv;
  if (statvfs(mnt.c_str(), &sv) != 0) return 0;
  return (static_cast<uint64_t>(sv.f_blocks) - sv.f_bfree) * sv.f_frsize;
}

TEST(Space, TwentyThousandSmallFilesFitAndDfShowsTheirSize) {
  Cluster c;
  ASSERT_OK(c.Start());
  const uint64_t before = UsedBytes(c.mnt());
  const int kFiles = 20000;
  const std::string dir = c.mnt() + "/small";
  ASSERT_SYS(mkdir(dir.c_str(), 0755));
  for (int i = 0; i < kFiles; ++i) {
    std::string path = dir + "/f" + std::to_string(i);
    ASSERT_OK(WriteFile(path, PatternBytes(i, 0, 4096), /*fsync_it=*/false));
  }
  const uint64_t used = UsedBytes(c.mnt()) - before;
  const uint64_t written = uint64_t{kFiles} * 4096;
  EXPECT_GE(used, written);
  EXPECT_LE(used, written + written / 20) << "df shows " << used << " bytes used for " << written;
  // Spot-check content, and that the files spread over both pairs' space.
  for (int i = 0; i < kFiles; i += 997) {
    auto r = ReadFile(dir + "/f" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r == PatternBytes(i, 0, 4096)) << "f" << i;
  }
  std::string out;
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
}

// ENOSPC means the filesystem is full, not one pair: stripe units whose pair
// is full take their space on another pair, and df agrees with what fits.
TEST(Space, WritesGoOnWhenOnePairIsFullAndDfMatchesTheBytesWritten) {
  ClusterOptions o;
  o.pair_device_sizes = {64ull << 20, 512ull << 20};  // pair0 small
  Cluster c(o);
  ASSERT_OK(c.Start());
  const uint64_t before = UsedBytes(c.mnt());
  // Files striped over both pairs until pair0 is nearly full.
  uint64_t written = 0;
  int n = 0;
  for (; written < 56ull << 20; ++n) {
    ASSERT_OK(WritePatternFile(c.mnt() + "/a" + std::to_string(n), n, 8 << 20));
    written += 8 << 20;
  }
  std::string out;
  ASSERT_EQ(c.Cli({"pair", "list"}, &out), 0) << out;
  // Half of what was written landed on pair0 (units alternate): about 36 MiB
  // of its 64 are left. Write 1.5 times that in one file.
  const uint64_t pair0_left = (64ull << 20) - written / 2;
  const uint64_t big = pair0_left * 3 / 2 * 2;  // half of it aims at pair0
  ASSERT_OK(WritePatternFile(c.mnt() + "/big", 1000, big));
  written += big;
  ASSERT_OK(CheckPatternFile(c.mnt() + "/big", 1000, big));
  for (int i = 0; i < n; ++i) ASSERT_OK(CheckPatternFile(c.mnt() + "/a" + std::to_string(i), i, 8 << 20));
  const uint64_t used = UsedBytes(c.mnt()) - before;
  EXPECT_NEAR(static_cast<double>(used), static_cast<double>(written), written / 100.0)
      << "df shows " << used << " bytes used for " << written << " written";
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
  // The rest of the filesystem fills up to within a stripe unit per pair.
  struct statvfs sv;
  ASSERT_SYS(statvfs(c.mnt().c_str(), &sv));
  const uint64_t avail = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  const uint64_t fill = avail - (2 << 20);
  ASSERT_OK(WritePatternFile(c.mnt() + "/fill", 2000, RoundDownTo(fill, 1 << 20)));
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
}

// Waits up to 5 s for the mount's used bytes to reach `want` (space given
// back after a close goes out in batches), and returns what it saw.
uint64_t UsedBytesSettled(const std::string& mnt, uint64_t want) {
  uint64_t used = UsedBytes(mnt);
  for (int i = 0; i < 100 && used != want; ++i) {
    usleep(50 * 1000);
    used = UsedBytes(mnt);
  }
  return used;
}

// A create for writing takes a first 64 KiB with the inode; a close gives
// back what was not written: with the commit of its writes, else shortly
// after, in a batch.
TEST(Space, SpaceACreateTookAndTheFileDidNotWriteComesBack) {
  Cluster c;
  ASSERT_OK(c.Start());
  const uint64_t before = UsedBytes(c.mnt());
  const std::string dir = c.mnt() + "/d";
  ASSERT_SYS(mkdir(dir.c_str(), 0755));
  for (int i = 0; i < 300; ++i) {
    const std::string path = dir + "/empty" + std::to_string(i);
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_SYS(close(fd));
  }
  EXPECT_EQ(UsedBytesSettled(c.mnt(), before), before);

  // Written files keep exactly their blocks, as soon as they are closed.
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK(WriteFile(dir + "/small" + std::to_string(i), PatternBytes(i, 0, 5000), false));
  }
  EXPECT_EQ(UsedBytes(c.mnt()), before + 100 * 8192);

  // A file opened again before its space went back writes into that space:
  // the batch must not free it under the writer (the close would fail).
  for (int i = 0; i < 20; ++i) {
    const std::string path = dir + "/again" + std::to_string(i);
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_SYS(close(fd));
    fd = open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << path;
    const std::string data = PatternBytes(1000 + i, 0, 4096);
    ASSERT_EQ(write(fd, data.data(), data.size()), 4096);
    usleep(60 * 1000);  // longer than the batch waits
    ASSERT_SYS(close(fd));
  }
  for (int i = 0; i < 20; ++i) {
    auto r = ReadFile(dir + "/again" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(*r == PatternBytes(1000 + i, 0, 4096)) << "again" << i;
  }
  EXPECT_EQ(UsedBytesSettled(c.mnt(), before + 100 * 8192 + 20 * 4096),
            before + 100 * 8192 + 20 * 4096);
  std::string out;
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
}

// Client B opens a file client A just created and closed, before A gave
// back the space its create took: B writes into that space, and A's late
// trim must leave it to B (B's close would fail, and the blocks could go to
// another file under B's writes).
TEST(Space, AnotherClientWritingIntoSpaceACreateTookKeepsIt) {
  Cluster c;
  ASSERT_OK(c.Start());
  const std::string other = c.state_dir() + "/mnt2";
  ASSERT_OK(c.MountAt(other, "client2"));
  ASSERT_SYS(mkdir((c.mnt() + "/d").c_str(), 0755));
  for (int i = 0; i < 10; ++i) {
    const std::string name = "/d/f" + std::to_string(i);
    int fd = open((c.mnt() + name).c_str(), O_CREAT | O_WRONLY | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << name;
    ASSERT_SYS(close(fd));
    fd = open((other + name).c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << name;
    const std::string data = PatternBytes(i, 0, 4096);
    ASSERT_EQ(write(fd, data.data(), data.size()), 4096);
    usleep(60 * 1000);  // A's batch goes out meanwhile
    ASSERT_SYS(close(fd));
  }
  // Close-to-open, also for A, whose kernel still holds the size 0 its
  // create returned: an open after B's close reads B's bytes.
  for (int i = 0; i < 10; ++i) {
    for (const std::string& mnt : {c.mnt(), other}) {
      auto r = ReadAt(mnt + "/d/f" + std::to_string(i), 0, 8192);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->size(), 4096u) << mnt << " f" << i;
      EXPECT_TRUE(*r == PatternBytes(i, 0, 4096)) << mnt << " f" << i;
    }
  }
  std::string out;
  EXPECT_EQ(c.Cli({"fsck"}, &out), 0) << out;
  EXPECT_OK(c.UnmountAt(other, "client2"));
}

class ZerosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.device_size = 64ull << 20;  // small devices so freed blocks are reused
    cluster_ = std::make_unique<Cluster>(o);
    ASSERT_OK(cluster_->Start());
    // Fill almost all space with non-zero bytes, then free it.
    const std::string junk = cluster_->mnt() + "/junk";
    int fd = open(junk.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    std::string block(1 << 20, '\xAB');
    for (int i = 0; i < 120; ++i) ASSERT_EQ(write(fd, block.data(), block.size()), (ssize_t)block.size());
    ASSERT_SYS(fsync(fd));
    close(fd);
    ASSERT_SYS(unlink(junk.c_str()));
  }
  std::string P(const std::string& n) { return cluster_->mnt() + "/" + n; }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(ZerosTest, HolesTruncateAndFallocateReadAsZerosOnReusedBlocks) {
  // A hole between two writes, partial blocks around them.
  int fd = open(P("holes").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "head", 4, 100), 4);
  ASSERT_EQ(pwrite(fd, "tail", 4, (40 << 20) + 5), 4);
  ASSERT_SYS(fsync(fd));
  close(fd);
  auto r = ReadFile(P("holes"));
  ASSERT_TRUE(r.ok());
  std::string expect((40 << 20) + 9, '\0');
  memcpy(&expect[100], "head", 4);
  memcpy(&expect[(40 << 20) + 5], "tail", 4);
  EXPECT_TRUE(*r == expect) << "hole or block padding shows old bytes";

  // Truncate up.
  fd = open(P("grown").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_EQ(write(fd, "abc", 3), 3);
  ASSERT_SYS(ftruncate(fd, 20 << 20));
  close(fd);
  r = ReadFile(P("grown"));
  ASSERT_TRUE(r.ok());
  expect.assign(20 << 20, '\0');
  memcpy(&expect[0], "abc", 3);
  EXPECT_TRUE(*r == expect);

  // Truncate down into a block, then up again: the cut bytes are gone.
  ASSERT_OK(WriteFile(P("cut"), std::string(10000, 'z')));
  ASSERT_SYS(truncate(P("cut").c_str(), 5000));
  ASSERT_SYS(truncate(P("cut").c_str(), 10000));
  r = ReadFile(P("cut"));
  ASSERT_TRUE(r.ok());
  expect = std::string(5000, 'z') + std::string(5000, '\0');
  EXPECT_TRUE(*r == expect);

  // Fallocate: allocated (unwritten) blocks read as zeros.
  fd = open(P("falloc").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_SYS(fallocate(fd, 0, 0, 30 << 20));
  close(fd);
  r = ReadFile(P("falloc"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r == std::string(30 << 20, '\0'));

  std::string out;
  EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
}

TEST_F(ZerosTest, FullDeviceGivesEnospcAndChangesNothing) {
  int fd = open(P("big").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  std::string block(1 << 20, 'q');
  ssize_t n = 0;
  int err = 0;
  for (int i = 0; i < 200; ++i) {
    n = write(fd, block.data(), block.size());
    if (n < 0) {
      err = errno;
      break;
    }
  }
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, ENOSPC);
  close(fd);
  std::string out;
  EXPECT_EQ(cluster_->Cli({"fsck"}, &out), 0) << out;
  // The space comes back with the unlink, as on a local disk: df shows it
  // at once and the next write has it.
  struct statvfs full, freed;
  ASSERT_SYS(statvfs(cluster_->mnt().c_str(), &full));
  ASSERT_SYS(unlink(P("big").c_str()));
  ASSERT_SYS(statvfs(cluster_->mnt().c_str(), &freed));
  EXPECT_GE((freed.f_bfree - full.f_bfree) * freed.f_frsize, 100ull << 20)
      << "an unlinked closed file's space is not free right after the unlink";
  ASSERT_OK(WriteFile(P("after"), "space is back"));
}

}  // namespace
}  // namespace scalefs::test
